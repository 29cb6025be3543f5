"""A bounded on-disk cache of face inversions, so a second ``facet edit`` of the same photo does not invert again.

Inversion is the only slow step of an edit (seconds to a minute on a laptop CPU); everything after it is a
render of milliseconds. An entry is keyed by what decides the result: the pixels handed to the inversion (the
face's aligned crop, so the photo's content and which face it is), the cGAN bundle (its manifest and its
weights file's size and time), the method, its steps and the seed. It lives in the user cache folder
(platformdirs; ``$FACET_STUDIO_HOME/cache`` when that is set, as the app's folders are).

Entries are ``.npz`` files of plain arrays (z, y, the reconstruction and a JSON line), written atomically
(:func:`engine.fileio.commit`), read bounded and never unpickled (``allow_pickle=False``). The folder is kept
under a byte budget by dropping the least recently used entries (a hit refreshes an entry's time). A damaged,
foreign or unreadable entry is a miss and is removed; a cache that cannot be written is no error.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import FacetError
from engine.fileio import commit, parse_json, read_regular_file

#: Bumped when what an entry holds or how its key is made changes: old entries then simply miss.
CACHE_FORMAT = 1
#: Default budget of the whole folder. An entry of the 64 px cGAN is about 13 KB, so this holds thousands.
DEFAULT_MAX_BYTES = 64 * 2**20
#: The largest entry read back (a 256 px reconstruction is 200 KB); anything larger is not ours.
MAX_ENTRY_BYTES = 4 * 2**20
#: Temporary files of a writer that died are removed once they are this old (seconds).
STALE_TMP_SECONDS = 3600
SUFFIX = ".npz"


def cache_dir() -> Path:
    """The inversion cache folder (not created here)."""
    home = os.environ.get("FACET_STUDIO_HOME")
    if home:
        return Path(home) / "cache" / "inversions"
    import platformdirs

    return Path(platformdirs.user_cache_dir("Facet Studio", "Facet")) / "inversions"


@dataclass
class CachedInversion:
    """What a hit gives back: the code and the generator's reconstruction, as the inversion made them."""

    code: Any  # engine.invert.LatentCode
    reconstruction: np.ndarray  # uint8 (R, R, 3)
    method: str
    steps: int
    final_loss: float | None


def bundle_fingerprint(bundle: Any) -> str | None:
    """What identifies a bundle's behaviour: its manifest, and its weights file's size and modification time.

    None for a bundle that was not loaded from disk (nothing stable to key on: no caching)."""
    if getattr(bundle, "path", None) is None:
        return None
    try:
        st = os.stat(Path(bundle.path) / "weights.safetensors")
    except OSError:
        return None
    manifest = json.dumps(bundle.manifest, sort_keys=True, default=str)
    return hashlib.sha256(f"{manifest}\n{st.st_size}\n{st.st_mtime_ns}".encode()).hexdigest()


def inversion_key(image: np.ndarray, bundle: Any, method: str, steps: int | None, seed: int) -> str | None:
    """The cache key of inverting ``image`` (uint8, exactly what the inversion is handed) with these settings.

    ``steps`` None is the method's default number, written out, so a changed default is another key."""
    from engine.invert import METHODS

    fingerprint = bundle_fingerprint(bundle)
    if fingerprint is None:
        return None
    spec = METHODS.get(method)
    n_steps = steps if steps is not None else (spec.default_steps if spec is not None else None)
    image = np.ascontiguousarray(image)
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_FORMAT, fingerprint, method, n_steps, int(seed), image.dtype.str,
                         list(image.shape)]).encode())
    h.update(image.tobytes())
    return h.hexdigest()


