"""Tampered model bundles: each is refused with one clear BundleError naming the file and the field, without
hanging, without allocating what the file claims, and never with another exception type."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.bundle import load_bundle, make_manifest, read_manifest, save_bundle
from engine.errors import BundleError
from engine.models.elegant import ElegantDecoder, ElegantEncoder
from tests.robustness.hostile_files import guarded, one_line, posix_only

ATTRS = ["Smiling", "Eyeglasses", "Blond_Hair", "Bangs", "Mustache"]
SHARED = {"resolution": 32, "n_attrs": 5, "block_channels": 4, "base_channels": 8, "max_channels": 16,
          "latent_size": 4}


@pytest.fixture(scope="module")
def tiny_elegant_bundle(tmp_path_factory) -> Path:
    """An untrained ELEGANT bundle with prototypes (shapes are what matter here)."""
    nets = {"encoder": ElegantEncoder(ElegantEncoder.Config(**SHARED)),
            "decoder": ElegantDecoder(ElegantDecoder.Config(**SHARED))}
    tensors = {"prototypes.positive": torch.randn(5, 4, 4, 4), "prototypes.negative": torch.randn(5, 4, 4, 4),
               "prototypes.counts": torch.full((5, 2), 3.0)}
    path = tmp_path_factory.mktemp("elegant") / "bundle"
    return save_bundle(path, nets, make_manifest("elegant", 32, ATTRS, nets), tensors)


@pytest.fixture
def cgan(tiny_cgan_bundle, tmp_path) -> Path:
    return shutil.copytree(tiny_cgan_bundle, tmp_path / "cgan")


@pytest.fixture
def elegant(tiny_elegant_bundle, tmp_path) -> Path:
    return shutil.copytree(tiny_elegant_bundle, tmp_path / "elegant")


def edit_manifest(path: Path, change: Callable[[dict], object]) -> None:
    m = json.loads((path / "manifest.json").read_text())
    change(m)
    (path / "manifest.json").write_text(json.dumps(m))


def edit_weights(path: Path, change: Callable[[dict], object]) -> None:
    w = load_file(str(path / "weights.safetensors"))
    change(w)
    save_file(w, str(path / "weights.safetensors"))


def refused(path: Path, *names: str, **kwargs) -> str:
    """load_bundle(path) raises a BundleError (no other type), promptly and within memory; its message."""
    with pytest.raises(BundleError) as info:
        guarded(load_bundle, path, **kwargs)
    return one_line(info.value, *names)


def test_the_untampered_bundles_load(cgan, elegant) -> None:
    assert load_bundle(cgan).family == "cgan"
    assert load_bundle(elegant, family="elegant").tensors["prototypes.positive"].shape == (5, 4, 4, 4)


# -- special and oversized files ----------------------------------------------------------------------------

@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_manifest_linked_to_dev_zero(cgan) -> None:
    (cgan / "manifest.json").unlink()
    (cgan / "manifest.json").symlink_to("/dev/zero")
    assert "device" in refused(cgan, "manifest.json")


@posix_only
@pytest.mark.parametrize("name", ["manifest.json", "weights.safetensors"])
def test_fifo_instead_of_a_file(cgan, name) -> None:
    (cgan / name).unlink()
    os.mkfifo(cgan / name)
    assert "FIFO" in refused(cgan, name)


def test_huge_manifest_is_not_read(cgan) -> None:
    with open(cgan / "manifest.json", "r+b") as f:
        f.truncate(200 * 2**20)  # sparse: 200 MB by size, nothing on disk
    assert "more than" in refused(cgan, "manifest.json")


def test_deeply_nested_manifest(cgan) -> None:
    (cgan / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in refused(cgan, "manifest.json")


def test_deep_but_parseable_training_record(cgan) -> None:
    edit_manifest(cgan, lambda m: m.update(training=json.loads("[" * 500 + "]" * 500)))
    assert "nested too deeply" in refused(cgan, "manifest.json")


# -- configs that would allocate before anything is checked ----------------------------------------------

@pytest.mark.parametrize("change", [
    lambda m: m["networks"].update(latent_discriminator={"class": "cgan.LatentDiscriminator",
                                                         "config": {"z_dim": 32, "hidden": 40000}}),
    lambda m: m["networks"]["generator"]["config"].update(base_channels=60000),
    lambda m: m["networks"]["encoder_z"]["config"].update(feature_dim=65536, base_channels=4096),
])
def test_config_that_would_allocate_gigabytes(cgan, change) -> None:
    edit_manifest(cgan, change)
    message = refused(cgan)
    assert "missing tensor" in message or "has shape" in message


@pytest.mark.parametrize(("change", "field"), [
    (lambda m: m["networks"]["generator"]["config"].update(z_dim=10**12), "z_dim"),
    (lambda m: m["networks"]["generator"]["config"].update(z_dim=-3), "z_dim"),
    (lambda m: m["networks"]["generator"]["config"].update(z_dim="32"), "z_dim"),
    (lambda m: m["networks"]["generator"]["config"].update(resolution=100000), "resolution"),
    (lambda m: m["networks"]["generator"].update(config=[1, 2]), "config"),
    (lambda m: m["networks"]["generator"].update({"class": ["x"]}), "class"),
    (lambda m: m["networks"].update(generator="cgan.Generator"), "class"),
    (lambda m: m["networks"]["discriminator"]["config"].update(aux_classifier="yes"), "aux_classifier"),
    (lambda m: m["networks"]["generator"]["config"].update(bogus=1), "bogus"),
])
def test_bad_network_config(cgan, change, field) -> None:
    edit_manifest(cgan, change)
    refused(cgan, "manifest.json", field)


# -- manifest fields --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    (lambda m: m.update(resolution=100000), "resolution"),
    (lambda m: m.update(resolution=0), "resolution"),
    (lambda m: m.update(resolution=float("nan")), "resolution"),
    (lambda m: m.update(resolution="32"), "resolution"),
    (lambda m: m.update(resolution=True), "resolution"),
    (lambda m: m.update(crop_resolution=60000), "crop_resolution"),
    (lambda m: m.update(format_version=True), "format version"),
    (lambda m: m.update(family=7), "family"),
    (lambda m: m.update(name={"<b>": 1}), "name"),
    (lambda m: m.update(name="two\nlines"), "name"),
    (lambda m: m.update(description={"html": "<img src='/dev/zero'>"}), "description"),
    (lambda m: m.update(licence="x" * 100_000), "licence"),
    (lambda m: m.update(attributes="Smiling"), "attributes"),
    (lambda m: m.update(attributes=m["attributes"] + [m["attributes"][0]]), "attributes"),
    (lambda m: m.update(attributes=[*m["attributes"][:-1], 5]), "attributes"),
    (lambda m: m.update(networks=[]), "networks"),
    (lambda m: m.update(weights_dtype="int8"), "weights_dtype"),
])
def test_bad_manifest_field(cgan, change, field) -> None:
    edit_manifest(cgan, change)
    refused(cgan, "manifest.json", field)
    with pytest.raises(BundleError):
        read_manifest(cgan)  # listings and dialogs see the same refusal


def test_attributes_that_do_not_match_the_networks(cgan) -> None:
    edit_manifest(cgan, lambda m: m.update(attributes=m["attributes"][:-1]))
    refused(cgan, "manifest.json", "attributes")


def test_a_manifest_that_is_a_list(cgan) -> None:
    (cgan / "manifest.json").write_text("[1, 2]")
    refused(cgan, "manifest.json", "JSON object")


# -- family and weights of another kind -------------------------------------------------------------------

def test_cgan_family_with_elegant_networks(elegant) -> None:
    edit_manifest(elegant, lambda m: m.update(family="cgan"))
    refused(elegant, "manifest.json", "generator")


def test_elegant_weights_under_a_cgan_manifest(cgan, elegant) -> None:
    shutil.copy(elegant / "weights.safetensors", cgan / "weights.safetensors")
    refused(cgan, "weights.safetensors", "missing tensor")


def test_a_family_that_was_not_asked_for(cgan) -> None:
    refused(cgan, "'cgan' bundle", family="elegant")


def test_encoder_and_decoder_that_disagree(elegant) -> None:
    edit_manifest(elegant, lambda m: m["networks"]["decoder"]["config"].update(latent_size=8))
    refused(elegant, "manifest.json", "latent_size")


def test_role_of_the_wrong_class(cgan) -> None:
    edit_manifest(cgan, lambda m: m["networks"]["encoder_z"].update({"class": "cgan.LatentDiscriminator"}))
    refused(cgan, "manifest.json", "encoder_z", "cgan.ConvEncoder")


# -- the weights file -------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", [
    (10**15).to_bytes(8, "little"),
    (50).to_bytes(8, "little") + b"[" * 50,
    (30).to_bytes(8, "little") + b'{"generator.x": {"dtype": 1}}',
])
def test_damaged_safetensors_header(cgan, header) -> None:
    (cgan / "weights.safetensors").write_bytes(header + b"\0" * 64)
    refused(cgan, "weights.safetensors")


def test_tensor_claiming_more_data_than_the_file_has(cgan) -> None:
    data = (cgan / "weights.safetensors").read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    key = next(k for k in header if k != "__metadata__")
    header[key]["shape"] = [2**20, 2**20]
    raw = json.dumps(header).encode()
    (cgan / "weights.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])
    refused(cgan, "weights.safetensors")


def test_integer_weights_for_a_float_parameter(cgan) -> None:
    edit_weights(cgan, lambda w: w.update({"generator.main.0.weight": w["generator.main.0.weight"].to(torch.int32)}))
    refused(cgan, "weights.safetensors", "generator.main.0.weight")


# -- extra tensors: shapes and values ---------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value"), [
    ("attribute_vectors", torch.zeros(5, 7)),
    ("attribute_vectors", torch.full((5, 32), float("nan"))),
    ("latent_metric", torch.eye(3)),
    ("attribute_vector_counts", -torch.ones(5, 2)),
])
def test_bad_attribute_vectors(cgan, name, value) -> None:
    edit_weights(cgan, lambda w: w.update({"extra." + name: value}))
    refused(cgan, "weights.safetensors", name)


@pytest.mark.parametrize(("name", "value"), [
    ("prototypes.positive", torch.zeros(5, 4, 2, 2)),
    ("prototypes.negative", torch.zeros(3, 4, 4, 4)),
    ("prototypes.positive", torch.full((5, 4, 4, 4), float("nan"))),
    ("prototypes.counts", torch.full((5, 2), float("inf"))),
])
def test_bad_prototypes(elegant, name, value) -> None:
    edit_weights(elegant, lambda w: w.update({"extra." + name: value}))
    refused(elegant, "weights.safetensors", name)


def test_nan_in_a_network(cgan) -> None:
    edit_weights(cgan, lambda w: w["generator.main.0.weight"].view(-1)[0].fill_(float("nan")))
    refused(cgan, "weights.safetensors", "NaN")


def test_cli_reports_a_damaged_bundle_in_one_line(cgan, tmp_path, capsys) -> None:
    from engine.cli import main

    edit_manifest(cgan, lambda m: m.update(resolution=float("nan")))
    photo = tmp_path / "p.png"
    from engine.images import save_image

    save_image(photo, torch.zeros(32, 32, 3, dtype=torch.uint8).numpy())
    assert main(["invert", str(photo), "--bundle", str(cgan), "-o", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "resolution" in err and len(err.splitlines()) == 1


def test_texts_from_the_manifest_are_plain_strings(cgan) -> None:
    """Markup in a name stays text for the app to show as text (it never fetches what the markup names)."""
    edit_manifest(cgan, lambda m: m.update(name='<img src="/dev/zero">', status="<b>beta</b>"))
    b = guarded(load_bundle, cgan)
    assert type(b.name) is str and b.name == '<img src="/dev/zero">'
    assert all(type(a) is str for a in b.attributes) and type(b.manifest["status"]) is str
