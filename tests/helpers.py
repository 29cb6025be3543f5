"""Paths shared by tests: the repository root and the read-only ../shared folder (may be absent).

A test that needs ../shared skips with a reason that names what is missing (``require``). Where ../shared
exists, such a skip is a failure instead (the ``pytest_runtest_makereport`` hook below, installed by
tests/conftest.py): CI has the data, so a test that quietly stopped finding it must not pass unnoticed.
``$FACET_TEST_SHARED`` points the tests at another shared folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACET_TEST_SHARED") or ROOT.parent / "shared")
FIXTURES = SHARED / "fixtures" / "images"
CELEBA = SHARED / "datasets" / "celeba"
NEEDS_SHARED = "needs ../shared/"  # how every skip for missing shared data begins


def missing_shared(path: Path) -> str:
    """The skip reason for a shared file or folder that is not there: what it is and why it is missing."""
    try:
        name = NEEDS_SHARED + Path(path).relative_to(SHARED).as_posix()
    except ValueError:
        name = f"{NEEDS_SHARED}… ({path})"
    if not SHARED.is_dir():
        return f"{name}: there is no shared data folder at {SHARED} (a clone without it runs the rest)"
    return f"{name}: it is missing from {SHARED}"


def require(path: Path) -> Path:
    """Skip the calling test when an optional shared resource is not on this machine, saying which."""
    if not Path(path).exists():
        pytest.skip(missing_shared(path))
    return path


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A test that needs ../shared (its skip says so, or it is marked ``celeba``) fails instead of skipping
    where ../shared exists."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or not SHARED.is_dir():
        return
    reason = _skip_reason(report)
    if reason.startswith(NEEDS_SHARED) or item.get_closest_marker("celeba") is not None:
        report.outcome = "failed"
        report.longrepr = (f"skipped although the shared data folder {SHARED} is there: {reason}\n"
                           "(a test that needs ../shared must run wherever ../shared exists)")
