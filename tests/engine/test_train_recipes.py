"""Recipes end to end on the tiny fixtures: what each exported bundle holds, and that it loads back identical."""

from __future__ import annotations

import pytest
import torch

from engine.bundle import load_bundle
from engine.models.cgan import labels_to_y


def test_tiny_cgan_bundle_has_every_network(tiny_cgan_bundle, synthetic_dataset):
    b = load_bundle(tiny_cgan_bundle)
    assert b.family == "cgan" and b.resolution == 32
    assert b.attributes == synthetic_dataset.attributes
    assert set(b.networks) == {"generator", "discriminator", "encoder_y", "encoder_z"}
    # training metadata of all three recipes survives the chain, with the data's licence note
    assert set(b.manifest["training"]) == {"cgan", "encoder-y", "encoder-z"}
    assert b.manifest["training"]["cgan"]["steps"] == 100
    assert "synthetic" in b.manifest["data"]["licence"].lower()
    z = torch.randn(4, 32)
    y = torch.ones(4, len(b.attributes))
    x = b.network("generator")(z, y)
    assert x.shape == (4, 3, 32, 32)
    assert b.network("encoder_z")(x).shape == (4, 32)
    assert labels_to_y(b.network("encoder_y")(x)).abs().max() <= 1


def test_encoder_y_learned_the_attributes(tiny_cgan_bundle, synthetic_dataset):
    """40 steps are enough for E_y to beat chance clearly on these easy synthetic attributes."""
    b = load_bundle(tiny_cgan_bundle)
    x, y = zip(*(synthetic_dataset[i] for i in range(128)), strict=True)
    with torch.no_grad():
        logits = b.network("encoder_y")(torch.stack(x))
    error = ((logits > 0) != (torch.stack(y) > 0)).float().mean().item()
    assert error < 0.35


def test_classifier_bundle(tiny_classifier_bundle, synthetic_dataset):
    b = load_bundle(tiny_classifier_bundle)
    assert b.family == "classifier" and set(b.networks) == {"classifier"}
    net = b.network("classifier")
    x = torch.stack([synthetic_dataset[i][0] for i in range(8)])
    assert net(x).shape == (8, 5) and net.features(x).shape == (8, 128)


def test_every_recipe_steps_and_draws(tiny_cgan_bundle, synthetic_dataset):
    """One train_step and one sample grid per registered recipe of this package (uint8 pictures, finite losses)."""
    from engine.train.recipes import create_recipe

    base = load_bundle(tiny_cgan_bundle)
    x, y = (torch.stack(t) for t in zip(*(synthetic_dataset[i] for i in range(8)), strict=True))
    small = {"resolution": 32, "base_channels": 8, "feature_dim": 16}
    for name, values, b in [
        ("cgan", {"resolution": 32, "z_dim": 8, "g_channels": 8, "d_channels": 8, "samples": 4}, None),
        ("encoder-z", small, base),
        ("encoder-y", small, base),
        ("classifier", small, None),
    ]:
        recipe = create_recipe(name, values, synthetic_dataset.attributes, base=b)
        blank = recipe.sample_grid(0)
        assert blank.dtype == "uint8" and blank.ndim == 3
        losses = recipe.train_step((x, y), 1)
        assert losses and all(torch.isfinite(torch.tensor(v)) for v in losses.values()), name
        grid = recipe.sample_grid(1)
        assert grid.dtype == "uint8" and grid.shape[2] == 3 and min(grid.shape[:2]) >= 32, name


def test_cli_lists_registered_recipes(capsys):
    from engine.cli import build_parser
    from engine.train.recipes import RECIPES

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "no-such-recipe"])
    err = capsys.readouterr().err
    assert all(name in err for name in RECIPES)


def test_random_hflip_mirrors_about_half_and_keeps_the_rest():
    from engine.train.recipes.encoders import random_hflip

    x = torch.randn(200, 3, 8, 8)
    out = random_hflip(x)
    mirrored = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert bool((mirrored ^ kept).all())  # every image is either mirrored or untouched
    assert 70 < int(mirrored.sum()) < 130


def test_classifier_with_hflip_sees_mirrored_batches(synthetic_dataset):
    """``hflip=true`` feeds the network mirrored images (the labels stay), off by default."""
    from engine.train.recipes import create_recipe

    x, y = (torch.stack(t) for t in zip(*(synthetic_dataset[i] for i in range(16)), strict=True))
    small = {"resolution": 32, "base_channels": 8, "feature_dim": 16}
    seen = {}
    for flag in (False, True):
        recipe = create_recipe("classifier", {**small, "hflip": flag}, synthetic_dataset.attributes)
        recipe.train_step((x, y), 1)
        seen[flag] = recipe._last[0]
    assert torch.equal(seen[False], x[:16])
    flipped = [not torch.equal(a, b) and torch.equal(a, b.flip(-1)) for a, b in zip(seen[True], x, strict=True)]
    assert 0 < sum(flipped) < 16
