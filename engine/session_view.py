"""The layout a session shows and pastes faces in, and how a cGAN edit reaches it.

A masked ELEGANT model works on the whole head (crop layout ``head``, :mod:`engine.face.layout`) so that
hair colour and bangs reach the hair, while the 64 px cGAN, its inversion, strokes and completion work on
the classic ``face`` crop. A face slot therefore keeps its ``face`` crop (what projects store) and, when the
session's view layout differs, a second alignment of the same landmarks in the view layout
(:func:`view_slot`). A face's render is a view crop: the cGAN's edits are added to it as the change they
made to the face crop (:func:`embed_change`), confined to where the edited attributes live
(:func:`cgan_confinement`) so the generator's noise elsewhere never reaches the photo; ELEGANT's edits
then apply to the view crop itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.face.layout import get_layout
from engine.face.regions import edit_confinement


def view_layout(elegant) -> str:
    """The layout faces are shown in: a masked ELEGANT model's own, else the classic ``face`` crop."""
    if elegant is None:
        return "face"
    from engine.transfer import is_masked

    return get_layout(elegant.manifest.get("layout")).name if is_masked(elegant) else "face"


def cgan_confinement(names: Iterable[str], resolution: int, whole_face: bool) -> np.ndarray:
    """float32 (R, R) in [0, 1] in the ``face`` layout: where a cGAN edit of ``names`` may change the face
    (:func:`engine.face.regions.edit_confinement`)."""
    return edit_confinement(names, resolution, "face", whole_face)


def embed_change(view: np.ndarray, face_crop: np.ndarray, face_edited: np.ndarray, layout: str,
                 weight: np.ndarray | None = None) -> np.ndarray:
    """``view`` (a crop in ``layout``) plus the change ``face_edited − face_crop`` (``face`` layout crops of the
    same face at one side), weighted by ``weight`` (face layout), warped where the face square lies in it."""
    from engine.face.align import compose
    from engine.face.paste import warp_float

    change = face_edited.astype(np.float32) - face_crop.astype(np.float32)
    if weight is not None:
        change *= weight[..., None]
    if get_layout(layout).name == "face" and view.shape == face_crop.shape:
        warped = change
    else:
        side, vside = face_crop.shape[0], view.shape[0]
        # face crop pixel → canvas → view crop pixel (both layouts are squares of the canvas)
        to_canvas = np.linalg.inv(np.vstack([get_layout("face").canvas_to_crop(side), [0, 0, 1]]))[:2]
        m = compose(get_layout(layout).canvas_to_crop(vside), to_canvas)
        warped = np.stack([warp_float(change[..., c], m, (vside, vside)) for c in range(3)], axis=2)
    out = view.astype(np.float32) + warped + 0.5
    return np.clip(out, 0, 255).astype(np.uint8)
