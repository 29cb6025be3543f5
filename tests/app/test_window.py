"""The editor end to end, offscreen: open, slide, undo, transfer, brush, save/reopen, cancel, errors."""

from __future__ import annotations

import numpy as np
import pytest

from app.qimage import to_array
from engine.ops import SetAttribute, Stroke, TransferFromExemplar
from tests.app.helpers import answer_export, open_and_invert, settle, start_long_inversion

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore("propagateSizeHints", "QFont::", "This plugin does not support")]


def shown_photo(window) -> np.ndarray:
    return to_array(window.canvas.after.pixmap().toImage())[..., :3]


def test_first_run_says_no_model_is_loaded(make_window, qtbot, model_paths):
    window = make_window(models=False)
    window.show()
    assert not window.banner.isVisible()  # nothing known yet: models may still be loading
    with qtbot.waitSignal(window.events.modelsChanged, timeout=20000):
        window.load_startup_models()  # the default folder of this test has no models
    assert window.banner.isVisible() and "Load model" in window.banner.text()
    assert window.attributes.sliders == {}
    with qtbot.waitSignal(window.events.modelsChanged, timeout=20000):
        window.worker.submit("load_models", **model_paths)
    assert not window.banner.isVisible()
    assert list(window.attributes.sliders) == ["Black_Hair", "Blond_Hair", "Male", "Smiling"]
    assert window.attributes.info.text().count("tiny-") == 2


def test_open_slide_and_undo(make_window, qtbot, photo_file):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    session = window.worker.session
    original = session.photo.copy()
    assert window.canvas.has_photo() and len(window.canvas.boxes) == len(session.faces) >= 1
    assert window.windowTitle().startswith(photo_file.rsplit("/", 1)[-1])
    assert window.recent_files()[0].endswith(photo_file.rsplit("/", 1)[-1])
    assert [a.text() for a in window.recent_menu.actions()][0] == photo_file.rsplit("/", 1)[-1]
    fitted = window.canvas.zoom()
    window.canvas.zoom_by(1.25)
    assert window.canvas.zoom() == pytest.approx(fitted * 1.25)
    window.canvas.fit()
    assert window.canvas.zoom() == pytest.approx(fitted)

    slider = window.attributes.sliders["Smiling"]
    slider.setSliderDown(True)  # one drag: many values, one undo step
    with qtbot.waitSignal(window.events.photoRendered, timeout=10000):
        for v in (10, 40, 70, 90):
            slider.setValue(v)
    slider.setSliderDown(False)
    settle(qtbot, window)
    assert window.undo_stack.count() == 1
    assert [type(op) for op in session.ops] == [SetAttribute] and session.ops[0].value == pytest.approx(0.9)
    edited = shown_photo(window)
    assert edited.shape == original.shape and not np.array_equal(edited, original)
    assert window.windowTitle().split(" ")[0].endswith("*")

    with qtbot.waitSignal(window.events.photoRendered, timeout=10000):
        window.undo_action.trigger()
    assert session.cursor == 0
    np.testing.assert_array_equal(shown_photo(window), original)
    with qtbot.waitSignal(window.events.photoRendered, timeout=10000):
        window.redo_action.trigger()
    np.testing.assert_array_equal(shown_photo(window), edited)
    assert window.attributes.sliders["Smiling"].value() == 90


def test_keep_the_photos_own_face_toggles_how_cgan_edits_show(make_window, qtbot, photo_file):
    from engine import edit

    window = make_window()
    assert window.keep_face_action.isChecked()  # the default: edits change the photo's own face
    open_and_invert(qtbot, window, photo_file)
    session = window.worker.session
    assert session.keep_face
    window.attributes.sliders["Smiling"].setValue(-80)
    settle(qtbot, window)
    as_change = session.render_face(0).copy()
    with qtbot.waitSignal(window.events.photoRendered, timeout=10000):
        window.keep_face_action.trigger()  # off: the generator's face itself
    settle(qtbot, window)
    assert not session.keep_face and not window.prefs.keep_face
    generated = session._fit(edit.render(session.models.cgan, session.face_code(0)))
    np.testing.assert_array_equal(session.render_face(0), generated)
    assert not np.array_equal(as_change, generated)
    assert not make_window().keep_face_action.isChecked()  # remembered for the next window


