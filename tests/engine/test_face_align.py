"""Alignment maths and warping: Umeyama, pixel conventions, template placement, manual boxes."""

from __future__ import annotations

import numpy as np
import pytest

from engine.face import Face, align_face, align_to_celeba_canvas, face_from_box, manual_alignment, umeyama
from engine.face.align import TEMPLATE, apply_affine, compose, crop_matrix, invert_affine, warp


def similarity(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]])


def face_for(matrix_photo_to_canvas: np.ndarray) -> Face:
    """A face whose landmarks land exactly on the template under the given photo→canvas similarity."""
    lm = apply_affine(invert_affine(matrix_photo_to_canvas), TEMPLATE)
    return Face(box=(0, 0, 1, 1), landmarks=lm, score=1.0)


def test_umeyama_recovers_a_similarity_exactly():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    m = similarity(1.7, 0.4, 12.0, -30.0)
    assert np.allclose(umeyama(src, apply_affine(m, src)), m, atol=1e-9)


def test_umeyama_never_reflects():
    src = np.array([[0.0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.3]])
    mirrored = src * [-1, 1]
    m = umeyama(src, mirrored)
    assert np.linalg.det(m[:, :2]) > 0


def test_umeyama_is_the_least_squares_similarity_under_noise():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 200, (5, 2))
    dst = apply_affine(similarity(0.8, -0.2, 5.0, 7.0), src) + rng.normal(0, 2.0, (5, 2))
    # x' = a x - b y + tx, y' = b x + a y + ty is linear in (a, b, tx, ty): solve it directly.
    x, y = src.T
    A = np.zeros((10, 4))
    A[0::2] = np.column_stack([x, -y, np.ones(5), np.zeros(5)])
    A[1::2] = np.column_stack([y, x, np.zeros(5), np.ones(5)])
    a, b, tx, ty = np.linalg.lstsq(A, dst.reshape(-1), rcond=None)[0]
    assert np.allclose(umeyama(src, dst), [[a, -b, tx], [b, a, ty]], atol=1e-9)


def test_warp_identity_and_integer_shift_are_exact():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert np.array_equal(warp(img, np.array([[1.0, 0, 0], [0, 1, 0]]), (50, 40)), img)
    shifted = warp(img, np.array([[1.0, 0, -3], [0, 1, -5]]), (40, 30))  # out(x, y) = img(x + 3, y + 5)
    assert np.array_equal(shifted, img[5:35, 3:43])


def test_warp_downscale_path_keeps_the_geometry():
    """A 6x downscale goes through the box-reduce path; a bright dot must land where the matrix sends it."""
    img = np.zeros((600, 600, 3), np.uint8)
    img[297:303, 417:423] = 255  # centre (420, 300)
    off = 0.5 / 6 - 0.5  # pixel-centre convention: p -> (p + 0.5) / 6 - 0.5
    m = np.array([[1 / 6, 0, off], [0, 1 / 6, off]])
    out = warp(img, m, (100, 100)).astype(float).sum(2)
    cx = (out * np.arange(100)[None, :]).sum() / out.sum()
    cy = (out * np.arange(100)[:, None]).sum() / out.sum()
    assert abs(cx - (419.5 + 0.5) / 6 + 0.5) < 0.1 and abs(cy - (299.5 + 0.5) / 6 + 0.5) < 0.1


@pytest.mark.parametrize("resolution", [64, 128])
def test_align_face_puts_landmarks_on_the_template(resolution):
    canvas = similarity(0.5, 0.3, -40.0, 10.0)
    face = face_for(canvas)
    m = crop_matrix(face, resolution)
    expected = (TEMPLATE - [0, 20]) * resolution / 178
    assert np.allclose(apply_affine(m, face.landmarks), expected, atol=1e-9)
    photo = np.zeros((400, 400, 3), np.uint8)
    aligned = align_face(photo, face, resolution)
    assert aligned.crop.shape == (resolution, resolution, 3) and aligned.crop.dtype == np.uint8
    assert np.allclose(compose(aligned.matrix, aligned.inverse), np.eye(3)[:2], atol=1e-9)


def test_alignment_moves_image_content_with_the_landmarks():
    """Paint dots at the landmarks of a rotated, scaled face; after alignment they sit at the template."""
    lm = apply_affine(similarity(1.4, 0.25, 150.0, 60.0), TEMPLATE)  # a bigger, tilted face inside the photo
    face = Face(box=(0, 0, 1, 1), landmarks=lm, score=1.0)
    photo = np.zeros((420, 420, 3), np.uint8)
    for x, y in np.round(face.landmarks).astype(int):
        photo[y - 2 : y + 3, x - 2 : x + 3] = 255
    aligned = align_to_celeba_canvas(photo, face)
    assert aligned.crop.shape == (218, 178, 3)
    img = aligned.crop.astype(float).sum(2)
    landed = apply_affine(aligned.matrix, np.round(face.landmarks))
    for x, y in landed:
        win = img[int(y) - 6 : int(y) + 7, int(x) - 6 : int(x) + 7]
        yy, xx = np.mgrid[int(y) - 6 : int(y) + 7, int(x) - 6 : int(x) + 7]
        assert abs((win * xx).sum() / win.sum() - x) < 0.3 and abs((win * yy).sum() / win.sum() - y) < 0.3
    assert np.abs(landed - TEMPLATE).max() < 1.0  # rounding of the painted dots only


def test_half_size_canvas():
    face = face_for(similarity(1.0, 0.0, 0.0, 0.0))
    aligned = align_to_celeba_canvas(np.zeros((300, 300, 3), np.uint8), face, width=89)
    assert aligned.crop.shape == (109, 89, 3)
    assert np.allclose(apply_affine(aligned.matrix, face.landmarks), TEMPLATE / 2, atol=1e-9)


def test_manual_box_alignment():
    face = face_from_box((100, 50, 200, 170))
    assert face.manual and face.score == 0.0
    le, re, nose, ml, mr = face.landmarks
    assert 100 < le[0] < nose[0] < re[0] < 200 and le[1] < nose[1] < ml[1] < 170
    aligned = manual_alignment(np.full((300, 300, 3), 90, np.uint8), (100, 50, 200, 170), 64)
    assert aligned.crop.shape == (64, 64, 3) and aligned.face.manual
    from engine.errors import FacetError

    with pytest.raises(FacetError, match="at least 4 pixels"):
        face_from_box((10, 10, 5, 20))
    with pytest.raises(FacetError, match="outside the 300 x 300 image"):
        manual_alignment(np.full((300, 300, 3), 90, np.uint8), (400, 400, 500, 500), 64)
