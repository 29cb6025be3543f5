"""Guards for tests that hand the engine hostile files: a call that blocks fails the test instead of hanging
the suite, and a call that allocates far more than it should is caught."""

from __future__ import annotations

import os
import resource
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

#: How much a refused hostile file may raise the process's peak memory (bytes).
MEMORY_SLACK = 300 * 2**20

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo") or sys.platform == "win32", reason="needs FIFOs (POSIX)")


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def guarded(fn: Callable[..., Any], *args: Any, timeout: float = 10.0, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a thread: fail if it blocks past ``timeout`` seconds or raises the process's
    peak memory by more than :data:`MEMORY_SLACK`; its result or exception is handed back."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc

    before = _peak_rss()
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"{getattr(fn, '__name__', fn)} blocked for {timeout} s"
    grown = _peak_rss() - before
    assert grown < MEMORY_SLACK, f"{getattr(fn, '__name__', fn)} raised peak memory by {grown / 2**20:.0f} MB"
    if "error" in result:
        raise result["error"]
    return result["value"]


def one_line(exc: BaseException, *names: str) -> str:
    """The message of a refusal: one line that names each of ``names`` (the file, the field)."""
    message = str(exc)
    assert "\n" not in message and "Traceback" not in message, message
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"
    return message
