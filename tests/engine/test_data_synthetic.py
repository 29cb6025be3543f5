"""Synthetic faces: deterministic, fast, and each attribute changes pixels only where it should."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.data import SYNTHETIC_ATTRIBUTES, SYNTHETIC_REGIONS, SyntheticFaces, render_face
from engine.errors import DatasetError


def test_deterministic_per_seed_and_index():
    a, b = SyntheticFaces(6, 32, seed=3), SyntheticFaces(6, 32, seed=3)
    for i in (0, 5):
        xa, ya = a[i]
        xb, yb = b[i]
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(a[0][0], a[1][0])
    assert not torch.equal(a[0][0], SyntheticFaces(6, 32, seed=4)[0][0])


def test_item_format_and_labels():
    ds = SyntheticFaces(64, 32, seed=1, attributes=["Smiling", "Eyeglasses"])
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and -1 <= x.min() < x.max() <= 1
    assert y.shape == (2,) and set(y.tolist()) <= {-1.0, 1.0}
    assert ds.attributes == ["Smiling", "Eyeglasses"] and ds.resolution == 32
    assert ds.labels.shape == (64, 2)
    assert torch.equal(torch.from_numpy(ds.labels[7].astype(np.float32)), ds[7][1])
    frac = (ds.labels > 0).mean(0)
    assert ((frac > 0.25) & (frac < 0.75)).all()  # both values occur
    with pytest.raises(DatasetError, match="known: Smiling"):
        SyntheticFaces(4, attributes=["Male"])


@pytest.mark.parametrize("attribute", SYNTHETIC_ATTRIBUTES)
@pytest.mark.parametrize("seed", [0, 11])
def test_each_attribute_changes_its_region(attribute, seed):
    res = 64
    base = {a: False for a in SYNTHETIC_ATTRIBUTES}
    off = render_face(base, res, np.random.default_rng(seed)).astype(np.int16)
    on = render_face({**base, attribute: True}, res, np.random.default_rng(seed)).astype(np.int16)
    changed = np.abs(on - off).max(axis=2) > 24
    x0, y0, x1, y1 = (round(v * res) for v in SYNTHETIC_REGIONS[attribute])
    inside = changed[y0:y1, x0:x1].sum()
    assert inside >= 0.01 * res * res, f"{attribute} barely visible: {inside} pixels"
    assert inside >= 0.97 * changed.sum(), f"{attribute} changes pixels outside its region"


def test_continuous_values_blend():
    res = 32
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    off = render_face({"Eyeglasses": -1.0}, res, rng()).astype(float)
    mid = render_face({"Eyeglasses": 0.0}, res, rng()).astype(float)
    on = render_face({"Eyeglasses": 1.0}, res, rng()).astype(float)
    d_mid, d_on = np.abs(mid - off).sum(), np.abs(on - off).sum()
    assert 0.2 * d_on < d_mid < 0.8 * d_on
    assert np.array_equal(off, render_face({}, res, rng()))
