"""Inversion methods on the tiny synthetic-data cGAN: they reconstruct, stop cleanly and repeat."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.bundle import load_bundle
from engine.errors import BundleError, Cancelled, FacetError, NumericalError
from engine.invert import METHODS, InversionResult, LatentCode, invert, invert_job
from engine.invert.core import LBFGS_CHUNK, code_tensors, image_to_tensor, tensor_to_image
from engine.losses import reconstruction_loss
from engine.metrics import latent_distance
from tests.conftest import TINY_ENCODER, train_tiny


@pytest.fixture(scope="module")
def trained(tiny_cgan_bundle, synthetic_dataset, tmp_path_factory) -> Path:
    """The shared tiny cGAN with a better-trained E_z (the session fixture's is too short to beat chance)."""
    out = tmp_path_factory.mktemp("invert") / "ez"
    return train_tiny("encoder-z", {**TINY_ENCODER, "lr": 2e-3}, synthetic_dataset, out, steps=80, base=tiny_cgan_bundle)


@pytest.fixture(scope="module")
def bundle(trained):
    return load_bundle(trained)


@pytest.fixture(scope="module")
def domain_bundle(trained, synthetic_dataset, tmp_path_factory):
    """Recipe ``encoder-domain`` with the latent discriminator, trained briefly through the real Trainer."""
    out = tmp_path_factory.mktemp("invert") / "domain"
    cfg = {"resolution": 32, "channels": 16, "feature_dim": 128, "latent_adversarial": True, "lr": 1e-3}
    return load_bundle(train_tiny("encoder-domain", cfg, synthetic_dataset, out, steps=25, base=trained))


def generated_faces(bundle, n: int, seed: int) -> list[np.ndarray]:
    """Faces the generator can make (so a perfect inversion exists), with binary y as in training."""
    g = torch.Generator().manual_seed(seed)
    zd, na = bundle.network("generator").config.z_dim, len(bundle.attributes)
    z, y = torch.randn(n, zd, generator=g), torch.randint(0, 2, (n, na), generator=g).float() * 2 - 1
    with torch.no_grad():
        x = bundle.network("generator")(z, y)
    return [tensor_to_image(im) for im in x]


@pytest.fixture(scope="module")
def target(bundle) -> np.ndarray:
    return generated_faces(bundle, 1, seed=7)[0]


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def objective(bundle, image: np.ndarray, code: LatentCode) -> float:
    loss = reconstruction_loss(bundle).set_target(image_to_tensor(image, bundle.resolution))
    z, y = code_tensors(code)
    with torch.no_grad():
        return float(loss(bundle.network("generator")(z, y)))


def test_registry_names():
    assert {"encoder", "optimize", "hybrid", "in-domain", "force-in-domain"} <= set(METHODS)


@pytest.mark.parametrize(("method", "steps"), [("encoder", None), ("optimize", 40), ("hybrid", 30)])
def test_method_beats_a_random_code(bundle, method, steps):
    rng = np.random.default_rng(0)
    errors, random_errors = [], []
    for face in generated_faces(bundle, 3, seed=11):
        result = invert(face, bundle, method, steps=steps, restarts=2)
        assert isinstance(result, InversionResult) and result.method == method
        assert result.reconstruction.shape == (32, 32, 3) and result.reconstruction.dtype == np.uint8
        assert result.code.z.shape == (32,) and result.code.y.shape == (5,)
        assert np.all(np.abs(result.code.y) <= 1)
        if steps:
            assert len(result.losses) == steps and result.losses[-1] < result.losses[0]
        errors.append(mse(result.reconstruction, face))
        for _ in range(3):
            z, y = code_tensors(LatentCode(rng.standard_normal(32).astype(np.float32), result.code.y))
            with torch.no_grad():
                random_errors.append(mse(tensor_to_image(bundle.network("generator")(z, y)), face))
    assert np.mean(errors) < np.mean(random_errors)


def test_hybrid_is_at_least_as_good_as_the_encoder(bundle, target):
    enc = invert(target, bundle, "encoder")
    hyb = invert(target, bundle, "hybrid", steps=25)
    assert objective(bundle, target, hyb.code) <= objective(bundle, target, enc.code) + 1e-6
    assert objective(bundle, target, hyb.code) < 0.9 * objective(bundle, target, enc.code)


@pytest.mark.parametrize("lr", [1e6, 1e39, float("inf"), float("nan"), -1.0])
def test_absurd_learning_rate_raises_numerical_error(bundle, target, lr):
    with pytest.raises(NumericalError, match="learning rate"):
        invert(target, bundle, "optimize", steps=5, lr=lr, optimizer="adam")
    if not (math.isfinite(lr) and lr > 0):  # L-BFGS's line search tames a large finite step; these it refuses
        with pytest.raises(NumericalError, match="learning rate"):
            invert(target, bundle, "optimize", steps=5, lr=lr)


def test_nan_loss_weight_raises_numerical_error(domain_bundle, target):
    with pytest.raises(NumericalError, match="NaN"):
        invert(target, domain_bundle, "in-domain", steps=5, domain_weight=float("nan"))


def test_cancel_stops_within_one_step(bundle, target):
    seen: list[int] = []
    with pytest.raises(Cancelled):
        invert(target, bundle, "optimize", steps=200, progress=lambda s: seen.append(s.step), cancel=lambda: len(seen) >= 3,
               optimizer="adam")
    assert seen == [1, 2, 3]


def test_same_seed_same_code_other_seed_other_code(bundle, target):
    a = invert(target, bundle, "optimize", steps=8, seed=3)
    b = invert(target, bundle, "optimize", steps=8, seed=3)
    c = invert(target, bundle, "optimize", steps=8, seed=4)
    np.testing.assert_array_equal(a.code.z, b.code.z)
    np.testing.assert_array_equal(a.reconstruction, b.reconstruction)
    assert not np.allclose(a.code.z, c.code.z)


def test_job_streams_previews_and_leaves_weights_alone(bundle, target):
    job = invert_job(target, bundle, "hybrid", steps=20, optimizer="adam")
    steps = []
    try:
        while True:
            steps.append(next(job))
    except StopIteration as stop:
        result = stop.value
    assert [s.step for s in steps] == list(range(1, 21)) and steps[-1].total == 20
    previews = [s.preview for s in steps if s.preview is not None]
    assert len(previews) >= 2 and previews[0].shape == (32, 32, 3) and previews[0].dtype == np.uint8
    assert result.steps == 20 and result.seconds > 0
    for net in bundle.networks.values():
        assert not net.training
        assert all(p.grad is None for p in net.parameters())


def test_other_sizes_are_centre_cropped_and_resized(bundle, target):
    big = target.repeat(2, 0).repeat(2, 1)  # 64 px: resized back to 32 px ≈ the original
    ref = image_to_tensor(target, 32)
    other = (image_to_tensor(generated_faces(bundle, 1, seed=99)[0], 32) - ref).abs().mean()
    assert (image_to_tensor(big, 32) - ref).abs().mean() < 0.5 * other
    wide = np.concatenate([np.zeros((64, 20, 3), np.uint8), big, np.zeros((64, 20, 3), np.uint8)], axis=1)
    assert (image_to_tensor(wide, 32) - ref).abs().mean() < 0.5 * other  # the centre square is the face
    result = invert(wide, bundle, "encoder")
    assert result.reconstruction.shape == (32, 32, 3)
    z_small = invert(target, bundle, "encoder").code.z
    assert np.abs(result.code.z - z_small).mean() < 0.5 * np.abs(z_small).mean()


def test_unknown_method_and_missing_network(bundle, target):
    with pytest.raises(FacetError, match="unknown inversion method"):
        invert(target, bundle, "magic")
    with pytest.raises(BundleError, match="encoder_domain"):
        invert(target, bundle, "in-domain")


def test_code_round_trips_through_json_dict():
    code = LatentCode(np.arange(4, dtype=np.float32), np.array([0.5, -1.0], np.float32))
    back = LatentCode.from_dict(code.to_dict())
    np.testing.assert_array_equal(back.z, code.z)
    np.testing.assert_array_equal(back.y, code.y)


def test_encoder_domain_recipe_exports_a_complete_bundle(domain_bundle, bundle):
    for role in ("generator", "discriminator", "encoder_z", "encoder_y", "encoder_domain", "latent_discriminator"):
        assert domain_bundle.has(role)
    assert domain_bundle.family == "cgan" and domain_bundle.attributes == bundle.attributes
    assert "encoder-domain" in domain_bundle.manifest["training"]
    # the base networks are carried over unchanged
    for a, b in zip(domain_bundle.network("generator").parameters(), bundle.network("generator").parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("method", ["in-domain", "force-in-domain"])
def test_domain_methods_reconstruct_and_stay_in_domain(domain_bundle, method):
    faces = generated_faces(domain_bundle, 2, seed=5)
    rng = np.random.default_rng(1)
    for face in faces:
        result = invert(face, domain_bundle, method, steps=25)
        assert result.method == method and len(result.losses) == 25
        assert result.losses[-1] < result.losses[0]
        z, y = code_tensors(LatentCode(rng.standard_normal(32).astype(np.float32), result.code.y))
        with torch.no_grad():
            random_error = mse(tensor_to_image(domain_bundle.network("generator")(z, y)), face)
        assert mse(result.reconstruction, face) < random_error


def test_latent_discriminator_penalty_keeps_codes_more_prior_like(domain_bundle):
    """Same start, same steps: the LD penalty must raise the latent discriminator's score of the result."""
    faces = generated_faces(domain_bundle, 3, seed=9)
    ld = domain_bundle.network("latent_discriminator")
    plain = np.stack([invert(f, domain_bundle, "in-domain", steps=15).code.z for f in faces])
    forced = np.stack([invert(f, domain_bundle, "force-in-domain", steps=15, latent_weight=1.0).code.z for f in faces])
    assert latent_distance(forced, ld)["ld_score"] > latent_distance(plain, ld)["ld_score"]


def test_hybrid_starts_from_the_domain_encoder_when_the_bundle_has_one(domain_bundle, bundle, target):
    x = image_to_tensor(target, 32)
    with torch.no_grad():
        z_domain = domain_bundle.network("encoder_domain")(x).float()[0].numpy()
        z_ez = domain_bundle.network("encoder_z")(x).float()[0].numpy()
    assert not np.allclose(z_domain, z_ez)
    auto = invert(target, domain_bundle, "hybrid", steps=0)
    np.testing.assert_allclose(auto.code.z, z_domain, atol=1e-5)
    icgan = invert(target, domain_bundle, "hybrid", steps=0, start="encoder_z")
    np.testing.assert_allclose(icgan.code.z, z_ez, atol=1e-5)
    # without a domain encoder, auto falls back to E_z (same start as the encoder method)
    np.testing.assert_allclose(invert(target, bundle, "hybrid", steps=0).code.z, invert(target, bundle, "encoder").code.z,
                               atol=1e-5)
    with pytest.raises(FacetError, match="unknown hybrid start"):
        invert(target, bundle, "hybrid", steps=0, start="elsewhere")
    with pytest.raises(BundleError, match="encoder_domain"):
        invert(target, bundle, "hybrid", steps=0, start="encoder_domain")


def test_freeze_refreezes_a_network_put_back_into_training(bundle, target):
    from engine.invert.api import freeze

    G = bundle.network("generator")
    invert(target, bundle, "encoder")
    G.train().requires_grad_(True)
    freeze(bundle)
    assert not G.training and not any(p.requires_grad for p in G.parameters())


def test_lbfgs_hybrid_reports_in_chunks_and_improves(bundle, target):
    """The default hybrid optimiser: progress every LBFGS_CHUNK evaluations of G, a falling objective, and
    the same code again for the same input (no randomness in L-BFGS)."""
    seen = []
    result = invert(target, bundle, "hybrid", steps=30, progress=seen.append)
    assert [s.step for s in seen] == sorted(s.step for s in seen) and seen[-1].step == seen[-1].total == 30
    assert len(seen) <= 30 // LBFGS_CHUNK + 1 and any(s.preview is not None for s in seen)
    assert len(result.losses) == result.steps == 30  # a hard budget, line searches included
    assert result.losses == sorted(result.losses, reverse=True) and result.losses[-1] < result.losses[0]
    again = invert(target, bundle, "hybrid", steps=30)
    np.testing.assert_array_equal(result.code.z, again.code.z)


def test_lbfgs_cancel_and_bad_settings(bundle, target):
    seen: list[int] = []
    with pytest.raises(Cancelled):
        invert(target, bundle, "hybrid", steps=200, progress=lambda s: seen.append(s.step), cancel=lambda: len(seen) >= 2)
    assert len(seen) == 2  # stopped at the first report after the request: within one chunk
    with pytest.raises(NumericalError, match="learning rate"):
        invert(target, bundle, "hybrid", steps=5, lr=float("nan"))
    with pytest.raises(FacetError, match="unknown optimizer"):
        invert(target, bundle, "hybrid", steps=5, optimizer="sgd")
