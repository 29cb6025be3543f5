"""Does ELEGANT learn at all? A short real training run on synthetic faces (CPU, well under a minute).

Two attributes; after 100 steps, giving a dark-haired face the ``Blond_Hair`` block of a blond exemplar
must move its hair region toward the exemplar's colour, and decoding with the own latent must still
return the input closely. (So brief a run does not yet learn removal or the small Eyeglasses signature;
the exact block mechanics are tested deterministically in test_elegant_model / test_elegant_transfer.)
"""

from __future__ import annotations

import numpy as np
import pytest

from engine import transfer as T
from engine.bundle import load_bundle
from engine.data import SYNTHETIC_REGIONS, SyntheticFaces
from tests.conftest import train_tiny

ATTRS = ["Blond_Hair", "Eyeglasses"]
CONFIG = {"resolution": 32, "block_channels": 4, "base_channels": 8, "max_channels": 16, "disc_channels": 8,
          "latent_size": 4, "prototype_images": 64, "lr": 1e-3}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = SyntheticFaces(512, 32, seed=3, attributes=ATTRS)
    return load_bundle(train_tiny("elegant", CONFIG, data, tmp_path_factory.mktemp("learn") / "run", steps=100))


def region(image: np.ndarray, name: str) -> np.ndarray:
    x0, y0, x1, y1 = (round(v * image.shape[0]) for v in SYNTHETIC_REGIONS[name])
    return image[y0:y1, x0:x1].astype(np.float64)


def test_exchanged_block_moves_the_attribute_region_toward_the_exemplar(trained):
    held = SyntheticFaces(64, 32, seed=99, attributes=ATTRS)
    j = ATTRS.index("Blond_Hair")
    blond = [i for i in range(64) if held.labels[i, j] > 0][:8]
    dark = [i for i in range(64) if held.labels[i, j] < 0][:8]
    ratios = []  # distance of the output's mean hair-region colour to the exemplar's, relative to the source's
    for s, e in zip(dark, blond, strict=True):
        src, ex = held.item_uint8(s)[0], held.item_uint8(e)[0]
        out = T.transfer(trained, src, ex, ["Blond_Hair"])
        mean = lambda im: region(im, "Blond_Hair").mean(axis=(0, 1))  # noqa: E731  (mean RGB of the region)
        ratios.append(np.linalg.norm(mean(out) - mean(ex)) / np.linalg.norm(mean(src) - mean(ex)))
    # Seen over three data seeds: 7 of 8 pairs closer, median ratio 0.67-0.71 (1.0 = unchanged).
    assert np.mean(np.array(ratios) < 1) >= 0.75, ratios
    assert np.median(ratios) < 0.9, ratios


def test_own_latent_still_reconstructs_after_training(trained):
    from engine.metrics import psnr

    held = SyntheticFaces(8, 32, seed=99, attributes=ATTRS)
    for i in range(8):
        face = held.item_uint8(i)[0]
        assert psnr(T.reconstruct(trained, face), face) >= 32.0


def test_transfer_success_is_judged_by_the_classifier(trained, tmp_path):
    """The issue-4 protocol on the trained tiny model. Strength 0 is the identity: the classifier then sees the
    sources' own attributes (so almost no "add" or "remove" succeeds, and the others stay as they were); a
    real transfer adds Blond_Hair more often (this brief model only shifts the colour part of the way)."""
    from engine.transfer_eval import transfer_success
    from tests.conftest import TINY_ENCODER

    data = SyntheticFaces(512, 32, seed=3, attributes=ATTRS)
    judge = load_bundle(train_tiny("classifier", TINY_ENCODER, data, tmp_path / "clf", steps=60))
    held = SyntheticFaces(48, 32, seed=99, attributes=ATTRS)
    faces = [held.item_uint8(i)[0] for i in range(48)]
    full = {r.name: r for r in transfer_success(trained, judge, faces, held.labels, pairs=8)}
    none = {r.name: r for r in transfer_success(trained, judge, faces, held.labels, pairs=8, strength=0.0)}
    assert set(full) == set(none) == set(ATTRS) and full["Blond_Hair"].pairs == 8
    for r in none.values():
        assert r.others_unchanged >= 0.85 and r.added + r.removed <= 0.25, none
    assert full["Blond_Hair"].added > none["Blond_Hair"].added, (full, none)
    for r in full.values():
        assert 0.0 <= r.removed <= 1.0 and 0.0 <= r.present_afterwards <= 1.0
        assert r.hits[: r.pairs].mean() == r.added and r.hits[r.pairs :].mean() == r.removed
        # the judge's view of the exemplars (the protocol's ceiling) does not depend on the transfer
        assert r.exemplars_judged == none[r.name].exemplars_judged >= 0.75, (r, none[r.name])
    # confirmed pairs: only faces the judge sees as labelled, so its view of the exemplars is perfect
    sure = transfer_success(trained, judge, faces, held.labels, pairs=8, confirmed=True)
    assert sure and all(r.exemplars_judged == 1.0 and 0 < r.pairs <= 8 for r in sure), sure
