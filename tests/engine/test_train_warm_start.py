"""Warm starts (``facet train --init``): train on from a shipped bundle when the run folder is gone.

ELEGANT exports leave their discriminators out, so its warm start trains fresh discriminators alone first
(``disc_warmup``): during those steps the encoder/decoder must not move at all.
"""

from __future__ import annotations

import pytest
import torch

from engine.bundle import load_bundle
from engine.cli import main
from engine.data import SyntheticFaces
from engine.errors import FacetError
from engine.train.recipes import create_recipe

ATTRS = ["Blond_Hair", "Eyeglasses"]
TINY = ["--set", "block_channels=4", "--set", "base_channels=8", "--set", "max_channels=16", "--set",
        "disc_channels=8", "--set", "latent_size=4", "--set", "prototype_images=16"]
CONFIG = {"resolution": 32, "block_channels": 4, "base_channels": 8, "max_channels": 16, "disc_channels": 8,
          "latent_size": 4, "prototype_images": 16}


def train(out, steps: int, *extra: str, tiny: list[str] = TINY) -> int:
    """``facet train elegant`` on 64 synthetic faces (32 px, tiny widths) into ``out``; the exit code."""
    return main(["train", "elegant", "--synthetic", "64", "--attributes", ",".join(ATTRS), "--resolution", "32",
                 *tiny, "--steps", str(steps), "--batch-size", "16", "--out", str(out), "--precision", "fp32",
                 "--device", "cpu", "--quiet", *extra])


def test_init_copies_the_bundle_and_records_it(tmp_path, capsys):
    assert train(tmp_path / "a", 2) == 0
    first = load_bundle(tmp_path / "a" / "bundle")
    # a warm start whose every step is discriminator warm-up: encoder/decoder come out exactly as they went in
    assert train(tmp_path / "b", 3, "--set", "disc_warmup=3", "--init", str(tmp_path / "a" / "bundle")) == 0
    second = load_bundle(tmp_path / "b" / "bundle")
    for role in ("encoder", "decoder"):
        for (k, v), w in zip(first.network(role).state_dict().items(), second.network(role).state_dict().values(),
                             strict=True):
            if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
                continue  # batch-norm statistics follow the data even while the weights stand still
            assert torch.equal(v, w), f"{role}.{k} moved during the discriminator warm-up"
    record = second.manifest["training"]["elegant"]["warm_start"]
    # the trainer's own bundle still has its discriminators (only the shipped export drops them): all four copied
    assert record["networks"] == ["encoder", "decoder", "disc_full", "disc_half"]
    assert record["training"] == {"elegant": 2}
    # resumed later without --init (the checkpoint carries the record), it still says where it started
    assert train(tmp_path / "b", 4, "--set", "disc_warmup=3", "--resume") == 0
    resumed = load_bundle(tmp_path / "b" / "bundle").manifest["training"]["elegant"]
    assert resumed["steps"] == 4 and resumed["warm_start"] == record
    capsys.readouterr()


def test_after_the_warmup_the_encoder_decoder_train(tmp_path):
    data = SyntheticFaces(64, 32, seed=1, attributes=ATTRS)
    recipe = create_recipe("elegant", {**CONFIG, "disc_warmup": 1}, ATTRS)
    x, y = (torch.stack(t) for t in zip(*(data[i] for i in range(16)), strict=True))
    before = [p.detach().clone() for p in recipe.nets["decoder"].parameters()]
    recipe.train_step((x, y), 1)
    assert all(torch.equal(a, b) for a, b in zip(before, recipe.nets["decoder"].parameters(), strict=True))
    recipe.train_step((x, y), 2)
    assert any(not torch.equal(a, b) for a, b in zip(before, recipe.nets["decoder"].parameters(), strict=True))


def test_warm_start_refuses_a_bundle_that_does_not_fit(tiny_cgan_bundle, tmp_path, capsys):
    cgan = load_bundle(tiny_cgan_bundle)
    recipe = create_recipe("elegant", CONFIG, cgan.attributes)
    with pytest.raises(FacetError, match="shares no network"):
        recipe.warm_start(cgan)
    with pytest.raises(FacetError, match="attributes"):
        create_recipe("elegant", CONFIG, ATTRS).warm_start(cgan)
    assert train(tmp_path / "a", 1) == 0
    narrow = [a if a != "base_channels=8" else "base_channels=4" for a in TINY]
    assert train(tmp_path / "b", 1, "--init", str(tmp_path / "a" / "bundle"), tiny=narrow) == 2
    assert "does not fit this run's settings" in capsys.readouterr().err


def test_gen_lr_fine_tunes_gently():
    """``gen_lr``: the trained encoder/decoder move with their own (smaller) step, the fresh discriminators with lr."""
    opts = create_recipe("elegant", {**CONFIG, "lr": 2e-4, "gen_lr": 2e-5}, ATTRS).optimizers()
    assert opts["gen"].param_groups[0]["lr"] == 2e-5 and opts["disc"].param_groups[0]["lr"] == 2e-4
    assert create_recipe("elegant", {**CONFIG, "lr": 3e-4}, ATTRS).optimizers()["gen"].param_groups[0]["lr"] == 3e-4