def test_transfer_from_an_exemplar(make_window, qtbot, photo_file, tmp_path):
    from engine.images import save_image

    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    exemplar = save_image(tmp_path / "exemplar.png", np.full((40, 40, 3), (200, 180, 40), np.uint8))
    assert window.exemplars.add_paths([str(exemplar)]) == 1
    window.exemplars.list.setCurrentRow(window.exemplars.list.count() - 1)
    assert not window.exemplars.apply.isEnabled()  # nothing ticked yet
    window.exemplars.checks["Blond_Hair"].setChecked(True)
    window.exemplars.strength.setValue(80)
    with qtbot.waitSignal(window.events.applied, timeout=20000) as applied:
        window.exemplars.apply.click()
    assert applied.args[1] is True
    op = window.worker.session.ops[-1]
    assert isinstance(op, TransferFromExemplar) and op.attributes == ("Blond_Hair",) and op.strength == 0.8
    settle(qtbot, window)
    with qtbot.waitSignal(window.events.photoRendered, timeout=10000):
        window.undo_action.trigger()
    assert window.worker.session.cursor == 0


def test_brush_strokes_become_one_undoable_edit(make_window, qtbot, photo_file):
    from PySide6.QtCore import QPointF

    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.worker.submit("set_preset", preset="fast", steps=None)
    window.set_tool("brush")
    x0, y0, x1, y1 = window.faces[0]["box"]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    window.canvas.paint_line(QPointF(cx - 10, cy), QPointF(cx + 10, cy))
    assert window.canvas.strokes_rgba()[int(cy), int(cx), 3] == 255
    on_canvas, previews = [], []
    window.events.photoRendered.connect(lambda photo, final: on_canvas.append(final))
    window.events.jobPreview.connect(lambda face, slot, image: previews.append((face, slot)))
    with qtbot.waitSignal(window.events.opReady, timeout=60000):
        window.apply_brush()
    assert previews and set(previews) == {(0, 2)}  # the optimisation shows in the strip's "Current edit"…
    assert on_canvas == []  # …never on the photo, which shows only what an export would write
    qtbot.waitUntil(lambda: window.worker.pending() == 0 and window.undo_stack.count() == 1)
    qtbot.waitUntil(lambda: len(window.worker.session.ops) == 1)
    assert isinstance(window.worker.session.ops[0], Stroke)
    assert window.canvas.strokes_rgba() is None  # the layer is cleared once the edit is in


def test_save_and_reopen_restores_the_exact_state(make_window, qtbot, photo_file, tmp_path, monkeypatch):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    for name, v in (("Male", -60), ("Blond_Hair", 50), ("Smiling", 30)):
        window.attributes.sliders[name].setValue(v)
        settle(qtbot, window)
    window.undo_action.trigger()  # a redo tail must survive too
    qtbot.waitUntil(lambda: window.worker.session.cursor == 2)
    before = window.worker.session.render_photo()
    ops = list(window.worker.session.ops)
    project = str(tmp_path / "edit.facet")
    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.save_to(project)
    assert window.undo_stack.isClean() and window.project_path == project

    other = make_window()
    with qtbot.waitSignal(other.events.photoRendered, timeout=30000):
        other.open_path(project)
    restored = other.worker.session
    assert restored.ops == ops and restored.cursor == 2
    np.testing.assert_array_equal(restored.render_photo(), before)
    np.testing.assert_array_equal(shown_photo(other), before)
    assert other.undo_stack.count() == 3 and other.undo_stack.index() == 2 and other.undo_stack.isClean()
    assert other.attributes.sliders["Blond_Hair"].value() == 50
    with qtbot.waitSignal(other.events.photoRendered, timeout=10000):
        other.redo_action.trigger()
    assert restored.cursor == 3
    from engine.images import load_image

    answer_export(monkeypatch, str(tmp_path / "out"), ".webp")
    with qtbot.waitSignal(other.events.exported, timeout=20000) as exported:
        other.export_dialog()
    assert exported.args[0].endswith("out.webp")
    out = load_image(exported.args[0])
    assert out.shape == before.shape and np.abs(out.astype(int) - restored.render_photo()).mean() < 8


def test_cancel_a_running_inversion(make_window, qtbot, photo_file):
    window = make_window()
    start_long_inversion(qtbot, window, photo_file)
    assert window.cancel_button.isVisibleTo(window)
    with qtbot.waitSignal(window.events.jobEnded, timeout=10000) as ended:
        window.cancel_button.click()
    assert ended.args[1] == "cancelled"
    settle(qtbot, window)
    face = window.worker.session.faces[0]  # the last complete code stays: the encoder's, made at once
    assert face.method == "encoder" and face.code_version == 1
    # the worker carries on: a slider edit works
    with qtbot.waitSignal(window.events.applied, timeout=20000) as applied:
        window.attributes.sliders["Male"].setValue(60)
    assert applied.args[1] is True and window.worker.session.ops == [SetAttribute(0, "Male", 0.6, 0)]


