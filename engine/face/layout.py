"""Crop layouts: which square of the CelebA aligned canvas (178 x 218, eyes at y ≈ 112) a model sees.

- ``face`` — the classic 178 x 178 square from y = 20 (the 64 px cGAN, the classifier, ``elegant64``):
  forehead to chin, but the top of the hair is cut off;
- ``head`` — a 208 x 208 square from (x, y) = (-15, 5): the whole head with its hair, so that hair colour and
  bangs can reach the hair. It reaches 15 px beyond the canvas's sides; a photo has real pixels there, a
  CelebA training image is edge-padded.

Everything is a similarity transform of the canvas, so one layout's crop is an axis-aligned sub-square of
another's (:func:`sub_square`): a 64 px cGAN render in the ``face`` layout can be placed into a 128 px
``head`` crop without a second alignment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.errors import FacetError

#: The CelebA aligned layout (178 x 218).
CANVAS_SIZE = (178, 218)


@dataclass(frozen=True)
class CropLayout:
    """A square of the canvas: left/top corner and side, in canvas pixels (edge-based coordinates)."""

    name: str
    left: float
    top: float
    side: float

    def canvas_to_crop(self, resolution: int) -> np.ndarray:
        """2x3 canvas point → crop point, scaled about the square's corner (the convention of
        :func:`engine.face.align.crop_matrix`, which composes it after the landmark fit)."""
        k = resolution / self.side
        return np.array([[k, 0.0, -self.left * k], [0.0, k, -self.top * k]])

    def fraction(self, x: float, y: float) -> tuple[float, float]:
        """Canvas point → fraction of the crop's side."""
        return (x - self.left) / self.side, (y - self.top) / self.side


LAYOUTS = {
    "face": CropLayout("face", 0.0, 20.0, 178.0),
    "head": CropLayout("head", -15.0, 5.0, 208.0),
}


def get_layout(name: str | CropLayout | None) -> CropLayout:
    """A layout by name (None: ``face``, the layout of every bundle made before layouts existed)."""
    if isinstance(name, CropLayout):
        return name
    if name is None:
        return LAYOUTS["face"]
    try:
        return LAYOUTS[name]
    except KeyError:
        raise FacetError(f"unknown crop layout {name!r}; known: {', '.join(LAYOUTS)}") from None


def sub_square(inner: str | CropLayout, outer: str | CropLayout, outer_side: int) -> tuple[float, float, float]:
    """Where ``inner``'s square lies in an ``outer_side`` px crop of ``outer``: (left, top, side) in pixels."""
    a, b = get_layout(inner), get_layout(outer)
    k = outer_side / b.side
    return (a.left - b.left) * k, (a.top - b.top) * k, a.side * k


def canvas_crop(image: np.ndarray, layout: str | CropLayout, resolution: int) -> np.ndarray:
    """``layout``'s square of a CelebA-aligned image (any multiple of 178 x 218, e.g. the half-size 89 x 109),
    resized to ``resolution``; parts beyond the image are edge-padded (the dataset convention)."""
    lay = get_layout(layout)
    h, w = image.shape[:2]
    scale = w / CANVAS_SIZE[0]
    if abs(h / scale - CANVAS_SIZE[1]) > 2:
        # not the canvas: take the centred square, as the datasets always did
        from engine.images import center_square

        return center_square(image, resolution)
    x0, y0 = round(lay.left * scale), round(lay.top * scale)
    side = round(lay.side * scale)
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    src = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else image
    sq = src[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    pil = Image.fromarray(np.ascontiguousarray(sq))
    if pil.size != (resolution, resolution):
        pil = pil.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(pil)


def convert_crop(crop: np.ndarray, source: str | CropLayout, target: str | CropLayout, resolution: int) -> np.ndarray:
    """A square crop in ``source`` layout re-cut to ``target`` layout at ``resolution`` (bicubic; parts that the
    source does not cover are edge-padded). For measuring a ``head`` model's edits with a ``face`` classifier."""
    from engine.face.align import compose, invert_affine, warp

    a, b = get_layout(source), get_layout(target)
    if a == b and crop.shape[0] == resolution:
        return crop
    side = crop.shape[0]
    to_src = a.canvas_to_crop(side)
    to_dst = b.canvas_to_crop(resolution)
    m = compose(to_dst, invert_affine(to_src))  # source crop pixel → target crop pixel
    pad = side // 4
    padded = np.pad(crop, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    m = compose(m, np.array([[1.0, 0.0, -pad], [0.0, 1.0, -pad]]))
    return np.asarray(warp(padded, m, (resolution, resolution)))
