"""Paths shared by tests: the repository root and the read-only ../shared folder (may be absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures" / "images"
CELEBA = SHARED / "datasets" / "celeba"


def require(path: Path) -> Path:
    """Skip the calling test when an optional shared resource is not on this machine."""
    if not path.exists():
        pytest.skip(f"{path} is not available on this machine")
    return path
