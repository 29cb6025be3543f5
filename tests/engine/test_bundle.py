"""Bundles: a trained model survives save/load exactly, and every kind of broken bundle is refused clearly."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.bundle import load_bundle, read_manifest
from engine.errors import BundleError
from engine.train import TrainConfig, Trainer
from engine.train.recipes import create_recipe


@pytest.fixture
def broken(tiny_cgan_bundle, tmp_path):
    """A private copy of the tiny bundle to damage."""
    return shutil.copytree(tiny_cgan_bundle, tmp_path / "b")


def test_trained_model_round_trip(synthetic_dataset, tmp_path):
    recipe = create_recipe("cgan", {"resolution": 32, "z_dim": 16, "g_channels": 8, "d_channels": 8},
                           synthetic_dataset.attributes, seed=0)
    cfg = TrainConfig(tmp_path, steps=2, batch_size=16, device="cpu", precision="fp32", sample_every=0)
    path = Trainer(recipe, synthetic_dataset, cfg).run().bundle
    b = load_bundle(path)
    z, y = torch.randn(4, 16), torch.ones(4, 5)
    for role, net in recipe.modules().items():
        loaded = b.network(role)
        assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
        for key, value in net.state_dict().items():
            assert torch.equal(value, loaded.state_dict()[key]), f"{role}.{key}"
    with torch.no_grad():
        assert torch.equal(recipe.modules()["generator"].eval()(z, y), b.network("generator")(z, y))
    manifest = read_manifest(path)
    assert manifest["training"]["cgan"]["steps"] == 2 and manifest["data"]["images"] == len(synthetic_dataset)


def _edit_manifest(path, change):
    m = json.loads((path / "manifest.json").read_text())
    change(m)
    (path / "manifest.json").write_text(json.dumps(m))


def _edit_weights(path, change):
    w = load_file(str(path / "weights.safetensors"))
    change(w)
    save_file(w, str(path / "weights.safetensors"))


def test_missing_tensor(broken):
    _edit_weights(broken, lambda w: w.pop("generator.main.0.weight"))
    with pytest.raises(BundleError, match=r"weights.safetensors: network 'generator' is missing tensor\(s\) main.0.weight"):
        load_bundle(broken)


def test_shape_mismatch(broken):
    _edit_manifest(broken, lambda m: m["networks"]["encoder_z"]["config"].update(base_channels=8))
    with pytest.raises(BundleError, match=r"tensor encoder_z\.\S+ has shape"):
        load_bundle(broken)


def test_unknown_format_version(broken):
    _edit_manifest(broken, lambda m: m.update(format_version=99))
    with pytest.raises(BundleError, match="format version 99 is not supported"):
        load_bundle(broken)


def test_truncated_weights(broken):
    w = broken / "weights.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(BundleError, match="unreadable weights"):
        load_bundle(broken)


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"format": "facet-bundle"}', "lacks format_version"),
    ('{"format": "other", "format_version": 1, "family": "cgan", "resolution": 32, "attributes": [], "networks": {"g": {}}}',
     "format 'other' is not"),
])
def test_wrong_manifest(broken, text, message):
    (broken / "manifest.json").write_text(text)
    with pytest.raises(BundleError, match=message):
        load_bundle(broken)


def test_other_damage(broken, tmp_path):
    _edit_weights(broken, lambda w: w.update({"stray.x": torch.zeros(1)}))
    with pytest.raises(BundleError, match="belong to no network"):
        load_bundle(broken)
    _edit_weights(broken, lambda w: (w.pop("stray.x"), w["generator.main.0.weight"].view(-1)[0].fill_(float("nan"))))
    with pytest.raises(BundleError, match="NaN or Inf"):
        load_bundle(broken)
    _edit_manifest(broken, lambda m: m["networks"]["generator"].update({"class": "cgan.Nope"}))
    with pytest.raises(BundleError, match="'generator' cannot be built"):
        load_bundle(broken)
    _edit_manifest(broken, lambda m: m["networks"]["generator"].update({"class": "cgan.Generator"}))
    (broken / "weights.safetensors").unlink()
    with pytest.raises(BundleError, match="is missing"):
        load_bundle(broken)
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path / "nowhere")


@pytest.mark.parametrize(("limits", "message"), [
    ([2.0], "must be an object"),
    ({"Wings": 2.0}, "not one of the model's attributes"),
    ({"FIRST": 0.5}, "not a number from 1 to 4"),
    ({"FIRST": float("nan")}, "not a number from 1 to 4"),
    ({"FIRST": "2"}, "not a number from 1 to 4"),
    ({"FIRST": True}, "not a number from 1 to 4"),
])
def test_attribute_limits_are_checked(broken, limits, message):
    def edit(m):
        m["attribute_limits"] = {(m["attributes"][0] if k == "FIRST" else k): v for k, v in limits.items()} \
            if isinstance(limits, dict) else limits

    _edit_manifest(broken, edit)
    with pytest.raises(BundleError, match=message):
        load_bundle(broken)