def test_an_edit_that_fails_in_the_worker_leaves_the_undo_stack(make_window, qtbot, photo_file, tmp_path):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.attributes.sliders["Male"].setValue(50)
    settle(qtbot, window)
    broken = tmp_path / "exemplar.png"
    broken.write_bytes(b"not a png at all")
    with qtbot.waitSignal(window.events.applied, timeout=10000, check_params_cb=lambda _token, ok: not ok):
        window.on_transfer(str(broken), ("Smiling",), 1.0)
    qtbot.waitUntil(lambda: window.undo_stack.count() == 1)  # the failed transfer is gone, the slider edit stays
    assert window.undo_stack.index() == 1 and len(window.worker.session.ops) == 1


def test_sliders_wait_for_the_inversion(make_window, qtbot, photo_file):
    window = make_window()
    window.auto_invert = False
    with qtbot.waitSignal(window.events.sessionReady, timeout=30000):
        window.open_path(photo_file)
    with qtbot.waitSignal(window.events.faceUpdated, timeout=20000,
                          check_params_cb=lambda s: s["inverted"]):
        window.attributes.sliders["Male"].setValue(50)  # not inverted: no edit, an inversion instead
    assert window.undo_stack.count() == 0 and window.worker.session.ops == []


def test_a_corrupt_image_gives_an_error_and_the_app_carries_on(make_window, qtbot, dialogs, tmp_path, photo_file):
    window = make_window()
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 10)
    with qtbot.waitSignal(window.events.failed, timeout=10000):
        window.open_path(str(bad))
    assert dialogs and dialogs[-1][0] == "critical" and "broken.jpg" in dialogs[-1][2]
    assert not window.has_session
    open_and_invert(qtbot, window, photo_file)
    assert window.has_session and window.worker.session.has_code(0)


def test_autosave_then_recovery_after_a_crash(make_window, qtbot, dialogs, photo_file):
    from app.paths import autosave_path

    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.attributes.sliders["Smiling"].setValue(-70)
    qtbot.waitUntil(lambda: window.worker.pending() == 0 and len(window.worker.session.ops) == 1)
    with qtbot.waitSignal(window.events.saved, timeout=20000) as saved:
        window.autosave()
    assert saved.args == [str(autosave_path()), True] and autosave_path().exists()
    assert not window.undo_stack.isClean()  # an autosave is not a save
    expected = window.worker.session.render_photo()

    # the "crashed" run never marked a clean exit: the next start offers the autosave
    other = make_window()
    dialogs.answers["question"] = dialogs.answers["question"]  # Yes
    with qtbot.waitSignal(other.events.photoRendered, timeout=30000):
        assert other.check_recovery()
    assert any(kind == "question" and "Recover" in title for kind, title, _ in dialogs)
    np.testing.assert_array_equal(other.worker.session.render_photo(), expected)
    settle(qtbot, other)
    assert not other.undo_stack.isClean() and other.photo_path == photo_file  # recovered, still unsaved
    other.mark_clean_exit()
    assert not autosave_path().exists() and not other.check_recovery()


def test_crash_handler_saves_a_report(tmp_path, monkeypatch):
    import sys

    from app.main import install_crash_handler

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    hook = install_crash_handler(tmp_path, show_dialog=False)
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError as exc:
        hook(type(exc), exc, exc.__traceback__)
    reports = list(tmp_path.glob("crash-*.txt"))
    assert len(reports) == 1 and "boom in a slot" in reports[0].read_text()


def test_a_drawn_box_adds_a_face_that_can_be_edited_and_undone(make_window, qtbot, photo_file):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    n = len(window.faces)
    h, w = window.worker.session.photo.shape[:2]
    with qtbot.waitSignal(window.events.faceUpdated, timeout=20000,
                          check_params_cb=lambda s: s["face"] == n and s["inverted"]):
        window.canvas.boxDrawn.emit((w * 0.6, h * 0.6, w * 0.9, h * 0.9))  # selected and inverted at once
    assert len(window.faces) == n + 1 and window.faces[-1]["manual"]
    assert len(window.canvas.boxes) == n + 1
    assert window.canvas.selected == n and f"of {n + 1}" in window.attributes.face_label.text()
    assert window.undo_stack.count() == 1 and window.undo_stack.undoText() == "Add face box"
    with qtbot.waitSignal(window.events.applied, timeout=20000):
        window.attributes.sliders["Male"].setValue(-100)
    assert window.worker.session.ops[-1] == SetAttribute(n, "Male", -1.0, 0)
    settle(qtbot, window)

    window.undo_action.trigger()  # the edit…
    window.undo_action.trigger()  # …and the box
    settle(qtbot, window)
    assert len(window.worker.session.faces) == n and len(window.faces) == n and len(window.canvas.boxes) == n
    assert window.worker.session.cursor == 0 and window.current_face < n
    window.redo_action.trigger()
    window.redo_action.trigger()
    settle(qtbot, window)
    session = window.worker.session
    assert len(session.faces) == n + 1 and session.faces[n].code is not None  # back with its inversion
    assert session.cursor == 1 and len(window.canvas.boxes) == n + 1
    assert window.undo_stack.index() == 2 == len(window.worker.history.tokens)


