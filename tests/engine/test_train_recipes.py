"""Recipes end to end on the tiny fixtures: what each exported bundle holds, and that it loads back identical."""

from __future__ import annotations

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
