"""The engine worker: one QObject on its own QThread owning the edit session, the models and the device.

The GUI never touches tensors or the session: it calls :meth:`EngineWorker.submit` (thread-safe) and
listens to signals. Requests queue up; the worker drains the whole queue before rendering once, so a
burst of slider values costs one render of the newest state (coalescing). A face is inverted with the
encoder at once (milliseconds) and refined by the preset's method in a thread of its own (:mod:`app.refine`)
while edits go on; the refined code is adopted here, and the edits replay on it. Brush strokes and
completion are engine generators iterated here: a first preview at once, then each step is reported,
``cancel()`` makes the next step stop the job (and stops the refinement), and nothing of a cancelled job
is kept. Every failure becomes a ``failed`` signal
with a message; a CUDA out-of-memory error moves the models to the CPU and retries once.

Engine modules (and so torch) are imported lazily in the worker thread, so the window shows at once.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback
from collections import deque
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from app.feature_requests import FeatureRequests
from app.history import History
from app.refine import Refiner
from app.requests import RequestHandlers

log = logging.getLogger(__name__)
EDIT_KINDS = ("apply", "apply_transfer", "squash", "undo", "redo", "add_face")


#: The worker's signals (name → argument types). The GUI listens to their GUI-thread twins
#: (:class:`WorkerSignals`), so its slots and test waits always run in the GUI thread.
SIGNALS: dict[str, tuple] = {
    "modelsChanged": (object,),  # {"cgan": {...} | None, "elegant": {...} | None, "device": str}
    "modelLoaded": (object,),  # the manifest of a bundle loaded by File > Load model
    "sessionReady": (object,),  # {"photo", "faces", "path", "project", "ops", "cursor", "tokens", "serial", ...}
    "facesChanged": (object,),  # {"faces", "serial", "select"}: a face box drawn, undone or redone
    # {"face", "crop", "reconstruction", "edit", "attributes", "inverted", "method", "edited"}; attributes: name →
    # value, None for a slider that waits for the face's inversion (EditSession.face_attributes)
    "faceUpdated": (object,),
    "photoRendered": (object, bool),  # photo uint8 as an export would write it, final (False = a drag preview)
    "jobPreview": (int, int, object),  # face, strip slot, a long job's intermediate face crop (never the photo)
    "stackChanged": (object,),  # {"ops": [descriptions], "cursor": n}
    "applied": (int, bool),  # token, ok
    "opReady": (object, str),  # an op made by a long job, to push on the undo stack; its label
    "jobStarted": (str,),
    "jobProgress": (int, int, str),  # step, total, message
    "jobEnded": (str, str),  # title, outcome: "done" | "cancelled" | "failed"
    "saved": (str, bool),  # path, autosave
    "exported": (str,),
    "failed": (str, str),  # title, message
    "notice": (str,),
    "exemplarsGenerated": (str,),  # the folder the generated exemplar faces were written to
    "replied": (str, object),  # a request's answer (app.feature_requests): what, value
    "idle": (),
}


def _signal_class(name: str) -> type:
    return type(name, (QObject,), {k: Signal(*types) for k, types in SIGNALS.items()})


WorkerSignals = _signal_class("WorkerSignals")
_WorkerBase = _signal_class("_WorkerBase")


class EngineWorker(FeatureRequests, RequestHandlers, _WorkerBase):
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._closing = threading.Event()  # set once by stop(): unlike _cancel, no new job clears it
        self._active = 0
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)  # never re-entered from a handler
        self.session = None  # engine.session.EditSession, owned by the worker thread
        self.cgan = self.elegant = None
        self.device = "cpu"
        self.device_pref = "auto"
        self.preset = "balanced"
        self.keep_face = True  # new sessions: cGAN edits change the photo's own face (EditSession.keep_face)
        self.steps: int | None = None  # inversion steps override (tests, preferences)
        self._dirty: set[int] = set()
        self._render_photo = False
        self._dragging = False
        self._final = False  # False while only drag previews are wanted (downscaled photo)
        self.preview_side = 1280  # long side of drag previews; the window sets it from its view
        self._exemplar_refs: dict[tuple[str, float], str] = {}  # (file, mtime) → session exemplar ref
        self.serial = 0  # which document the session is: edits sent for an older one are refused
        self.exif: bytes | None = None  # the open photo's EXIF (orientation reset), written into exports
        self.history = History()  # the window's undo stack, entry for entry (app.history)
        self.refiner = Refiner(self, self._wake.emit, _refine_threads)  # inversions refined beside the edits
        self._in_drag = False  # a slider drag's values are coming: renders stay previews until its release
        self._parked: dict[int, object] = {}  # undone face boxes (token → engine FaceSlot), for their redo
        self._restored_tokens = itertools.count(-1, -1)  # tokens of the undo commands for stored edits

    # -- called from the GUI thread ----------------------------------------------------------------
    def submit(self, kind: str, **args: Any) -> None:
        with self._lock:
            self._queue.append((kind, args))
        self._wake.emit()

    def cancel(self) -> None:
        """Stop the running long job at its next step, and the refinements (GUI thread: only sets flags)."""
        self._cancel.set()
        self.refiner.cancel()

    def stop(self) -> None:
        """The window is closing: drop the queued requests and stop the running job (GUI thread)."""
        self._closing.set()
        with self._lock:
            self._queue.clear()
        self._cancel.set()
        self.refiner.cancel()

    def pending(self) -> int:
        """Requests not finished yet (queued plus the one being handled, rendering included), refinements too."""
        with self._lock:
            return len(self._queue) + self._active + self.refiner.busy()

    # -- the worker thread ------------------------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        from engine.device import use_cpu_threads

        use_cpu_threads(interactive=True)  # re-renders leave a core to the GUI thread
        with self._lock:
            self._active = 1  # from here to the render: an adopted refinement leaves the refiner before it shows
        while not self._closing.is_set():
            self._adopt_refined()
            with self._lock:
                if not self._queue:
                    break
                kind, args = self._queue.popleft()
            self._run(kind, args)
        self._adopt_refined()
        self._render()
        with self._lock:
            self._active = 0
        self.idle.emit()

    def _run(self, kind: str, args: dict[str, Any]) -> None:
        handler = getattr(self, f"_do_{kind}", None)
        if handler is None:
            self.failed.emit("Internal error", f"unknown request {kind!r}")
            return
        for attempt in (0, 1):
            try:
                handler(**args)
                return
            except Exception as exc:  # noqa: BLE001 - every failure becomes a message, the GUI carries on
                if attempt == 0 and self._out_of_memory(exc):
                    continue
                self._report(kind, args, exc)
                return

    def _out_of_memory(self, exc: BaseException) -> bool:
        from engine.device import is_out_of_memory

        if not is_out_of_memory(exc) or self.device == "cpu":
            return False
        self._move_to("cpu")
        self.notice.emit("The GPU ran out of memory: Facet Studio switched to the CPU (slower) and retried.")
        return True

    def _report(self, kind: str, args: dict[str, Any], exc: Exception) -> None:
        from engine.errors import FacetError

        if kind in ("apply", "apply_transfer", "add_face"):
            self._edit_failed(args.get("serial"))
            self.applied.emit(int(args.get("token", 0)), False)
        title = {"open_photo": "Cannot open the photo", "open_project": "Cannot open the project",
                 "load_models": "Cannot load the model", "load_model": "Cannot load the model",
                 "load_startup_models": "Cannot load the model", "save_project": "Cannot save the project",
                 "export": "Cannot export the photo", "export_scaled": "Cannot export the photo",
                 "upscale": "Cannot super-resolve the face", "blend_target": "Cannot blend the faces",
                 "capture_look": "Cannot save the look",
                 "refine": "Cannot refine the face's inversion (it keeps the encoder's code)"}.get(kind, "Cannot do that")
        if isinstance(exc, FacetError | OSError | ValueError):
            log.warning("%s: %s", kind, exc)
            self.failed.emit(title, str(exc))
        else:
            log.error("%s failed:\n%s", kind, "".join(traceback.format_exception(exc)))
            self.failed.emit(title, f"Unexpected error ({type(exc).__name__}): {exc}. Details are in the log file.")

    def _job(self, title: str, job, face: int | None = None, preview_slot: int = 2):
        """Iterate an engine job generator: progress and previews out, cancel in.

        Previews go to the face strip (``preview_slot``), never to the photo: the canvas shows only what an
        export would write, and a cancelled job leaves nothing of itself there.
        """
        from engine.device import use_cpu_threads
        from engine.errors import Cancelled

        self.jobStarted.emit(title)
        outcome = "failed"
        use_cpu_threads(interactive=False)  # a long job takes every core; the GUI only draws its progress
        try:
            while True:
                if self._cancel.is_set() or self._closing.is_set():
                    job.close()
                    outcome = "cancelled"
                    raise Cancelled(f"{title}: cancelled")
                try:
                    step = next(job)
                except StopIteration as stop:
                    outcome = "done"
                    return stop.value
                self.jobProgress.emit(step.step, step.total, step.message or title)
                if step.preview is not None and face is not None:
                    self.jobPreview.emit(face, preview_slot, step.preview)
        finally:
            use_cpu_threads(interactive=True)
            self._cancel.clear()
            self.jobEnded.emit(title, outcome)

    # -- rendering (once per drained queue) ---------------------------------------------------------
    def _changed(self, change) -> None:
        self._dirty |= change.faces
        self._render_photo = self._render_photo or change.photo
        self._final = self._final or (change.photo and not self._dragging)
        if change.stack:
            s = self.session
            self.stackChanged.emit({"ops": [op.describe() for op in s.ops], "cursor": s.cursor})

    def _render(self) -> None:
        s = self.session
        if s is None or not (self._dirty or self._render_photo):
            return
        dirty, self._dirty = sorted(self._dirty), set()
        render_photo, self._render_photo = self._render_photo, False
        final, self._final = self._final, False
        try:
            for i in dirty:
                if i < len(s.faces):
                    self.faceUpdated.emit({
                        "face": i, "crop": s.faces[i].crop, "reconstruction": s.reconstruction(i),
                        "edit": s.render_face(i), "attributes": s.face_attributes(i), "inverted": s.has_code(i),
                        "method": s.faces[i].method, "edited": bool(s.face_ops(i)),
                    })
            if render_photo:
                photo = s.render_photo() if final else s.preview_photo(self.preview_side)
                self.photoRendered.emit(photo, final)
        except Exception as exc:  # noqa: BLE001
            self._report("render", {}, exc)


class WorkerHost(QObject):
    """Owns the worker's thread: start on construction, stop (cancel + quit + wait) on :meth:`shutdown`."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("engine-worker")
        self.worker = EngineWorker()
        self.worker.moveToThread(self.thread)
        self.signals = WorkerSignals(self)  # GUI-thread twins of the worker's signals
        for name in SIGNALS:
            getattr(self.worker, name).connect(getattr(self.signals, name), Qt.ConnectionType.QueuedConnection)
        self.thread.start()
        self.silent = False  # while True, undo commands send nothing (mirroring a restored stack)
        self.edits = 0  # edit requests sent so far: a save marks the document clean only if none came after it

    def submit(self, kind: str, **args: Any) -> None:
        if kind in EDIT_KINDS:
            self.edits += 1
        self.worker.submit(kind, **args)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        if self.thread.isRunning():
            self.worker.stop()
            self.thread.quit()
            if not self.thread.wait(timeout_ms):
                log.error("the engine worker did not stop within %d ms", timeout_ms)
        self.worker.refiner.cancel()
        self.worker.refiner.join(timeout_ms / 1000)  # it stops at its next step


def _refine_threads() -> None:
    """The refinement thread's torch threads: a core fewer than the machine has, like the re-renders (on a busy
    2-core machine one: a parallel region that waits for a busy core stalls)."""
    from engine.device import use_cpu_threads

    use_cpu_threads(interactive=True)