def test_load_model_shows_its_manifest_and_generates_exemplars(make_window, qtbot, model_paths, monkeypatch,
                                                               dialogs):
    from PySide6.QtWidgets import QFileDialog

    window = make_window(models=False)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: model_paths["cgan"]))
    with qtbot.waitSignal(window.events.modelLoaded, timeout=20000):
        window.load_model_dialog()
    dialog = window._manifest_dialogs[-1]
    assert dialog.isVisible() and "tiny-cgan" in dialog.windowTitle()
    html = dialog.findChild(type(dialog.layout().itemAt(0).widget())).toHtml()
    assert "Blond hair" in html and "random weights" in html
    assert window.models["cgan"]["name"] == "tiny-cgan" and window.models["elegant"] is None
    window.about()
    assert dialogs[-1][0] == "about" and "random weights, no training data" in dialogs[-1][2]
    before = window.exemplars.list.count()
    with qtbot.waitSignal(window.events.exemplarsGenerated, timeout=20000):
        window.generate_exemplars()
    assert window.exemplars.list.count() == before + 2 * 2 * 4


def test_with_only_an_elegant_model_the_sliders_dial(make_window, qtbot, photo_file, model_paths):
    from engine.ops import Dial

    window = make_window(models=False)
    with qtbot.waitSignal(window.events.modelsChanged, timeout=20000):
        window.worker.submit("load_models", elegant=model_paths["elegant"])
    assert window.dial_mode and list(window.attributes.sliders) == ["Black_Hair", "Blond_Hair", "Male", "Smiling"]
    with qtbot.waitSignal(window.events.faceUpdated, timeout=30000):
        window.open_path(photo_file)
    original = window.worker.session.photo.copy()
    with qtbot.waitSignal(window.events.applied, timeout=20000):
        window.attributes.sliders["Smiling"].setValue(100)
    settle(qtbot, window)
    assert window.worker.session.ops == [Dial(0, "Smiling", 1.0, 0)]
    assert not np.array_equal(shown_photo(window), original)


def test_startup_loads_the_default_models_then_the_last_used(make_window, qtbot, model_paths, monkeypatch, tmp_path):
    import shutil
    from pathlib import Path

    monkeypatch.setenv("FACET_MODELS_DIR", str(Path(model_paths["cgan"]).parent))
    window = make_window(models=False)
    with qtbot.waitSignal(window.events.modelsChanged, timeout=20000) as changed:
        window.load_startup_models()
    assert changed.args[0]["cgan"]["path"] == model_paths["cgan"]
    assert changed.args[0]["elegant"]["path"] == model_paths["elegant"]
    # a model the user loaded last time wins over the default
    mine = shutil.copytree(model_paths["cgan"], tmp_path / "my-cgan")
    window.settings.setValue("models/cgan", str(mine))
    with qtbot.waitSignal(window.events.modelsChanged, timeout=20000) as changed:
        window.load_startup_models()
    assert changed.args[0]["cgan"]["path"] == str(mine)


