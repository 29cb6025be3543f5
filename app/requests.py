"""What the engine worker can be asked to do: one ``_do_<kind>`` method per request kind.

Mixed into :class:`app.worker.EngineWorker` (which owns the queue, the thread, the signals and the
rendering). Handlers run in the worker thread, import the engine lazily and raise on failure; the
worker turns exceptions into messages.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)


class RequestHandlers:
    # -- models and device ------------------------------------------------------------------------
    def _do_load_models(self, cgan: str | None = None, elegant: str | None = None, device: str | None = None) -> None:
        from engine.bundle import load_bundle

        self._stop_refining()  # the models it runs with are about to go
        if device is not None:
            self.device_pref = device
        dev = self._pick_device()
        new_cgan = load_bundle(cgan, dev) if cgan else None
        new_elegant = load_bundle(elegant, dev) if elegant else None
        for b, family in ((new_cgan, "cgan"), (new_elegant, "elegant")):
            if b is not None and b.family != family:
                raise ValueError(f"{b.path}: this is a {b.family!r} bundle, not a {family!r} one")
        self.cgan, self.elegant, self.device = new_cgan, new_elegant, str(dev)
        self._emit_models()
        if self.session is not None:  # a new model: the same photo, a fresh session
            self._start_session(self.session.photo, path=None, keep_path=True)

    def _do_load_startup_models(self, saved: dict[str, str], device: str | None = None) -> None:
        """The saved model paths that still exist, else the default bundles (resources/models)."""
        from app.selftest import find_bundle, models_dir

        root = models_dir()
        paths = {}
        for family in ("cgan", "elegant"):
            if saved.get(family) and Path(saved[family]).exists():
                paths[family] = saved[family]
            else:
                found = find_bundle(root, family)
                paths[family] = str(found) if found else None
        self._do_load_models(device=device, **paths)

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
        for name, image in generate_exemplars(self.cgan, per_attribute, judge=self._judge()):
            save_image(out / f"{name}.png", image)
        self.exemplarsGenerated.emit(str(out))

    def _judge(self):
        """The default attribute classifier (picks generated exemplars that show their attribute), if shipped."""
        from app.selftest import find_bundle, models_dir
        from engine.bundle import load_bundle
        from engine.errors import BundleError

        path = find_bundle(models_dir(), "classifier")
        try:
            return load_bundle(path, self.device) if path is not None else None
        except BundleError as exc:
            log.warning("exemplars are generated without the classifier: %s", exc)
            return None

    def _do_set_device(self, device: str) -> None:
        self._stop_refining()  # its networks must not move under it
        self.device_pref = device
        self._move_to(str(self._pick_device()))
        self._emit_models()

    def _pick_device(self):
        """The preferred device, or the CPU with a notice when it is not there (e.g. no CUDA)."""
        from engine.device import pick_device
        from engine.errors import FacetError

        try:
            return pick_device(self.device_pref)
        except FacetError as exc:
            self.notice.emit(f"{exc}: using the CPU instead.")
            return pick_device("cpu")

    def _move_to(self, device: str) -> None:
        for b in (self.cgan, self.elegant):
            if b is not None:
                b.to(device)
        self.device = device

    def _emit_models(self) -> None:
        from engine.edit import attribute_limit
        from engine.session_models import SessionModels
        from engine.transfer import face_swapping, takes_exemplar_pixels

        def info(b):
            if b is None:
                return None
            return {"name": b.name, "path": str(b.path), "family": b.family, "resolution": b.resolution,
                    "attributes": b.attributes, "manifest": b.manifest, "networks": sorted(b.networks),
                    "presets": self._presets(b),
                    "takes_pixels": b.family == "elegant" and takes_exemplar_pixels(b),
                    "face_swapping": face_swapping(b) if b.family == "elegant" else [],
                    "attribute_limits": {a: attribute_limit(b, a) for a in b.attributes} if b.family == "cgan" else {}}

        # which model each slider edits (engine.session_models.slider_op maps a move to its operation)
        routes = SessionModels(self.cgan, self.elegant).slider_routes()
        self.modelsChanged.emit({"cgan": info(self.cgan), "elegant": info(self.elegant), "device": self.device,
                                 "routes": routes})

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

    def _do_set_keep_face(self, keep: bool) -> None:
        """cGAN edits as a change to the photo's own face, or as the generator's face; this session and the next."""
        self.keep_face = bool(keep)
        if self.session is not None:
            self._changed(self.session.set_keep_face(keep))

    # -- documents ---------------------------------------------------------------------------------
    def _do_open_photo(self, path: str) -> None:
        from engine.images import load_image, read_exif

        photo = load_image(path)
        self.exif = read_exif(path)  # the camera's metadata goes into the export
        self._stop_refining()  # the photo is readable: the current document's refinements end here
        self._start_session(photo, path=path)

    def _start_session(self, photo, path: str | None, keep_path: bool = False, session=None,
                       project: str | None = None, recovered: dict | None = None) -> None:
        """Make ``session`` (or a fresh one for ``photo``) the document; ``recovered``: the autosave's paths."""
        self._stop_refining()
        if session is None or session is not self.session:
            self.serial += 1
        self.session = session or self._new_session(photo)
        s = self.session
        tokens = [next(self._restored_tokens) for _ in s.ops]  # the window's undo commands for stored edits
        self.history.reset(tokens, s.cursor, base_faces=len(s.faces))
        self._parked.clear()
        self.sessionReady.emit({"photo": s.photo, "faces": self._faces(), "path": path, "keep_path": keep_path,
                                "project": project, "resolution": s.resolution, "keep_face": s.keep_face,
                                "ops": [op.describe() for op in s.ops], "cursor": s.cursor, "serial": self.serial,
                                "tokens": tokens, "recovered": recovered})
        self._dirty = set(range(len(s.faces)))
        self._render_photo = self._final = True

    def _new_session(self, photo):
        """A session for a photo with the faces the detector found: none is none (the window offers to draw a
        box), never a guessed centre square edited as if it were a face."""
        from engine.session import EditSession
        from engine.session_faces import find_faces

        s = EditSession(photo, self.cgan, self.elegant, detect=False, keep_face=self.keep_face)
        s.faces = find_faces(photo, s.resolution)
        return s

    def _faces(self) -> list[dict]:
        return [{"box": f.box, "manual": f.manual} for f in self.session.faces]

    def _number(self, i: int) -> int:
        """Face ``i``'s number on screen (1 = leftmost, :mod:`app.faces`)."""
        from app.faces import face_numbers

        numbers = face_numbers([f.box for f in self.session.faces])
        return numbers[i] if 0 <= i < len(numbers) else i + 1

    def _do_open_project(self, path: str, recovered: bool = False) -> None:
        """Open a project; ``recovered``: it is the autosave of a run that crashed (its edits are unsaved)."""
        from app.project import read_project
        from engine.images import read_exif
        from engine.session import EditSession

        data, extra = read_project(path)
        self._stop_refining()
        session = EditSession.from_dict(data, self.cgan, self.elegant)
        photo_path = extra.get("photo_path")
        self.exif = read_exif(photo_path) if isinstance(photo_path, str) and Path(photo_path).is_file() else None
        where = {"photo_path": extra.get("photo_path"), "project_path": extra.get("project_path")} if recovered else None
        self._start_session(session.photo, path=None, session=session, project=path, recovered=where)

    def _do_save_project(self, path: str, autosave: bool = False, extra: dict | None = None) -> None:
        from app.project import write_project

        data = self._need_session().to_dict()
        if self._parked:  # an undone face box: redoable edits of its face could not be replayed from the file
            data["ops"] = data["ops"][: data["cursor"]]
        try:
            write_project(path, data, extra)
        except OSError as exc:
            if not autosave:
                raise
            # a timer did this, not the user: a status line (each time it fails), never a modal box every minute
            log.warning("autosave to %s failed: %s", path, exc)
            self.notice.emit(f"Autosave failed ({exc}); save the project to keep the edits.")
            return
        self.saved.emit(str(path), autosave)

    def _do_export(self, path: str, quality: int = 92) -> None:
        from engine.images import save_image

        self._need_session()
        save_image(path, self.session.render_photo(), quality=quality, exif=self.exif)
        self.exported.emit(str(path))

    def _need_session(self):
        if self.session is None:
            from engine.errors import FacetError

            raise FacetError("no photo is open")
        return self.session

    def _do_add_face(self, box: tuple[float, float, float, float], token: int = 0, serial: int | None = None) -> None:
        """A face box the user drew: a new face, and a new step in the history (the redo tail is dropped)."""
        if self._stale(serial, token):
            return
        s = self._need_session()
        i, change = s.add_manual_face(box)
        s.drop_redo()
        self._discard(self.history.push(token, "face"))
        self._changed(change)
        self.facesChanged.emit({"faces": self._faces(), "serial": self.serial, "select": i})
        self.applied.emit(token, True)

    def _discard(self, dropped: list[tuple[int, str]]) -> None:
        """Entries a new step replaced: face boxes that were undone are gone for good."""
        for token, _kind in dropped:
            self._parked.pop(token, None)

    def _edit_failed(self, serial: int | None) -> None:
        """An edit the window pushed failed here: its push dropped the window's redo tail, so this drops it too."""
        if self.session is not None and serial in (None, self.serial):
            self.session.drop_redo()
            self._discard(self.history.cut())

    def _record(self, token: int, change) -> None:
        """An operation the session accepted, as a history entry (after the redo tail it replaced)."""
        self._discard(self.history.push(token, "op"))
        self._changed(change)

    # -- inversion and edits ------------------------------------------------------------------------
    def _do_invert(self, face: int, preset: str | None = None) -> None:
        """Give face ``face`` a code: the encoder's at once when it has none (its sliders edit within a second),
        then the preset's method refines it in the background (:mod:`app.refine`) and the edits replay on it."""
        from app.refine import Task
        from engine.progress import drive
        from engine.session import method_for_preset

        s = self._need_session()
        if not 0 <= face < len(s.faces):
            log.info("face %d was taken away before its inversion started", face)
            return
        if preset:
            self.preset = preset
        cgan = s.models.cgan
        if cgan is None:
            from engine.errors import FacetError

            raise FacetError("inverting a face needs a cGAN model bundle; none is loaded (File > Load model...)")
        method = method_for_preset(self.preset, cgan)
        if method == "encoder" or (not s.has_code(face) and self._can_invert_with("encoder")):
            self.refiner.cancel(face)  # a code made now supersedes a refinement asked for earlier
            self._changed(drive(s.invert_face_job(face, "encoder")))
        if method != "encoder":
            title = f"Refining face {self._number(face)} ({method})"
            self.refiner.start(Task(face, self.serial, title, s.inversion_job(face, method, steps=self.steps)))

    def _can_invert_with(self, method: str) -> bool:
        from engine.invert import METHODS

        cgan, spec = self.session.models.cgan, METHODS.get(method)
        return cgan is not None and spec is not None and all(cgan.has(role) for role in spec.needs)

    def _adopt_refined(self) -> None:
        """Refinements that ended: a finished one becomes its face's code (edits made meanwhile replay on it)."""
        for done in self.refiner.take_finished():
            if self.session is None or done.task.serial != self.serial:
                continue  # made for a document that has since been replaced
            if done.outcome == "done":
                self._dragging = self._in_drag  # mid-drag: a preview now, the full photo at the release
                self._changed(self.session.adopt_inversion(done.task.face, done.inversion))
                self._dragging = False
            elif done.outcome == "failed":
                self._report("refine", {}, done.error)

    def _settle_refinements(self) -> bool:
        """Wait for the refinements to end and adopt them (a brush or a completion starts from the refined code;
        Cancel stops them, and then the job too). True when there was one to wait for."""
        if not self.refiner.busy():
            return False
        self.refiner.wait()
        self._adopt_refined()
        return True

    def _stop_refining(self) -> None:
        """Stop the refinements before the models, the device or the document change under them."""
        self.refiner.cancel()
        self.refiner.wait()
        self._adopt_refined()

    def _ensure_code(self, face: int) -> None:
        s = self._need_session()
        if s.models.cgan is not None and not s.has_code(face):
            self._do_invert(face)
            if not s.has_code(face):  # no encoder to start from: the edit waits for the inversion itself
                self._settle_refinements()

    def _stale(self, serial: int | None, token: int) -> bool:
        """True (and the edit refused) when it was made for a document that has since been replaced."""
        if serial is None or serial == self.serial:
            return False
        self.applied.emit(token, False)
        self.notice.emit("An edit made for the previous photo was not applied to this one.")
        return True

    def _do_apply(self, op, token: int = 0, serial: int | None = None) -> None:
        from engine.ops import ApplyVector, ResetAttributes, SetAttribute

        if self._stale(serial, token):
            return
        if isinstance(op, SetAttribute | ApplyVector | ResetAttributes):
            self._ensure_code(op.face)
        self._dragging = self._in_drag = op.merge_key() is not None  # a slider drag: previews until the release
        self._record(token, self._need_session().apply(op))
        self._dragging = False
        self.applied.emit(token, True)

    def _do_apply_transfer(self, face: int, exemplar: str, attributes: tuple[str, ...], strength: float,
                           token: int = 0, serial: int | None = None) -> None:
        from engine.images import load_image
        from engine.ops import TransferFromExemplar
        from engine.transfer import check_no_face_swap

        if self._stale(serial, token):
            return
        s = self._need_session()
        if s.models.elegant is not None:  # (no model: the session says so below)
            check_no_face_swap(s.models.elegant, attributes)  # the panel does not offer them either
        key = (str(exemplar), Path(exemplar).stat().st_mtime if Path(exemplar).exists() else 0.0)
        ref = self._exemplar_refs.get(key)
        if ref is None or ref not in s.exemplars:  # detect + align each exemplar file once per session
            ref = self._exemplar_refs[key] = s.add_exemplar(load_image(exemplar))
        self._record(token, s.apply(TransferFromExemplar(face, ref, tuple(attributes), float(strength))))
        self.applied.emit(token, True)

    def _do_squash(self, token: int, merged: int, serial: int | None = None) -> None:
        """The window merged command ``merged`` into ``token`` (one slider drag): merge their operations too.

        When ``token``'s own request failed, ``merged`` is taken back as well: the window drops the command
        as a whole once it hears of the failure.
        """
        s, h = self._need_session(), self.history
        if serial not in (None, self.serial) or h.top() != merged or h.cursor != len(h.tokens):
            return  # ``merged`` failed (nothing to merge) or the document was replaced
        if h.cursor >= 2 and h.tokens[h.cursor - 2] == token:
            change = s.squash()
            if change.stack:
                h.pop()
            self._changed(change)
            return
        change = s.undo()
        s.drop_redo()
        h.pop()
        self._changed(change)

    def _do_undo(self, token: int, serial: int | None = None) -> None:
        """Undo the command ``token`` if it is the newest step here (one that failed never got here)."""
        if serial not in (None, self.serial):
            return
        s = self._need_session()
        kind = self.history.undo(token)
        if kind == "op":
            self._changed(s.undo())
        elif kind == "face":
            self._parked[token] = s.remove_last_face()
            self._after_faces_changed()

    def _do_redo(self, token: int, serial: int | None = None) -> None:
        if serial not in (None, self.serial):
            return
        s = self._need_session()
        kind = self.history.redo(token)
        if kind == "op":
            self._changed(s.redo())
        elif kind == "face":
            self._changed(s.restore_face(self._parked.pop(token)))
            self._after_faces_changed()

    def _after_faces_changed(self, select: int | None = None) -> None:
        self._render_photo = self._final = True
        self.facesChanged.emit({"faces": self._faces(), "serial": self.serial, "select": select})

    def _do_render(self, faces: list[int] | None = None) -> None:
        self._in_drag = False  # a slider was released
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
        self._first_preview(face, lambda: s.stroke_preview(face, mask, colors))
        op = self._job("Following the brush strokes", s.stroke_job(face, mask, colors, steps=steps), face)
        self.opReady.emit(op, "Brush strokes")

    def _do_complete(self, face: int, rgba, steps: int = 60) -> None:
        s = self._need_session()
        self._cancel.clear()
        mask, _ = s.strokes_from_photo(face, rgba)
        if not mask.any():
            raise ValueError("the completion mask does not touch the selected face")
        self._first_preview(face, lambda: s.complete_preview(face, mask))
        op = self._job("Completing the masked region", s.complete_job(face, mask, steps=steps), face)
        self.opReady.emit(op, "Complete region")

    def _first_preview(self, face: int, make) -> None:
        """A brush's or a completion's look before any optimisation (milliseconds), in the face strip at once;
        again on the refined code when the job first waits for a refinement to end."""
        self.jobPreview.emit(face, 2, make())
        if self._settle_refinements() and not self._cancel.is_set():
            self.jobPreview.emit(face, 2, make())
