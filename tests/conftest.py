"""Shared pytest set-up: few torch threads, seeded RNGs, and tiny trained models for engine tests.

Session-scoped fixtures (built once per test run, under pytest's tmp dir; about 10-15 s on 2 CPU cores):

- ``synthetic_dataset`` — :class:`engine.data.SyntheticFaces`, 256 faces at 32 px with the five
  synthetic attributes (``Smiling``, ``Eyeglasses``, ``Blond_Hair``, ``Bangs``, ``Mustache``), seed 0.
- ``tiny_cgan_bundle`` — ``Path`` of a ``cgan`` bundle at 32 px (z_dim 32, 16 base channels) trained
  on ``synthetic_dataset`` through the real Trainer: ``generator``, ``discriminator`` (with aux head),
  ``encoder_y`` and ``encoder_z``. Only a few hundred steps: its images are blurry blobs, good for
  plumbing and shape tests, not for quality claims. Load it with ``engine.bundle.load_bundle(path)``.
- ``tiny_classifier_bundle`` — ``Path`` of a ``classifier`` bundle (role ``classifier``) at 32 px on
  the same data.

Treat the bundle folders as read-only (copy them with ``shutil.copytree`` before altering files).
Every test starts from ``random``/``numpy``/``torch`` seeded with 0.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as app.main sets it: idle OpenMP threads sleep, not spin
import torch  # noqa: E402

from tests.helpers import pytest_runtest_makereport  # noqa: F401 - skips for missing ../shared fail where it exists

torch.set_num_threads(int(os.environ.get("FACET_TEST_THREADS", "1")))

TINY_RESOLUTION = 32
TINY_CGAN = {"resolution": TINY_RESOLUTION, "z_dim": 32, "g_channels": 16, "d_channels": 16}
TINY_ENCODER = {"resolution": TINY_RESOLUTION, "base_channels": 16, "feature_dim": 128}


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def train_tiny(name: str, values: dict, dataset, out: Path, steps: int, base: Path | None = None, **config) -> Path:
    """Train recipe ``name`` through the real Trainer (CPU, fp32 for repeatability); return the bundle path."""
    from engine.bundle import load_bundle
    from engine.train import TrainConfig, Trainer
    from engine.train.recipes import create_recipe

    base_bundle = load_bundle(base) if base is not None else None
    recipe = create_recipe(name, values, dataset.attributes, base=base_bundle, seed=0)
    cfg = TrainConfig(
        out, steps=steps, batch_size=32, seed=0, device="cpu", precision="fp32",
        sample_every=0, checkpoint_every=0, log_every=10, **config,
    )
    result = Trainer(recipe, dataset, cfg).run()
    assert result.bundle is not None
    return result.bundle


@pytest.fixture(scope="session")
def synthetic_dataset():
    from engine.data import SyntheticFaces

    return SyntheticFaces(256, resolution=TINY_RESOLUTION, seed=0)


@pytest.fixture(scope="session")
def tiny_cgan_bundle(tmp_path_factory, synthetic_dataset) -> Path:
    root = tmp_path_factory.mktemp("tiny_cgan")
    gan = train_tiny("cgan", TINY_CGAN, synthetic_dataset, root / "cgan", steps=100)
    with_y = train_tiny("encoder-y", TINY_ENCODER, synthetic_dataset, root / "encoder_y", steps=40, base=gan)
    return train_tiny("encoder-z", TINY_ENCODER, synthetic_dataset, root / "encoder_z", steps=40, base=with_y)


@pytest.fixture(scope="session")
def tiny_classifier_bundle(tmp_path_factory, synthetic_dataset) -> Path:
    root = tmp_path_factory.mktemp("tiny_classifier")
    return train_tiny("classifier", TINY_ENCODER, synthetic_dataset, root / "classifier", steps=40)
