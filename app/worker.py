"""The engine worker: one QObject on its own QThread owning the edit session, the models and the device.

The GUI never touches tensors or the session: it calls :meth:`EngineWorker.submit` (thread-safe) and
listens to signals. Requests queue up; the worker drains the whole queue before rendering once, so a
burst of slider values costs one render of the newest state (coalescing). Long jobs (inversion, strokes,
completion) are engine generators iterated here: each step is reported, ``cancel()`` makes the next
step stop the job, and nothing of a cancelled job is kept. Every failure becomes a ``failed`` signal
with a message; a CUDA out-of-memory error moves the models to the CPU and retries once.

Engine modules (and so torch) are imported lazily in the worker thread, so the window shows at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

log = logging.getLogger(__name__)
EDIT_KINDS = ("apply", "apply_transfer", "squash", "undo", "redo")


#: The worker's signals (name → argument types). The GUI listens to their GUI-thread twins
#: (:class:`WorkerSignals`), so its slots and test waits always run in the GUI thread.
SIGNALS: dict[str, tuple] = {
    "modelsChanged": (object,),  # {"cgan": {...} | None, "elegant": {...} | None, "device": str}
    "modelLoaded": (object,),  # the manifest of a bundle loaded by File > Load model
    "sessionReady": (object,),  # {"photo", "faces": [{"box", "manual"}], "path", "project", "ops", "cursor"}
    "faceUpdated": (object,),  # {"face", "crop", "reconstruction", "edit", "attributes", "method", "edited"}
    "photoRendered": (object, bool),  # photo uint8, final (False = a streaming preview)
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
    "idle": (),
}


def _signal_class(name: str) -> type:
    return type(name, (QObject,), {k: Signal(*types) for k, types in SIGNALS.items()})


WorkerSignals = _signal_class("WorkerSignals")
_WorkerBase = _signal_class("_WorkerBase")


class EngineWorker(_WorkerBase):
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._active = 0
        self._wake.connect(self._drain)
        self.session = None  # engine.session.EditSession, owned by the worker thread
        self.cgan = self.elegant = None
        self.device = "cpu"
        self.device_pref = "auto"
        self.preset = "balanced"
        self.steps: int | None = None  # inversion steps override (tests, preferences)
        self._dirty: set[int] = set()
        self._render_photo = False
        self._dragging = False
        self._final = False  # False while only drag previews are wanted (downscaled photo)
        self.preview_side = 1280

    # -- called from the GUI thread ----------------------------------------------------------------
    def submit(self, kind: str, **args: Any) -> None:
        with self._lock:
            self._queue.append((kind, args))
        self._wake.emit()

    def cancel(self) -> None:
        """Stop the running long job at its next step (and drop queued long jobs)."""
        self._cancel.set()

    def pending(self) -> int:
        """Requests not finished yet (queued plus the one being handled, rendering included)."""
        with self._lock:
            return len(self._queue) + self._active

    # -- the worker thread ------------------------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    break
                kind, args = self._queue.popleft()
                self._active = 1
            self._run(kind, args)
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

        if kind in ("apply", "apply_transfer"):
            self.applied.emit(int(args.get("token", 0)), False)
        title = {"open_photo": "Cannot open the photo", "open_project": "Cannot open the project",
                 "load_models": "Cannot load the model", "save_project": "Cannot save the project",
                 "export": "Cannot export the photo"}.get(kind, "Cannot do that")
        if isinstance(exc, FacetError | OSError | ValueError):
            log.warning("%s: %s", kind, exc)
            self.failed.emit(title, str(exc))
        else:
            log.error("%s failed:\n%s", kind, "".join(traceback.format_exception(exc)))
            self.failed.emit(title, f"Unexpected error ({type(exc).__name__}): {exc}. Details are in the log file.")

    # -- models and device ------------------------------------------------------------------------
    def _do_load_models(self, cgan: str | None = None, elegant: str | None = None, device: str | None = None) -> None:
        from engine.bundle import load_bundle
        from engine.device import pick_device

        if device is not None:
            self.device_pref = device
        dev = pick_device(self.device_pref)
        new_cgan = load_bundle(cgan, dev) if cgan else None
        new_elegant = load_bundle(elegant, dev) if elegant else None
        for b, family in ((new_cgan, "cgan"), (new_elegant, "elegant")):
            if b is not None and b.family != family:
                raise ValueError(f"{b.path}: this is a {b.family!r} bundle, not a {family!r} one")
        self.cgan, self.elegant, self.device = new_cgan, new_elegant, str(dev)
        self._emit_models()
        if self.session is not None:  # a new model: the same photo, a fresh session
            self._start_session(self.session.photo, path=None, keep_path=True)

    def _do_load_model(self, path: str) -> None:
        """Load one bundle into the slot of its family (cgan or elegant), keeping the other."""
        from engine.bundle import read_manifest

        family = read_manifest(path)["family"]
        if family not in ("cgan", "elegant"):
            raise ValueError(f"{path}: a {family!r} bundle cannot edit faces; load a cgan or an elegant bundle")
        paths = {f: (str(b.path) if b is not None else None) for f, b in (("cgan", self.cgan), ("elegant", self.elegant))}
        paths[family] = str(path)
        self._do_load_models(**paths)
        self.modelLoaded.emit(read_manifest(path))

    def _do_generate_exemplars(self, folder: str, per_attribute: int = 2) -> None:
        """Synthetic exemplar faces from the loaded cGAN, saved as PNGs in ``folder``."""
        from engine.errors import FacetError
        from engine.images import save_image
        from engine.session import generate_exemplars

        if self.cgan is None:
            raise FacetError("generating exemplar faces needs a cGAN model (File > Load model...)")
        out = Path(folder)
        for name, image in generate_exemplars(self.cgan, per_attribute):
            save_image(out / f"{name}.png", image)
        self.exemplarsGenerated.emit(str(out))

    def _do_set_device(self, device: str) -> None:
        from engine.device import pick_device

        self.device_pref = device
        self._move_to(str(pick_device(device)))
        self._emit_models()

    def _move_to(self, device: str) -> None:
        for b in (self.cgan, self.elegant):
            if b is not None:
                b.to(device)
        self.device = device

    def _emit_models(self) -> None:
        def info(b):
            if b is None:
                return None
            return {"name": b.name, "path": str(b.path), "family": b.family, "resolution": b.resolution,
                    "attributes": b.attributes, "manifest": b.manifest, "networks": sorted(b.networks),
                    "presets": self._presets(b)}

        self.modelsChanged.emit({"cgan": info(self.cgan), "elegant": info(self.elegant), "device": self.device})

    @staticmethod
    def _presets(bundle) -> dict[str, str]:
        from engine.errors import FacetError
        from engine.session import PRESETS, method_for_preset

        out = {}
        for preset in PRESETS:
            with contextlib.suppress(FacetError):
                out[preset] = method_for_preset(preset, bundle) if bundle.family == "cgan" else ""
        return out

    def _do_set_preset(self, preset: str, steps: int | None = None) -> None:
        self.preset = preset
        self.steps = steps

    # -- documents ---------------------------------------------------------------------------------
    def _do_open_photo(self, path: str) -> None:
        from engine.images import load_image

        photo = load_image(path)
        self._start_session(photo, path=path)

    def _start_session(self, photo, path: str | None, keep_path: bool = False, session=None,
                       project: str | None = None) -> None:
        from engine.session import EditSession

        self.session = session or EditSession(photo, self.cgan, self.elegant)
        s = self.session
        faces = [{"box": f.box, "manual": f.manual} for f in s.faces]
        self.sessionReady.emit({"photo": s.photo, "faces": faces, "path": path, "keep_path": keep_path,
                                "project": project, "resolution": s.resolution,
                                "ops": [op.describe() for op in s.ops], "cursor": s.cursor})
        self._dirty = set(range(len(s.faces)))
        self._render_photo = self._final = True

    def _do_open_project(self, path: str) -> None:
        from app.project import read_project
        from engine.session import EditSession

        data, _extra = read_project(path)
        session = EditSession.from_dict(data, self.cgan, self.elegant)
        self._start_session(session.photo, path=None, session=session, project=path)

    def _do_save_project(self, path: str, autosave: bool = False, extra: dict | None = None) -> None:
        from app.project import write_project

        self._need_session()
        write_project(path, self.session.to_dict(), extra)
        self.saved.emit(str(path), autosave)

    def _do_export(self, path: str, quality: int = 92) -> None:
        from engine.images import save_image

        self._need_session()
        save_image(path, self.session.render_photo(), quality=quality)
        self.exported.emit(str(path))

    def _need_session(self):
        if self.session is None:
            from engine.errors import FacetError

            raise FacetError("no photo is open")
        return self.session

    def _do_add_face(self, box: tuple[float, float, float, float]) -> None:
        s = self._need_session()
        s.add_manual_face(box)
        self._start_session(s.photo, path=None, keep_path=True, session=s)

    # -- inversion and edits ------------------------------------------------------------------------
    def _do_invert(self, face: int, preset: str | None = None) -> None:
        s = self._need_session()
        self._cancel.clear()
        if preset:
            self.preset = preset
        self._job(f"Inverting face {face + 1}", s.invert_face_job(face, self.preset, steps=self.steps), face)
        self._dirty.add(face)
        self._render_photo = self._final = True

    def _ensure_code(self, face: int) -> None:
        s = self._need_session()
        if s.models.cgan is not None and not s.has_code(face):
            self._do_invert(face)

    def _do_apply(self, op, token: int = 0) -> None:
        from engine.ops import ApplyVector, ResetAttributes, SetAttribute

        if isinstance(op, SetAttribute | ApplyVector | ResetAttributes):
            self._ensure_code(op.face)
        self._dragging = op.merge_key() is not None  # a slider drag: previews until the release
        self._changed(self._need_session().apply(op))
        self._dragging = False
        self.applied.emit(token, True)

    def _do_apply_transfer(self, face: int, exemplar: str, attributes: tuple[str, ...], strength: float,
                           token: int = 0) -> None:
        from engine.images import load_image
        from engine.ops import TransferFromExemplar

        s = self._need_session()
        ref = s.add_exemplar(load_image(exemplar))
        self._changed(s.apply(TransferFromExemplar(face, ref, tuple(attributes), float(strength))))
        self.applied.emit(token, True)

    def _do_squash(self) -> None:
        self._changed(self._need_session().squash())

    def _do_undo(self) -> None:
        self._changed(self._need_session().undo())

    def _do_redo(self) -> None:
        self._changed(self._need_session().redo())

    def _do_render(self, faces: list[int] | None = None) -> None:
        s = self._need_session()
        self._dirty |= set(range(len(s.faces)) if faces is None else faces)
        self._render_photo = self._final = True

    def _do_stroke(self, face: int, rgba, steps: int = 40) -> None:
        s = self._need_session()
        self._cancel.clear()
        self._ensure_code(face)
        mask, colors = s.strokes_from_photo(face, rgba)
        if not mask.any():
            raise ValueError("the brush strokes do not touch the selected face")
        op = self._job("Following the brush strokes", s.stroke_job(face, mask, colors, steps=steps), face)
        self.opReady.emit(op, "Brush strokes")

    def _do_complete(self, face: int, rgba, steps: int = 60) -> None:
        s = self._need_session()
        self._cancel.clear()
        mask, _ = s.strokes_from_photo(face, rgba)
        if not mask.any():
            raise ValueError("the completion mask does not touch the selected face")
        op = self._job("Completing the masked region", s.complete_job(face, mask, steps=steps), face)
        self.opReady.emit(op, "Complete region")

    def _job(self, title: str, job, face: int | None = None):
        """Iterate an engine job generator: progress and previews out, cancel in."""
        from engine.errors import Cancelled

        self.jobStarted.emit(title)
        outcome = "failed"
        try:
            while True:
                if self._cancel.is_set():
                    job.close()
                    outcome = "cancelled"
                    raise Cancelled(f"{title}: cancelled")
                try:
                    step = next(job)
                except StopIteration as stop:
                    outcome = "done"
                    return stop.value
                self.jobProgress.emit(step.step, step.total, step.message or title)
                if step.preview is not None and face is not None and self.session is not None:
                    preview = self.session.preview_photo(self.preview_side, overrides={face: step.preview})
                    self.photoRendered.emit(preview, False)
        finally:
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
                        "edit": s.render_face(i), "attributes": s.face_attributes(i), "method": s.faces[i].method,
                        "edited": bool(s.face_ops(i)),
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

    def submit(self, kind: str, **args: Any) -> None:
        self.worker.submit(kind, **args)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        if self.thread.isRunning():
            self.worker.cancel()
            self.thread.quit()
            self.thread.wait(timeout_ms)


def default_models() -> dict[str, str | None]:
    """Paths of the default cgan and elegant bundles in resources/models (or $FACET_MODELS_DIR), if any."""
    from app.selftest import find_bundle, models_dir

    root = models_dir()
    return {family: (str(p) if (p := find_bundle(root, family)) else None) for family in ("cgan", "elegant")}
