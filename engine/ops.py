"""Edit operations: the small, serialisable records an edit session's stack is made of.

An operation names the face it touches and what to do, never pixels of the photo. Operations that
change the cGAN code (``stage = "code"``) are replayed on the face's inverted code; operations that
change the face image (``stage = "image"``: ELEGANT transfer, completion) are replayed on the rendered
crop, in stack order. Stroke/completion results are stored in the operation itself (their optimisation
is slow and seeded), so replaying a stack never re-optimises. Masks and colours travel as a base64 PNG.

Adding an operation is one dataclass here with ``@register_op``.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from engine.errors import ImageLoadError
from engine.images import decode_png_bytes

OPS: dict[str, type[Op]] = {}


def register_op(cls: type[Op]) -> type[Op]:
    if cls.kind in OPS:
        raise ValueError(f"edit operation {cls.kind!r} registered twice")
    OPS[cls.kind] = cls
    return cls


@dataclass(frozen=True)
class Op:
    """Base class: ``face`` is the index of the face the operation edits."""

    kind: ClassVar[str] = "op"
    stage: ClassVar[str] = "code"
    face: int

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["kind"] = self.kind
        return data

    def describe(self) -> str:
        return self.kind

    def merge_key(self) -> tuple | None:
        """Consecutive operations with the same non-None key collapse into the last one (slider drags).

        Operations with a non-zero ``gesture`` field (one drag of one control) merge per face and name.
        """
        gesture = getattr(self, "gesture", 0)
        return (self.kind, self.face, getattr(self, "name", None), gesture) if gesture else None


def op_from_dict(data: dict[str, Any]) -> Op:
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in OPS:
        raise ValueError(f"unknown edit operation {kind!r}; known: {', '.join(sorted(OPS))}")
    cls = OPS[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"edit operation {kind!r} has unknown field(s) {sorted(unknown)}")
    for f in dataclasses.fields(cls):  # JSON turns tuples into lists
        if f.name in data and isinstance(data[f.name], list):
            data[f.name] = tuple(data[f.name])
    return cls(**data)


def plain_name(attribute: str) -> str:
    """"Blond_Hair" → "Blond hair": attribute names as people read them."""
    words = attribute.replace("_", " ").split()
    return " ".join([words[0].capitalize(), *(w.lower() for w in words[1:])]) if words else attribute


# -- compact image encoding -------------------------------------------------------------------------
def encode_png(image: np.ndarray) -> str:
    """uint8 (H, W) / (H, W, 3) / (H, W, 4) → base64 PNG text (lossless; masks compress to almost nothing)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_png(text: str) -> np.ndarray:
    """The inverse of :func:`encode_png`; text that is not a base64 PNG of at most 4096 x 4096 pixels (masks and
    strokes are crop-sized) raises :class:`~engine.errors.ImageLoadError`."""
    try:
        data = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise ImageLoadError("a stored mask or stroke image is not base64 text") from None
    return decode_png_bytes(data, "a stored mask or stroke image", 4096 * 4096)


def pack_strokes(mask: np.ndarray, colors: np.ndarray) -> str:
    """mask (R, R) bool/float + colors uint8 (R, R, 3) → one RGBA PNG (alpha = mask)."""
    alpha = (np.asarray(mask, dtype=np.float32) > 0.5).astype(np.uint8) * 255
    rgba = np.concatenate([np.asarray(colors, np.uint8), alpha[..., None]], axis=2)
    return encode_png(rgba)


def unpack_strokes(text: str) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`pack_strokes`: (mask float32 (R, R) in {0, 1}, colors uint8 (R, R, 3))."""
    rgba = decode_png(text)
    return (rgba[..., 3] > 127).astype(np.float32), np.ascontiguousarray(rgba[..., :3])


# -- the operations ---------------------------------------------------------------------------------
@register_op
@dataclass(frozen=True)
class SetAttribute(Op):
    """Set one attribute of y to an absolute value in [-1, 1] (a slider)."""

    kind: ClassVar[str] = "set_attribute"
    name: str = ""
    value: float = 0.0
    gesture: int = 0  # one slider drag = one gesture = one undo step

    def describe(self) -> str:
        return f"{plain_name(self.name)} {self.value:+.2f}"


@register_op
@dataclass(frozen=True)
class ApplyVector(Op):
    """Move z along the attribute's direction vector by ``strength``."""

    kind: ClassVar[str] = "apply_vector"
    name: str = ""
    strength: float = 1.0
    gesture: int = 0

    def describe(self) -> str:
        return f"{plain_name(self.name)} vector {self.strength:+.2f}"


