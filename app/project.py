"""``.facet`` project files: a zip holding session.json, photo.png and arrays.npz — never a pickle.

The session's :meth:`~engine.session.EditSession.to_dict` is split into JSON (every plain value, with
``{"$array": key}`` where an array was) and an ``.npz`` of the arrays (read with ``allow_pickle=False``);
the photo goes in as a lossless PNG. Writing is atomic (a temp file in the same folder, flushed, then
renamed: ``engine.fileio.commit``), so a crash mid-save never leaves a half-written project. Plain Python:
the worker thread calls it.
"""

from __future__ import annotations

import io
import json
import os
import weakref
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.errors import FacetError
from engine.fileio import commit
from engine.images import load_image

SUFFIX = ".facet"
PROJECT_FORMAT = "facet-project"
PROJECT_VERSION = 1


class ProjectError(FacetError):
    """A project file is missing, damaged or of an unknown version."""


def _strip(obj: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
    if isinstance(obj, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = obj
        return {"$array": name}
    if isinstance(obj, dict):
        return {str(k): _strip(v, arrays, f"{key}/{k}") for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strip(v, arrays, f"{key}/{i}") for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _fill(obj: Any, arrays: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"$array"}:
            try:
                return arrays[obj["$array"]]
            except KeyError:
                raise ProjectError(f"the project refers to a missing array {obj['$array']!r}") from None
        return {k: _fill(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, arrays) for v in obj]
    return obj


_last_png: tuple[weakref.ref, bytes] | None = None


def _png(photo: np.ndarray) -> bytes:
    """The photo as PNG; the last one is remembered, so autosaving a 12 MP photo does not re-encode it."""
    global _last_png
    if _last_png is not None and _last_png[0]() is photo:
        return _last_png[1]
    buf = io.BytesIO()
    Image.fromarray(np.asarray(photo, np.uint8), "RGB").save(buf, format="PNG", compress_level=3)
    if isinstance(photo, np.ndarray):
        _last_png = (weakref.ref(photo), buf.getvalue())
    return buf.getvalue()


def write_project(path: str | os.PathLike, session: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """Save a session dict (from ``EditSession.to_dict()``) atomically as a ``.facet`` zip."""
    path = Path(path)
    data = dict(session)
    photo_png = _png(data.pop("photo"))
    arrays: dict[str, np.ndarray] = {}
    doc = {"format": PROJECT_FORMAT, "version": PROJECT_VERSION, "session": _strip(data, arrays, ""),
           "extra": extra or {}}
    npz = io.BytesIO()
    np.savez_compressed(npz, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("session.json", json.dumps(doc, indent=1))
            zf.writestr("photo.png", photo_png, compress_type=zipfile.ZIP_STORED)
            zf.writestr("arrays.npz", npz.getvalue(), compress_type=zipfile.ZIP_STORED)
        commit(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_project(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """A project file → (session dict for ``EditSession.from_dict``, extra dict); ProjectError if damaged."""
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"{path}: no such project file")
    try:
        with zipfile.ZipFile(path) as zf:
            doc = json.loads(zf.read("session.json").decode("utf-8"))
            photo = load_image(zf.read("photo.png"))
            with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError, ValueError, OSError) as exc:
        raise ProjectError(f"{path}: not a readable Facet project ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != PROJECT_FORMAT:
        raise ProjectError(f"{path}: not a Facet project file")
    if doc.get("version") != PROJECT_VERSION:
        raise ProjectError(f"{path}: project version {doc.get('version')!r} is not supported by this Facet Studio")
    if not isinstance(doc.get("session"), dict):
        raise ProjectError(f"{path}: the project is damaged (it holds no edit session)")
    session = _fill(doc["session"], arrays)
    session["photo"] = photo
    extra = doc.get("extra")
    return session, extra if isinstance(extra, dict) else {}