class InversionCache:
    """Entries ``KEY.npz`` in ``folder``, least recently used dropped beyond ``max_bytes`` in all."""

    def __init__(self, folder: str | os.PathLike | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        self.folder = Path(folder) if folder is not None else cache_dir()
        self.max_bytes = int(max_bytes)
        self.write_error: str | None = None  # why the last put failed (a read-only or full disk), for a note

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.folder / f"{key}{SUFFIX}"

    # -- reading -------------------------------------------------------------------------------------
    def get(self, key: str | None, bundle: Any) -> CachedInversion | None:
        """The entry under ``key`` if there is a sound one that fits ``bundle``; else None (and a bad one goes)."""
        if key is None:
            return None
        path = self._path(key)
        if not path.exists():
            return None
        try:
            entry = _read_entry(path, bundle)
        except (FacetError, OSError, ValueError, KeyError, zipfile.BadZipFile):
            with contextlib.suppress(OSError):
                os.unlink(path)  # damaged, foreign or of another version: a miss, and it goes
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: the last to be evicted
        return entry

    # -- writing -------------------------------------------------------------------------------------
    def put(self, key: str | None, code: Any, reconstruction: np.ndarray, method: str, steps: int = 0,
            final_loss: float | None = None) -> bool:
        """Store an inversion under ``key`` (atomically), then keep the folder within its budget.

        Returns False (with :attr:`write_error` set) when the folder cannot be written: the cache is an
        optimisation, never a reason for a command to fail."""
        if key is None:
            return False
        path = self._path(key)
        tmp = self.folder / f".{key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        meta = json.dumps({"format": CACHE_FORMAT, "method": method, "steps": int(steps),
                           "final_loss": None if final_loss is None or not np.isfinite(final_loss)
                           else float(final_loss)})
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.savez(f, z=np.asarray(code.z, np.float32), y=np.asarray(code.y, np.float32),
                         reconstruction=np.ascontiguousarray(reconstruction, np.uint8), meta=np.array(meta))
            commit(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self.write_error = f"{self.folder}: {exc.strerror or exc}"
            return False
        self.evict()
        return True

    def evict(self) -> int:
        """Drop least recently used entries until the folder is within budget; returns how many went."""
        entries, now, total = [], time.time(), 0
        try:
            with os.scandir(self.folder) as it:
                for e in it:
                    with contextlib.suppress(OSError):
                        st = e.stat(follow_symlinks=False)
                        if e.name.endswith(".tmp") and now - st.st_mtime > STALE_TMP_SECONDS:
                            os.unlink(e.path)  # a writer that died
                        elif e.name.endswith(SUFFIX) and e.is_file(follow_symlinks=False):
                            entries.append((st.st_mtime, st.st_size, e.path))
                            total += st.st_size
        except OSError:
            return 0
        dropped = 0
        for _, size, p in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                os.unlink(p)
                dropped += 1
            total -= size
        return dropped


def _read_entry(path: Path, bundle: Any) -> CachedInversion:
    """One entry, checked: a bounded regular file, a zip of plain arrays of sane sizes, a code fitting ``bundle``."""
    from engine.invert import LatentCode
    from engine.invert.core import check_code

    data = read_regular_file(path, MAX_ENTRY_BYTES, "cache entry")
    with zipfile.ZipFile(io.BytesIO(data)) as z:  # members are checked before anything inflates
        if sum(info.file_size for info in z.infolist()) > MAX_ENTRY_BYTES:
            raise FacetError(f"{path}: the cache entry inflates beyond {MAX_ENTRY_BYTES} bytes")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in ("z", "y", "reconstruction", "meta")}
    meta = parse_json(str(arrays["meta"]), str(path), "cache entry")
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT or not isinstance(meta.get("method"), str):
        raise FacetError(f"{path}: not a cache entry of this version")
    check_code(bundle, arrays["z"], arrays["y"], str(path))
    rec = arrays["reconstruction"]
    r = int(bundle.resolution)
    if rec.dtype != np.uint8 or rec.shape != (r, r, 3):
        raise FacetError(f"{path}: the cached reconstruction is {rec.dtype} {rec.shape}, not {r} x {r} RGB")
    loss = meta.get("final_loss")
    return CachedInversion(
        code=LatentCode(arrays["z"], arrays["y"]), reconstruction=rec, method=meta["method"],
        steps=int(meta.get("steps", 0)) if isinstance(meta.get("steps", 0), int) else 0,
        final_loss=float(loss) if isinstance(loss, int | float) else None,
    )
