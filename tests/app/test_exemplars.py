"""The exemplar gallery: whole names, thumbnails read off the GUI thread (never from a FIFO), photos shown
by their face, and letters typed in it reach the tool shortcuts."""

from __future__ import annotations

import faulthandler
import os
import threading
import time

import numpy as np
import pytest

from app.exemplars import THUMB, ExemplarPanel
from app.qimage import to_array
from engine.images import load_image, save_image
from tests.app.conftest import SAMPLE

pytestmark = [pytest.mark.qt_log_ignore("propagateSizeHints", "QFont::", "This plugin does not support")]


def icon_image(item) -> np.ndarray:
    return to_array(item.icon().pixmap(THUMB, THUMB).toImage())[..., :3]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX)")
def test_a_fifo_in_the_gallery_never_blocks_the_window(qtbot, tmp_path, monkeypatch):
    import app.exemplars

    folder = tmp_path / "gallery"
    folder.mkdir()
    save_image(folder / "Eyeglasses (yes).png", np.full((64, 64, 3), 90, np.uint8))
    os.mkfifo(folder / "stuck.png")
    where = []
    made = getattr(app.exemplars, "face_thumbnail", None)
    monkeypatch.setattr(app.exemplars, "face_thumbnail",
                        lambda *a, **k: where.append(threading.current_thread()) or made(*a, **k), raising=False)

    panel = ExemplarPanel()
    qtbot.addWidget(panel)
    # reading the FIFO in the GUI thread would block it for ever: end the test run with a traceback instead
    faulthandler.dump_traceback_later(60, exit=True)
    started = time.monotonic()
    try:
        added = panel.add_folder(folder, remember=False)
    finally:
        faulthandler.cancel_dump_traceback_later()
    elapsed = time.monotonic() - started
    assert elapsed < 20 and added == 1  # reading it would block for ever (the dump above); the FIFO is not a regular file: skipped, never opened
    item = panel.list.item(0)
    assert item.text() == "Eyeglasses (yes)"  # the whole name, not "Eyeglasses (ye"
    qtbot.waitUntil(lambda: not item.icon().isNull(), timeout=20000)
    assert where and threading.main_thread() not in where


def test_a_photo_added_as_an_exemplar_shows_its_aligned_face(qtbot, tmp_path):
    from engine.session_faces import find_faces

    face = load_image(SAMPLE)
    photo = np.full((240, 480, 3), 40, np.uint8)
    photo[40:40 + face.shape[0], 20:20 + face.shape[1]] = face  # a face at the left of a wide photo
    path = save_image(tmp_path / "group.png", photo)
    panel = ExemplarPanel()
    qtbot.addWidget(panel)
    assert panel.add_paths([str(path)]) == 1
    item = panel.list.item(0)
    qtbot.waitUntil(lambda: not item.icon().isNull(), timeout=30000)
    shown = icon_image(item)
    assert shown.shape[:2] == (THUMB, THUMB)  # a square face crop, not the 2:1 photo
    from PIL import Image

    crop = find_faces(photo, 128)[0].crop  # what EditSession.add_exemplar takes from it
    expected = np.asarray(Image.fromarray(crop).resize((THUMB, THUMB), Image.Resampling.BILINEAR))
    assert np.abs(shown.astype(int) - expected).mean() < 12


def test_letters_typed_in_the_gallery_are_shortcuts_not_a_search(make_window, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    window = make_window(models=False)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.exemplar_dock.raise_()
    gallery = window.exemplars.list
    assert gallery.count() > 4 and gallery.item(0).text().startswith("Bangs")
    gallery.setFocus()
    gallery.setCurrentRow(0)
    QTest.keyClick(gallery, Qt.Key.Key_E)  # a type-ahead search would jump to "Eyeglasses (no)"
    assert gallery.currentRow() == 0
    QTest.keyClick(gallery, Qt.Key.Key_B)
    assert window.canvas.mode == "brush" and gallery.currentRow() == 0


def test_the_panel_says_when_the_model_pastes_the_exemplars_pixels(qtbot):
    panel = ExemplarPanel()
    qtbot.addWidget(panel)
    panel.set_attributes(["Eyeglasses", "Male"])
    assert "pastes" not in panel.info.text() and panel.available
    panel.set_attributes(["Eyeglasses", "Male"], takes_pixels=True)
    assert "pastes the exemplar's own pixels" in panel.info.text() and "sharp photo" in panel.info.text()
    panel.set_attributes([], takes_pixels=True)
    assert "needs an ELEGANT model" in panel.info.text() and not panel.available


def test_attributes_a_model_could_take_only_as_a_face_swap_are_not_offered(qtbot):
    panel = ExemplarPanel()
    qtbot.addWidget(panel)
    panel.set_attributes(["Eyeglasses", "Male"], takes_pixels=True, face_swapping=["Male"])
    male, glasses = panel.checks["Male"], panel.checks["Eyeglasses"]
    assert not male.isEnabled() and glasses.isEnabled()
    assert "other person's face" in male.toolTip() and "Male slider" in male.toolTip()
    assert "Male: not taken from another face" in panel.info.text()
    male.setChecked(True)  # even ticked by a stale state, it is not asked for
    glasses.setChecked(True)
    assert panel.selected_attributes() == ("Eyeglasses",)
    panel.set_attributes(["Eyeglasses", "Male"])  # a model that synthesises its edit offers every attribute
    assert panel.checks["Male"].isEnabled() and "not taken" not in panel.info.text()
