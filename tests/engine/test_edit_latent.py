"""Code arithmetic: render, dials, interpolation, attribute vectors stored in and read from a bundle."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from engine.bundle import load_bundle
from engine.edit import (
    apply_vector,
    compute_attribute_vectors,
    interpolate,
    render,
    set_attributes,
    store_attribute_vectors,
    translate,
)
from engine.errors import BundleError, FacetError
from engine.invert import LatentCode, invert


@pytest.fixture(scope="module")
def bundle(tiny_cgan_bundle):
    return load_bundle(tiny_cgan_bundle)


def a_code(seed: int = 0) -> LatentCode:
    rng = np.random.default_rng(seed)
    return LatentCode(rng.standard_normal(32), np.where(rng.random(5) < 0.5, -1.0, 1.0))


def test_render_is_the_generator(bundle):
    code = a_code()
    img = render(bundle, code)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    with torch.no_grad():
        x = bundle.network("generator")(torch.tensor(code.z)[None], torch.tensor(code.y)[None])
    expected = ((x[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(img, expected)


def test_set_attributes_several_at_once_clipped_and_copied(bundle):
    code = a_code()
    before = code.copy()
    names = bundle.attributes
    edited = set_attributes(code, bundle, {names[0]: 0.8, names[2]: -3.0})
    assert edited.y[0] == pytest.approx(0.8) and edited.y[2] == -1.0
    np.testing.assert_array_equal(edited.y[[1, 3, 4]], code.y[[1, 3, 4]])
    np.testing.assert_array_equal(edited.z, code.z)
    np.testing.assert_array_equal(code.y, before.y)  # the original is untouched
    flipped = set_attributes(code, bundle, {n: -v for n, v in zip(names, code.y, strict=True)})
    assert np.abs(render(bundle, flipped).astype(int) - render(bundle, code).astype(int)).mean() > 1.0
    with pytest.raises(FacetError, match="unknown attribute 'Wings'"):
        set_attributes(code, bundle, {"Wings": 1.0})
    with pytest.raises(FacetError, match="finite"):
        set_attributes(code, bundle, {names[0]: float("nan")})


@pytest.mark.parametrize("mode", ["linear", "slerp"])
def test_interpolation_endpoints(mode):
    a, b = a_code(1), a_code(2)
    for t, ref in ((0.0, a), (1.0, b)):
        c = interpolate(a, b, t, mode)
        np.testing.assert_allclose(c.z, ref.z, atol=1e-5)
        np.testing.assert_allclose(c.y, ref.y, atol=1e-6)
    mid = interpolate(a, b, 0.5, mode)
    np.testing.assert_allclose(mid.y, (a.y + b.y) / 2, atol=1e-6)


def test_slerp_keeps_the_norm_of_equal_norm_codes_and_linear_does_not():
    a, b = a_code(3), a_code(4)
    b.z *= np.linalg.norm(a.z) / np.linalg.norm(b.z)
    n = np.linalg.norm(a.z)
    assert np.linalg.norm(interpolate(a, b, 0.5, "slerp").z) == pytest.approx(n, rel=1e-4)
    assert np.linalg.norm(interpolate(a, b, 0.5, "linear").z) < 0.9 * n
    with pytest.raises(FacetError, match="slerp"):
        interpolate(a, b, 0.5, "cubic")


def test_attribute_vectors_round_trip_through_the_bundle(tiny_cgan_bundle, synthetic_dataset, tmp_path):
    path = tmp_path / "bundle"
    shutil.copytree(tiny_cgan_bundle, path)
    bundle = load_bundle(path)
    with pytest.raises(BundleError, match="attribute-vectors"):
        apply_vector(a_code(), bundle, bundle.attributes[0], 1.0)
    tensors = compute_attribute_vectors(bundle, synthetic_dataset, n=48, batch_size=20)
    vectors = tensors["attribute_vectors"]
    assert vectors.shape == (5, 32)
    # reference for one attribute, computed directly
    x = torch.stack([synthetic_dataset[i][0] for i in range(48)])
    lab = torch.stack([torch.as_tensor(synthetic_dataset[i][1]) for i in range(48)])
    j = bundle.attributes.index(synthetic_dataset.attributes[1])
    with torch.no_grad():
        z = bundle.network("encoder_z")(x)
    pos = lab[:, 1] > 0
    torch.testing.assert_close(vectors[j], z[pos].mean(0) - z[~pos].mean(0), rtol=1e-4, atol=1e-5)
    store_attribute_vectors(bundle, tensors)
    again = load_bundle(path)
    torch.testing.assert_close(again.tensors["attribute_vectors"], vectors)
    assert again.manifest["attribute_vectors"]["images"] == 48
    code = a_code()
    moved = apply_vector(code, again, again.attributes[j], 0.5)
    np.testing.assert_allclose(moved.z, code.z + 0.5 * vectors[j].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(moved.y, code.y)


def test_translate_is_invert_then_dial(bundle):
    face = render(bundle, a_code(5))
    name = bundle.attributes[0]
    code = invert(face, bundle, "encoder").code
    target = -1.0 if code.y[0] > 0 else 1.0
    out = translate(face, bundle, {name: target})
    np.testing.assert_array_equal(out, render(bundle, set_attributes(code, bundle, {name: target})))
    assert np.abs(out.astype(int) - render(bundle, code).astype(int)).mean() > 1.0


def test_a_manifests_attribute_limit_lets_that_dial_reach_further(tiny_cgan_bundle, tmp_path):
    import json
    import shutil

    from engine.edit import attribute_limit

    path = shutil.copytree(tiny_cgan_bundle, tmp_path / "limited")
    manifest = json.loads((path / "manifest.json").read_text())
    first, second = manifest["attributes"][:2]
    manifest["attribute_limits"] = {first: 2.5}
    (path / "manifest.json").write_text(json.dumps(manifest))
    limited = load_bundle(path)
    assert attribute_limit(limited, first) == 2.5 and attribute_limit(limited, second) == 1.0
    edited = set_attributes(a_code(), limited, {first: 3.0, second: 3.0})
    assert edited.y[0] == pytest.approx(2.5) and edited.y[1] == pytest.approx(1.0)  # each clipped to its own reach
    # beyond ±1 the generator's change grows on: the dial's end does more than +1
    at_one = render(limited, set_attributes(a_code(), limited, {first: 1.0})).astype(int)
    at_end = render(limited, set_attributes(a_code(), limited, {first: 2.5})).astype(int)
    base = render(limited, set_attributes(a_code(), limited, {first: -1.0})).astype(int)
    assert np.abs(at_end - base).mean() > np.abs(at_one - base).mean()