@register_op
@dataclass(frozen=True)
class Dial(Op):
    """ELEGANT without an exemplar: move one attribute towards its prototype (+value) or away (-value)."""

    kind: ClassVar[str] = "dial"
    stage: ClassVar[str] = "image"
    name: str = ""
    value: float = 0.0
    gesture: int = 0

    def describe(self) -> str:
        return f"{plain_name(self.name)} {self.value:+.2f}"


@register_op
@dataclass(frozen=True)
class ResetAttributes(Op):
    """Put attributes back to their inverted values (all when ``names`` is empty); also resets dials."""

    kind: ClassVar[str] = "reset_attributes"
    names: tuple[str, ...] = ()

    def describe(self) -> str:
        return "Reset " + (", ".join(plain_name(n) for n in self.names) if self.names else "all attributes")


@register_op
@dataclass(frozen=True)
class Stroke(Op):
    """Colour strokes (constrained editing); the optimised code is stored so replay is instant."""

    kind: ClassVar[str] = "stroke"
    strokes: str = ""  # pack_strokes() RGBA PNG at the model's resolution
    z: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def describe(self) -> str:
        return "Brush strokes"


@register_op
@dataclass(frozen=True)
class TransferFromExemplar(Op):
    """ELEGANT: take ``attributes`` from the exemplar ``exemplar_ref`` (a key of the session's exemplars)."""

    kind: ClassVar[str] = "transfer"
    stage: ClassVar[str] = "image"
    exemplar_ref: str = ""
    attributes: tuple[str, ...] = ()
    strength: float = 1.0

    def describe(self) -> str:
        return "Take " + ", ".join(plain_name(a) for a in self.attributes) + " from exemplar"


@register_op
@dataclass(frozen=True)
class Complete(Op):
    """Fill a masked region (completion); the completed crop is stored as PNG so replay is instant."""

    kind: ClassVar[str] = "complete"
    stage: ClassVar[str] = "image"
    mask: str = ""  # encode_png(uint8 mask * 255)
    result: str = ""  # encode_png(completed crop)

    def describe(self) -> str:
        return "Complete region"


@register_op
@dataclass(frozen=True)
class Interpolate(Op):
    """Blend the face's code towards another face's code ``(z, y)``: ``t`` = 0 keeps it, 1 is the other face.

    The other code is stored in the operation (it came from inverting another face or photo), so replay needs
    neither that photo nor another inversion; ``source`` names it for the history ("Face 2", a file name)."""

    kind: ClassVar[str] = "interpolate"
    z: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    t: float = 0.5
    source: str = ""
    gesture: int = 0  # one slider drag = one undo step

    def describe(self) -> str:
        return f"Blend with {self.source or 'another face'} {self.t:.0%}"


@register_op
@dataclass(frozen=True)
class Upscale(Op):
    """Super-resolution of a face that is small in the photo: the face's pixels (inside its oval) become the
    cGAN's sharper face found for them, ``result`` (a crop-sized PNG); later edits add their change to it."""

    kind: ClassVar[str] = "upscale"
    stage: ClassVar[str] = "image"
    result: str = ""  # encode_png(super-resolved crop)
    factor: int = 1

    def describe(self) -> str:
        return f"Super-resolve face (x{self.factor})"


@dataclass
class Change:
    """What an operation changed, so the GUI redraws only that (Anki-style)."""

    faces: set[int] = field(default_factory=set)
    photo: bool = False
    stack: bool = False
    description: str = ""

    def __or__(self, other: Change) -> Change:
        return Change(self.faces | other.faces, self.photo or other.photo, self.stack or other.stack,
                      other.description or self.description)
