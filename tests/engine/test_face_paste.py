"""Paste-back: only the face's region changes, edits land where the face was, colours are matched."""

from __future__ import annotations

import numpy as np
import pytest

from engine.face import Face, PasteConfig, align_face, paste_back, paste_region, plan_paste
from engine.face.align import TEMPLATE, apply_affine


def tilted_face(scale: float = 1.6, angle: float = 0.2, tx: float = 120.0, ty: float = 40.0) -> Face:
    c, s = np.cos(angle), np.sin(angle)
    lm = TEMPLATE @ (scale * np.array([[c, -s], [s, c]])).T + [tx, ty]
    return Face(box=(0, 0, 1, 1), landmarks=lm, score=1.0)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640]
    base = np.stack([xx * 0.3, yy * 0.4, (xx + yy) * 0.15], -1) + rng.normal(0, 8, (480, 640, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def test_outside_the_region_is_bit_identical_and_shape_kept(photo):
    face = tilted_face()
    aligned = align_face(photo, face, 128)
    edited = np.full((128, 128, 3), 255, np.uint8)
    out = paste_back(photo, edited, aligned)
    assert out.shape == photo.shape and out.dtype == np.uint8
    x0, y0, x1, y1 = paste_region(aligned, photo.shape)
    assert 0 < x0 < x1 < 640 and 0 < y0 < y1 < 480
    outside = np.ones(photo.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], photo[outside])
    changed = np.any(out != photo, axis=2)
    assert changed.sum() > 0.3 * (x1 - x0) * (y1 - y0)
    # The changed pixels form the ellipse: none at the corners of the rectangle.
    assert not changed[y0, x0] and not changed[y1 - 1, x1 - 1]
    assert photo is not out and np.array_equal(photo, np.asarray(photo))  # input untouched


@pytest.mark.parametrize("color_match", [False, True])
def test_unedited_crop_round_trips(color_match):
    yy, xx = np.mgrid[0:300, 0:400]
    smooth = np.stack([xx * 0.5, yy * 0.6, 128 + 60 * np.sin(xx / 20.0) * np.cos(yy / 25.0)], -1).astype(np.uint8)
    aligned = align_face(smooth, tilted_face(scale=1.2, tx=80, ty=20), 128)
    out = paste_back(smooth, aligned.crop, aligned, config=PasteConfig(color_match=color_match))
    x0, y0, x1, y1 = paste_region(aligned, smooth.shape)
    diff = np.abs(out.astype(int) - smooth.astype(int))[y0:y1, x0:x1]
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 4


def _core(aligned, shape, radius: float = 0.6) -> np.ndarray:
    """Photo pixels well inside the blend ellipse (alpha 1 there)."""
    cfg = PasteConfig()
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    m = aligned.matrix
    u = (m[0, 0] * xx + m[0, 1] * yy + m[0, 2]) / aligned.resolution - cfg.center[0]
    v = (m[1, 0] * xx + m[1, 1] * yy + m[1, 2]) / aligned.resolution - cfg.center[1]
    return np.hypot(u / cfg.radii[0], v / cfg.radii[1]) < radius


def test_an_unedited_crop_leaves_a_detailed_photo_as_it_was(photo):
    """The photo's fine detail (noise the 128 px crop of this large face cannot hold) is not blurred away."""
    aligned = align_face(photo, tilted_face(scale=2.2), 128)
    out = paste_back(photo, aligned.crop, aligned)
    assert np.abs(out.astype(int) - photo.astype(int)).max() <= 1
    crop_itself = paste_back(photo, aligned.crop, aligned, config=PasteConfig(keep_detail=False))
    assert np.abs(crop_itself.astype(int) - photo.astype(int))[_core(aligned, photo.shape)].mean() > 3


def test_a_small_edit_keeps_the_photos_detail_and_a_large_one_replaces_it(photo):
    aligned = align_face(photo, tilted_face(scale=2.2), 128)
    core = _core(aligned, photo.shape)
    no_match = PasteConfig(color_match=False)
    brighter = np.clip(aligned.crop.astype(int) + 12, 0, 255).astype(np.uint8)
    out = paste_back(photo, brighter, aligned, config=no_match).astype(int)
    lift = (out - photo.astype(int))[core]
    assert abs(lift.mean() - 12) < 1.5 and lift.std() < 2  # the same noise, 12 levels brighter
    blurred = paste_back(photo, brighter, aligned, config=PasteConfig(color_match=False, keep_detail=False)).astype(int)
    assert (blurred - photo.astype(int))[core].std() > 4  # what pasting the crop itself did
    white = np.full((128, 128, 3), 255, np.uint8)  # a change far beyond detail_fade: no ghost of the old face
    assert paste_back(photo, white, aligned, config=no_match)[core].min() >= 250


def test_a_plan_made_once_pastes_like_paste_back(photo):
    aligned = align_face(photo, tilted_face(), 128)
    plan = plan_paste(aligned, photo.shape, 128)
    for shift in (30, -50):
        edited = np.clip(aligned.crop.astype(int) + shift, 0, 255).astype(np.uint8)
        assert np.array_equal(plan.apply(photo, edited), paste_back(photo, edited, aligned))
    with pytest.raises(ValueError, match="planned for"):
        plan.apply(photo[:100], aligned.crop)
    with pytest.raises(ValueError, match="planned for"):
        plan.apply(photo, np.zeros((64, 64, 3), np.uint8))


def test_edit_lands_on_the_landmarks(photo):
    """A dark square painted around the left eye of the crop appears around the left eye in the photo."""
    face = tilted_face()
    aligned = align_face(photo, face, 128)
    edited = aligned.crop.copy()
    ex, ey = np.round(apply_affine(aligned.matrix, face.landmarks[:1])[0]).astype(int)
    edited[ey - 3 : ey + 4, ex - 3 : ex + 4] = 0
    out = paste_back(photo, edited, aligned, config=PasteConfig(color_match=False))
    darker = (photo.astype(int) - out.astype(int)).sum(2) > 150
    ys, xs = np.nonzero(darker)
    assert len(xs) > 10
    assert np.hypot(xs.mean() - face.landmarks[0, 0], ys.mean() - face.landmarks[0, 1]) < 3.0


def test_color_matching_removes_a_global_cast(photo):
    aligned = align_face(photo, tilted_face(), 128)
    cast = np.clip(aligned.crop.astype(int) + [40, -30, 25], 0, 255).astype(np.uint8)
    x0, y0, x1, y1 = paste_region(aligned, photo.shape)
    plain = paste_back(photo, cast, aligned, config=PasteConfig(color_match=False))[y0:y1, x0:x1]
    matched = paste_back(photo, cast, aligned)[y0:y1, x0:x1]
    ref = photo[y0:y1, x0:x1].astype(float)
    assert np.abs(matched - ref).mean() < 0.4 * np.abs(plain - ref).mean()


def test_feather_softens_the_edge(photo):
    aligned = align_face(photo, tilted_face(), 128)
    white = np.full((128, 128, 3), 255, np.uint8)
    hard = paste_back(photo, white, aligned, feather=0.01, config=PasteConfig(color_match=False))
    soft = paste_back(photo, white, aligned, feather=0.4, config=PasteConfig(color_match=False))
    partial = lambda img: np.count_nonzero((img.min(2) < 250) & np.any(img != photo, axis=2))  # noqa: E731
    assert partial(soft) > 3 * partial(hard)


def test_other_crop_resolution_and_bad_input(photo):
    aligned = align_face(photo, tilted_face(), 64)
    out = paste_back(photo, np.zeros((256, 256, 3), np.uint8), aligned)
    assert out.shape == photo.shape
    with pytest.raises(ValueError, match="square RGB uint8"):
        paste_back(photo, np.zeros((64, 32, 3), np.uint8), aligned)


def test_face_at_the_border_is_clipped(photo):
    face = tilted_face(tx=-60.0, ty=-80.0)  # partly outside the photo
    aligned = align_face(photo, face, 64)
    x0, y0, x1, y1 = paste_region(aligned, photo.shape)
    assert x0 == 0 and y0 == 0
    out = paste_back(photo, np.full((64, 64, 3), 128, np.uint8), aligned)
    assert out.shape == photo.shape and np.array_equal(out[y1:], photo[y1:])


def test_change_mode_adds_only_the_change_and_leaves_every_other_byte():
    """Mode "change" (masked models): a crop's change is added to the photo; where it is 0 the photo keeps its
    bytes, even inside the face's ellipse, and an unedited crop leaves the photo exactly as it was."""
    from engine.face import AlignedFace, Face, PasteConfig, plan_paste
    from engine.face.align import TEMPLATE, align_face

    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (300, 260, 3)).astype(np.uint8)
    face = Face(box=(60, 80, 200, 240), landmarks=TEMPLATE * 1.3 + [20.0, 10.0], score=1.0)
    aligned: AlignedFace = align_face(photo, face, 64, "head")
    plan = plan_paste(aligned, photo.shape, 64, PasteConfig(mode="change"))
    assert np.array_equal(plan.apply(photo, aligned.crop), photo)
    edited = aligned.crop.copy()
    edited[24:32, 20:44] = 255 - edited[24:32, 20:44]  # an "eye band" edit
    out = plan.apply(photo, edited)
    changed = np.any(out != photo, axis=2)
    assert changed.sum() > 100
    # every changed photo pixel maps into the edited band of the crop (give or take the bilinear pixel)
    ys, xs = np.nonzero(changed)
    crop_pts = np.c_[xs, ys] @ aligned.matrix[:, :2].T + aligned.matrix[:, 2]
    assert crop_pts[:, 0].min() > 18 and crop_pts[:, 0].max() < 46
    assert crop_pts[:, 1].min() > 22 and crop_pts[:, 1].max() < 34
