"""The main window: canvas, docks, menus, shortcuts; it turns user gestures into worker requests.

It holds no model state: what it shows comes from the worker's signals, what the user does becomes
an undo command (edits) or a request (everything else). Documents (open/save/export/recent/autosave/
recovery) live in :mod:`app.documents`.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.attributes import AttributePanel
from app.canvas import Canvas
from app.commands import EditCommand, drop_failed, restore
from app.documents import DocumentsMixin
from app.exemplars import ExemplarPanel
from app.paths import APP_NAME, exemplars_dir
from app.preferences import Preferences, PreferencesDialog, list_value, settings
from app.strip import FaceStrip
from app.worker import WorkerHost
from engine.ops import ResetAttributes, SetAttribute, plain_name

log = logging.getLogger(__name__)
FIRST_RUN = (
    "<b>No editing model is loaded.</b> Facet Studio ships without trained models for now "
    "(resources/models has none yet). Train one with <code>facet train</code>, then use "
    "<i>File &gt; Load model…</i> and pick the bundle folder (the one with manifest.json)."
)


class MainWindow(DocumentsMixin, QMainWindow):
    def __init__(self, host: WorkerHost | None = None, prefs: Preferences | None = None) -> None:
        super().__init__()
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.prefs = prefs or Preferences.load()
        self.host = host or WorkerHost(self)
        self.worker = self.host.worker  # submit / cancel / pending only
        self.events = self.host.signals  # the worker's signals, delivered in this thread
        self.undo_stack = QUndoStack(self)
        self.models: dict[str, Any] = {"cgan": None, "elegant": None}
        self.faces: list[dict] = []
        self.face_states: dict[int, dict] = {}
        self.current_face = 0
        self.has_session = False
        self.auto_invert = True
        self.confirm_close = True
        self._manifest_dialogs: list[QWidget] = []
        self._build_widgets()
        self._build_actions()
        self._connect_worker()
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
        layout.addWidget(self.banner)
        self.canvas = Canvas()
        layout.addWidget(self.canvas, 1)
        row = QHBoxLayout()
        self.original_toggle = QCheckBox("Show original")
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
        self.cancel_button.clicked.connect(self.cancel_job)
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
        self.canvas.boxDrawn.connect(lambda box: self.worker.submit("add_face", box=box))
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

    def _action(self, menu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&Open…", self.open_dialog, K.Open)
        self.recent_menu = file.addMenu("Open &Recent")
        self._action(file, "Open &Project…", self.open_project_dialog, "Ctrl+Shift+O")
        file.addSeparator()
        self.save_action = self._action(file, "&Save Project", self.save_project, K.Save)
        self._action(file, "Save Project &As…", self.save_project_as, K.SaveAs)
        self.export_action = self._action(file, "&Export Edited Photo…", self.export_dialog, "Ctrl+E")
        file.addSeparator()
        self._action(file, "Load &Model…", self.load_model_dialog, "Ctrl+M")
        self._action(file, "P&references…", self.preferences_dialog, K.Preferences)
        file.addSeparator()
        self._action(file, "&Quit", self.close, K.Quit)

        edit = bar.addMenu("&Edit")
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(K.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence(K.Redo), QKeySequence("Ctrl+Y")])
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)
        edit.addSeparator()
        self._action(edit, "Reset &All Attributes", lambda: self.on_reset(None), "Ctrl+R")

        view = bar.addMenu("&View")
        self._action(view, "Zoom &In", lambda: self.canvas.zoom_by(1.25), K.ZoomIn)
        self._action(view, "Zoom &Out", lambda: self.canvas.zoom_by(0.8), K.ZoomOut)
        self._action(view, "&Fit to Window", self.canvas.fit, "Ctrl+0")
        self._action(view, "&Actual Size", self.canvas.actual_size, "Ctrl+1")
        self.original_action = self._action(view, "Show &Original", self.original_toggle.setChecked, "\\", True)
        self.original_toggle.toggled.connect(self.original_action.setChecked)
        boxes = self._action(view, "Show Face &Boxes", self.canvas.set_boxes_visible, None, True)
        boxes.setChecked(True)
        view.addSeparator()
        for dock in (self.attr_dock, self.exemplar_dock, self.strip_dock):
            view.addAction(dock.toggleViewAction())

        tools = bar.addMenu("&Tools")
        group = QActionGroup(self)
        self.tool_actions = {}
        for mode, text, key in (("pan", "&Pan / Select", "H"), ("brush", "Colour &Brush", "B"),
                                ("mask", "Completion &Mask", "M"), ("box", "Add &Face Box", "F")):
            a = self._action(tools, text, lambda _c=False, m=mode: self.set_tool(m), key, True)
            group.addAction(a)
            self.tool_actions[mode] = a
        self.tool_actions["pan"].setChecked(True)
        tools.addSeparator()
        self._action(tools, "Brush &Colour…", self.choose_brush_color)
        tools.addSeparator()
        self._action(tools, "&Generate Exemplar Faces", self.generate_exemplars)
        self.apply_brush_action = self._action(tools, "&Apply Brush", self.apply_brush, "Return")
        self._action(tools, "&Clear Brush", self.canvas.clear_strokes, "Escape")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Facet Studio", self.about)

        toolbar = QToolBar("Tools")
        toolbar.setObjectName("toolbar:tools")
        for a in self.tool_actions.values():
            toolbar.addAction(a)
        toolbar.addAction(self.apply_brush_action)
        toolbar.addWidget(QLabel(" Size "))
        self.brush_size = QSpinBox()
        self.brush_size.setRange(1, 200)
        self.brush_size.setValue(12)
        self.brush_size.valueChanged.connect(lambda v: self.canvas.set_brush(size=v))
        toolbar.addWidget(self.brush_size)
        toolbar.addSeparator()
        toolbar.addAction(self.undo_action)
        toolbar.addAction(self.redo_action)
        self.addToolBar(toolbar)
        self.undo_stack.cleanChanged.connect(self._clean_changed)

    def _connect_worker(self) -> None:
        w = self.events
        w.modelsChanged.connect(self.on_models)
        w.modelsChanged.connect(self.remember_models)
        w.modelLoaded.connect(self.show_manifest)
        w.sessionReady.connect(self.on_session)
        w.faceUpdated.connect(self.on_face)
        w.photoRendered.connect(lambda photo, _final: self.canvas.set_result(photo))
        w.applied.connect(lambda token, ok: ok or drop_failed(self.undo_stack, token))
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
        cgan, elegant = info.get("cgan"), info.get("elegant")
        self.banner.setVisible(cgan is None and elegant is None)
        self.attributes.set_attributes(cgan["attributes"] if cgan else [])
        self.attributes.set_presets_available(cgan["presets"] if cgan else {})
        names = [f"{m['name']} ({m['family']}, {m['resolution']} px)" for m in (cgan, elegant) if m]
        self.attributes.set_info("Model: " + ", ".join(names) + f" on {info.get('device')}" if names
                                 else "No cGAN model: attribute sliders need one (File &gt; Load model…).")
        self.exemplars.set_attributes(elegant["attributes"] if elegant else [])

    def show_manifest(self, manifest: dict) -> None:
        dialog = dialogs.ManifestDialog(manifest, self)
        self._manifest_dialogs.append(dialog)
        dialog.show()

    def on_session(self, info: dict) -> None:
        self.has_session = True
        self.statusBar().clearMessage()
        self.faces = info["faces"]
        self.face_states = {}
        if not info.get("keep_path"):
            self.set_document(info.get("path"), info.get("project"))
        if not (info.get("keep_path") and self.canvas.has_photo()):
            self.canvas.set_photo(info["photo"])  # a new document (same photo: keep zoom and strokes)
        self.canvas.set_faces(self.faces, 0)
        self.current_face = 0
        restore(self.undo_stack, self.host, info.get("ops", []), info.get("cursor", 0), clean=not info.get("keep_path"))
        self.strip.clear()
        self.attributes.set_values(None)
        self.update_face_label()
        if self.auto_invert and self.models.get("cgan") and self.faces and not info.get("project"):
            self.worker.submit("invert", face=0, preset=self.attributes.current_preset())

    def on_face(self, state: dict) -> None:
        self.face_states[state["face"]] = state
        if state["face"] == self.current_face:
            self.strip.show_face(state)
            self.attributes.set_values(state.get("attributes"))
            self.update_face_label()

    def on_op_ready(self, op, label: str) -> None:
        self.canvas.clear_strokes()
        self.undo_stack.push(EditCommand(self.host, ("apply", {"op": op}), label))

    def on_job_started(self, title: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.statusBar().showMessage(title)

    def on_job_progress(self, step: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(step)
        self.statusBar().showMessage(f"{message}: {step}/{total}")

    def on_job_ended(self, title: str, outcome: str) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.statusBar().showMessage(f"{title}: {outcome}", 5000)

    def on_failed(self, title: str, message: str) -> None:
        log.info("shown to the user: %s: %s", title, message)
        if "cancelled" in message:
            self.statusBar().showMessage(message, 5000)
            return
        dialogs.error(self, title, message)

    # -- window → worker ----------------------------------------------------------------------------
    def select_face(self, i: int) -> None:
        self.current_face = i
        self.canvas.select_face(i)
        state = self.face_states.get(i)
        if state:
            self.on_face(state)
        self.update_face_label()
        if (state is None or state.get("attributes") is None) and self.models.get("cgan") and self.auto_invert:
            self.worker.submit("invert", face=i, preset=self.attributes.current_preset())

    def update_face_label(self) -> None:
        if not self.has_session:
            self.attributes.set_face("No photo open")
            return
        state = self.face_states.get(self.current_face, {})
        how = f"inverted with {state['method']}" if state.get("method") else "not inverted yet"
        self.attributes.set_face(f"Face {self.current_face + 1} of {len(self.faces)} — {how}")

    def on_slider(self, name: str, value: float, gesture: int) -> None:
        if not self.has_session:
            return
        op = SetAttribute(self.current_face, name, value, gesture)
        self.undo_stack.push(EditCommand(self.host, ("apply", {"op": op}), op.describe(), op.merge_key()))

    def request_render(self) -> None:
        if self.has_session:
            self.worker.submit("render", faces=[self.current_face])

    def on_reset(self, name: str | None) -> None:
        if not self.has_session or not self.models.get("cgan"):
            return
        op = ResetAttributes(self.current_face, (name,) if name else ())
        self.undo_stack.push(EditCommand(self.host, ("apply", {"op": op}), op.describe()))

    def on_preset(self, preset: str) -> None:
        self.worker.submit("set_preset", preset=preset)
        state = self.face_states.get(self.current_face)
        if self.has_session and state and state.get("attributes") is not None:
            self.worker.submit("invert", face=self.current_face, preset=preset)

    def on_transfer(self, path: str, attributes: tuple, strength: float) -> None:
        if not self.has_session:
            dialogs.info(self, "No photo", "Open a photo first, then take attributes from an exemplar.")
            return
        text = "Take " + ", ".join(plain_name(a) for a in attributes) + " from exemplar"
        args = {"face": self.current_face, "exemplar": path, "attributes": tuple(attributes), "strength": strength}
        self.undo_stack.push(EditCommand(self.host, ("apply_transfer", args), text))

    def set_tool(self, mode: str) -> None:
        self.canvas.set_mode(mode)
        self.tool_actions[mode].setChecked(True)

    def choose_brush_color(self) -> None:
        color = QColorDialog.getColor(self.canvas.brush_color, self, "Brush colour")
        if color.isValid():
            self.canvas.set_brush(color=QColor(color))

    def apply_brush(self) -> None:
        rgba = self.canvas.strokes_rgba()
        if rgba is None or not self.has_session:
            self.statusBar().showMessage("Paint on the face first (Colour brush or Completion mask).", 5000)
            return
        kind = "complete" if self.canvas.mode == "mask" else "stroke"
        self.worker.submit(kind, face=self.current_face, rgba=rgba)

    def generate_exemplars(self) -> None:
        from app.paths import data_dir

        self.worker.submit("generate_exemplars", folder=str(data_dir() / "generated-exemplars"))

    def on_exemplars_generated(self, folder: str) -> None:
        self.exemplars.add_folder(folder)
        self.exemplar_dock.raise_()
        self.statusBar().showMessage(f"Generated exemplar faces in {folder}", 8000)

    def preferences_dialog(self) -> None:
        dialog = PreferencesDialog(self.prefs, self)
        if dialog.exec():
            old = self.prefs
            self.prefs = dialog.result_preferences()
            self.prefs.save()
            if self.prefs.device != old.device:
                self.worker.submit("set_device", device=self.prefs.device)
            self.configure_autosave()

    def about(self) -> None:
        from app.main import version

        notes = "".join(
            f"<li><b>{m['name']}</b> ({m['family']}): {dialogs.licence_note(m['manifest'])}</li>"
            for m in (self.models.get("cgan"), self.models.get("elegant")) if m
        ) or "<li>No model loaded.</li>"
        dialogs.QMessageBox.about(
            self, f"About {APP_NAME}",
            f"<h3>{APP_NAME} {version()}</h3><p>Edit the attributes of faces in your own photos with GAN "
            f"inversion and latent editing.</p><p>Models:</p><ul>{notes}</ul>"
            f"<p>Logs and crash reports: {self.log_dir()}</p>",
        )

    def log_dir(self) -> str:
        from app.paths import log_dir

        return str(log_dir())
