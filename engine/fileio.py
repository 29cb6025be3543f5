"""Putting a fully written temporary file in place: flushed to disk first, then renamed over the target.

``os.replace`` alone is atomic for the name but not for the data: after a power cut some filesystems
(ext4 with delayed allocation, for one) show the new name with an empty file. Every file a user or a
training run relies on (photos, projects, bundles, checkpoints, packs) is written to a temporary name
in the same folder and handed to :func:`commit`.

Reading is bounded the same way everywhere: :func:`read_regular_file` and :func:`load_json_bounded` accept
only regular files of a bounded size (never a FIFO, a device or a link to one) and turn every way a file
can be wrong into the caller's :class:`~engine.errors.FacetError` naming the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from engine.errors import FacetError


def commit(tmp: str | os.PathLike, path: str | os.PathLike) -> Path:
    """fsync ``tmp``, rename it to ``path`` (atomically), and fsync the folder so the rename lasts."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if hasattr(os, "O_DIRECTORY"):  # POSIX: the directory entry too (Windows has no directory handles)
        with contextlib.suppress(OSError):
            fd = os.open(Path(path).parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return Path(path)


#: What a special file is, for messages (``stat.S_IFMT`` → words).
_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _size_words(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n} bytes"


def check_regular_file(path: str | os.PathLike, max_bytes: int | None = None, what: str = "file",
                       error: type[FacetError] = FacetError) -> os.stat_result:
    """Refuse (with ``error``) a path that is missing, not a regular file (a FIFO, a device, a folder, a
    symlink to one) or larger than ``max_bytes``, without opening it: opening a FIFO blocks and reading
    ``/dev/zero`` never ends."""
    try:
        st = os.stat(path)  # follows symlinks: a link to /dev/zero is a device
    except FileNotFoundError:
        raise error(f"{path}: the {what} does not exist") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise error(f"{path}: the {what} is {kind}, not a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"{path}: the {what} is {_size_words(st.st_size)}, more than the {_size_words(max_bytes)} "
                    f"a {what} may have")
    return st


def read_regular_file(path: str | os.PathLike, max_bytes: int, what: str = "file",
                      error: type[FacetError] = FacetError) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; anything else raises ``error`` naming the file.

    The file is checked before it is opened and opened non-blocking, so a FIFO swapped in between
    cannot hang the caller; files that report no size (``/proc``) are still read no further than the cap.
    """
    check_regular_file(path, max_bytes, what, error)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the check and the open
            raise error(f"{path}: the {what} is not a regular file")
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if total > max_bytes:
        raise error(f"{path}: the {what} is more than the {_size_words(max_bytes)} a {what} may have")
    return b"".join(chunks)


#: How deep JSON a user file may nest: manifests, projects and code files are a few levels deep; a deeper file
#: is damaged or hostile, and nested data that deep breaks whatever walks it (printing, Qt signals).
MAX_JSON_DEPTH = 64


def json_depth(value: Any) -> int:
    """How many containers deep ``value`` nests (0 for a scalar); iterative, so any depth can be measured."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
    return deepest


def parse_json(data: bytes | str, where: str, what: str = "file",
               error: type[FacetError] = FacetError, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON text → Python; invalid UTF-8, invalid JSON and nesting deeper than ``max_depth`` raise ``error``."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text)
    except UnicodeDecodeError:
        raise error(f"{where}: the {what} is not UTF-8 text") from None
    except RecursionError:
        raise error(f"{where}: the {what} is nested too deeply to be valid") from None
    except ValueError as exc:  # json.JSONDecodeError and its kin (e.g. an integer too long to convert)
        raise error(f"{where}: the {what} is not valid JSON ({exc})") from None
    if json_depth(value) > max_depth:
        raise error(f"{where}: the {what} is nested too deeply to be valid (more than {max_depth} levels)")
    return value


def load_json_bounded(path: str | os.PathLike, max_bytes: int, what: str = "file",
                      error: type[FacetError] = FacetError, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON file of at most ``max_bytes`` (regular files only); every way it can be wrong raises ``error``."""
    return parse_json(read_regular_file(path, max_bytes, what, error), str(path), what, error, max_depth)
