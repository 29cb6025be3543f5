"""Where the app keeps its files: per-user data (autosave, recent state) and log folders via platformdirs.

``$FACET_STUDIO_HOME`` puts all of them under one folder (tests, portable installs).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

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


def autosave_path() -> Path:
    return data_dir() / "autosave.facet"


def exemplars_dir() -> Path:
    """Bundled sample exemplars (generated faces or public-domain photos, never CelebA)."""
    return RESOURCES / "exemplars"
