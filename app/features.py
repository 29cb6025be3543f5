"""The window's engine features beyond sliders and exemplars: blending with another face, attribute vectors,
super-resolution, looks, the history panel, the remembered quality preset, and Help.

Mixed into :class:`app.window.MainWindow` through :class:`app.actions.ActionsMixin` (which builds the menus);
uses the window's worker, undo stack, faces and status bar. Every edit made here is an undo command, as a
slider move is: blends and vectors are operations built here, super-resolution comes back from the worker
as an operation (``opReady``), and a look is its operations pushed one after the other.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMenu, QUndoView

from app import dialogs
from app.blend import BlendDialog
from app.feature_requests import BLEND_JOB
from app.help import EmptyHint, GuideWindow, ShortcutsDialog
from app.paths import data_dir, looks_dir, user_exemplars_dir
from app.vectors import VectorPanel
from engine.errors import FacetError
from engine.looks import Look, delete_look, list_looks, load_look, look_ops, save_look
from engine.ops import ApplyVector, Interpolate, TransferFromExemplar, plain_name

LOOK_STAGING = "look-staging"  # where the worker writes exemplars that have no file, while a look is saved


class FeaturesMixin:
    # -- construction (before the menus, which list the docks) ------------------------------------------
    def _build_features(self) -> None:
        self.history_view = QUndoView(self.undo_stack)
        self.history_view.setEmptyLabel("The photo as opened")
        self.history_view.setToolTip("Every edit, oldest first: click one to go back to it (Undo / Redo move by one)")
        self.history_dock = self._dock("History", self.history_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self.vectors = VectorPanel()
        self.vector_dock = self._dock("Attribute Vectors", self.vectors, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.exemplar_dock, self.vector_dock)
        self.attr_dock.raise_()
        self.vectors.applyRequested.connect(self.apply_vector)
        self.canvas.setStatusTip("The photo as it will be exported: click a face box to edit that face")
        self.empty_hint = EmptyHint(self.canvas)
        self.blend_window: BlendDialog | None = None
        self.guide_window: GuideWindow | None = None
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.events.sessionReady.connect(lambda _info: self.empty_hint.hide())
        # queued: after the window's own on_session (connected later) has taken the new document's faces
        self.events.sessionReady.connect(lambda _info: self.reset_blend(), Qt.ConnectionType.QueuedConnection)
        self.events.modelsChanged.connect(self._feature_models)
        self.events.replied.connect(self.on_replied)
        self.events.jobEnded.connect(self._blend_job_ended)
        self.canvas.faceClicked.connect(lambda _i: self.reset_blend())
        self.exemplars.keep_folder = user_exemplars_dir()  # added faces are copied here and come back next time
        self.exemplars.add_folder(user_exemplars_dir(), remember=False)
        self.attributes.presetChanged.connect(self.remember_quality)
        if self.attributes.current_preset() != self.prefs.quality:
            self.attributes.set_preset(self.prefs.quality)  # the worker hears of it through on_preset

    def _feature_models(self, info: dict) -> None:
        cgan = info.get("cgan")
        self.vectors.set_attributes(cgan["attributes"] if cgan else [])

    def remember_quality(self, preset: str) -> None:
        if preset and preset != self.prefs.quality:
            self.prefs.quality = preset
            self.prefs.save()

    def on_replied(self, what: str, value) -> None:
        if what == "blend_target":
            if self.blend_window is not None and value.get("serial") == self.session_serial:
                self.blend_window.set_target(value)
        elif what == "look":
            self.store_look(value)

    def _editable(self, what: str, cgan: bool = True) -> bool:
        """True when the selected face can take this edit; otherwise says why in the status bar or a box."""
        if not self.has_session:
            self.statusBar().showMessage(f"Open a photo first, then {what}.", 6000)
            return False
        if not self.need_face():
            return False
        if cgan and not self.models.get("cgan"):
            dialogs.info(self, "No cGAN model", f"To {what}, load a cGAN model (File > Load Model…).")
            return False
        return True

    # -- blend with another face --------------------------------------------------------------------------
    def blend_dialog(self) -> None:
        if not self._editable("blend faces"):
            return
        if self.blend_window is None:
            self.blend_window = BlendDialog(self)
            self.blend_window.targetRequested.connect(self.request_blend_target)
            self.blend_window.blendMoved.connect(self.on_blend)
            self.blend_window.released.connect(self.request_render)
        self.reset_blend()
        self.blend_window.show()
        self.blend_window.raise_()

    def reset_blend(self) -> None:
        """The selected face or the document changed: the blend window starts over for it."""
        if self.blend_window is None:
            return
        target = self.blend_window.target
        if target is not None and target["serial"] == self.session_serial and target["face"] == self.current_face:
            return
        others = sorted((self.numbers[i], i) for i in range(len(self.faces)) if i != self.current_face)
        current = self.face_name(self.current_face) if self.has_session and self.faces else ""
        self.blend_window.set_faces(current, [(i, self.face_name(i)) for _n, i in others])

    def request_blend_target(self, other: int | None, path: str | None) -> None:
        self.worker.submit("blend_target", face=self.current_face, other=other, path=path, serial=self.session_serial)

    def _blend_job_ended(self, title: str, outcome: str) -> None:
        """The other face's inversion was cancelled or failed: the blend window says so, and waits for a face."""
        if self.blend_window is not None and outcome != "done" and title.endswith(BLEND_JOB):
            self.blend_window.clear_target(f"The other face was not inverted ({outcome}): pick it again.")

    def on_blend(self, t: float, gesture: int) -> None:
        target = self.blend_window.target if self.blend_window is not None else None
        if target is None or target["serial"] != self.session_serial or target["face"] >= len(self.faces):
            return
        self.worker.preview_side = self.canvas.preview_side()
        op = Interpolate(target["face"], target["z"], target["y"], t, target["source"], gesture)
        self.push_edit("apply", {"op": op}, op.describe(), op.merge_key())

    # -- attribute vectors and super-resolution -----------------------------------------------------------
    def show_vectors(self) -> None:
        self.vector_dock.show()
        self.vector_dock.raise_()

    def apply_vector(self, name: str, strength: float) -> None:
        if self._editable("move a face along an attribute vector"):
            op = ApplyVector(self.current_face, name, float(strength))
            self.push_edit("apply", {"op": op}, op.describe())

    def upscale_face(self) -> None:
        if self._editable("super-resolve a face"):
            self.worker.submit("upscale", face=self.current_face, serial=self.session_serial)

    # -- looks --------------------------------------------------------------------------------------------
    def build_looks_menu(self, menu: QMenu) -> None:
        self.looks_menu = menu
        self.save_look_action = self._action(menu, "&Save Look…", self.save_look_dialog, None, False,
                                             "Save the selected face's slider, vector and exemplar edits as a look")
        menu.addSeparator()
        self.look_actions: list = []
        self.delete_looks_menu = menu.addMenu("&Delete Look")
        self.delete_looks_menu.menuAction().setStatusTip("Remove a saved look")
        self.rebuild_looks_menu()

    def rebuild_looks_menu(self) -> None:
        for action in self.look_actions:
            self.looks_menu.removeAction(action)
            action.deleteLater()
        self.look_actions = []
        self.delete_looks_menu.clear()
        before = self.delete_looks_menu.menuAction()
        for name, path in list_looks(looks_dir()):
            action = self._action(self.looks_menu, name.replace("&", "&&"), lambda p=path: self.apply_look(p), None,
                                  False, f"Apply the look “{name}” to the selected face")
            self.looks_menu.insertAction(before, action)
            self.look_actions.append(action)
            self._action(self.delete_looks_menu, name.replace("&", "&&"), lambda p=path, n=name: self.remove_look(p, n),
                         None, False, f"Delete the saved look “{name}”")
        self.delete_looks_menu.setEnabled(bool(self.look_actions))

    def save_look_dialog(self) -> None:
        """Ask for the look's name (window-modal, not blocking); the worker then captures the face's edits."""
        if not self._editable("save a look", cgan=False):
            return
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Save look")
        dialog.setLabelText("A name for the selected face's look:")
        dialog.setToolTip("The look keeps this face's slider, vector and exemplar edits under this name")
        face = self.current_face
        dialog.textValueSelected.connect(lambda name: self.capture_look(face, name))
        dialog.finished.connect(lambda _result: dialog.deleteLater())
        self.look_name_dialog = dialog
        dialog.open()

    def capture_look(self, face: int, name: str) -> None:
        name = name.strip()
        if not name or face >= len(self.faces):
            return
        if any(n == name for n, _ in list_looks(looks_dir())) and not dialogs.ask(
                self, "Replace the look?", f"A look called “{name}” exists. Replace it?"):
            return
        staging = data_dir() / LOOK_STAGING
        shutil.rmtree(staging, ignore_errors=True)
        self.worker.submit("capture_look", face=face, name=name, staging=str(staging))

    def store_look(self, look: Look) -> None:
        """The worker captured a look: save it (with copies of its exemplars) and list it in the menu."""
        try:
            if look.is_empty():
                self.statusBar().showMessage(f"{self.face_name(self.current_face)} has no slider, vector or "
                                             "exemplar edits to keep as a look.", 8000)
                return
            save_look(looks_dir(), look)
        except (FacetError, OSError) as exc:
            dialogs.error(self, "Cannot save the look", str(exc))
            return
        finally:
            shutil.rmtree(data_dir() / LOOK_STAGING, ignore_errors=True)
        self.rebuild_looks_menu()
        self.statusBar().showMessage(f"Saved the look “{look.name}”: Edit > Looks applies it to any face.", 8000)

    def apply_look(self, path: str | Path) -> None:
        """Each of the look's operations becomes an undo step on the selected face."""
        if not self._editable("apply a look", cgan=False):
            return
        try:
            look = load_look(path)
            self._check_look(look)
        except FacetError as exc:
            dialogs.error(self, "Cannot apply the look", str(exc))
            return
        face = self.current_face
        for op in look_ops(look, face, exemplar_ref=lambda exemplar: exemplar):
            text = f"Look “{look.name}”: {op.describe()}"
            if isinstance(op, TransferFromExemplar):
                self.push_edit("apply_transfer", {"face": face, "exemplar": op.exemplar_ref,
                                                  "attributes": op.attributes, "strength": op.strength}, text)
            else:
                self.push_edit("apply", {"op": op}, text)

    def _check_look(self, look: Look) -> None:
        """Refuse, in one message, a look that needs attributes the loaded models do not have."""
        cgan, elegant = self.models.get("cgan"), self.models.get("elegant")
        known = {"cgan": set(cgan["attributes"]) if cgan else set(), "elegant": set(elegant["attributes"]) if elegant else set()}
        needs = [(n, "cgan") for n in (*look.attributes, *look.vectors)] + [(n, "elegant") for n in look.dials]
        needs += [(n, "elegant") for t in look.transfers for n in t.attributes]
        missing = sorted({plain_name(n) for n, family in needs if n not in known[family]})
        if missing:
            raise FacetError(f"the look “{look.name}” edits {', '.join(missing)}, which the loaded models do not")
        swaps = sorted({plain_name(n) for t in look.transfers for n in t.attributes
                        if n in ((elegant or {}).get("face_swapping") or [])})
        if swaps:
            raise FacetError(f"the look “{look.name}” takes {', '.join(swaps)} from another face, which the loaded "
                             "ELEGANT model would do by pasting that face: load a model that synthesises its edit")

    def remove_look(self, path: Path, name: str) -> None:
        if dialogs.ask(self, "Delete the look?", f"Delete the saved look “{name}”?"):
            try:
                delete_look(path)
            except OSError as exc:
                dialogs.error(self, "Cannot delete the look", f"{path.parent}: {exc}")
            self.rebuild_looks_menu()

    # -- help ---------------------------------------------------------------------------------------------
    def show_guide(self) -> None:
        if self.guide_window is None:
            self.guide_window = GuideWindow(self)
        self.guide_window.show()
        self.guide_window.raise_()

    def show_shortcuts(self) -> None:
        if self.shortcuts_dialog is not None:
            self.shortcuts_dialog.close()
            self.shortcuts_dialog.deleteLater()
        self.shortcuts_dialog = ShortcutsDialog(self)  # made now: it lists the actions as they are
        self.shortcuts_dialog.show()
