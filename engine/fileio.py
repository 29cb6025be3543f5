"""Putting a fully written temporary file in place: flushed to disk first, then renamed over the target.

``os.replace`` alone is atomic for the name but not for the data: after a power cut some filesystems
(ext4 with delayed allocation, for one) show the new name with an empty file. Every file a user or a
training run relies on (photos, projects, bundles, checkpoints, packs) is written to a temporary name
in the same folder and handed to :func:`commit`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


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
