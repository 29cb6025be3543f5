"""Procedural cartoon faces with known binary attributes, for fast tests and demos without CelebA.

Each face is drawn with PIL at twice the target size and box-downsampled. Attributes use CelebA names
and are spatially localized (see :data:`SYNTHETIC_REGIONS`) so tests can check that an edit changed
the right pixels: glasses around the eyes, a moustache above the mouth, a smile at the mouth, bangs on
the forehead, blond hair in the hair. Nuisance (skin tone, background, small shift/scale) comes from
the same seeded generator, so ``(seed, index)`` fully determines an item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

from engine.data.celeba import labels_to_tensor, to_tensor
from engine.errors import DatasetError

SYNTHETIC_ATTRIBUTES = ("Smiling", "Eyeglasses", "Blond_Hair", "Bangs", "Mustache")
#: Where each attribute changes pixels: (x0, y0, x1, y1) as fractions of the image side (jitter included).
SYNTHETIC_REGIONS = {
    "Smiling": (0.28, 0.64, 0.72, 0.88),
    "Eyeglasses": (0.16, 0.40, 0.84, 0.62),
    "Blond_Hair": (0.0, 0.0, 1.0, 0.95),
    "Bangs": (0.22, 0.10, 0.78, 0.50),
    "Mustache": (0.30, 0.62, 0.70, 0.80),
}
SYNTHETIC_SOURCE_NOTE = (
    "Procedural synthetic faces (engine.data.synthetic); no real people, no licence restriction."
)

_SKIN = np.array(
    [[255, 224, 196], [241, 194, 160], [224, 172, 130], [198, 134, 96], [141, 85, 56]], np.float64
)
_DARK_HAIR = np.array([52, 36, 28], np.float64)
_BLOND_HAIR = np.array([236, 204, 112], np.float64)


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> tuple[int, int, int]:
    c = a + (b - a) * t
    return (int(c[0]), int(c[1]), int(c[2]))


def _amount(value: bool | float) -> float:
    """An attribute value as a drawing amount in [0, 1]: False/-1 -> 0, True/+1 -> 1, blends between."""
    if isinstance(value, bool | np.bool_):
        return 1.0 if value else 0.0
    return float(np.clip((float(value) + 1.0) / 2.0, 0.0, 1.0))


def render_face(
    attrs: Mapping[str, bool | float], resolution: int = 64, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Draw one face as uint8 (R, R, 3). Missing attributes are absent; ``rng`` supplies the nuisance.

    The generator is consumed the same way whatever the attributes, so the same seed with one attribute
    toggled gives the same face with only that attribute changed.
    """
    unknown = set(attrs) - set(SYNTHETIC_ATTRIBUTES)
    if unknown:
        raise DatasetError(
            f"unknown synthetic attribute(s) {sorted(unknown)}; known: {', '.join(SYNTHETIC_ATTRIBUTES)}"
        )
    rng = rng if rng is not None else np.random.default_rng(0)
    nz = rng.random(8)  # all nuisance in one draw
    skin_t = nz[0] * (len(_SKIN) - 1)
    k = int(skin_t)
    skin_c = _SKIN[k] + (_SKIN[min(k + 1, len(_SKIN) - 1)] - _SKIN[k]) * (skin_t - k)
    skin = (int(skin_c[0]), int(skin_c[1]), int(skin_c[2]))
    bg = (int(60 + 170 * nz[1]), int(60 + 170 * nz[2]), int(60 + 170 * nz[3]))
    s = 2 * int(resolution)  # supersampled canvas
    scale = s * (0.95 + 0.1 * nz[4])
    ox, oy = s * (0.5 + 0.04 * (nz[5] - 0.5)), s * (0.5 + 0.04 * (nz[6] - 0.5))
    dark_hair = _DARK_HAIR * (0.8 + 0.4 * nz[7])

    def P(x: float, y: float) -> tuple[float, float]:  # face coordinates (centre 0,0; side 1) -> pixels
        return (ox + x * scale, oy + y * scale)

    def box(cx: float, cy: float, rx: float, ry: float) -> list[float]:
        (x0, y0), (x1, y1) = P(cx - rx, cy - ry), P(cx + rx, cy + ry)
        return [x0, y0, x1, y1]

    a = {name: _amount(attrs.get(name, False)) for name in SYNTHETIC_ATTRIBUTES}
    hair = _lerp(dark_hair, _BLOND_HAIR, a["Blond_Hair"])
    img = Image.new("RGB", (s, s), bg)
    d = ImageDraw.Draw(img)
    w = max(1, round(scale * 0.022))
    # Hair behind the head, neck, face.
    d.ellipse(box(0.0, -0.06, 0.34, 0.38), fill=hair)
    d.rectangle([*P(-0.09, 0.25), *P(0.09, 0.5)], fill=skin)
    d.ellipse(box(0.0, 0.05, 0.26, 0.34), fill=skin)
    # Hairline cap on top of the forehead.
    d.chord(box(0.0, -0.13, 0.27, 0.22), 180, 360, fill=hair)
    # Bangs: a fringe reaching down toward the brows.
    if a["Bangs"] > 0:
        depth = -0.12 + 0.08 * a["Bangs"]
        pts = [P(-0.22, -0.16)]
        for i in range(7):
            x = -0.21 + i * 0.07
            pts += [P(x, depth + 0.02 * (i % 2)), P(x + 0.035, depth - 0.03)]
        pts += [P(0.22, -0.16), P(0.0, -0.24)]
        d.polygon(pts, fill=hair)
    # Eyes and brows.
    for ex in (-0.11, 0.11):
        d.ellipse(box(ex, 0.02, 0.055, 0.028), fill=(250, 250, 250))
        d.ellipse(box(ex, 0.02, 0.025, 0.025), fill=(60, 40, 30))
        d.line([P(ex - 0.06, -0.055), P(ex + 0.06, -0.06)], fill=(70, 50, 40), width=w)
    # Nose.
    d.line([P(0.0, 0.05), P(-0.02, 0.13), P(0.02, 0.14)], fill=_lerp(skin_c, np.zeros(3), 0.35), width=w)
    # Mouth: a flat line that curves into an open crescent as Smiling grows.
    t = a["Smiling"]
    us = np.linspace(-1.0, 1.0, 9)
    top = [P(0.1 * u, 0.25 - 0.045 * t * u * u) for u in us]
    bottom = [P(0.1 * u, 0.25 + 0.012 + 0.06 * t * (1 - u * u) - 0.045 * t * u * u) for u in us[::-1]]
    d.polygon(top + bottom, fill=(150, 40, 50))
    # Moustache: a dark band between nose and mouth.
    if a["Mustache"] > 0:
        col = _lerp(skin_c, _DARK_HAIR * 0.8, a["Mustache"])
        d.polygon([P(-0.12, 0.225), P(-0.05, 0.17), P(0.05, 0.17), P(0.12, 0.225), P(0.0, 0.205)], fill=col)
    # Eyeglasses: dark frames over both eyes plus a bridge.
    if a["Eyeglasses"] > 0:
        col = _lerp(skin_c, np.array([15.0, 15.0, 20.0]), a["Eyeglasses"])
        gw = max(1, round(scale * 0.02))
        for ex in (-0.11, 0.11):
            d.rounded_rectangle(box(ex, 0.02, 0.085, 0.055), radius=scale * 0.02, outline=col, width=gw)
        d.line([P(-0.025, 0.01), P(0.025, 0.01)], fill=col, width=gw)
    return np.array(img.reduce(2))


