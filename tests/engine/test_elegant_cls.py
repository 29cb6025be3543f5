"""ELEGANT's optional attribute-classification loss (``cls_weight``): the discriminator's label-blind
classifier learns from real faces, and its verdict on the exchanged C, D reaches the encoder/decoder."""

from __future__ import annotations

import torch

from engine.data import SyntheticFaces
from engine.train.recipes import create_recipe

ATTRS = ["Blond_Hair", "Eyeglasses"]
CONFIG = {"resolution": 32, "block_channels": 4, "base_channels": 8, "max_channels": 16, "disc_channels": 8,
          "latent_size": 4, "prototype_images": 16}


def batch(seed: int = 1, n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    data = SyntheticFaces(n, 32, seed=seed, attributes=ATTRS)
    return tuple(torch.stack(t) for t in zip(*(data[i] for i in range(n)), strict=True))  # type: ignore[return-value]


def decoder_moves(config: dict) -> bool:
    torch.manual_seed(0)
    recipe = create_recipe("elegant", {**CONFIG, **config}, ATTRS)
    before = [p.detach().clone() for p in recipe.nets["decoder"].parameters()]
    recipe.train_step(batch(), 1)
    return any(not torch.equal(a, b) for a, b in zip(before, recipe.nets["decoder"].parameters(), strict=True))


def test_the_classifier_loss_alone_trains_the_decoder():
    # no reconstruction, no adversarial term: only the classifier can move the decoder
    assert decoder_moves({"rec_weight": 0.0, "adv_weight": 0.0, "cls_weight": 1.0})
    assert not decoder_moves({"rec_weight": 0.0, "adv_weight": 0.0, "cls_weight": 0.0})


def test_the_classifier_learns_the_attributes_from_real_faces():
    torch.manual_seed(0)
    recipe = create_recipe("elegant", {**CONFIG, "cls_weight": 1.0, "disc_warmup": 40, "lr": 1e-3}, ATTRS)
    x, y = batch(seed=2, n=64)
    logs = [recipe.train_step((x, y), step) for step in range(1, 41)]
    assert set(logs[0]) >= {"d_cls", "g_cls"} and all(set(m) == set(logs[0]) for m in logs)
    assert logs[-1]["d_cls"] < 0.6 * logs[0]["d_cls"]
    held_x, held_y = batch(seed=3, n=64)
    with torch.no_grad():
        _, attrs = recipe.nets["disc_full"].eval()(held_x, held_y)
    accuracy = ((attrs > 0) == (held_y > 0)).float().mean(0)
    assert accuracy[0] > 0.95, accuracy  # held-out faces, Blond_Hair (half of them blond): learnt, not guessed


def test_the_latent_cycle_alone_trains_the_decoder_and_is_logged():
    """``latent_weight``: C and D encoded again must give back the latents they were decoded from."""
    assert decoder_moves({"rec_weight": 0.0, "adv_weight": 0.0, "latent_weight": 1.0})
    torch.manual_seed(0)
    recipe = create_recipe("elegant", {**CONFIG, "latent_weight": 1.0}, ATTRS)
    stats = [recipe.train_step(batch(seed=s), s) for s in range(1, 4)]
    assert all("lat" in st and torch.isfinite(torch.tensor(st["lat"])) for st in stats)
    assert stats[0]["lat"] > 0
    assert "lat" not in create_recipe("elegant", CONFIG, ATTRS).train_step(batch(), 1)  # off by default
