"""The pair pool: rare attributes get as many pairs per step as common ones."""

from __future__ import annotations

import torch

from engine.train.recipes import create_recipe
from engine.train.recipes.elegant_pairs import PairPool, top_up

CONFIG = {"resolution": 32, "block_channels": 4, "base_channels": 8, "max_channels": 32, "latent_size": 4,
          "disc_channels": 8, "prototype_images": 8}
ATTRS = ["Smiling", "Mustache"]


def faces(n: int, seed: int = 0) -> torch.Tensor:
    """Images already on the uint8 grid (so a trip through the pool returns them exactly)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), generator=g).float().div(127.5).sub(1)


def labels(n: int, moustaches: int) -> torch.Tensor:
    """Half smiling; the first ``moustaches`` faces have a moustache."""
    y = -torch.ones(n, 2)
    y[: n // 2, 0] = 1
    y[:moustaches, 1] = 1
    return y


def test_the_pool_keeps_the_latest_faces_per_attribute_and_side():
    pool = PairPool(capacity=4, resolution=32, n_attrs=2)
    x1, x2 = faces(8, 1), faces(8, 2)
    pool.add(x1, labels(8, 3))
    pool.add(x2, labels(8, 2))
    assert pool.size(1, 0) == 4 and pool.size(1, 1) == 4 and int(pool.count[1, 0]) == 5
    got, lab = pool.take(1, 0, 10)  # the four latest moustaches: x1[1], x1[2], x2[0], x2[1]
    assert torch.equal(got, torch.stack([x1[1], x1[2], x2[0], x2[1]]))
    assert bool((lab[:, 1] == 1).all()) and lab.shape == (4, 2)
    assert torch.equal(pool.take(1, 1, 2)[0], x2[6:8])  # without: the last two of the second batch
    empty = PairPool(capacity=4, resolution=32, n_attrs=2).take(0, 0, 3)
    assert empty[0].shape == (0, 3, 32, 32) and empty[1].shape == (0, 2)


def test_top_up_fills_a_rare_attribute_from_the_pool():
    pool = PairPool(capacity=16, resolution=32, n_attrs=2)
    pool.add(faces(16, 1), labels(16, 6))
    x, y = faces(16, 2), labels(16, 1)  # one moustache in this batch
    a, b, ya, yb = top_up(pool, x, y, 1, want=5)
    assert len(a) == len(b) == 5
    assert torch.equal(a[0], x[0]) and torch.equal(b, x[1:6])  # the batch's own faces first
    assert bool((ya[:, 1] > 0).all()) and bool((yb[:, 1] < 0).all())
    assert torch.equal(a[1:], pool.take(1, 0, 4)[0])  # then the pool's latest moustaches
    # enough faces on both sides in the batch: nothing comes from the pool
    a, b, _, _ = top_up(pool, x, y, 0, want=4)
    assert torch.equal(a, x[:4]) and torch.equal(b, x[8:12])


def test_min_pairs_gives_rare_steps_more_pairs():
    """Steps of Mustache (one per batch) train on 1 pair without the pool, on min_pairs once it has filled."""
    pairs = {}
    for min_pairs in (0, 4):
        torch.manual_seed(0)
        recipe = create_recipe("elegant", {**CONFIG, "min_pairs": min_pairs, "pool_size": 8}, ATTRS)
        logs = [recipe.train_step((faces(16, s), labels(16, 1)), s) for s in range(1, 9)]
        pairs[min_pairs] = [m["pairs"] for s, m in enumerate(logs, 1) if s % 2 == 0]  # even steps: Mustache
        assert all(torch.isfinite(torch.tensor(list(m.values()))).all() for m in logs)
    assert pairs[0] == [1.0] * 4
    assert pairs[4][0] == 2.0 and pairs[4][-1] == 4.0  # step 2 finds one earlier moustache, later ones enough
    assert "pairs" in create_recipe("elegant", {**CONFIG, "min_pairs": 4}, ATTRS).modules()
