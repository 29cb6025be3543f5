"""The editor end to end, offscreen: open, slide, undo, transfer, brush, save/reopen, cancel, errors."""

from __future__ import annotations

import numpy as np
import pytest

from app.qimage import to_array
from engine.ops import SetAttribute, Stroke, TransferFromExemplar
from tests.app.helpers import open_and_invert, settle, start_long_inversion

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
    streamed = []
    window.events.photoRendered.connect(lambda photo, final: streamed.append(final))
    with qtbot.waitSignal(window.events.opReady, timeout=60000):
        window.apply_brush()
    assert False in streamed  # intermediate previews reached the canvas while it optimised
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
    from PySide6.QtWidgets import QFileDialog

    from engine.images import load_image

    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(tmp_path / "out"), "WebP (*.webp)")))
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
    assert not window.worker.session.has_code(0)
    # the worker carries on: a fast inversion and a slider edit still work
    window.worker.submit("set_preset", preset="fast", steps=None)
    with qtbot.waitSignal(window.events.faceUpdated, timeout=20000,
                          check_params_cb=lambda s: s["attributes"] is not None):
        window.attributes.sliders["Male"].setValue(50)
    with qtbot.waitSignal(window.events.applied, timeout=20000) as applied:
        window.attributes.sliders["Male"].setValue(60)
    assert applied.args[1] is True and window.worker.session.has_code(0)


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
                          check_params_cb=lambda s: s["attributes"] is not None):
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


def test_a_drawn_box_adds_a_face_that_can_be_edited(make_window, qtbot, photo_file):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    n = len(window.faces)
    h, w = window.worker.session.photo.shape[:2]
    with qtbot.waitSignal(window.events.sessionReady, timeout=20000):
        window.canvas.boxDrawn.emit((w * 0.6, h * 0.6, w * 0.9, h * 0.9))
    assert len(window.faces) == n + 1 and window.faces[-1]["manual"]
    assert len(window.canvas.boxes) == n + 1
    with qtbot.waitSignal(window.events.faceUpdated, timeout=20000,
                          check_params_cb=lambda s: s["face"] == n and s["attributes"] is not None):
        window.select_face(n)  # not inverted yet: selecting it inverts it
    assert window.canvas.selected == n and f"Face {n + 1} of {n + 1}" in window.attributes.face_label.text()
    with qtbot.waitSignal(window.events.applied, timeout=20000):
        window.attributes.sliders["Male"].setValue(-100)
    assert window.worker.session.ops[-1] == SetAttribute(n, "Male", -1.0, 0)


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
