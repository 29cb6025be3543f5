"""Python's cyclic garbage collection only on the GUI thread.

Automatic collection runs in whichever thread happens to allocate; when the engine worker thread triggers
it, it may finalise Qt wrappers that belong to the GUI thread, which crashes Qt (seen as a segfault while
the worker loaded a model). So automatic collection is switched off and a timer on the GUI thread collects
instead (the approach qutebrowser takes). Reference counting still frees everything acyclic at once.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 1000

_timer: QTimer | None = None


def install(parent: QObject) -> QTimer:
    """Disable automatic collection and collect on ``parent``'s (GUI) thread every second; idempotent."""
    global _timer
    if _timer is None:
        gc.disable()
        _timer = QTimer(parent)
        _timer.setInterval(INTERVAL_MS)
        _timer.timeout.connect(collect)
        _timer.start()
    return _timer


def collect() -> None:
    """Collect the generations whose allocation counters passed Python's own thresholds (cheap when none)."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if counts[generation] > thresholds[generation]:
            gc.collect(generation)
            return
