"""Edits of a session's face that start from something slow: super-resolving a small face, and the code of
another face to blend with. Both are job generators (progress, cancel) whose result becomes an operation,
so the window and the CLI put it on the edit stack like any other edit, and replay never recomputes it.
"""

from __future__ import annotations

import numpy as np

from engine.errors import FacetError
from engine.images import resize
from engine.numbering import face_numbers
from engine.ops import Upscale, encode_png
from engine.progress import Job


def _face_name(session, i: int) -> str:
    """"face N" as the app and the CLI number it (1 = leftmost)."""
    if not 0 <= i < len(session.faces):
        raise FacetError(f"face {i} does not exist (the photo has {len(session.faces)} face(s))")
    return f"face {face_numbers([f.box for f in session.faces])[i]}"


def _cgan(session):
    if session.models.cgan is None:
        raise FacetError("this needs a cGAN model bundle; none is loaded (File > Load model...)")
    return session.models.cgan


def face_side(session, i: int) -> float:
    """How many photo pixels face ``i``'s crop spans: its crop side divided by the photo → crop scale."""
    _face_name(session, i)
    m = np.asarray(session.faces[i].transform, np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))  # crop pixels per photo pixel
    return session.resolution / max(scale, 1e-9)


def upscale_face_job(session, i: int, steps: int = 60, seed: int = 0) -> Job[Upscale]:
    """Super-resolve face ``i`` when it is smaller in the photo than the cGAN's resolution: the face at its
    own pixel size is inverted so the generator's downsampled face matches it (:func:`engine.edit.upscale_job`);
    returns the :class:`Upscale` operation (not applied). A face more than half the model's resolution wide is
    refused, saying so: the generator could not make it at least twice as sharp."""
    from engine.edit import upscale_job

    cgan, name = _cgan(session), _face_name(session, i)
    side, most = face_side(session, i), cgan.resolution // 2
    if side > most:  # the generator's face would be less than twice as sharp: nothing to gain
        raise FacetError(f"{name} is {side:.0f} px wide in the photo; super-resolution with this {cgan.resolution} px "
                         f"model is for faces of at most {most} px, so there is nothing to super-resolve")
    small = max(4, int(round(side)))
    low = np.asarray(resize(session.faces[i].crop, (small, small)))  # the face at the size the photo holds it
    result = yield from upscale_job(cgan, low, steps=steps, seed=seed)
    sharp = np.asarray(resize(result.reconstruction, (session.resolution,) * 2))
    return Upscale(face=i, result=encode_png(sharp), factor=max(1, cgan.resolution // small))


def blend_code_job(session, method: str = "balanced", *, face: int | None = None, image: np.ndarray | None = None,
                   steps: int | None = None) -> Job:
    """The cGAN code of the face to blend with: face ``face`` of this session (its inversion, made now when it
    has none and kept), or the largest face of ``image`` (its centre square when none is found, as exemplars).
    Returns a :class:`~engine.invert.LatentCode`."""
    from engine.invert import invert_job
    from engine.session_models import method_for_preset

    cgan = _cgan(session)
    if (face is None) == (image is None):
        raise FacetError("blend with one face: give another face of this photo or another photo")
    if face is not None:
        _face_name(session, face)
        if not session.has_code(face):
            yield from session.invert_face_job(face, method, steps=steps)
        return session.faces[face].code.copy()
    from engine.session_faces import find_faces, manual_slot

    found = find_faces(image, session.resolution)
    crop = found[0].crop if found else manual_slot(image, None, session.resolution).crop
    result = yield from invert_job(crop, cgan, method=method_for_preset(method, cgan), steps=steps)
    return result.code
