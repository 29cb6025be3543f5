"""Where the app keeps its files: per-user data (autosave, recent state) and log folders via platformdirs.

``$FACET_STUDIO_HOME`` puts all of them under one folder (tests, portable installs).
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from pathlib import Path

import platformdirs
from PySide6.QtCore import QLockFile

APP_NAME = "Facet Studio"
ORG_NAME = "Facet"
RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def _home() -> Path | None:
    env = os.environ.get("FACET_STUDIO_HOME")
    return Path(env) if env else None


def data_dir() -> Path:
    home = _home()
    path = home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, ORG_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_dir() -> Path:
    home = _home()
    path = home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, ORG_NAME))
    path.mkdir(parents=True, exist_ok=True)
    return path


#: data folder → (the lock this process holds, its slot number); a slot's lock lives as long as the process
_SLOTS: dict[Path, tuple[QLockFile | None, int]] = {}
MAX_INSTANCES = 32


def _lock(folder: Path, slot: int) -> QLockFile:
    lock = QLockFile(str(folder / f"instance-{slot}.lock"))
    lock.setStaleLockTime(0)  # stale only when the process that took it is gone (a crash), never by age
    return lock


def instance_slot() -> int:
    """This running copy's number: the first slot whose lock no running Facet Studio holds (0 when alone).

    Each copy autosaves to its own file, so two windows never overwrite or recover each other's edits. A
    crashed copy's lock goes stale with its process, and the next start takes over its slot and autosave.
    """
    folder = data_dir()
    if folder not in _SLOTS:
        for slot in range(MAX_INSTANCES):
            lock = _lock(folder, slot)
            if lock.tryLock(0):
                _SLOTS[folder] = (lock, slot)
                break
        else:  # that many copies running: one of its own, past the locked ones
            _SLOTS[folder] = (None, MAX_INSTANCES + os.getpid())
    return _SLOTS[folder][1]


def autosave_path(slot: int | None = None) -> Path:
    """Where this copy (or copy ``slot``) autosaves."""
    slot = instance_slot() if slot is None else slot
    return data_dir() / ("autosave.facet" if slot == 0 else f"autosave-{slot}.facet")


#: an autosave whose restore failed (e.g. its model was missing) waits under this prefix for a later start
UNRESTORED = "autosave-unrestored-"


def unrestored_autosave_path() -> Path:
    """A fresh name for an autosave being restored: no copy autosaves to it and no clean exit deletes it."""
    return data_dir() / f"{UNRESTORED}{time.time_ns()}-{os.getpid()}.facet"


def orphaned_autosaves() -> list[Path]:
    """Autosaves of runs that did not exit cleanly (a clean exit deletes its autosave), newest first: this
    copy's slot (taken over from a crashed run), those whose slot no running copy holds, and those whose
    restore failed (kept until one succeeds or the user declines them)."""
    own = instance_slot()
    found = []
    for path in data_dir().glob("autosave*.facet"):
        if path.name.startswith(UNRESTORED):
            found.append(path)
            continue
        tail = path.stem.removeprefix("autosave").removeprefix("-")
        slot = int(tail) if tail.isdigit() else 0 if not tail else None
        if slot is None:
            continue
        if slot != own:
            lock = _lock(path.parent, slot)
            if not lock.tryLock(0):
                continue  # a running copy's: not ours to offer
            lock.unlock()
        found.append(path)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


#: the temporary name ``app.project.write_project`` writes ``NAME.facet`` to before renaming it
PROJECT_TEMPS = ".*.facet.tmp"
STALE_TEMP_SECONDS = 60.0


def remove_stale_temps(folder: str | os.PathLike, max_age: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the project temps (``.NAME.facet.tmp``) that a killed save left in ``folder``; return them.

    A save writes its temp continuously and renames it within seconds, so a temp untouched for
    ``max_age`` seconds belongs to a writer that is gone (a crash or kill -9 mid-save). Best effort: a
    folder or a temp that cannot be read or removed is left as it is.
    """
    removed = []
    now = time.time()
    with contextlib.suppress(OSError):
        for tmp in Path(folder).glob(PROJECT_TEMPS):
            with contextlib.suppress(OSError):
                st = tmp.lstat()
                if stat.S_ISREG(st.st_mode) and now - st.st_mtime > max_age:
                    tmp.unlink()
                    removed.append(tmp)
    return removed


def exemplars_dir() -> Path:
    """Bundled sample exemplars (generated faces or public-domain photos, never CelebA)."""
    return RESOURCES / "exemplars"


def user_exemplars_dir() -> Path:
    """Exemplar faces the user added: copies kept in the data folder, so the gallery has them after a restart."""
    path = data_dir() / "exemplars"
    path.mkdir(parents=True, exist_ok=True)
    return path


def looks_dir() -> Path:
    """Saved looks (``engine.looks``): one folder per look with its ``look.json`` and exemplar copies."""
    path = data_dir() / "looks"
    path.mkdir(parents=True, exist_ok=True)
    return path
