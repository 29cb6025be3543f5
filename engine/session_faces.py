"""The faces of an edit session: detection + alignment into :class:`FaceSlot` records, and paste-back.

Everything goes through :mod:`engine.face` (landmark alignment, colour-matched feathered paste-back).
A face the detector missed is a *manual* slot: a box the user drew (template landmarks), or — when a
photo has no face at all — its centre square as it is. Every slot keeps its 2x3 photo→crop transform,
so strokes painted on the photo map into the crop, and the slot can be rebuilt from a project file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FaceSlot:
    """One face: where it is, its aligned crop and transform, and its cached inversion."""

    box: tuple[float, float, float, float]
    crop: np.ndarray  # uint8 (R, R, 3)
    transform: np.ndarray  # float64 (2, 3): photo pixel → crop pixel
    landmarks: np.ndarray | None = None
    score: float = 0.0
    manual: bool = False
    code: Any = None  # engine.invert.LatentCode once inverted
    reconstruction: np.ndarray | None = None
    method: str = ""
    code_version: int = 0
    aligned: Any = field(default=None, repr=False)  # engine.face.AlignedFace, for its paste_back
    # engine.face.PastePlan per (photo size, crop side, fast): the paste's edit-independent part, made once
    paste_plans: dict[tuple, Any] = field(default_factory=dict, repr=False, compare=False)
    # engine.invert.pivotal.TunedWeights: the face's own generator change (pivotal tuning), or None
    tuned: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [float(v) for v in self.box],
            "crop": self.crop,
            "transform": np.asarray(self.transform, np.float64),
            "landmarks": None if self.landmarks is None else np.asarray(self.landmarks, np.float64),
            "score": float(self.score),
            "manual": self.manual,
            "code": None if self.code is None else self.code.to_dict(),
            "reconstruction": self.reconstruction,
            "method": self.method,
            "tuned": None if self.tuned is None else self.tuned.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceSlot:
        code = None
        if data.get("code") is not None:
            from engine.invert import LatentCode

            code = LatentCode.from_dict(data["code"])
        slot = cls(
            box=tuple(float(v) for v in data["box"]),
            crop=np.asarray(data["crop"], np.uint8),
            transform=np.asarray(data["transform"], np.float64).reshape(2, 3),
            landmarks=None if data.get("landmarks") is None else np.asarray(data["landmarks"], np.float64),
            score=float(data.get("score", 0.0)),
            manual=bool(data.get("manual", False)),
            code=code,
            reconstruction=None if data.get("reconstruction") is None else np.asarray(data["reconstruction"], np.uint8),
            method=str(data.get("method", "")),
        )
        if data.get("tuned") is not None:
            from engine.invert.pivotal import TunedWeights

            slot.tuned = TunedWeights.from_dict(data["tuned"])
        slot.aligned = _rebuild_aligned(slot)
        return slot


def _aligned(crop: np.ndarray, matrix: np.ndarray, box, landmarks, score: float, manual: bool) -> Any:
    from engine.face import AlignedFace, Face

    face = Face(box=tuple(float(v) for v in box), landmarks=np.asarray(landmarks, np.float64), score=float(score),
                manual=manual)
    return AlignedFace(crop=crop, matrix=np.asarray(matrix, np.float64), face=face)


def _rebuild_aligned(slot: FaceSlot) -> Any:
    from engine.face import face_from_box

    landmarks = slot.landmarks if slot.landmarks is not None else face_from_box(slot.box).landmarks
    return _aligned(slot.crop, slot.transform, slot.box, landmarks, slot.score, slot.manual)


def _slot(aligned: Any) -> FaceSlot:
    f = aligned.face
    return FaceSlot(box=tuple(float(v) for v in f.box), crop=np.array(aligned.crop, np.uint8),
                    transform=np.asarray(aligned.matrix, np.float64), landmarks=np.asarray(f.landmarks, np.float64),
                    score=float(f.score), manual=bool(f.manual), aligned=aligned)


def find_faces(photo: np.ndarray, resolution: int, layout: str = "face") -> list[FaceSlot]:
    """Detected faces (largest first), aligned at ``resolution`` in ``layout``; [] when there is none."""
    from engine.face import align_face, detect_faces

    return [_slot(align_face(photo, f, resolution, layout)) for f in detect_faces(photo)]


def view_slot(photo: np.ndarray, slot: FaceSlot, resolution: int, layout: str) -> FaceSlot:
    """The same face aligned in another crop layout (same landmarks, same photo): what a masked ELEGANT model
    edits and what its renders are pasted back with."""
    from engine.face import align_face

    return _slot(align_face(photo, slot.aligned.face, resolution, layout))


def box_transform(box: tuple[float, float, float, float], resolution: int) -> np.ndarray:
    """photo→crop transform of the square (same centre, side = the box's longer side) around ``box``."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0, 1.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    s = resolution / side
    # pixel centres: the square's first pixel centre maps to crop pixel centre 0 (half-pixel convention)
    return np.array([[s, 0.0, -s * (cx - side / 2 - 0.5) - 0.5], [0.0, s, -s * (cy - side / 2 - 0.5) - 0.5]])


def manual_slot(photo: np.ndarray, box: tuple[float, float, float, float] | None, resolution: int) -> FaceSlot:
    """A hand-placed face: a user-drawn box (eyes to chin, template alignment), or with ``box`` None the
    photo's centre square as it is (nothing is known about where a face is)."""
    from engine.face import face_from_box, manual_alignment
    from engine.face.align import warp
    from engine.face.detect import require_room_for_a_face

    if box is not None:
        return _slot(manual_alignment(photo, box, resolution))
    require_room_for_a_face(photo.shape)
    h, w = photo.shape[:2]
    side = min(h, w)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
    m = box_transform(box, resolution)
    crop = np.array(warp(photo, m, (resolution, resolution)), np.uint8)
    return _slot(_aligned(crop, m, box, face_from_box(box).landmarks, 0.0, True))


def scaled_slot(slot: FaceSlot, sx: float, sy: float) -> FaceSlot:
    """The slot for a resized copy of the photo (one copy pixel = ``sx`` x ``sy`` photo pixels)."""
    # copy pixel centre c → photo pixel centre (c + 0.5) * s - 0.5
    to_photo = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
    m = slot.transform
    matrix = np.hstack([m[:, :2] @ to_photo[:, :2], m[:, :2] @ to_photo[:, 2:3] + m[:, 2:3]])
    x0, y0, x1, y1 = slot.box
    box = ((x0 + 0.5) / sx - 0.5, (y0 + 0.5) / sy - 0.5, (x1 + 0.5) / sx - 0.5, (y1 + 0.5) / sy - 0.5)
    landmarks = None if slot.landmarks is None else (slot.landmarks + 0.5) / np.array([sx, sy]) - 0.5
    out = FaceSlot(box=box, crop=slot.crop, transform=matrix, landmarks=landmarks, score=slot.score, manual=slot.manual)
    out.aligned = _rebuild_aligned(out)
    return out


def crop_to_photo(photo_layer: np.ndarray, slot: FaceSlot, resolution: int) -> np.ndarray:
    """Resample a photo-sized layer (e.g. RGBA strokes) into the slot's crop space."""
    from engine.face.align import warp

    return np.array(warp(np.ascontiguousarray(photo_layer), slot.transform, (resolution, resolution)))


def paste_face(photo: np.ndarray, crop: np.ndarray, slot: FaceSlot, fast: bool = False,
               mode: str = "blend") -> np.ndarray:
    """``crop`` (the edited face) blended back where the slot came from; other pixels stay unchanged.

    ``fast``: bilinear resampling, for previews while dragging. ``mode``: ``blend`` into the face's ellipse, or
    add the ``change`` (local edits: :class:`engine.face.PasteConfig`). The slot keeps the paste's plan (mask,
    unedited crop warped back), so a slider move pays only for warping its edit."""
    from engine.face import PasteConfig, plan_paste

    key = (photo.shape[:2], crop.shape[0], fast, mode)
    plan = slot.paste_plans.get(key)
    if plan is None:
        plan = slot.paste_plans[key] = plan_paste(slot.aligned, photo.shape, crop.shape[0],
                                                  PasteConfig(fast=fast, mode=mode))
    return plan.apply(photo, crop)


def paste_bounds(slot: FaceSlot, photo_shape: tuple[int, ...], side: int) -> tuple[int, int, int, int]:
    """The photo rectangle (x0, y0, x1, y1) that pasting this face may change."""
    from engine.face import paste_region

    return paste_region(slot.aligned, photo_shape, side)