# -- menus, crash reports ---------------------------------------------------------------------------------
def test_every_menu_action_runs(make_window, qtbot, monkeypatch, photo_file):
    """Each action calls its slot with the arguments the slot takes (PySide6 6.12 passes none to a C++ slot
    connected to ``triggered``: View > Show Original raised a TypeError)."""
    from PySide6.QtGui import QAction, QColor
    from PySide6.QtWidgets import QColorDialog, QFileDialog

    from app.preferences import PreferencesDialog

    for name in ("getOpenFileName", "getSaveFileName"):
        monkeypatch.setattr(QFileDialog, name, staticmethod(lambda *a, **k: ("", "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: ""))
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor()))
    monkeypatch.setattr(PreferencesDialog, "exec", lambda self: 0)
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.original_action.trigger()  # "\\"
    assert window.original_toggle.isChecked() and not window.canvas.after.isVisible()
    window.original_action.trigger()
    assert not window.original_toggle.isChecked() and window.canvas.after.isVisible()
    actions = [a for a in window.findChildren(QAction) if a.text() and not a.menu() and "Quit" not in a.text()]
    assert len(actions) > 20
    for action in actions:
        action.trigger()
    settle(qtbot, window)


@pytest.mark.qt_no_exception_capture
def test_a_crash_report_holds_the_traceback_of_an_error_raised_in_a_slot(tmp_path, monkeypatch, qtbot):
    import sys

    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QCheckBox

    from app.main import install_crash_handler

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    install_crash_handler(tmp_path, show_dialog=False)
    box, action = QCheckBox(), QAction("Show original")
    action.setCheckable(True)
    action.triggered.connect(box.setChecked)  # the wrong connection the app had: no traceback of its own
    action.trigger()
    report = next(tmp_path.glob("crash-*.txt")).read_text()
    assert "takes exactly one argument" in report
    assert "in test_a_crash_report_holds_the_traceback_of_an_error_raised_in_a_slot" in report
    assert "action.trigger()" in report and "PySide6 " in report


# -- long jobs and cancel -------------------------------------------------------------------------------
def test_the_canvas_shows_only_what_an_export_writes_while_a_job_runs_and_after_cancel(make_window, qtbot,
                                                                                         photo_file):
    from app.strip import FaceStrip

    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.attributes.sliders["Smiling"].setValue(80)
    settle(qtbot, window)
    edited = shown_photo(window)
    np.testing.assert_array_equal(edited, window.worker.session.render_photo())
    real = FaceStrip()
    real.show_face(window.face_states[0])
    reconstruction = real.images[1].pixmap().toImage()
    window.worker.submit("set_preset", preset="optimize", steps=100000)
    window.worker.submit("invert", face=0)  # a re-inversion: a preview every 10 steps
    strip_changed = lambda: window.strip.images[1].pixmap().toImage() != reconstruction  # noqa: E731
    qtbot.waitUntil(lambda: strip_changed() or not np.array_equal(shown_photo(window), edited), timeout=60000)
    np.testing.assert_array_equal(shown_photo(window), edited)  # the half-optimised face is not on the photo…
    assert strip_changed()  # …but in the strip's reconstruction
    with qtbot.waitSignal(window.events.jobEnded, timeout=10000):
        window.cancel_button.click()
    settle(qtbot, window)
    np.testing.assert_array_equal(shown_photo(window), edited)  # Cancel leaves the last complete result
    np.testing.assert_array_equal(shown_photo(window), window.worker.session.render_photo())
    assert window.strip.images[1].pixmap().toImage() == reconstruction  # and the strip the real one


def test_after_cancel_the_keyboard_focus_is_not_stuck_in_the_brush_size_box(make_window, qtbot, photo_file,
                                                                            monkeypatch):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from app.export_dialog import ExportDialog
    from tests.app.helpers import start_long_inversion

    asked = []
    monkeypatch.setattr(ExportDialog, "open", lambda self: asked.append(1))
    window = make_window()
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    start_long_inversion(qtbot, window, photo_file)
    window.canvas.setFocus()
    with qtbot.waitSignal(window.events.jobEnded, timeout=10000):
        QTest.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    focus = QApplication.focusWidget()
    assert focus is not None and focus is not window.brush_size and focus is not window.cancel_button
    QTest.keyClick(focus, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert asked == [1]  # Ctrl+E reached File > Export


# -- photos without a face ------------------------------------------------------------------------------
def test_a_photo_without_a_face_says_so_and_offers_to_draw_a_box(make_window, qtbot, dialogs, tmp_path):
    from engine.images import save_image

    yy, xx = np.mgrid[0:120, 0:160]
    flat = save_image(tmp_path / "wall.png", np.stack([xx, yy, xx + yy], 2).astype(np.uint8))
    window = make_window()
    with qtbot.waitSignal(window.events.sessionReady, timeout=30000) as ready:
        window.open_path(str(flat))
    assert ready.args[0]["faces"] == [] and window.worker.session.faces == []  # no guessed centre box
    assert any(kind == "question" and title == "No face found" for kind, title, _ in dialogs)
    assert window.canvas.mode == "box"  # answered Yes: drawing a face box
    assert "No face found" in window.attributes.face_label.text()
    window.attributes.sliders["Smiling"].setValue(60)  # nothing to edit: no edit, no inversion
    window.on_reset(None)
    settle(qtbot, window)
    assert window.undo_stack.count() == 0 and window.worker.session.ops == []
    assert not [d for d in dialogs if d[0] == "critical"]
    with qtbot.waitSignal(window.events.faceUpdated, timeout=20000, check_params_cb=lambda s: s["inverted"]):
        window.canvas.boxDrawn.emit((40.0, 20.0, 100.0, 90.0))
    assert len(window.worker.session.faces) == 1 and window.canvas.mode == "pan"


# -- faces are numbered left to right ---------------------------------------------------------------------
def test_faces_are_numbered_from_the_left(make_window, qtbot, dialogs, tmp_path):
    from app.faces import face_numbers
    from engine.images import save_image

    assert face_numbers([(200, 0, 300, 100), (0, 0, 50, 50), (100, 0, 150, 50)]) == [3, 1, 2]
    dialogs.answers["question"] = dialogs.answers["question"].No
    flat = save_image(tmp_path / "wall.png", np.full((120, 240, 3), 128, np.uint8))
    window = make_window()
    with qtbot.waitSignal(window.events.sessionReady, timeout=30000):
        window.open_path(str(flat))
    for box in ((150.0, 20.0, 220.0, 90.0), (10.0, 20.0, 80.0, 90.0)):  # right face first, then the left one
        with qtbot.waitSignal(window.events.faceUpdated, timeout=20000, check_params_cb=lambda s: s["inverted"]):
            window.canvas.boxDrawn.emit(box)
    labels = [item.childItems()[0].text() for item in window.canvas.boxes]
    assert labels == ["2 (manual)", "1 (manual)"]
    window.select_face(0)
    assert window.attributes.face_label.text().startswith("Face 2 of 2")


# -- text from files is text -----------------------------------------------------------------------------
def test_a_model_name_with_markup_is_shown_as_text(make_window, qtbot, model_paths, dialogs, tmp_path):
    import json
    import shutil

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QTextBrowser

    from app.dialogs import ManifestDialog

    hostile = '<img src="/dev/zero">'
    bundle = shutil.copytree(model_paths["cgan"], tmp_path / "cgan")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["name"] = hostile
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    window = make_window(models=False)
    with qtbot.waitSignal(window.events.modelsChanged, timeout=20000):
        window.worker.submit("load_models", cgan=str(bundle))
    info = window.attributes.info
    assert info.textFormat() == Qt.TextFormat.PlainText and hostile in info.text()
    window.about()
    assert "&lt;img" in dialogs[-1][2] and "<img" not in dialogs[-1][2]
    dialog = ManifestDialog(manifest)
    html = dialog.findChild(QTextBrowser).toHtml()
    assert "<img" not in html and "/dev/zero" in html
    window.on_failed("Cannot open the photo", f"{hostile}.jpg: not an image")
    assert "<img" not in dialogs[-1][2] and "&lt;img" in dialogs[-1][2]


def test_the_about_box_names_each_licence_once():
    from app.dialogs import licence_note

    celeba = "CelebA: non-commercial research only (the images may not be redistributed)"
    note = licence_note({"licence": celeba, "data": {"licence": celeba, "description": "CelebA faces"}})
    assert note.count(celeba) == 1


# -- the undo stack mirrors the worker's edit history ------------------------------------------------------
def mirrors(window) -> bool:
    from app.commands import commands

    stack, history, session = window.undo_stack, window.worker.history, window.worker.session
    ops = [t for t in history.tokens if history.kinds[t] == "op"]
    return ([c.token for c in commands(stack)] == history.tokens and stack.index() == history.cursor
            and len(ops) == len(session.ops))


def test_an_edit_that_fails_under_a_newer_one_is_taken_off_the_undo_stack(make_window, qtbot, photo_file, tmp_path):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    broken = tmp_path / "exemplar.png"
    broken.write_bytes(b"not a png at all")
    window.on_transfer(str(broken), ("Smiling",), 1.0)  # fails in the worker…
    window.attributes.sliders["Male"].setValue(50)  # …after this edit went on the stack above it
    settle(qtbot, window)
    assert window.undo_stack.count() == 1 and len(window.worker.session.ops) == 1 and mirrors(window)
    assert window.undo_stack.undoText() == "Male +0.50"


def test_undoing_an_edit_that_failed_undoes_nothing_else(make_window, qtbot, photo_file, tmp_path):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.attributes.sliders["Male"].setValue(50)
    settle(qtbot, window)
    broken = tmp_path / "exemplar.png"
    broken.write_bytes(b"not a png at all")
    window.on_transfer(str(broken), ("Smiling",), 1.0)
    window.undo_action.trigger()  # the user takes it back before hearing that it failed
    settle(qtbot, window)
    assert window.worker.session.cursor == 1  # the slider edit is still there, in both stacks
    assert window.undo_stack.count() == 1 and window.undo_stack.index() == 1 and mirrors(window)


def test_edits_made_while_a_face_box_is_added_stay_on_the_undo_stack(make_window, qtbot, photo_file):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    h, w = window.worker.session.photo.shape[:2]
    window.canvas.boxDrawn.emit((w * 0.6, h * 0.6, w * 0.9, h * 0.9))
    window.attributes.sliders["Male"].setValue(40)  # sent before the worker added the box
    window.attributes.sliders["Male"].setValue(70)
    settle(qtbot, window)
    assert len(window.worker.session.ops) == 2 and window.undo_stack.count() == 3 and mirrors(window)


# -- the first edit: the encoder's code at once, the preset's method in the background ---------------------
def gate_refinements(monkeypatch):
    """Hold every background refinement before its first optimiser step until the returned event is set."""
    import threading

    from engine.progress import Step
    from engine.session import EditSession

    gate = threading.Event()
    real = EditSession.inversion_job

    def gated(self, *args, **kwargs):
        job = real(self, *args, **kwargs)
        if (args[1:2] or [kwargs.get("method")])[0] == "encoder":
            return job  # the code a face gets at once

        def held():  # a step at a time, so that Cancel still stops it
            while not gate.wait(0.05):
                yield Step(0, 1, "held by the test")
            return (yield from job)

        return held()

    monkeypatch.setattr(EditSession, "inversion_job", gated)
    return gate


def test_sliders_edit_on_the_encoder_code_at_once_and_the_edit_survives_the_refinement(make_window, qtbot,
                                                                                       photo_file, monkeypatch):
    gate = gate_refinements(monkeypatch)
    window = make_window()
    window.auto_invert = False
    window.worker.submit("set_preset", preset="optimize", steps=5)  # random starts: surely another code
    with qtbot.waitSignal(window.events.sessionReady, timeout=30000):
        window.open_path(photo_file)
    with qtbot.waitSignal(window.events.faceUpdated, timeout=30000, check_params_cb=lambda s: s["inverted"]) as got:
        window.worker.submit("invert", face=0)
    assert got.args[0]["method"] == "encoder"  # the encoder's code, at once
    qtbot.waitUntil(lambda: not window.progress.isHidden())  # the refinement runs (held by the gate)
    session = window.worker.session
    np.testing.assert_array_equal(shown_photo(window), session.photo)  # the canvas keeps the photo meanwhile
    assert window.attributes.sliders["Smiling"].isEnabled()
    with qtbot.waitSignal(window.events.applied, timeout=20000) as applied:
        window.attributes.sliders["Smiling"].setValue(80)
    assert applied.args[1] is True and session.faces[0].method == "encoder"
    qtbot.waitUntil(lambda: not np.array_equal(shown_photo(window), session.photo))
    on_encoder = shown_photo(window)
    np.testing.assert_array_equal(on_encoder, session.render_photo())

    with qtbot.waitSignal(window.events.faceUpdated, timeout=30000, check_params_cb=lambda s: s["method"] == "optimize"):
        gate.set()
    settle(qtbot, window)
    assert session.ops == [SetAttribute(0, "Smiling", 0.8, 0)] and window.undo_stack.count() == 1  # it survived…
    assert session.face_code(0).y[session.models.cgan.attributes.index("Smiling")] == pytest.approx(0.8)
    shown = shown_photo(window)
    np.testing.assert_array_equal(shown, session.render_photo())  # …and is shown on the refined code
    assert not np.array_equal(shown, on_encoder)
    assert window.attributes.sliders["Smiling"].value() == 80 and window.progress.isHidden()


def test_cancel_keeps_the_encoder_code_on_the_canvas_and_in_the_export(make_window, qtbot, photo_file, monkeypatch,
                                                                       tmp_path):
    from engine.images import load_image

    gate_refinements(monkeypatch)  # never set: the refinement waits until it is cancelled
    window = make_window()
    window.attributes.set_preset("best")
    with qtbot.waitSignal(window.events.faceUpdated, timeout=30000, check_params_cb=lambda s: s["inverted"]):
        window.open_path(photo_file)
    qtbot.waitUntil(lambda: not window.progress.isHidden())  # pivotal tuning runs (held by the gate)
    with qtbot.waitSignal(window.events.applied, timeout=20000):
        window.attributes.sliders["Male"].setValue(-70)
    session = window.worker.session
    with qtbot.waitSignal(window.events.jobEnded, timeout=10000) as ended:
        window.cancel_button.click()
    assert ended.args[1] == "cancelled"
    settle(qtbot, window)
    assert session.faces[0].method == "encoder" and session.ops == [SetAttribute(0, "Male", -0.7, 0)]
    edited = shown_photo(window)
    assert not np.array_equal(edited, session.photo)
    np.testing.assert_array_equal(edited, session.render_photo())
    with qtbot.waitSignal(window.events.exported, timeout=20000):
        window.worker.submit("export", path=str(tmp_path / "out.png"))
    np.testing.assert_array_equal(load_image(tmp_path / "out.png"), edited)


def elegant_routed(model_paths, tmp_path, routes: dict[str, str]) -> str:
    """A copy of the tiny ELEGANT bundle whose manifest routes ``routes`` (name → model) as a measured one does."""
    import json
    import shutil

    folder = shutil.copytree(model_paths["elegant"], tmp_path / "elegant-routed")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sliders"] = routes
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return str(folder)


def test_elegant_routed_sliders_edit_before_the_inversion_and_cgan_routed_ones_wait(make_window, qtbot, photo_file,
                                                                                     model_paths, tmp_path):
    from engine.ops import Dial

    window = make_window(models=False)
    with qtbot.waitSignal(window.events.modelsChanged, timeout=20000):
        window.worker.submit("load_models", cgan=model_paths["cgan"],
                             elegant=elegant_routed(model_paths, tmp_path, {"Smiling": "elegant"}))
    assert window.routes == {"Black_Hair": "cgan", "Blond_Hair": "cgan", "Male": "cgan", "Smiling": "elegant"}
    window.auto_invert = False
    with qtbot.waitSignal(window.events.faceUpdated, timeout=30000):
        window.open_path(photo_file)
    sliders = window.attributes.sliders
    assert sliders["Smiling"].isEnabled() and not sliders["Male"].isEnabled()
    with qtbot.waitSignal(window.events.applied, timeout=20000) as applied:
        sliders["Smiling"].setValue(100)
    session = window.worker.session
    assert applied.args[1] is True and session.ops == [Dial(0, "Smiling", 1.0, 0)] and not session.has_code(0)
    with qtbot.waitSignal(window.events.faceUpdated, timeout=20000, check_params_cb=lambda s: s["inverted"]):
        sliders["Male"].setValue(50)  # waits: no edit, the face's inversion instead
    assert session.ops == [Dial(0, "Smiling", 1.0, 0)] and sliders["Male"].isEnabled()
    assert sliders["Smiling"].value() == 100


@pytest.mark.parametrize("tool", ["brush", "mask"])
def test_the_first_preview_of_a_brush_or_a_completion_comes_before_the_job(make_window, qtbot, photo_file, tool):
    from PySide6.QtCore import QPointF

    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.set_tool(tool)
    x0, y0, x1, y1 = window.faces[0]["box"]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    window.canvas.paint_line(QPointF(cx - 10, cy), QPointF(cx + 10, cy))
    seen = []
    window.events.jobPreview.connect(lambda face, slot, image: seen.append(("preview", slot, image.shape)))
    window.events.jobStarted.connect(lambda title: seen.append(("started",)))
    window.events.jobEnded.connect(lambda title, outcome: seen.append(("ended", outcome)))
    with qtbot.waitSignal(window.events.opReady, timeout=60000):
        window.apply_brush()
    r = window.worker.session.resolution
    assert seen[0] == ("preview", 2, (r, r, 3)) and seen[1] == ("started",)  # at once, then the optimiser
    assert seen[-1] == ("ended", "done")


def test_a_model_that_pastes_exemplar_pixels_says_so_in_the_exemplar_panel(make_window, qtbot, model_paths, tmp_path):
    from tests.engine.test_session_view import make_pixel_bundle

    window = make_window(models=False)
    with qtbot.waitSignal(window.events.modelsChanged, timeout=20000) as changed:
        window.worker.submit("load_models", **model_paths)
    assert changed.args[0]["cgan"]["takes_pixels"] is False and changed.args[0]["elegant"]["takes_pixels"] is False
    assert "pastes" not in window.exemplars.info.text()  # the tiny ELEGANT synthesises its edit
    with qtbot.waitSignal(window.events.modelsChanged, timeout=20000) as changed:
        window.worker.submit("load_models", elegant=str(make_pixel_bundle(tmp_path / "pixels")))
    assert changed.args[0]["elegant"]["takes_pixels"]
    assert "pastes the exemplar's own pixels" in window.exemplars.info.text()


def test_a_slider_reaches_as_far_as_the_models_attribute_limit(make_window, qtbot, model_paths, tmp_path):
    import json
    import shutil

    path = shutil.copytree(model_paths["cgan"], tmp_path / "limited")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["attribute_limits"] = {"Smiling": 2.5}
    (path / "manifest.json").write_text(json.dumps(manifest))
    window = make_window(models=False)
    with qtbot.waitSignal(window.events.modelsChanged, timeout=20000):
        window.worker.submit("load_models", cgan=str(path), elegant=model_paths["elegant"])
    smiling, male = window.attributes.sliders["Smiling"], window.attributes.sliders["Male"]
    assert (smiling.minimum(), smiling.maximum()) == (-250, 250) and "±2.5" in smiling.toolTip()
    assert (male.minimum(), male.maximum()) == (-100, 100) and "±" not in male.toolTip()
