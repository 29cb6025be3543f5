"""The engine's features in the window: blend, attribute vectors, super-resolution, history, looks, kept
exemplars, the remembered quality, export options, and Help (guide, tooltips, shortcuts, the empty canvas)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QFileDialog,
    QHeaderView,
    QLineEdit,
    QScrollBar,
    QTabBar,
    QWidget,
)

from app.paths import RESOURCES, looks_dir, user_exemplars_dir
from engine.images import load_image, save_image
from engine.ops import ApplyVector, Interpolate, Upscale
from tests.app.helpers import open_and_invert, settle, slide

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore("propagateSizeHints", "QFont::", "This plugin does not support")]
EXEMPLAR = RESOURCES / "exemplars" / "Eyeglasses (yes).png"


@pytest.fixture
def mirrored_photo(photo_file, tmp_path) -> str:
    """The sample photo flipped left to right: another photo with a face in it."""
    return str(save_image(tmp_path / "mirrored.png", np.ascontiguousarray(load_image(photo_file)[:, ::-1])))


def edit_ops(window) -> list[dict]:
    s = window.worker.session
    return [op.to_dict() for op in s.ops[: s.cursor]]


# -- blend, vectors, super-resolution: undoable edits ---------------------------------------------------------
def test_blending_with_a_face_from_another_photo_is_one_undoable_step(make_window, qtbot, photo_file,
                                                                      mirrored_photo, monkeypatch):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.blend_dialog()
    blend = window.blend_window
    assert blend.isVisible() and not blend.slider.isEnabled()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (mirrored_photo, "")))
    with qtbot.waitSignal(window.events.replied, timeout=30000, check_params_cb=lambda what, _v: what == "blend_target"):
        blend.photo_button.click()
    assert blend.slider.isEnabled() and "mirrored.png" in blend.status.text()
    before = window.worker.session.render_photo()
    blend.slider.setSliderDown(True)  # one drag, many values: one step
    for v in (20, 35, 50):
        blend.slider.setValue(v)
    blend.slider.setSliderDown(False)
    settle(qtbot, window)
    session = window.worker.session
    assert window.undo_stack.count() == 1 and len(session.ops) == 1
    op = session.ops[0]
    assert isinstance(op, Interpolate) and op.t == pytest.approx(0.5) and op.source == "mirrored.png"
    assert window.undo_stack.text(0) == "Blend with mirrored.png 50%"
    base = session.faces[0].code
    np.testing.assert_allclose(session.face_code(0).z, (base.z + np.asarray(op.z)) / 2, atol=1e-5)  # half way
    window.undo_action.trigger()
    settle(qtbot, window)
    assert session.cursor == 0
    np.testing.assert_array_equal(session.face_code(0).z, base.z)
    np.testing.assert_array_equal(session.render_photo(), before)
    open_and_invert(qtbot, window, mirrored_photo)  # another document: the blend starts over for it
    assert blend.target is None and not blend.slider.isEnabled() and blend.face_label.text() == "Blend Face 1 with:"


def test_a_cancelled_inversion_of_the_other_face_leaves_the_blend_waiting(make_window, qtbot, photo_file,
                                                                         mirrored_photo, monkeypatch):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.worker.submit("set_preset", preset="optimize", steps=100000)  # minutes of work
    window.blend_dialog()
    blend = window.blend_window
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (mirrored_photo, "")))
    with qtbot.waitSignal(window.events.jobProgress, timeout=30000):
        blend.photo_button.click()
    assert "Inverting the face in mirrored.png" in blend.status.text()
    with qtbot.waitSignal(window.events.jobEnded, timeout=10000):
        window.cancel_job()
    settle(qtbot, window)
    assert blend.target is None and not blend.slider.isEnabled() and "cancelled" in blend.status.text()
    assert window.undo_stack.count() == 0


def test_an_attribute_vector_is_applied_from_its_panel_and_undone(make_window, qtbot, photo_file):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    panel = window.vectors
    assert panel.apply.isEnabled() and panel.attribute.count() == 4
    panel.attribute.setCurrentIndex(panel.attribute.findData("Smiling"))
    panel.strength.setValue(150)
    panel.apply.click()
    panel.apply.click()  # a vector is relative: again is one more step
    settle(qtbot, window)
    session = window.worker.session
    assert session.ops == [ApplyVector(window.current_face, "Smiling", 1.5)] * 2
    assert window.undo_stack.count() == 2
    window.undo_action.trigger()
    settle(qtbot, window)
    assert session.cursor == 1


def test_a_small_face_is_super_resolved_as_an_undoable_edit_and_a_large_one_is_refused(
        make_window, qtbot, dialogs, photo_file):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.upscale_face()  # the sample's face is large
    settle(qtbot, window)
    assert [title for kind, title, _ in dialogs if kind == "critical"] == ["Cannot super-resolve the face"]
    assert "nothing to super-resolve" in dialogs[-1][2] and window.undo_stack.count() == 0

    with qtbot.waitSignal(window.events.faceUpdated, timeout=30000, check_params_cb=lambda s: s["face"] == 1):
        window.on_box_drawn((100.0, 80.0, 106.0, 87.0))  # a face of a few pixels
    settle(qtbot, window)
    assert window.current_face == 1
    with qtbot.waitSignal(window.events.opReady, timeout=60000):
        window.upscale_action.trigger()
    settle(qtbot, window)
    session = window.worker.session
    assert isinstance(session.ops[-1], Upscale) and session.ops[-1].face == 1
    assert window.undo_stack.text(window.undo_stack.count() - 1).startswith("Super-resolve face")
    sharp = session.render_face(1)
    window.undo_action.trigger()
    settle(qtbot, window)
    assert not np.array_equal(session.render_face(1), sharp)


def test_the_history_panel_shows_the_undo_stack(make_window, qtbot, photo_file):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    slide(qtbot, window, "Smiling", 40)
    slide(qtbot, window, "Male", -30)
    view = window.history_view
    assert view.stack() is window.undo_stack
    assert [view.model().index(r, 0).data() for r in range(view.model().rowCount())] == \
        ["The photo as opened", "Smiling +0.40", "Male -0.30"]
    view.setCurrentIndex(view.model().index(1, 0))  # a click on an older step goes back to it
    settle(qtbot, window)
    assert window.worker.session.cursor == 1


# -- looks ------------------------------------------------------------------------------------------------
def test_a_saved_look_applied_to_another_photo_gives_the_same_operations(
        make_window, qtbot, photo_file, mirrored_photo):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    slide(qtbot, window, "Smiling", 60)
    window.apply_vector("Blond_Hair", 0.5)
    window.on_transfer(str(EXEMPLAR), ("Male",), 0.75)
    settle(qtbot, window)
    first = edit_ops(window)
    assert [d["kind"] for d in first] == ["set_attribute", "apply_vector", "transfer"]

    window.save_look_action.trigger()
    asked = window.look_name_dialog
    assert asked.isVisible()
    asked.setTextValue("Sunny <b>side</b>")
    with qtbot.waitSignal(window.events.replied, timeout=20000):
        asked.accept()
    settle(qtbot, window)
    saved = looks_dir() / "Sunny _b_side_b" / "look.json"  # a folder name without markup or slashes
    assert saved.is_file() and (saved.parent / "exemplar-1.png").is_file()
    assert [a.text() for a in window.look_actions] == ["Sunny <b>side</b>"]

    open_and_invert(qtbot, window, mirrored_photo)
    assert window.worker.session.ops == []
    window.look_actions[0].trigger()
    settle(qtbot, window)
    second = edit_ops(window)
    for op in (*first, *second):
        op.pop("gesture", None)  # a slider drag's number, not part of the edit
    assert second == first
    assert window.undo_stack.count() == 3 and window.undo_stack.text(0).startswith("Look “Sunny <b>side</b>”: ")


def test_a_look_the_models_cannot_apply_is_refused_in_one_message(make_window, qtbot, dialogs, photo_file):
    from engine.looks import Look, save_look

    path = save_look(looks_dir(), Look("Beard", {"Beard": 1.0}))
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.apply_look(path)
    settle(qtbot, window)
    assert dialogs[-1][1] == "Cannot apply the look" and "Beard" in dialogs[-1][2]
    assert window.undo_stack.count() == 0


# -- what the app remembers ----------------------------------------------------------------------------------
def test_added_exemplars_come_back_after_a_restart(make_window, qtbot, tmp_path):
    own = save_image(tmp_path / "downloads" / "my glasses.png", np.full((64, 64, 3), 120, np.uint8))
    first = make_window(models=False)
    assert first.exemplars.import_paths([str(own), str(tmp_path / "not an image.txt")]) == 1
    kept = user_exemplars_dir() / "my glasses.png"
    assert kept.read_bytes() == own.read_bytes()
    assert first.exemplars.import_paths([str(own)]) == 0  # already there: not copied twice
    first.close()
    own.unlink()  # the original is gone: the gallery keeps its copy

    second = make_window(models=False)
    item = second.exemplars.item_for(str(kept))
    assert item is not None and item.text() == "my glasses"
    second.exemplars.list.setCurrentItem(item)
    assert second.exemplars.remove.isEnabled()
    second.exemplars.remove.click()
    assert not kept.exists() and second.exemplars.item_for(str(kept)) is None
    bundled = second.exemplars.item_for(str(EXEMPLAR))
    second.exemplars.list.setCurrentItem(bundled)
    assert not second.exemplars.remove.isEnabled()  # the shipped faces stay


def test_the_quality_setting_is_remembered(qtbot, dialogs):
    from app.window import MainWindow

    first = MainWindow()
    qtbot.addWidget(first)
    assert first.attributes.current_preset() == "balanced"
    first.attributes.set_preset("best")
    first.host.shutdown()
    second = MainWindow()
    qtbot.addWidget(second)
    try:
        assert second.attributes.current_preset() == "best"
        qtbot.waitUntil(lambda: second.worker.pending() == 0)
        assert second.worker.preset == "best"
    finally:
        second.host.shutdown()


def test_export_proposes_the_photos_format_and_writes_the_chosen_size(
        make_window, qtbot, photo_file, tmp_path, monkeypatch):
    from app.export_dialog import ExportDialog

    photo = save_image(tmp_path / "holiday.jpg", load_image(photo_file))
    window = make_window()
    open_and_invert(qtbot, window, str(photo))
    seen = {}

    def answer(dialog) -> None:
        seen.update(path=dialog.chosen_path(), format=dialog.format.currentText(), lossy=dialog.quality.isEnabled())
        dialog.quality.setValue(70)
        dialog.resize_box.setChecked(True)
        dialog.long_side.setValue(100)
        dialog.format.setCurrentIndex(dialog.format.findData(".webp"))
        dialog._accept()

    monkeypatch.setattr(ExportDialog, "open", answer)
    with qtbot.waitSignal(window.events.exported, timeout=20000) as exported:
        window.export_action.trigger()
    assert seen == {"path": str(tmp_path / "holiday-edited.jpg"), "format": "JPEG", "lossy": True}
    assert exported.args == [str(tmp_path / "holiday-edited.webp")]
    assert max(load_image(exported.args[0]).shape[:2]) == 100
    assert window.prefs.jpeg_quality == 70  # the next export proposes it


def test_open_recent_shows_each_path_as_text(make_window, tmp_path):
    window = make_window(models=False)
    odd = tmp_path / "<i>holiday</i>.png"
    window.add_recent(str(odd))
    action = window.recent_menu.actions()[0]
    assert action.text() == odd.name and action.statusTip() == str(odd)
    assert "&lt;i&gt;holiday&lt;/i&gt;" in action.toolTip()  # shown as written, never as italics


# -- help -----------------------------------------------------------------------------------------------------
def test_the_guide_opens_offline_from_the_shipped_resources(make_window):
    window = make_window(models=False)
    window.show_guide()
    guide = window.guide_window
    assert guide.isVisible() and guide.source is not None
    assert guide.source.resolve().is_relative_to(RESOURCES.resolve())  # shipped: the installer takes resources/
    text = guide.browser.toPlainText()
    assert "Facet Studio User Guide" in text and "Looks" in text and "Blend with another face" in text
    links = re.findall(r"\]\(([^)]*)\)", guide.source.read_text(encoding="utf-8"))
    assert links and all(link.startswith("#") for link in links)  # nothing to fetch: links inside it only
    browser = guide.browser
    browser.anchorClicked.emit(QUrl("#looks"))  # a contents link scrolls to its heading
    assert browser.textCursor().block().text() == "Looks"
    browser.anchorClicked.emit(QUrl("https://example.com/"))  # never fetched, nothing changes
    assert browser.toPlainText() == text and browser.textCursor().block().text() == "Looks"


def test_the_empty_canvas_says_what_to_do(make_window, qtbot, photo_file):
    window = make_window()
    window.show()
    hint = window.empty_hint
    assert hint.isVisible() and "drop one here" in hint.text() and "Open a photo" in hint.text()
    open_and_invert(qtbot, window, photo_file)
    assert not hint.isVisible()


CONTROLS = (QAbstractButton, QAbstractSlider, QComboBox, QAbstractSpinBox, QLineEdit, QAbstractItemView)


def unexplained(root: QWidget) -> list[str]:
    """Controls and menu actions under ``root`` without a tooltip or a status-bar tip. Parts Qt makes inside its
    own widgets are not controls of ours: scroll bars, a tab bar's scroll arrows, a table's headers, a combo
    box's drop-down list, and what it names ``qt_…``."""
    popups = {id(c.view()) for c in root.findChildren(QComboBox)}
    missing = []
    for w in root.findChildren(QWidget):
        internal = (w.objectName().startswith("qt_") or isinstance(w, QScrollBar | QHeaderView)
                    or isinstance(w.parentWidget(), QTabBar) or id(w) in popups)
        if isinstance(w, CONTROLS) and not internal and not (w.toolTip() or w.statusTip()):
            missing.append(f"{type(w).__name__} {w.objectName() or getattr(w, 'text', lambda: '')()!r}")
    for a in root.findChildren(QAction):
        if a.text() and not a.isSeparator() and not a.statusTip():
            missing.append(f"action {a.text()!r}")
    return missing


