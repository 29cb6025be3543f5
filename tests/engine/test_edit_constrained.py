"""Constrained edits by latent optimisation: strokes, completion, super-resolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.bundle import load_bundle
from engine.edit import complete, render, stroke_edit, upscale
from engine.errors import Cancelled, FacetError
from engine.invert import LatentCode, invert
from engine.invert.core import image_to_tensor, tensor_to_image


@pytest.fixture(scope="module")
def bundle(tiny_cgan_bundle):
    return load_bundle(tiny_cgan_bundle)


@pytest.fixture(scope="module")
def face(bundle) -> np.ndarray:
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        x = bundle.network("generator")(torch.randn(1, 32, generator=g), torch.tensor([[1.0, -1, -1, 1, -1]]))
    return tensor_to_image(x)


def region_distance(img: np.ndarray, colors: np.ndarray, mask: np.ndarray) -> float:
    d = np.abs(img.astype(float) - colors.astype(float)).mean(axis=2)
    return float((d * mask).sum() / mask.sum())


def test_colour_stroke_moves_the_region_toward_its_colour(bundle, face):
    code = invert(face, bundle, "encoder").code
    mask = np.zeros((32, 32), np.float32)
    mask[4:14, 6:26] = 1.0
    colors = np.zeros((32, 32, 3), np.uint8)
    colors[..., 0] = 230  # red
    before = region_distance(render(bundle, code), colors, mask)
    steps = []
    result = stroke_edit(bundle, code, mask, colors, steps=30, progress=steps.append)
    after = region_distance(result.reconstruction, colors, mask)
    assert after < before - 5  # the tiny 32 px model cannot paint pure red; it does move
    np.testing.assert_array_equal(render(bundle, result.code), result.reconstruction)
    assert len(steps) == 30 and any(s.preview is not None for s in steps)
    with pytest.raises(FacetError, match="empty"):
        stroke_edit(bundle, code, np.zeros((32, 32)), colors, steps=2)


def test_stroke_cancel_within_one_step(bundle, face):
    code = LatentCode(np.zeros(32), np.zeros(5))
    seen: list[int] = []
    mask = np.zeros((32, 32))
    mask[8:16] = 1
    with pytest.raises(Cancelled):
        stroke_edit(bundle, code, mask, np.zeros((32, 32, 3), np.uint8), steps=100,
                    progress=lambda s: seen.append(s.step), cancel=lambda: len(seen) >= 2)
    assert seen == [1, 2]


def test_completion_keeps_known_pixels_and_fills_the_hole(bundle, face):
    hole = np.zeros((32, 32), np.float32)
    hole[10:22, 8:24] = 1.0
    damaged = face.copy()
    damaged[hole > 0] = 0  # black box over the face
    result = complete(bundle, damaged, hole, steps=40)
    out = result.reconstruction
    known = hole == 0
    assert np.abs(out[known].astype(int) - damaged[known].astype(int)).max() <= 1
    hole_err = np.abs(out[~known].astype(float) - face[~known].astype(float)).mean()
    black_err = np.abs(damaged[~known].astype(float) - face[~known].astype(float)).mean()
    assert hole_err < 0.6 * black_err
    with pytest.raises(FacetError, match="whole face"):
        complete(bundle, damaged, np.ones((32, 32)), steps=2)


def test_upscale_matches_the_low_resolution_input(bundle, face):
    low_t = F.avg_pool2d(image_to_tensor(face, 32), 4)
    low = tensor_to_image(low_t)
    assert low.shape == (8, 8, 3)
    result = upscale(bundle, low, steps=40)
    assert result.reconstruction.shape == (32, 32, 3) and result.method == "upscale x4"
    err = (F.avg_pool2d(image_to_tensor(result.reconstruction, 32), 4) - low_t).abs().mean()
    rng = np.random.default_rng(0)
    random = render(bundle, LatentCode(rng.standard_normal(32), result.code.y))
    random_err = (F.avg_pool2d(image_to_tensor(random, 32), 4) - low_t).abs().mean()
    assert err < 0.75 * random_err
    assert result.losses[-1] < result.losses[0]
