"""Alignment: a similarity transform from 5 landmarks onto the CelebA template, applied in one warp.

Coordinates follow the landmark convention: pixel (i, j) has its centre at (x=j, y=i). The photo→crop
transform is composed once (template fit ∘ square crop ∘ resize) and the photo is resampled once with
Pillow's bicubic AFFINE transform; when the face is much larger than the crop, the face's region is
first box-downscaled by an integer factor so the bicubic step does not alias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.errors import FacetError
from engine.face.detect import Face
from engine.face.layout import CANVAS_SIZE, LAYOUTS, CropLayout, get_layout

#: The CelebA aligned layout (178 x 218): left eye, right eye, nose, left and right mouth corners.
TEMPLATE = np.array([[70.1, 112.3], [109.1, 112.2], [89.0, 136.2], [72.0, 153.9], [107.0, 153.8]])
#: The classic model crop (layout ``face``): the centred 178 x 178 square of the canvas starting at y = 20.
CROP_TOP, CROP_SIDE = LAYOUTS["face"].top, LAYOUTS["face"].side


@dataclass
class AlignedFace:
    """An aligned crop, the 2x3 photo→crop matrix that made it, and the face it came from."""

    crop: np.ndarray  # uint8 (R, R, 3) for align_face, (218, 178, 3) for align_to_celeba_canvas
    matrix: np.ndarray  # (2, 3) float64: [x_crop, y_crop] = matrix @ [x_photo, y_photo, 1]
    face: Face

    @property
    def resolution(self) -> int:
        return int(self.crop.shape[1])

    @property
    def transform(self) -> np.ndarray:
        """Alias of :attr:`matrix` (the name docs/api.md uses)."""
        return self.matrix

    @property
    def inverse(self) -> np.ndarray:
        return invert_affine(self.matrix)


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping src→dst, as 2x3."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1
    rot = u @ fix @ vt
    var = (s**2).sum() / len(src)
    scale = (sig * np.diag(fix)).sum() / var if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def invert_affine(m: np.ndarray) -> np.ndarray:
    a = np.linalg.inv(m[:, :2])
    return np.hstack([a, -a @ m[:, 2:3]])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """outer ∘ inner for 2x3 affine matrices."""
    return np.hstack([outer[:, :2] @ inner[:, :2], outer[:, :2] @ inner[:, 2:3] + outer[:, 2:3]])


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def canvas_matrix(face: Face, scale: float = 1.0) -> np.ndarray:
    """photo→canvas for the CelebA layout (``scale`` < 1 gives the half-size variant, etc.)."""
    return umeyama(face.landmarks, TEMPLATE * scale)


def crop_matrix(face: Face, resolution: int, layout: str | CropLayout | None = None) -> np.ndarray:
    """photo→model crop: template fit, then the layout's square (default ``face``: 178 x 178 from y = 20)
    resized to ``resolution``."""
    return compose(get_layout(layout).canvas_to_crop(resolution), canvas_matrix(face))


def warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int],
         resample: Image.Resampling = Image.Resampling.BICUBIC) -> np.ndarray:
    """Resample ``image`` into an output of ``size`` (w, h) where out = matrix(photo); outside is black.

    ``resample``: bicubic by default; bilinear is about twice as fast (live previews while dragging)."""
    inv = invert_affine(matrix)  # output → photo
    zoom = np.sqrt(abs(np.linalg.det(inv[:, :2])))  # photo pixels per output pixel
    factor = int(zoom // 2) if zoom >= 4 else 1
    src = image
    if factor > 1:
        # Box-downscale only the region the output sees (plus a margin), then warp that.
        w, h = size
        corners = apply_affine(inv, np.array([[-1, -1], [w, -1], [-1, h], [w, h]], float))
        x0, y0 = np.floor(corners.min(0)).astype(int) - 2 * factor
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 2 * factor
        H, W = image.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        if x1 - x0 >= factor and y1 - y0 >= factor:
            x1 -= (x1 - x0) % factor
            y1 -= (y1 - y0) % factor
            src = np.asarray(Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1])).reduce(factor))
            # photo centre p -> reduced centre (p - origin + 0.5) / factor - 0.5
            to_small = np.array([[1 / factor, 0, (0.5 - x0) / factor - 0.5], [0, 1 / factor, (0.5 - y0) / factor - 0.5]])
            inv = compose(to_small, inv)
    # Pillow samples output pixel centres (x + 0.5) in an edge-based frame: shift by half a pixel both ways.
    a = inv[:, :2]
    c = inv[:, 2] + a @ np.array([-0.5, -0.5]) + 0.5
    coeffs = (a[0, 0], a[0, 1], c[0], a[1, 0], a[1, 1], c[1])
    pil = Image.fromarray(np.ascontiguousarray(src))
    return np.asarray(pil.transform(size, Image.Transform.AFFINE, coeffs, resample=resample))


def align_face(image: np.ndarray, face: Face, resolution: int = 128,
               layout: str | CropLayout | None = None) -> AlignedFace:
    """The model's square crop of ``face`` (CelebA convention, ``layout``'s square) at ``resolution``."""
    m = crop_matrix(face, resolution, layout)
    return AlignedFace(crop=warp(image, m, (resolution, resolution)), matrix=m, face=face)


def align_to_celeba_canvas(image: np.ndarray, face: Face, width: int = 178) -> AlignedFace:
    """The full CelebA aligned layout (178 x 218 at ``width`` = 178; 89 gives the half-size layout)."""
    scale = width / CANVAS_SIZE[0]
    m = canvas_matrix(face, scale)
    size = (width, round(CANVAS_SIZE[1] * scale))
    return AlignedFace(crop=warp(image, m, size), matrix=m, face=face)


# ---- hand-placed faces ------------------------------------------------------------------------------------

#: Landmarks as fractions of a face box (mean MTCNN geometry on 300 CelebA photos, symmetrised): used when the user draws a box.
BOX_LANDMARKS = np.array([[0.27, 0.40], [0.73, 0.40], [0.50, 0.61], [0.29, 0.75], [0.71, 0.75]])


#: the smallest side of a hand-drawn face box, in pixels
MIN_BOX = 4.0


def face_from_box(box: tuple[float, float, float, float]) -> Face:
    """A :class:`Face` for a box the user drew around a face (eyes to chin), landmarks placed by template."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (np.isfinite([x0, y0, x1, y1]).all() and x1 - x0 >= MIN_BOX and y1 - y0 >= MIN_BOX):
        raise FacetError(f"a face box needs finite corners and a width and height of at least {MIN_BOX:g} pixels, "
                         f"not {tuple(box)}")
    lm = np.array([x0, y0]) + BOX_LANDMARKS * np.array([x1 - x0, y1 - y0])
    return Face(box=(x0, y0, x1, y1), landmarks=lm, score=0.0, manual=True)


def manual_alignment(image: np.ndarray, box: tuple[float, float, float, float], resolution: int = 128,
                     layout: str | CropLayout | None = None) -> AlignedFace:
    """Align a face the detector missed, from a user-drawn box (which must lie at least partly on the image)."""
    face = face_from_box(box)
    x0, y0, x1, y1 = face.box
    h, w = image.shape[:2]
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        raise FacetError(f"the face box {tuple(round(v) for v in face.box)} lies outside the {w} x {h} image")
    return align_face(image, face, resolution, layout)
