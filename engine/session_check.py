"""What a stored edit session must be before it is rebuilt: every field typed, sized and finite.

A session dict comes from a project file a user can be handed (``EditSession.to_dict`` split into JSON and
arrays by ``app.project``). :func:`check_session_dict` checks each field the session reads, so a damaged
one is refused with the field's name ("faces[0].box …") instead of failing later, in the GUI thread, with
"Singular matrix" or "operands could not be broadcast". Plain numpy: the app's project reader calls it too.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import math
import typing
from typing import Any

import numpy as np

from engine.errors import FacetError
from engine.face.layout import LAYOUTS

FORMAT = "facet-session"
FORMAT_VERSION = 1

#: Bounds on what a session may hold (a photo holds a few faces; a long evening of edits, a few thousand ops).
MIN_SIDE, MAX_SIDE = 8, 1024
MAX_FACES, MAX_OPS, MAX_EXEMPLARS = 256, 100_000, 1024
MAX_CODE = 4096  # values in z or y
MAX_COORD = 1e7  # |pixel coordinate| of a box or a landmark
MAX_TEXT = 200  # characters in a name, a method, an exemplar reference
MAX_PNG_TEXT = 16 * 2**20  # characters of a stored base64 PNG (a mask, strokes, a completed crop)
MAX_PNG_SIDE = 4096


def _fail(field: str, problem: str) -> FacetError:
    return FacetError(f"corrupt session: {field} {problem}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _is_number(v: Any) -> bool:
    """A finite int or float (a JSON integer too long for a float is not)."""
    if not (_is_int(v) or isinstance(v, float | np.floating)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _short(v: Any) -> str:
    """A short description of a (possibly huge) value for a message, computed cheaply."""
    if isinstance(v, np.ndarray):
        return f"an array {v.dtype} {v.shape}"
    if isinstance(v, list | tuple | dict) and len(v) > 8:
        return f"a {type(v).__name__} of {len(v)} items"
    if _is_int(v) and abs(v) > 10**15:
        return "a number too large"
    if isinstance(v, str) and len(v) > 60:
        return repr(v[:60]) + "…"
    return repr(v)[:60]


def _int(data: dict, key: str, lo: int, hi: int) -> int:
    v = data.get(key)
    if not _is_int(v) or not lo <= v <= hi:
        raise _fail(key, f"must be a whole number from {lo} to {hi}, got {_short(v)}")
    return int(v)


def _text(v: Any, field: str, limit: int = MAX_TEXT) -> None:
    if not isinstance(v, str) or len(v) > limit:
        raise _fail(field, f"must be a text of at most {limit} characters, got {_short(v)}")


def _numbers(v: Any, field: str, n: int | None = None, limit: float = math.inf, most: int = MAX_CODE) -> None:
    """A list (or tuple) of finite numbers: ``n`` of them (or 1..``most``), each of magnitude at most ``limit``."""
    ok = isinstance(v, list | tuple) and (len(v) == n if n is not None else 1 <= len(v) <= most)
    if not ok or not all(_is_number(x) and abs(float(x)) <= limit for x in v):
        count = f"{n}" if n is not None else f"1 to {most}"
        raise _fail(field, f"must be {count} finite numbers, got {_short(v)}")


def _image(v: Any, field: str, side: int | None = None) -> None:
    """An RGB uint8 array (``side`` x ``side`` when given)."""
    ok = isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.ndim == 3 and v.shape[2] == 3 and min(v.shape[:2]) >= 1
    if ok and side is not None:
        ok = v.shape[:2] == (side, side)
    if not ok:
        want = f"({side}, {side}, 3)" if side is not None else "(H, W, 3)"
        got = f"{v.dtype} {v.shape}" if isinstance(v, np.ndarray) else type(v).__name__
        raise _fail(field, f"must be an RGB uint8 image {want}, got {got}")


def _array(v: Any, field: str, shape: tuple[int, ...], limit: float) -> np.ndarray:
    """A finite numeric array of ``shape`` whose values are at most ``limit`` in magnitude."""
    if not isinstance(v, np.ndarray) or v.dtype.kind not in "iuf" or v.shape != shape:
        got = f"{v.dtype} {v.shape}" if isinstance(v, np.ndarray) else type(v).__name__
        raise _fail(field, f"must be a numeric array of shape {shape}, got {got}")
    a = v.astype(np.float64)
    if not np.isfinite(a).all() or np.abs(a).max(initial=0) > limit:
        raise _fail(field, "holds values that are not finite or far out of range")
    return a


def check_session_dict(data: Any) -> None:
    """Refuse (FacetError "corrupt session: <field> …") a session dict any field of which is missing, of the
    wrong type or size, or not finite; on return :meth:`EditSession.from_dict` can rebuild it safely."""
    if not isinstance(data, dict):
        raise FacetError("corrupt session: it is not a dictionary of fields")
    if data.get("format") != FORMAT:
        raise FacetError(f"not a Facet session (format {_short(data.get('format'))})")
    if not _is_int(data.get("format_version")) or data["format_version"] != FORMAT_VERSION:
        raise FacetError(f"session format version {_short(data.get('format_version'))} is not supported")
    for key in ("photo", "faces", "ops", "cursor", "resolution"):
        if key not in data:
            raise FacetError(f"corrupt session: a field is missing or malformed ({key!r} is missing)")
    resolution = _int(data, "resolution", MIN_SIDE, MAX_SIDE)
    _image(data["photo"], "photo")
    if not isinstance(data.get("keep_face", True), bool):
        raise _fail("keep_face", f"must be true or false, got {_short(data['keep_face'])}")
    if not isinstance(data.get("models", {}), dict):
        raise _fail("models", "must be a dictionary")
    faces, ops = data["faces"], data["ops"]
    if not isinstance(faces, list) or len(faces) > MAX_FACES:
        raise _fail("faces", f"must be a list of at most {MAX_FACES} faces, got {_short(faces)}")
    for i, face in enumerate(faces):
        _check_face(face, f"faces[{i}]", resolution)
    if data.get("exemplar_layout", "face") not in LAYOUTS:
        raise _fail("exemplar_layout", f"must be one of {', '.join(LAYOUTS)}, got {_short(data['exemplar_layout'])}")
    exemplars = data.get("exemplars", {})
    if not isinstance(exemplars, dict) or len(exemplars) > MAX_EXEMPLARS:
        raise _fail("exemplars", f"must be a dictionary of at most {MAX_EXEMPLARS} images")
    for key, image in exemplars.items():
        _text(key, "an exemplar's reference")
        _image(image, f"exemplars[{key!r}]")
    if not isinstance(ops, list) or len(ops) > MAX_OPS:
        raise _fail("ops", f"must be a list of at most {MAX_OPS} edit operations, got {_short(ops)}")
    for k, op in enumerate(ops):
        _check_op(op, f"ops[{k}]", len(faces), resolution)
    _int(data, "cursor", 0, len(ops))


def _check_face(face: Any, where: str, resolution: int) -> None:
    if not isinstance(face, dict):
        raise _fail(where, "must be a dictionary")
    for key in ("box", "crop", "transform"):
        if key not in face:
            raise _fail(f"{where}.{key}", "is missing")
    _numbers(face["box"], f"{where}.box", 4, MAX_COORD)
    x0, y0, x1, y1 = (float(v) for v in face["box"])
    if not (x1 > x0 and y1 > y0):
        raise _fail(f"{where}.box", f"must have x0 < x1 and y0 < y1, got {_short(face['box'])}")
    _image(face["crop"], f"{where}.crop", resolution)
    m = _array(face["transform"], f"{where}.transform", (2, 3), MAX_COORD)
    det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
    if not abs(det) > 1e-9:
        raise _fail(f"{where}.transform", "maps the photo onto a line or a point (it cannot be inverted)")
    if face.get("landmarks") is not None:
        _array(face["landmarks"], f"{where}.landmarks", (5, 2), MAX_COORD)
    if "score" in face and not _is_number(face["score"]):
        raise _fail(f"{where}.score", f"must be a finite number, got {_short(face['score'])}")
    if not isinstance(face.get("manual", False), bool):
        raise _fail(f"{where}.manual", "must be true or false")
    _text(face.get("method", ""), f"{where}.method")
    if face.get("reconstruction") is not None:  # the cGAN's own output: square, at its resolution (64 in 128 crops)
        rec = face["reconstruction"]
        _image(rec, f"{where}.reconstruction")
        if rec.shape[0] != rec.shape[1] or rec.shape[0] > max(resolution, 1024):
            raise _fail(f"{where}.reconstruction", f"must be a square image of at most {max(resolution, 1024)} px, "
                                                   f"got {rec.shape[1]} x {rec.shape[0]}")
    code = face.get("code")
    if code is not None:
        if not isinstance(code, dict) or set(code) != {"z", "y"}:
            raise _fail(f"{where}.code", "must hold exactly 'z' and 'y'")
        _numbers(code["z"], f"{where}.code.z")
        _numbers(code["y"], f"{where}.code.y")
    if face.get("tuned") is not None:
        from engine.invert.pivotal import check_tuned_dict

        check_tuned_dict(face["tuned"], f"{where}.tuned")


def _check_op(op: Any, where: str, n_faces: int, resolution: int) -> None:
    from engine.ops import OPS

    if not isinstance(op, dict) or op.get("kind") not in OPS:
        kind = op.get("kind") if isinstance(op, dict) else op
        raise _fail(where, f"is not a known edit operation (kind {_short(kind)})")
    cls = OPS[op["kind"]]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in op.items():
        if key == "kind":
            continue
        if key not in fields:
            raise _fail(f"{where}.{key}", f"is not a field of a {op['kind']!r} operation")
        _check_op_value(value, hints[key], f"{where}.{key}")
    if "face" not in op:
        raise _fail(f"{where}.face", "is missing")
    if not 0 <= op["face"] < n_faces:
        raise _fail(f"{where}.face", f"is face {op['face']}, the session has {n_faces} face(s)")
    if op["kind"] == "complete":
        _check_png(op.get("mask", ""), f"{where}.mask", (resolution, resolution), "L")
        _check_png(op.get("result", ""), f"{where}.result", None, "RGB")
    if op["kind"] == "upscale":
        _check_png(op.get("result", ""), f"{where}.result", None, "RGB")
    if op["kind"] == "stroke":
        _check_png(op.get("strokes", ""), f"{where}.strokes", None, "RGBA")


def _check_op_value(value: Any, hint: Any, field: str) -> None:
    """A value of an operation's field, by the field's type: int, float, str, tuple[float, ...], tuple[str, ...]."""
    if hint is int:
        if not _is_int(value) or abs(value) > 2**53:
            raise _fail(field, f"must be a whole number, got {_short(value)}")
    elif hint is float:
        if not _is_number(value):
            raise _fail(field, f"must be a finite number, got {_short(value)}")
    elif hint is str:
        limit = MAX_PNG_TEXT if field.rsplit(".", 1)[-1] in ("strokes", "mask", "result") else MAX_TEXT
        _text(value, field, limit)
    elif typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list | tuple) or len(value) > MAX_CODE:
            raise _fail(field, f"must be a list, got {_short(value)}")
        for v in value:
            if item is str:
                _text(v, field)
            elif not _is_number(v):
                raise _fail(field, f"must hold finite numbers, got {_short(v)}")


def _check_png(text: Any, field: str, size: tuple[int, int] | None, mode: str) -> None:
    """A stored base64 PNG of ``mode`` (and ``size``, (w, h)), read by its header only: nothing is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        raw = base64.b64decode(text, validate=True)
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as img:
            got_size, got_mode = img.size, img.mode
    except (binascii.Error, ValueError, TypeError, OSError, UnidentifiedImageError, Image.DecompressionBombError):
        raise _fail(field, "is not a stored PNG image") from None
    if got_mode != mode or (size is not None and got_size != size) or max(got_size) > MAX_PNG_SIDE:
        want = f"{size[0]} x {size[1]} " if size is not None else ""
        raise _fail(field, f"must be a {want}PNG of mode {mode}, got {got_size[0]} x {got_size[1]} {got_mode}")
