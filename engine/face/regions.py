"""Where each attribute lives on an aligned face: soft region maps from the CelebA template.

Every aligned crop puts the eyes, nose and mouth at the template's places (:data:`engine.face.align.TEMPLATE`),
so "the eye band" or "the mouth and chin" is a fixed region of the crop. Two users:

- the locality measure (:mod:`engine.edit_quality`): an edit of Eyeglasses should change nothing outside
  the eye band; Male and Young are global and have no region;
- the masked ELEGANT recipe's prior: its attention mask is penalised where its attribute cannot live.

Shapes are rounded boxes (superellipses) in canvas pixels (178 x 218, eyes at y ≈ 112), mapped into any
crop layout and resolution, with a soft edge of ``FEATHER`` canvas pixels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from engine.face.layout import CropLayout, get_layout

#: Soft edge of every region, canvas pixels.
FEATHER = 6.0


@dataclass(frozen=True)
class Shape:
    """A superellipse (power 4: a rounded box) centred at (cx, cy) with half-sizes (rx, ry), canvas px."""

    cx: float
    cy: float
    rx: float
    ry: float
    inverted: bool = False  # True: everything outside the shape
    power: float = 4.0  # 2: an ellipse; 4: a rounded box

    def coverage(self, x: np.ndarray, y: np.ndarray, feather: float) -> np.ndarray:
        p = self.power
        d = (np.abs((x - self.cx) / self.rx) ** p + np.abs((y - self.cy) / self.ry) ** p) ** (1 / p)
        # 1 inside, 0 beyond a band of `feather` px (in units of the smaller half-size)
        band = feather / min(self.rx, self.ry)
        inside = np.clip((1.0 + band - d) / band, 0.0, 1.0)
        return 1.0 - inside if self.inverted else inside


#: Named regions of the canvas.
SHAPES = {
    "eyes": Shape(89.5, 112.0, 56.0, 21.0),  # both eyes, brows' lower edge, the temples where frames end
    "mouth": Shape(89.5, 160.0, 38.0, 30.0),  # nose tip to chin: lips, moustache, smile lines
    "forehead": Shape(89.5, 70.0, 48.0, 34.0),  # hairline to brows
    "hair": Shape(89.5, 130.0, 38.0, 56.0, inverted=True),  # all but the inner face (brows to chin)
    # the head with its hair down to the shoulders; beyond it, in the crop's corners and side strips, background
    "head": Shape(89.5, 118.0, 74.0, 112.0, power=2.5),
    "crown": Shape(89.5, 44.0, 22.0, 8.0),  # above the hairline, below the top of the head: hair in most crops
    "cheeks": Shape(89.5, 135.0, 30.0, 10.0),  # below the eyes, beside the nose: skin in almost every crop
}

#: Attribute → region name; attributes missing here (Male, Young, ...) are global.
ATTRIBUTE_REGIONS = {
    "Eyeglasses": "eyes",
    "Smiling": "mouth",
    "Mustache": "mouth",
    "No_Beard": "mouth",
    "Goatee": "mouth",
    "Mouth_Slightly_Open": "mouth",
    "Bangs": "forehead",
    "Blond_Hair": "hair",
    "Black_Hair": "hair",
    "Brown_Hair": "hair",
    "Gray_Hair": "hair",
}


#: What an edit of the attribute should leave as it is, though it lies in the attribute's region: the features a
#: face is recognised by that the attribute does not cover. Glasses sit around the eyes, not on them (a transfer
#: that pasted the exemplar's eye band kept the person for dlib in 7 % of edits); a moustache sits above the lips.
KEEP_SHAPES = {
    "Eyeglasses": (Shape(70.1, 112.3, 9.0, 5.5), Shape(109.1, 112.2, 9.0, 5.5)),  # the eyes (template landmarks)
    "Mustache": (Shape(89.5, 155.0, 18.0, 6.0),),  # the lips, between the mouth corners
    "Bangs": (Shape(70.1, 113.0, 12.0, 7.0), Shape(109.1, 113.0, 12.0, 7.0)),  # the eyes below the fringe
}
#: Soft edge of the keep shapes, canvas pixels: narrow, so that a frame around the eye stays editable.
KEEP_FEATHER = 2.0

#: The features a face is recognised by: eyes and brows, nose, lips. A global attribute (Male, Young) taken from
#: another face's pixels keeps them, or the edit is a face swap (Male kept the person for dlib in 3 % of the
#: transfers of a model that takes the exemplar's pixels, Young in 13 %).
IDENTITY_SHAPES = (Shape(70.1, 108.0, 15.0, 11.0), Shape(109.1, 108.0, 15.0, 11.0),  # eyes and brows
                   Shape(89.5, 134.0, 9.0, 14.0),  # the nose
                   Shape(89.5, 155.0, 19.0, 7.0))  # the lips


def _canvas_grid(resolution: int, layout: CropLayout) -> tuple[np.ndarray, np.ndarray]:
    """Canvas coordinates of every crop pixel centre (same convention as the layout's transform)."""
    k = resolution / layout.side
    c = np.arange(resolution, dtype=np.float64)
    x = c[None, :] / k + layout.left
    y = c[:, None] / k + layout.top
    return np.broadcast_to(x, (resolution, resolution)), np.broadcast_to(y, (resolution, resolution))


def region_map(region: str, resolution: int, layout: str | CropLayout | None = "head",
               grow: float = 0.0) -> np.ndarray:
    """float32 (R, R) in [0, 1]: how much each crop pixel belongs to ``region`` (grown by ``grow`` canvas px)."""
    shape = SHAPES[region]
    if grow:
        sign = -1.0 if shape.inverted else 1.0
        shape = Shape(shape.cx, shape.cy, max(shape.rx + sign * grow, 1.0), max(shape.ry + sign * grow, 1.0),
                      shape.inverted)
    x, y = _canvas_grid(resolution, get_layout(layout))
    return shape.coverage(x, y, FEATHER).astype(np.float32)


def attribute_region(name: str, resolution: int, layout: str | CropLayout | None = "head",
                     grow: float = 0.0) -> np.ndarray | None:
    """The region attribute ``name`` lives in (:func:`region_map`), or None for a global attribute."""
    region = ATTRIBUTE_REGIONS.get(name)
    return None if region is None else region_map(region, resolution, layout, grow)


def keep_map(name: str, resolution: int, layout: str | CropLayout | None = "head") -> np.ndarray | None:
    """float32 (R, R) in [0, 1]: where an edit of ``name`` should leave the face as it is (:data:`KEEP_SHAPES`),
    or None when there is no such place."""
    shapes = KEEP_SHAPES.get(name)
    if not shapes:
        return None
    x, y = _canvas_grid(resolution, get_layout(layout))
    return np.max([s.coverage(x, y, KEEP_FEATHER) for s in shapes], axis=0).astype(np.float32)


def identity_map(resolution: int, layout: str | CropLayout | None = "head") -> np.ndarray:
    """float32 (R, R) in [0, 1]: the face's identity features (:data:`IDENTITY_SHAPES`)."""
    x, y = _canvas_grid(resolution, get_layout(layout))
    return np.max([s.coverage(x, y, KEEP_FEATHER) for s in IDENTITY_SHAPES], axis=0).astype(np.float32)


#: The face's oval as fractions of a ``face``-layout crop: centre (x, y), radii (x, y). A global edit (Male,
#: Young, a blend with another face) may change pixels inside it; the background and the hair around stay.
FACE_OVAL = ((0.5, 0.56), (0.40, 0.47))
#: Width of the oval's smooth edge, in units of its radius.
OVAL_EDGE = 0.2
#: How far an edit may reach beyond its attribute's region, canvas pixels (a frame's temple, a smile's cheeks).
CONFINEMENT_GROW = 8.0


def face_oval(resolution: int, layout: str | CropLayout | None = "face") -> np.ndarray:
    """float32 (R, R) in [0, 1]: the face's oval (:data:`FACE_OVAL`) in a crop of ``layout``, smooth edge."""
    lay, face = get_layout(layout), get_layout("face")
    u = (np.arange(resolution, dtype=np.float64) + 0.5) / resolution  # pixel centres, fractions of this crop
    fx = (lay.left + u * lay.side - face.left) / face.side  # ... as fractions of the face crop
    fy = (lay.top + u * lay.side - face.top) / face.side
    (cx, cy), (rx, ry) = FACE_OVAL
    d = np.sqrt(((fx[None, :] - cx) / rx) ** 2 + ((fy[:, None] - cy) / ry) ** 2)
    t = np.clip((1.0 - d) / OVAL_EDGE, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def edit_confinement(names: Iterable[str], resolution: int, layout: str | CropLayout | None = "face",
                     whole_face: bool = False) -> np.ndarray:
    """float32 (R, R) in [0, 1]: where an edit of attributes ``names`` may change a crop of ``layout``.

    The union of the attributes' regions grown by :data:`CONFINEMENT_GROW` (a hair colour's ends where the
    head does), or the face's oval for a global attribute and for edits that are not attribute edits
    (``whole_face``: strokes, completion, blends). A model that adds a dense residual (the cGAN, ``elegant64``)
    changes every pixel a little; confined, its noise never reaches the cheeks, the hair or the background an
    attribute does not live in."""
    oval = face_oval(resolution, layout)
    if whole_face:
        return oval
    out = np.zeros((resolution, resolution), np.float32)
    for name in names:
        region = attribute_region(name, resolution, layout, grow=CONFINEMENT_GROW)
        if region is not None and ATTRIBUTE_REGIONS[name] == "hair":  # the hair, not the background around it
            region = region * region_map("head", resolution, layout)
        out = np.maximum(out, oval if region is None else region)
    return out


def synthetic_region(name: str, resolution: int) -> np.ndarray | None:
    """The same for :mod:`engine.data.synthetic` faces (their attributes' boxes), None when it has none."""
    from engine.data.synthetic import SYNTHETIC_REGIONS

    box = SYNTHETIC_REGIONS.get(name)
    if box is None:
        return None
    out = np.zeros((resolution, resolution), np.float32)
    x0, y0, x1, y1 = (round(v * resolution) for v in box)
    out[y0:y1, x0:x1] = 1.0
    return out