class SyntheticFaces(Dataset):
    """``n`` procedural faces; item ``i`` is determined by ``(seed, i)``. Items ``(image, y)``."""

    source_note = SYNTHETIC_SOURCE_NOTE

    def __init__(
        self, n: int, resolution: int = 64, seed: int = 0, attributes: Iterable[str] | None = None
    ) -> None:
        self.attributes = list(attributes) if attributes is not None else list(SYNTHETIC_ATTRIBUTES)
        unknown = [x for x in self.attributes if x not in SYNTHETIC_ATTRIBUTES]
        if unknown:
            raise DatasetError(
                f"unknown synthetic attribute(s) {unknown}; known: {', '.join(SYNTHETIC_ATTRIBUTES)}"
            )
        if n < 0 or resolution < 4:
            raise DatasetError(f"bad synthetic dataset size n={n}, resolution={resolution}")
        self.n, self.resolution, self.seed = int(n), int(resolution), int(seed)
        self.files = [f"synthetic_{seed}_{i:06d}" for i in range(self.n)]
        self.skipped = 0
        self._labels: np.ndarray | None = None

    def __len__(self) -> int:
        return self.n

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index])

    def _draw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.n:
            raise IndexError(index)
        rng = self._rng(index)
        on = rng.random(len(SYNTHETIC_ATTRIBUTES)) < 0.5  # unselected attributes stay absent
        values = {a: bool(on[SYNTHETIC_ATTRIBUTES.index(a)]) for a in self.attributes}
        y = np.array([1 if values[a] else -1 for a in self.attributes], dtype=np.int8)
        return render_face(values, self.resolution, rng), y

    def attribute_values(self, index: int) -> dict[str, bool]:
        on = self._rng(index).random(len(SYNTHETIC_ATTRIBUTES)) < 0.5
        return {a: bool(on[SYNTHETIC_ATTRIBUTES.index(a)]) for a in self.attributes}

    @property
    def labels(self) -> np.ndarray:
        """int8 (n, A) of +1/-1, without rendering."""
        if self._labels is None:
            rows = [[1 if v else -1 for v in self.attribute_values(i).values()] for i in range(self.n)]
            self._labels = np.array(rows, dtype=np.int8).reshape(self.n, len(self.attributes))
        return self._labels

    def item_uint8(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self._draw(index)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, y = self._draw(index)
        return to_tensor(image), labels_to_tensor(y)

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All images uint8 (n, R, R, 3) and labels int8 (n, A) in memory (small datasets, tests)."""
        images = np.empty((self.n, self.resolution, self.resolution, 3), np.uint8)
        for i in range(self.n):
            images[i] = self._draw(i)[0]
        return images, self.labels
