"""Menus, toolbar, shortcuts and the small actions behind them (tools, brush, preferences, about).

Mixed into :class:`app.window.MainWindow`; standard key sequences where Qt has them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence
from PySide6.QtWidgets import QColorDialog, QLabel, QSpinBox, QToolBar

from app import dialogs
from app.paths import APP_NAME
from app.preferences import PreferencesDialog


class ActionsMixin:
    def _action(self, menu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        """A menu action calling ``slot()``, or ``slot(checked)`` when it is checkable.

        The slot is never connected to ``triggered`` as it is: PySide6 6.12 calls a C++ slot such as
        ``QCheckBox.setChecked`` through the signal's argument-less overload (a TypeError), so every
        action calls its slot with exactly the arguments it takes.
        """
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if checkable:
            action.triggered.connect(lambda *_: slot(action.isChecked()))
        else:
            action.triggered.connect(lambda *_: slot())
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
        self.keep_face_action = self._action(edit, "Keep the Photo's Own &Face", self.set_keep_face, None, True)
        self.keep_face_action.setToolTip("Attribute edits change your face by what the generator changed, "
                                         "instead of showing the generator's version of the face")
        self.keep_face_action.setChecked(self.prefs.keep_face)

        view = bar.addMenu("&View")
        self._action(view, "Zoom &In", lambda: self.canvas.zoom_by(1.25), K.ZoomIn)
        self._action(view, "Zoom &Out", lambda: self.canvas.zoom_by(0.8), K.ZoomOut)
        self._action(view, "&Fit to Window", self.canvas.fit, "Ctrl+0")
        self._action(view, "&Actual Size", self.canvas.actual_size, "Ctrl+1")
        self.original_action = self._action(view, "Show &Original", self.original_toggle.setChecked, "\\", True)
        self.original_toggle.toggled.connect(lambda checked: self.original_action.setChecked(checked))
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
            a = self._action(tools, text, lambda _checked, m=mode: self.set_tool(m), key, True)
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
        self.brush_size.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # never handed the focus by a hidden widget
        self.brush_size.valueChanged.connect(lambda v: self.canvas.set_brush(size=v))
        toolbar.addWidget(self.brush_size)
        toolbar.addSeparator()
        toolbar.addAction(self.undo_action)
        toolbar.addAction(self.redo_action)
        self.addToolBar(toolbar)
        self.undo_stack.cleanChanged.connect(self._clean_changed)

    def set_tool(self, mode: str) -> None:
        self.canvas.set_mode(mode)
        self.tool_actions[mode].setChecked(True)

    def choose_brush_color(self) -> None:
        color = QColorDialog.getColor(self.canvas.brush_color, self, "Brush colour")
        if color.isValid():
            self.canvas.set_brush(color=QColor(color))

    def apply_brush(self) -> None:
        rgba = self.canvas.strokes_rgba()
        if self.has_session and not self.need_face():
            return
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

    def set_keep_face(self, keep: bool) -> None:
        self.prefs.keep_face = bool(keep)
        self.prefs.save()
        self.worker.submit("set_keep_face", keep=bool(keep))

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

        esc = dialogs.escape  # names and licences come from model files: shown as text, never as markup
        notes = "".join(
            f"<li><b>{esc(m['name'])}</b> ({esc(m['family'])}): {esc(dialogs.licence_note(m['manifest']))}</li>"
            for m in (self.models.get("cgan"), self.models.get("elegant")) if m
        ) or "<li>No model loaded.</li>"
        dialogs.QMessageBox.about(
            self, f"About {APP_NAME}",
            f"<h3>{APP_NAME} {version()}</h3><p>Edit the attributes of faces in your own photos with GAN "
            f"inversion and latent editing.</p><p>Models:</p><ul>{notes}</ul>"
            f"<p>Logs and crash reports: {esc(self.log_dir())}</p>",
        )

    def log_dir(self) -> str:
        from app.paths import log_dir

        return str(log_dir())
