"""The main window: canvas, docks, menus, shortcuts; it turns user gestures into worker requests.

It holds no model state: what it shows comes from the worker's signals, what the user does becomes
an undo command (edits) or a request (everything else). Documents (open/save/export/recent/autosave/
recovery) live in :mod:`app.documents`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app import dialogs, gc_main
from app.actions import ActionsMixin
from app.attributes import AttributePanel
from app.canvas import Canvas
from app.commands import EditCommand, drop_failed, restore
from app.documents import DocumentsMixin
from app.exemplars import ExemplarPanel
from app.faces import face_numbers
from app.paths import APP_NAME, exemplars_dir
from app.preferences import Preferences, list_value, settings
from app.strip import FaceStrip
from app.worker import WorkerHost
from engine.ops import ResetAttributes, plain_name
from engine.session_models import slider_op

log = logging.getLogger(__name__)
FIRST_RUN = (
    "<b>No editing model is loaded.</b> Facet Studio ships without trained models for now "
    "(resources/models has none yet). Train one with <code>facet train</code>, then use "
    "<i>File &gt; Load model…</i> and pick the bundle folder (the one with manifest.json)."
)


class MainWindow(ActionsMixin, DocumentsMixin, QMainWindow):
    def __init__(self, host: WorkerHost | None = None, prefs: Preferences | None = None) -> None:
        super().__init__()
        from PySide6.QtCore import QCoreApplication

        gc_main.install(QCoreApplication.instance())  # no garbage collection in the worker thread
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.prefs = prefs or Preferences.load()
        self.host = host or WorkerHost(self)
        self.worker = self.host.worker  # submit / cancel / pending only
        self.events = self.host.signals  # the worker's signals, delivered in this thread
        self.undo_stack = QUndoStack(self)
        self.models: dict[str, Any] = {"cgan": None, "elegant": None}
        self.faces: list[dict] = []
        self.numbers: list[int] = []  # the number each face is shown with (1 = leftmost)
        self.face_states: dict[int, dict] = {}
        self.current_face = 0
        self.has_session = False
        self.session_serial: int | None = None  # the worker's number for the open document
        self.routes: dict[str, str] = {}  # attribute → the model its slider edits ("cgan" | "elegant")
        self.dial_mode = False  # every slider dials ELEGANT (no cGAN loaded)
        self.auto_invert = True
        self.confirm_close = True
        self._manifest_dialogs: list[QWidget] = []
        self._build_widgets()
        self._build_actions()
        self._connect_worker()
        self.worker.submit("set_keep_face", keep=self.prefs.keep_face)
        self.init_documents()
        self.restore_layout()
        self.update_title()

    # -- construction ---------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = QLabel(FIRST_RUN)
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setStyleSheet("background: #fff4c2; color: #333; padding: 8px;")
        self.banner.hide()  # shown once the worker reports that no model could be loaded
        layout.addWidget(self.banner)
        self.canvas = Canvas()
        layout.addWidget(self.canvas, 1)
        row = QHBoxLayout()
        self.original_toggle = QCheckBox("Show original")
        self.original_toggle.setToolTip("Show the photo as it was opened, without the edits (\\)")
        self.original_toggle.toggled.connect(self.canvas.set_show_original)
        row.addWidget(self.original_toggle)
        row.addWidget(QLabel("Split:"))
        self.split = QSlider(Qt.Orientation.Horizontal)
        self.split.setRange(0, 100)
        self.split.setValue(100)
        self.split.setToolTip("Edited photo left of the line, original right of it")
        self.split.valueChanged.connect(lambda v: self.canvas.set_split(v / 100))
        row.addWidget(self.split, 1)
        layout.addLayout(row)
        self.setCentralWidget(central)

        self.attributes = AttributePanel()
        self.exemplars = ExemplarPanel()
        self.strip = FaceStrip()
        self.attr_dock = self._dock("Attributes", self.attributes, Qt.DockWidgetArea.RightDockWidgetArea)
        self.exemplar_dock = self._dock("Exemplars", self.exemplars, Qt.DockWidgetArea.RightDockWidgetArea)
        self.strip_dock = self._dock("Face", self.strip, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.attr_dock, self.exemplar_dock)
        self.attr_dock.raise_()

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job; nothing of it is kept")
        # clicking it must not take the keyboard focus: when it hides, Qt would pass the focus down the chain
        # (to the brush size box, which then swallows Ctrl+E)
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel_button.clicked.connect(lambda *_: self.cancel_job())
        self.zoom_label = QLabel("")
        for w in (self.progress, self.cancel_button):
            w.hide()
            self.statusBar().addPermanentWidget(w)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))

        self.attributes.valueChanged.connect(self.on_slider)
        self.attributes.released.connect(lambda _n: self.request_render())
        self.attributes.resetRequested.connect(self.on_reset)
        self.attributes.presetChanged.connect(self.on_preset)
        self.exemplars.transferRequested.connect(self.on_transfer)
        self.exemplars.foldersChanged.connect(lambda folders: settings().setValue("exemplar_folders", folders))
        self.canvas.faceClicked.connect(self.select_face)
        self.canvas.boxDrawn.connect(self.on_box_drawn)
        self.canvas.filesDropped.connect(self.open_dropped)
        self.exemplars.add_folder(exemplars_dir(), remember=False)
        for folder in list_value("exemplar_folders"):
            self.exemplars.add_folder(folder)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock:{title}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _connect_worker(self) -> None:
        w = self.events
        w.modelsChanged.connect(self.on_models)
        w.modelsChanged.connect(self.remember_models)
        w.modelLoaded.connect(self.show_manifest)
        w.sessionReady.connect(self.on_session)
        w.facesChanged.connect(self.on_faces_changed)
        w.faceUpdated.connect(self.on_face)
        w.photoRendered.connect(lambda photo, _final: self.canvas.set_result(photo))
        w.jobPreview.connect(self.on_job_preview)
        w.applied.connect(lambda token, ok: ok or drop_failed(self.undo_stack, self.host, token))
        w.opReady.connect(self.on_op_ready)
        w.jobStarted.connect(self.on_job_started)
        w.jobProgress.connect(self.on_job_progress)
        w.jobEnded.connect(self.on_job_ended)
        w.failed.connect(self.on_failed)
        w.notice.connect(lambda text: self.statusBar().showMessage(text, 15000))
        w.saved.connect(self.on_saved)
        w.exemplarsGenerated.connect(self.on_exemplars_generated)
        w.exported.connect(lambda path: self.statusBar().showMessage(f"Exported {path}", 8000))

    def cancel_job(self) -> None:
        """Called in the GUI thread: sets the worker's cancel flag directly (its event loop is busy)."""
        self.worker.cancel()
        self.statusBar().showMessage("Cancelling…")

    def _clean_changed(self, _clean: bool) -> None:
        self.update_title()

    # -- worker → window ----------------------------------------------------------------------------
    def on_models(self, info: dict) -> None:
        self.models = info
        self.statusBar().clearMessage()
        cgan, elegant = info.get("cgan"), info.get("elegant")
        self.banner.setVisible(cgan is None and elegant is None)
        # each slider edits with the model that edits its attribute best: the cGAN (the face's code) or an
        # ELEGANT dial of its prototypes (no inversion needed); engine.session_models.slider_op is the one rule
        self.routes = dict(info.get("routes") or {})
        self.dial_mode = bool(self.routes) and all(model == "elegant" for model in self.routes.values())
        limits = (cgan or {}).get("attribute_limits") or {}
        self.attributes.set_attributes(list(self.routes),  # an ELEGANT dial reaches ±1 (its prototypes)
                                       {n: limits.get(n, 1.0) for n, model in self.routes.items() if model == "cgan"})
        self.attributes.set_presets_available(cgan["presets"] if cgan else {})
        self.attributes.preset.setEnabled(cgan is not None)
        names = [f"{m['name']} ({m['family']}, {m['resolution']} px)" for m in (cgan, elegant) if m]
        text = "Model: " + ", ".join(names) + f" on {info.get('device')}" if names else "No model loaded."
        dialled = [plain_name(n) for n, model in self.routes.items() if model == "elegant"]
        if self.dial_mode:
            text += "\nNo cGAN model: the sliders dial ELEGANT prototypes."
        elif dialled:
            text += f"\nEdited by ELEGANT (no inversion needed): {', '.join(dialled)}."
        self.attributes.set_info(text)  # plain text: a model's name comes from a file
        self.exemplars.set_attributes(elegant["attributes"] if elegant else [],
                                      takes_pixels=bool(elegant and elegant.get("takes_pixels")),
                                      face_swapping=(elegant or {}).get("face_swapping") or [])

    def show_manifest(self, manifest: dict) -> None:
        dialog = dialogs.ManifestDialog(manifest, self)
        self._manifest_dialogs.append(dialog)
        dialog.show()

    def on_session(self, info: dict) -> None:
        self.has_session = True
        self.session_serial = info.get("serial")
        self.statusBar().clearMessage()
        self.face_states = {}
        self.keep_face_action.setChecked(bool(info.get("keep_face", True)))  # a project keeps its own setting
        recovered = info.get("recovered")
        if recovered is not None:  # an autosave: the document it was, with its edits still unsaved
            self.set_document(recovered.get("photo_path"), recovered.get("project_path"))
        elif not info.get("keep_path"):
            self.set_document(info.get("path"), info.get("project"))
        if not (info.get("keep_path") and self.canvas.has_photo()):
            self.canvas.set_photo(info["photo"])  # a new document (same photo: keep zoom and strokes)
        self.set_faces(info["faces"], 0)
        restore(self.undo_stack, self.host, info.get("ops", []), info.get("cursor", 0),
                clean=not info.get("keep_path") and recovered is None, tokens=info.get("tokens"),
                serial=self.session_serial)
        self.update_title()
        self.strip.clear()
        self.attributes.set_values(None)
        self.update_face_label()
        if not self.faces and not info.get("keep_path"):
            self.offer_face_box()
        elif self.auto_invert and self.models.get("cgan") and self.faces and not info.get("project"):
            self.worker.submit("invert", face=0, preset=self.attributes.current_preset())

    def set_faces(self, faces: list[dict], selected: int) -> None:
        self.faces = faces
        self.numbers = face_numbers([f["box"] for f in faces])
        self.current_face = min(selected, max(len(faces) - 1, 0))
        self.canvas.set_faces(faces, self.current_face)

    def face_name(self, i: int) -> str:
        """How face ``i`` (the session's index) is called on screen: its number counted from the left."""
        return f"Face {self.numbers[i]}" if 0 <= i < len(self.numbers) else f"Face {i + 1}"

    def offer_face_box(self) -> None:
        """No face was found: say so, and offer to draw one (nothing is edited until there is a face)."""
        name = Path(self.project_path or self.photo_path or "the photo").name
        self.statusBar().showMessage(f"No face found in {name}: draw a box around a face (Tools > Add Face Box).")
        if dialogs.ask(self, "No face found", f"No face was found in {name}. Draw a box around a face "
                       "(from the eyebrows to the chin) to edit it?"):
            self.set_tool("box")

    def need_face(self) -> bool:
        """True when there is a face to edit; otherwise says how to get one."""
        if self.faces:
            return True
        if self.has_session:
            self.statusBar().showMessage("This photo has no face to edit: draw a box around one first "
                                         "(Tools > Add Face Box).", 6000)
        return False

    def on_box_drawn(self, box: tuple) -> None:
        """A drawn face box is an undoable step (the worker adds the face; undo takes it out again)."""
        if self.has_session:
            self.push_edit("add_face", {"box": tuple(float(v) for v in box)}, "Add face box")
            self.set_tool("pan")

    def on_faces_changed(self, info: dict) -> None:
        if info.get("serial") != self.session_serial:
            return
        faces = info["faces"]
        self.face_states = {i: st for i, st in self.face_states.items() if i < len(faces)}
        select = info.get("select")
        self.set_faces(faces, self.current_face if select is None else select)
        if select is not None:
            self.select_face(self.current_face)  # a new box: its face is inverted and ready to edit
            return
        state = self.face_states.get(self.current_face)
        if state is not None:
            self.on_face(state)
        else:
            self.strip.clear()
            self.attributes.set_values(None)
        self.update_face_label()

    def on_face(self, state: dict) -> None:
        self.face_states[state["face"]] = state
        if state["face"] == self.current_face:
            self.strip.show_face(state)
            self.attributes.set_values(state.get("attributes"))
            self.update_face_label()

    def push_edit(self, kind: str, args: dict, text: str, merge_key: tuple | None = None) -> None:
        """An edit as an undo command; its request names the document, so the worker refuses it for another."""
        self.undo_stack.push(EditCommand(self.host, (kind, {**args, "serial": self.session_serial}), text, merge_key))

    def on_op_ready(self, op, label: str) -> None:
        self.canvas.clear_strokes()
        if op.face >= len(self.faces):  # its face box was undone while the job ran
            self.statusBar().showMessage(f"{label}: not applied, its face is gone (undone).", 6000)
            return
        self.push_edit("apply", {"op": op}, label)

    def on_job_started(self, title: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.statusBar().showMessage(title)

    def on_job_progress(self, step: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(step)
        self.statusBar().showMessage(f"{message}: {step}/{total}")

    def on_job_preview(self, face: int, slot: int, image) -> None:
        """A long job's intermediate result: the face strip shows it; the photo keeps the last real edit."""
        if face == self.current_face:
            self.strip.show_slot(slot, image)

    def on_job_ended(self, title: str, outcome: str) -> None:
        focus = self.focusWidget()
        self.progress.hide()
        self.cancel_button.hide()
        self.statusBar().showMessage(f"{title}: {outcome}", 5000)
        state = self.face_states.get(self.current_face)
        if state is not None:
            self.strip.show_face(state)  # its previews are gone; a finished job's result follows
        else:
            self.strip.show_slot(1, None, "not inverted")
            self.strip.show_slot(2, None)
        if focus is None or focus is self.cancel_button:
            self.canvas.setFocus()

    def on_failed(self, title: str, message: str) -> None:
        log.info("shown to the user: %s: %s", title, message)
        if message == "cancelled" or message.endswith(": cancelled"):  # a job the user stopped, not an error
            self.statusBar().showMessage(message, 5000)
            return
        dialogs.error(self, title, message)

    # -- window → worker ----------------------------------------------------------------------------
    def select_face(self, i: int) -> None:
        if not 0 <= i < len(self.faces):
            return
        self.current_face = i
        self.canvas.select_face(i)
        state = self.face_states.get(i)
        if state:
            self.on_face(state)
        self.update_face_label()
        if not (state or {}).get("inverted") and self.models.get("cgan") and self.auto_invert:
            self.worker.submit("invert", face=i, preset=self.attributes.current_preset())

    def update_face_label(self) -> None:
        if not self.has_session:
            self.attributes.set_face("No photo open")
            return
        if not self.faces:
            self.attributes.set_face("No face found: draw a box around one (Tools > Add Face Box)")
            return
        state = self.face_states.get(self.current_face, {})
        how = f"inverted with {state['method']}" if state.get("method") else "not inverted yet"
        self.attributes.set_face(f"{self.face_name(self.current_face)} of {len(self.faces)} — {how}")

    def on_slider(self, name: str, value: float, gesture: int) -> None:
        if not self.has_session or not self.need_face():
            self.attributes.set_values(None)
            return
        state = self.face_states.get(self.current_face) or {}
        values = state.get("attributes") or {}
        if name not in self.routes:
            return
        if self.routes[name] == "cgan" and values.get(name) is None:
            # a cGAN edit starts from the face's code: wait for it (the encoder's takes milliseconds) instead of
            # queueing edits behind it; ELEGANT-routed sliders need no code and edit at once
            self.attributes.set_values(state.get("attributes"))
            self.statusBar().showMessage(f"{self.face_name(self.current_face)} is not inverted yet — one moment.", 4000)
            if self.models.get("cgan") and self.progress.isHidden():
                self.worker.submit("invert", face=self.current_face, preset=self.attributes.current_preset())
            return
        self.worker.preview_side = self.canvas.preview_side()  # a plain int: read by the worker's next render
        op = slider_op(self.routes, self.current_face, name, value, gesture)
        self.push_edit("apply", {"op": op}, op.describe(), op.merge_key())

    def request_render(self) -> None:
        if self.has_session:
            self.worker.submit("render", faces=[self.current_face])

    def on_reset(self, name: str | None) -> None:
        if not self.has_session or not (self.models.get("cgan") or self.models.get("elegant")) or not self.need_face():
            return
        op = ResetAttributes(self.current_face, (name,) if name else ())
        self.push_edit("apply", {"op": op}, op.describe())

    def on_preset(self, preset: str) -> None:
        self.worker.submit("set_preset", preset=preset)
        state = self.face_states.get(self.current_face)
        if self.has_session and self.faces and state and state.get("inverted"):
            self.worker.submit("invert", face=self.current_face, preset=preset)

    def on_transfer(self, path: str, attributes: tuple, strength: float) -> None:
        if not self.has_session:
            dialogs.info(self, "No photo", "Open a photo first, then take attributes from an exemplar.")
            return
        if not self.need_face():
            return
        text = "Take " + ", ".join(plain_name(a) for a in attributes) + " from exemplar"
        args = {"face": self.current_face, "exemplar": path, "attributes": tuple(attributes), "strength": strength}
        self.push_edit("apply_transfer", args, text)
