"""Menus, toolbar, shortcuts and the small actions behind them (tools, brush, preferences, about).

Mixed into :class:`app.window.MainWindow`; standard key sequences where Qt has them. Every action has a
tip (tooltip and status-bar line); Help > Keyboard Shortcuts lists them from here. The features behind
the Edit menu's blend, vectors, super-resolution and looks, and Help, live in :mod:`app.features`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence
from PySide6.QtWidgets import QColorDialog, QLabel, QSpinBox, QToolBar

from app import dialogs
from app.features import FeaturesMixin
from app.paths import APP_NAME
from app.preferences import PreferencesDialog


class ActionsMixin(FeaturesMixin):
    def _action(self, menu, text: str, slot, shortcut=None, checkable: bool = False, tip: str = "") -> QAction:
        """A menu action calling ``slot()``, or ``slot(checked)`` when it is checkable; ``tip`` is its tooltip
        and the status bar's line while the pointer is on it.

        The slot is never connected to ``triggered`` as it is: PySide6 6.12 calls a C++ slot such as
        ``QCheckBox.setChecked`` through the signal's argument-less overload (a TypeError), so every
        action calls its slot with exactly the arguments it takes.
        """
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        if checkable:
            action.triggered.connect(lambda *_: slot(action.isChecked()))
        else:
            action.triggered.connect(lambda *_: slot())
        menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        self._build_features()
        bar = self.menuBar()
        for title, tip, build in (
                ("&File", "Open, save and export photos and projects; models and preferences", self._build_file_menu),
                ("&Edit", "Undo, redo, and the edits beyond the sliders: blend, vectors, super-resolution, looks",
                 self._build_edit_menu),
                ("&View", "Zoom, the original photo, face boxes and the panels", self._build_view_menu),
                ("&Tools", "Brush, completion mask, face boxes and generated exemplars", self._build_tools_menu),
                ("&Help", "The user guide, the keyboard shortcuts and the models' licences", self._build_help_menu)):
            menu = bar.addMenu(title)
            menu.menuAction().setStatusTip(tip)
            build(menu)
        self._build_toolbar()
        self.undo_stack.cleanChanged.connect(self._clean_changed)

    def _build_file_menu(self, file) -> None:
        K = QKeySequence.StandardKey
        self._action(file, "&Open…", self.open_dialog, K.Open, tip="Open a photo or a project")
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.menuAction().setStatusTip("Open one of the photos or projects opened lately")
        self._action(file, "Open &Project…", self.open_project_dialog, "Ctrl+Shift+O",
                     tip="Open a saved project (.facet) with its edits")
        file.addSeparator()
        self.save_action = self._action(file, "&Save Project", self.save_project, K.Save,
                                        tip="Save the photo, its faces and every edit as a project")
        self._action(file, "Save Project &As…", self.save_project_as, K.SaveAs, tip="Save the project under another name")
        self.export_action = self._action(file, "&Export Edited Photo…", self.export_dialog, "Ctrl+E",
                                          tip="Write the edited photo (format, quality and size in the dialog)")
        file.addSeparator()
        self._action(file, "Load &Model…", self.load_model_dialog, "Ctrl+M",
                     tip="Load a model bundle (the folder with manifest.json)")
        self._action(file, "P&references…", self.preferences_dialog, QKeySequence.StandardKey.Preferences,
                     tip="Compute device, autosave and export quality")
        file.addSeparator()
        self._action(file, "&Quit", self.close, K.Quit, tip="Close Facet Studio (asks to save unsaved edits)")

    def _build_edit_menu(self, edit) -> None:
        K = QKeySequence.StandardKey
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(K.Undo)
        self.undo_action.setStatusTip("Take back the last edit")
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence(K.Redo), QKeySequence("Ctrl+Y")])
        self.redo_action.setStatusTip("Make the edit taken back again")
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)
        edit.addSeparator()
        self._action(edit, "Reset &All Attributes", lambda: self.on_reset(None), "Ctrl+R",
                     tip="Put every attribute of the selected face back as it was inverted")
        self.keep_face_action = self._action(edit, "Keep the Photo's Own &Face", self.set_keep_face, None, True,
                                             "Attribute edits change your face by what the generator changed, "
                                             "instead of showing the generator's version of the face")
        self.keep_face_action.setChecked(self.prefs.keep_face)
        edit.addSeparator()
        self.blend_action = self._action(edit, "&Blend with Another Face…", self.blend_dialog, "Ctrl+Shift+B",
                                         tip="Mix the selected face with another face of this photo or another photo")
        self._action(edit, "Attribute &Vectors", self.show_vectors, None,
                     tip="Move the selected face along an attribute's direction (the Attribute Vectors panel)")
        self.upscale_action = self._action(edit, "&Super-Resolve Small Face", self.upscale_face, "Ctrl+Shift+U",
                                           tip="Let the model draw a sharper version of a face that is small in the photo")
        looks = edit.addMenu("&Looks")
        looks.menuAction().setStatusTip("Save the selected face's edits as a look, or apply a saved look")
        self.build_looks_menu(looks)

    def _build_view_menu(self, view) -> None:
        K = QKeySequence.StandardKey
        self._action(view, "Zoom &In", lambda: self.canvas.zoom_by(1.25), K.ZoomIn, tip="Enlarge the photo")
        self._action(view, "Zoom &Out", lambda: self.canvas.zoom_by(0.8), K.ZoomOut, tip="Shrink the photo")
        self._action(view, "&Fit to Window", self.canvas.fit, "Ctrl+0", tip="Show the whole photo")
        self._action(view, "&Actual Size", self.canvas.actual_size, "Ctrl+1", tip="One photo pixel per screen pixel")
        self.original_action = self._action(view, "Show &Original", self.original_toggle.setChecked, "\\", True,
                                            "Show the photo as it was opened, without the edits")
        self.original_toggle.toggled.connect(lambda checked: self.original_action.setChecked(checked))
        boxes = self._action(view, "Show Face &Boxes", self.canvas.set_boxes_visible, None, True,
                             "Show the numbered boxes around the faces")
        boxes.setChecked(True)
        view.addSeparator()
        for dock in (self.attr_dock, self.exemplar_dock, self.vector_dock, self.strip_dock, self.history_dock):
            toggle = dock.toggleViewAction()
            toggle.setStatusTip(f"Show or hide the {dock.windowTitle()} panel")
            view.addAction(toggle)

    def _build_tools_menu(self, tools) -> None:
        group = QActionGroup(self)
        self.tool_actions = {}
        for mode, text, key, tip in (
                ("pan", "&Pan / Select", "H", "Drag to move the photo; click a face box to edit that face"),
                ("brush", "Colour &Brush", "B", "Paint where a colour of the face should change"),
                ("mask", "Completion &Mask", "M", "Paint over a part of the face to fill it in from the rest"),
                ("box", "Add &Face Box", "F", "Drag a box from the eyebrows to the chin around a face that was missed")):
            a = self._action(tools, text, lambda _checked, m=mode: self.set_tool(m), key, True, tip)
            group.addAction(a)
            self.tool_actions[mode] = a
        self.tool_actions["pan"].setChecked(True)
        tools.addSeparator()
        self._action(tools, "Brush &Colour…", self.choose_brush_color, tip="Pick the colour the brush paints")
        tools.addSeparator()
        self._action(tools, "&Generate Exemplar Faces", self.generate_exemplars,
                     tip="Make example faces with the loaded cGAN for the exemplar gallery")
        self.apply_brush_action = self._action(tools, "&Apply Brush", self.apply_brush, "Return",
                                               tip="Edit the face to follow the paint (brush) or fill it (mask)")
        self._action(tools, "&Clear Brush", self.canvas.clear_strokes, "Escape", tip="Remove the paint")

    def _build_help_menu(self, help_menu) -> None:
        self._action(help_menu, "User &Guide", self.show_guide, QKeySequence.StandardKey.HelpContents,
                     tip="How to use Facet Studio (shipped with the app, no internet needed)")
        self._action(help_menu, "&Keyboard Shortcuts", self.show_shortcuts, "Ctrl+/", tip="Every key the window knows")
        help_menu.addSeparator()
        self._action(help_menu, "&About Facet Studio", self.about, tip="Version, loaded models and their licences")

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Tools")
        toolbar.setObjectName("toolbar:tools")
        for a in self.tool_actions.values():
            toolbar.addAction(a)
        toolbar.addAction(self.apply_brush_action)
        toolbar.addWidget(QLabel(" Size "))
        self.brush_size = QSpinBox()
        self.brush_size.setRange(1, 200)
        self.brush_size.setValue(12)
        self.brush_size.setToolTip("Brush size in screen pixels")
        self.brush_size.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # never handed the focus by a hidden widget
        self.brush_size.valueChanged.connect(lambda v: self.canvas.set_brush(size=v))
        toolbar.addWidget(self.brush_size)
        toolbar.addSeparator()
        toolbar.addAction(self.undo_action)
        toolbar.addAction(self.redo_action)
        toolbar.toggleViewAction().setStatusTip("Show or hide the toolbar")
        self.addToolBar(toolbar)

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