def test_every_control_and_action_has_a_tooltip(make_window, qtbot, photo_file):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    window.blend_dialog()
    window.show_guide()
    window.show_shortcuts()
    assert window.attributes.sliders and window.exemplars.checks  # the controls made for the loaded models
    assert unexplained(window) == []
    assert window.canvas.statusTip()


def test_the_shortcut_list_matches_the_actions(make_window):
    from PySide6.QtGui import QKeySequence

    window = make_window(models=False)
    window.show_shortcuts()
    rows = window.shortcuts_dialog.rows()
    native = QKeySequence.SequenceFormat.NativeText
    expected = set()
    for a in window.findChildren(QAction):
        for key in a.shortcuts():
            expected.add((a.text().replace("&", ""), key.toString(native)))
    listed = {(what, key) for what, keys in rows for key in keys.split(", ")}
    assert listed == expected
    assert {("Open…", "Ctrl+O"), ("User Guide", "F1"), ("Blend with Another Face…", "Ctrl+Shift+B"),
            ("Super-Resolve Small Face", "Ctrl+Shift+U"), ("Keyboard Shortcuts", "Ctrl+/")} <= set(rows)

    extra = QAction("Try &Something", window)  # a new action is listed the next time: nothing to keep in step
    extra.setShortcut(QKeySequence("Ctrl+Alt+T"))
    window.show_shortcuts()
    assert ("Try Something", "Ctrl+Alt+T") in window.shortcuts_dialog.rows()


def test_the_packaged_app_ships_the_guide():
    spec = (Path(__file__).resolve().parents[2] / "packaging" / "facet-studio.spec").read_text()
    assert 'datas=[(str(ROOT / "resources"), "resources")]' in spec
    from app.help import guide_path

    assert guide_path().is_file() and guide_path().parent.parent == RESOURCES
