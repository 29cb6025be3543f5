"""Background refinement of face inversions: the better inversion runs in a thread of its own.

A face gets the encoder's code at once (milliseconds), so its sliders edit within a second of opening the
photo; the preset's method (hybrid, pivotal tuning, …) then refines the code here while the worker thread
keeps rendering edits. The job reads only the face's crop and the (frozen) cGAN, never the session; the
worker adopts a finished inversion in its own thread (``EditSession.adopt_inversion``) and the edits made
meanwhile replay on the new code. Cancel stops the running job and drops the queued ones: the face keeps
its last complete code. Progress and previews go out through the worker's signals (the face strip's
reconstruction slot), never to the photo.

Plain Python threading: the worker owns the :class:`Refiner`; :meth:`Refiner.busy` is counted in its
``pending()``, and the thread wakes the worker when a job ends so that it adopts the result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
#: How much nicer (lower priority) than the app the refinement thread runs, where the OS allows it (Linux):
#: a slider's render must not wait behind it for a core.
NICER = 5


@dataclass
class Task:
    """One face's refinement: an engine ``Job[Inversion]`` made in the worker thread for document ``serial``."""

    face: int
    serial: int
    title: str
    job: Any
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class Finished:
    task: Task
    outcome: str  # "done" | "cancelled" | "failed"
    inversion: Any = None  # engine.session.Inversion when done
    error: BaseException | None = None


class Refiner:
    """Runs refinement tasks one at a time in a daemon thread (started when there is work, ended when not).

    ``signals`` has the worker's ``jobStarted``/``jobProgress``/``jobPreview``/``jobEnded`` signals (emitting a
    signal is thread-safe; the window receives them queued); ``wake`` asks the worker thread to adopt results.
    """

    def __init__(self, signals: Any, wake: Callable[[], None], threads: Callable[[], None] | None = None) -> None:
        self._signals = signals
        self._wake = wake
        self._threads = threads  # sets the thread's torch threads (engine.device.use_cpu_threads), in the thread
        self._cond = threading.Condition()
        self._queue: deque[Task] = deque()
        self._running: Task | None = None
        self._finished: list[Finished] = []
        self._thread: threading.Thread | None = None

    # -- any thread ---------------------------------------------------------------------------------
    def start(self, task: Task) -> None:
        """Queue ``task``; a queued or running refinement of the same face of the same document is replaced."""
        with self._cond:
            self._drop(lambda t: t.face == task.face and t.serial == task.serial)
            self._queue.append(task)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="refine", daemon=True)
                self._thread.start()

    def cancel(self, face: int | None = None) -> None:
        """Stop the running refinement and drop the queued ones (only face ``face``'s when given)."""
        with self._cond:
            dropped = self._drop(lambda t: face is None or t.face == face)
        if dropped:
            self._wake()  # pending() went down: the worker says so (idle) even if nothing else happens

    def wait(self) -> None:
        """Block until no refinement is queued or running (its result is then in :meth:`take_finished`)."""
        with self._cond:
            while self._queue or self._running is not None:
                self._cond.wait()

    def busy(self) -> int:
        """Refinements queued, running, or finished but not yet adopted by the worker."""
        with self._cond:
            return len(self._queue) + (self._running is not None) + len(self._finished)

    def take_finished(self) -> list[Finished]:
        with self._cond:
            out, self._finished = self._finished, []
            return out

    def join(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the thread to end, after :meth:`cancel` (shutting down)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _drop(self, which: Callable[[Task], bool]) -> bool:
        """Under the lock: cancel the running task and drop the queued ones that ``which`` picks."""
        kept = deque(t for t in self._queue if not which(t))
        dropped = len(kept) != len(self._queue)
        self._queue = kept
        if self._running is not None and which(self._running):
            self._running.cancel.set()
            dropped = True
        return dropped

    # -- the refinement thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        _lower_priority()
        if self._threads is not None:
            self._threads()
        while True:
            with self._cond:
                if not self._queue:
                    self._thread = None
                    self._cond.notify_all()
                    return
                task = self._running = self._queue.popleft()
            finished = self._run(task)
            with self._cond:
                self._running = None
                self._finished.append(finished)
                self._cond.notify_all()
            self._wake()

    def _run(self, task: Task) -> Finished:
        s = self._signals
        s.jobStarted.emit(task.title)
        outcome = "failed"
        try:
            while True:
                if task.cancel.is_set():
                    task.job.close()
                    outcome = "cancelled"
                    return Finished(task, outcome)
                try:
                    step = next(task.job)
                except StopIteration as stop:
                    outcome = "done"
                    return Finished(task, outcome, stop.value)
                s.jobProgress.emit(step.step, step.total, step.message or task.title)
                if step.preview is not None:
                    s.jobPreview.emit(task.face, 1, step.preview)  # the strip's reconstruction, never the photo
        except Exception as exc:  # noqa: BLE001 - reported by the worker thread when it takes the result
            return Finished(task, "failed", error=exc)
        finally:
            s.jobEnded.emit(task.title, outcome)


def _lower_priority() -> None:
    """Run this thread a little nicer than the app. Linux only: there a thread's nice value is its own, and its id
    names it (elsewhere the same call would name a process)."""
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICER))
