"""Strokes and completion that do what they show, through the session on the tiny synthetic-data cGAN: a stroke
moves its pixels to its colour and leaves the rest of the face; completion fills the hole from what is around
it, meets it without a seam and leaves every other pixel as it was."""

from __future__ import annotations

import numpy as np
import pytest

from engine.bundle import load_bundle
from engine.data import SyntheticFaces
from engine.edit import complete
from engine.edit.constrained import paint_strokes, seamless_fill
from engine.errors import FacetError
from engine.invert.core import tensor_to_image
from engine.progress import drive
from engine.session import EditSession
from engine.session_view import cgan_confinement

GOLD = (218, 165, 32)


@pytest.fixture(scope="module")
def bundle(tiny_cgan_bundle):
    return load_bundle(tiny_cgan_bundle)


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return tensor_to_image(SyntheticFaces(4, resolution=32, seed=5)[2][0])


@pytest.fixture(scope="module")
def session(bundle, face):
    s = EditSession(face, bundle, detect=False)
    drive(s.invert_face_job(0, "pivotal"))
    assert s.faces[0].tuned is not None
    return s


def band(rows: slice, cols: slice, side: int = 32) -> np.ndarray:
    m = np.zeros((side, side), np.float32)
    m[rows, cols] = 1
    return m


def filled(colour, side: int = 32) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, np.uint8), (side, side, 3)).copy()


def share_of_the_way(before: np.ndarray, after: np.ndarray, mask: np.ndarray, colour) -> float:
    sel = mask > 0.5
    a, b = before[sel].astype(float).mean(0), after[sel].astype(float).mean(0)
    way = np.asarray(colour, float) - a
    return float(np.dot(b - a, way) / np.dot(way, way))


def test_a_stroke_moves_its_pixels_to_its_colour_and_leaves_the_rest_of_the_face(session):
    mask = band(slice(20, 23), slice(10, 22))
    before = session.render_face(0)
    op = drive(session.stroke_job(0, mask, filled(GOLD), steps=20))
    session.apply(op)
    try:
        after = session.render_face(0)
    finally:
        session.undo()
    assert share_of_the_way(before, after, mask, GOLD) >= 0.7
    rest = (cgan_confinement([], 32, True) > 0.5) & (mask == 0)
    change = np.abs(after.astype(float) - before.astype(float)).mean(2)
    assert change[rest].mean() <= 4.0
    far = rest & (np.abs(np.arange(32)[:, None] - 21) > 4)  # a few pixels from the stroke: untouched
    assert change[far].max() == 0


def test_the_colour_layer_keeps_the_detail_under_a_stroke():
    rng = np.random.default_rng(0)
    image = (120 + rng.integers(-30, 31, (32, 32, 3))).astype(np.uint8)
    mask = band(slice(8, 24), slice(8, 24))
    out = paint_strokes(image, mask, filled(GOLD), strength=1.0)
    inside = mask > 0.5
    assert share_of_the_way(image, out, mask, GOLD) > 0.9
    detail_before = image[inside].astype(float) - image[inside].astype(float).mean(0)
    detail_after = out[inside].astype(float) - out[inside].astype(float).mean(0)
    assert np.corrcoef(detail_before.ravel(), detail_after.ravel())[0, 1] > 0.8  # a tint, not opaque paint
    np.testing.assert_array_equal(out[:4], image[:4])


def test_completion_leaves_every_unmasked_pixel_as_it_was(session):
    hole = band(slice(12, 22), slice(10, 20))
    before = session.render_face(0)
    op = drive(session.complete_job(0, hole, steps=20))
    session.apply(op)
    try:
        after = session.render_face(0)
    finally:
        session.undo()
    np.testing.assert_array_equal(after[hole == 0], before[hole == 0])
    assert np.abs(after[hole > 0].astype(int) - before[hole > 0].astype(int)).mean() > 1  # the hole is filled
    assert border_gradient(after, hole) <= 1.5 * border_gradient(before, hole)  # and meets the face: no rectangle


def test_completion_never_uses_the_pixels_under_the_mask(bundle, face):
    hole = band(slice(12, 22), slice(10, 20))
    black, white = face.copy(), face.copy()
    black[hole > 0], white[hole > 0] = 0, 255
    a = complete(bundle, black, hole, steps=20).reconstruction
    b = complete(bundle, white, hole, steps=20).reconstruction
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[hole == 0], face[hole == 0])


def border_gradient(image: np.ndarray, hole: np.ndarray) -> float:
    h, a = hole > 0.5, image.astype(float)
    dx, dy = np.abs(a[:, 1:] - a[:, :-1]).mean(2), np.abs(a[1:] - a[:-1]).mean(2)
    return float(np.concatenate([dx[h[:, 1:] != h[:, :-1]], dy[h[1:] != h[:-1]]]).mean())


def test_a_completed_hole_meets_its_surroundings_without_a_seam():
    """A fill 60 grey levels too bright is shifted to meet the photo: no rectangle where the hole ends."""
    yy, xx = np.mgrid[0:32, 0:32]
    photo = np.stack([80 + 2 * xx, 90 + yy, 100 + xx + yy], axis=2).astype(np.uint8)
    fill = np.clip(photo.astype(int) + 60, 0, 255).astype(np.uint8)
    hole = band(slice(10, 22), slice(8, 20))
    pasted = np.where(hole[..., None] > 0, fill, photo)
    out = seamless_fill(photo, fill, hole)
    assert border_gradient(pasted, hole) > 10 * border_gradient(photo, hole)
    assert border_gradient(out, hole) <= 1.5 * border_gradient(photo, hole)
    np.testing.assert_array_equal(out[hole == 0], photo[hole == 0])


@pytest.mark.parametrize("mask, problem", [(np.zeros((32, 32)), "the mask is empty"),
                                           (np.ones((32, 32)), "the mask covers the whole face")])
def test_an_empty_or_whole_face_mask_is_refused(session, mask, problem):
    with pytest.raises(FacetError, match=f"stroke edit: {problem}"):
        drive(session.stroke_job(0, mask, filled(GOLD), steps=2))
    with pytest.raises(FacetError, match=f"completion: {problem}"):
        drive(session.complete_job(0, mask, steps=2))
    face_only = cgan_confinement([], 32, True) > 0.3  # the face, not the whole crop, is what counts
    with pytest.raises(FacetError, match="whole face"):
        drive(session.complete_job(0, face_only.astype(np.float32), steps=2))
