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
import math
import os
import struct
import weakref
import zipfile
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from engine.errors import FacetError
from engine.fileio import check_regular_file, commit, parse_json
from engine.images import MAX_FILE_BYTES, load_image

SUFFIX = ".facet"
PROJECT_FORMAT = "facet-project"
PROJECT_VERSION = 1

#: Caps on a project and its parts (a 30 MP photo's PNG is at most images.MAX_FILE_BYTES).
MAX_PROJECT_BYTES = 1024 * 2**20
MAX_SESSION_BYTES = 64 * 2**20
MAX_ARRAYS_BYTES = 256 * 2**20
MAX_ARRAYS_INFLATED = 512 * 2**20
MAX_MEMBERS = 64
MAX_DIRECTORY_BYTES = 2**20
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, RuntimeError,
              NotImplementedError, ValueError)


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


def _fill(obj: Any, arrays: dict[str, np.ndarray], where: Path | str = "") -> Any:
    """``obj`` with each ``{"$array": key}`` replaced by its array (JSON nests at most 64 deep: no deep recursion)."""
    if isinstance(obj, dict):
        if set(obj) == {"$array"}:
            key = obj["$array"]
            if not isinstance(key, str) or key not in arrays:
                raise ProjectError(f"{where}: the project is damaged (it refers to a missing array {key!r:.60})")
            return arrays[key]
        return {k: _fill(v, arrays, where) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_fill(v, arrays, where) for v in obj]
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
    """A project file → (session dict for ``EditSession.from_dict``, extra dict); ProjectError if damaged.

    Nothing is read unbounded: the file must be a regular file of at most :data:`MAX_PROJECT_BYTES`, each
    member is capped before it is inflated and each array's header is checked before the array is allocated.
    ``EditSession.from_dict`` checks every session field (:func:`engine.session_check.check_session_dict`).
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise ProjectError(f"{path}: no such project file")
    check_regular_file(path, MAX_PROJECT_BYTES, "project file", ProjectError)
    try:
        with open(path, "rb") as f:
            _check_zip_directory(f, path)
            with zipfile.ZipFile(f) as zf:
                doc = parse_json(_member(zf, "session.json", MAX_SESSION_BYTES, path), f"{path}: session.json",
                                 "project's session", ProjectError)
                photo_png = _member(zf, "photo.png", MAX_FILE_BYTES, path)
                arrays = _read_arrays(_member(zf, "arrays.npz", MAX_ARRAYS_BYTES, path), path)
    except ZIP_ERRORS as exc:
        raise ProjectError(f"{path}: not a readable Facet project ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != PROJECT_FORMAT:
        raise ProjectError(f"{path}: not a Facet project file")
    if doc.get("version") != PROJECT_VERSION or isinstance(doc.get("version"), bool):
        raise ProjectError(f"{path}: project version {doc.get('version')!r:.40} is not supported by this Facet Studio")
    if not isinstance(doc.get("session"), dict):
        raise ProjectError(f"{path}: the project is damaged (it holds no edit session)")
    try:
        photo = load_image(photo_png)
    except FacetError as exc:
        raise ProjectError(f"{path}: the project's photo is damaged ({exc})") from None
    session = _fill(doc["session"], arrays, path)
    session["photo"] = photo
    return session, _extra(doc.get("extra"), path)


def _check_zip_directory(f: BinaryIO, where: Path | str) -> None:
    """Refuse a zip whose central directory lists more members than a project has (before zipfile reads it
    all into memory), or that needs ZIP64 (no project is that large)."""
    size = f.seek(0, os.SEEK_END)
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    f.seek(0)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(tail):
        raise ProjectError(f"{where}: not a readable Facet project (no zip directory)")
    entries, directory_bytes = struct.unpack("<xxxxxxxxxxHI", tail[end : end + 16])
    zip64 = end >= 20 and tail[end - 20 : end - 16] == b"PK\x06\x07"
    if zip64 or entries > MAX_MEMBERS or directory_bytes > MAX_DIRECTORY_BYTES:
        raise ProjectError(f"{where}: not a Facet project (its zip lists {entries} member(s) or needs ZIP64)")


def _member(zf: zipfile.ZipFile, name: str, cap: int, where: Path | str) -> bytes:
    """One member's bytes, refused by its declared size before it is inflated and capped while it is."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise ProjectError(f"{where}: the project is damaged (it has no {name})") from None
    if info.file_size > cap:
        raise ProjectError(f"{where}: the project is damaged ({name} would inflate to {info.file_size / 2**20:.0f} MB, "
                           f"more than the {cap / 2**20:.0f} MB it may have)")
    with zf.open(info) as member:
        data = member.read(cap + 1)
    if len(data) > cap:
        raise ProjectError(f"{where}: the project is damaged ({name} is larger than it says)")
    return data


def _read_arrays(npz: bytes, where: Path) -> dict[str, np.ndarray]:
    """The arrays of ``arrays.npz``; each array's header (dtype, shape) is checked against the bytes it has and
    the total budget before the array is allocated, and nothing is unpickled."""
    arrays: dict[str, np.ndarray] = {}
    budget = MAX_ARRAYS_INFLATED
    fp = io.BytesIO(npz)
    _check_zip_directory(fp, f"{where}: arrays.npz")
    with zipfile.ZipFile(fp) as zf:
        for info in zf.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                raise ProjectError(f"{where}: the project is damaged (arrays.npz holds {name!r:.60}, not an array)")
            if info.file_size > budget:
                raise ProjectError(f"{where}: the project is damaged (arrays.npz/{name:.60} would inflate to "
                                   f"{info.file_size / 2**20:.0f} MB, more than the {budget / 2**20:.0f} MB left "
                                   "for arrays)")
            budget -= info.file_size
            arrays[name[:-4]] = _read_npy(_member(zf, name, info.file_size, where), f"{where}: arrays.npz/{name}")
    return arrays


def _read_npy(data: bytes, where: str) -> np.ndarray:
    fp = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fp)
        if version not in ((1, 0), (2, 0)):
            raise ProjectError(f"{where}: an array of an unknown .npy version {version}")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(fp)
        if dtype.hasobject or dtype.kind not in "biuf":
            raise ProjectError(f"{where}: an array of {dtype} is not project data")
        if math.prod(shape) * dtype.itemsize > len(data) - fp.tell():
            raise ProjectError(f"{where}: the array claims shape {shape}, more than its bytes hold")
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=False)
    except ProjectError:
        raise
    except (ValueError, OSError, EOFError, TypeError, OverflowError) as exc:
        raise ProjectError(f"{where}: a damaged array ({exc})") from None


def _extra(extra: Any, where: Path) -> dict[str, Any]:
    """The app's notes (the photo's and the project's paths): a dictionary whose paths are plain text."""
    if not isinstance(extra, dict):
        return {}
    for key in ("photo_path", "project_path"):
        value = extra.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 4096 or "\0" in value):
            raise ProjectError(f"{where}: the project is damaged (its {key} is not a path)")
    return extra
