"""The window never drops a user's edits: crash recovery at start-up, saving on close, replaced documents.

Each test is a way edits used to get lost (a read-only audit of the app drove the real window to find them).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.project import read_project
from engine.ops import SetAttribute
from tests.app.helpers import answer_export, open_and_invert, settle, slide, start_long_inversion

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore("propagateSizeHints", "QFont::", "This plugin does not support")]


def edited_window(make_window, qtbot, photo_file, sliders=(("Smiling", -70),)):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    for name, value in sliders:
        slide(qtbot, window, name, value)
    return window


def test_a_crashed_runs_edits_come_back_at_start_up_unsaved(make_window, qtbot, dialogs, photo_file, model_paths):
    """The real start-up order: the models load before the autosave opens, and what it holds is not saved."""
    from app.main import parse_args, start_window
    from app.preferences import settings

    crashed = edited_window(make_window, qtbot, photo_file, (("Smiling", -70), ("Male", 50)))
    with qtbot.waitSignal(crashed.events.saved, timeout=20000):
        crashed.autosave()
    expected = crashed.worker.session.render_photo()
    for family in ("cgan", "elegant"):  # the models of the "last session"
        settings().setValue(f"models/{family}", model_paths[family])

    window = start_window(parse_args([]))  # the crashed run never marked a clean exit
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: window.has_session and window.worker.pending() == 0, timeout=30000)
        settle(qtbot, window)
        assert any(kind == "question" and title.startswith("Recover") for kind, title, _ in dialogs)
        assert not [d for d in dialogs if d[0] == "critical"]
        assert len(window.worker.session.ops) == 2 and window.undo_stack.count() == 2
        assert not window.undo_stack.isClean()  # closing asks; the autosave is not a save
        assert window.windowTitle().startswith(Path(photo_file).name + "*")  # the document it was
        assert window.photo_path == photo_file and window.project_path is None
        np.testing.assert_array_equal(window.worker.session.render_photo(), expected)
    finally:
        window.confirm_close = False
        window.close()


def test_a_save_that_fails_on_close_keeps_the_window_and_the_edits(make_window, qtbot, dialogs, photo_file, tmp_path):
    from app.paths import autosave_path

    window = edited_window(make_window, qtbot, photo_file)
    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.autosave()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    window.project_path = str(blocker / "work.facet")  # cannot be written
    window.confirm_close = True
    dialogs.answers["question"] = QMessageBox.StandardButton.Save
    window.show()
    assert not window.close()
    assert any(kind == "critical" and title == "Cannot save the project" for kind, title, _ in dialogs)
    assert window.has_session and len(window.worker.session.ops) == 1 and not window.undo_stack.isClean()
    assert autosave_path().exists() and window.host.thread.isRunning()

    window.project_path = str(tmp_path / "work.facet")
    assert window.close()  # the save has landed before the window goes
    data, _ = read_project(window.project_path)
    assert len(data["ops"]) == 1 and not autosave_path().exists()


def test_edits_made_while_a_save_is_written_keep_the_document_modified(make_window, qtbot, photo_file, tmp_path):
    from app.paths import autosave_path

    window = edited_window(make_window, qtbot, photo_file)
    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.autosave()
    window.project_path = str(tmp_path / "work.facet")
    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.save_project()
        window.attributes.sliders["Male"].setValue(40)  # before the saved signal is handled
    settle(qtbot, window)
    data, _ = read_project(window.project_path)
    assert len(data["ops"]) == 1 and len(window.worker.session.ops) == 2
    assert not window.undo_stack.isClean() and window.windowTitle().startswith("work.facet*")
    assert autosave_path().exists()  # the unsaved edit is still recoverable

    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.save_project()
    settle(qtbot, window)
    assert window.undo_stack.isClean() and not autosave_path().exists()  # saved: nothing left to recover


def test_an_edit_made_for_a_replaced_photo_is_refused(make_window, qtbot, photo_file):
    window = make_window()
    open_and_invert(qtbot, window, photo_file)
    old = window.session_serial
    open_and_invert(qtbot, window, photo_file)  # the same file again: a new document
    assert window.session_serial == old + 1
    with qtbot.waitSignal(window.events.applied, timeout=10000, check_params_cb=lambda token, _ok: token == 77) as got:
        window.worker.submit("apply", op=SetAttribute(0, "Male", 0.5, 1), token=77, serial=old)
    assert got.args == [77, False] and window.worker.session.ops == []


def test_closing_during_a_job_with_another_queued_stops_the_worker(make_window, qtbot, photo_file):
    window = make_window()
    start_long_inversion(qtbot, window, photo_file)
    window.worker.submit("invert", face=0)  # queued behind it: it used to clear the cancel and run on
    start = time.perf_counter()
    assert window.close()
    # the queued job is another 100,000-step inversion (minutes): stopping at the running one's next step takes a
    # second on an idle machine, up to ~10 s on a loaded one (one optimiser step under contention)
    assert not window.host.thread.isRunning() and time.perf_counter() - start < 60


def test_export_and_save_as_ask_before_replacing_a_file_the_dialog_did_not_see(
        make_window, qtbot, dialogs, photo_file, tmp_path, monkeypatch):
    window = edited_window(make_window, qtbot, photo_file)
    precious = tmp_path / "holiday.png"
    precious.write_bytes(b"precious")
    project = tmp_path / "work.facet"
    project.write_bytes(b"previous project")
    dialogs.answers["question"] = QMessageBox.StandardButton.No
    answer_export(monkeypatch, str(tmp_path / "holiday"), ".png")
    window.export_dialog()  # typed "holiday": the dialog adds ".png" and asks before replacing that file
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(tmp_path / "work"), "")))
    assert not window.save_project_as()
    settle(qtbot, window)
    assert precious.read_bytes() == b"precious" and project.read_bytes() == b"previous project"
    assert [title for kind, title, _ in dialogs if kind == "question"] == ["Replace the file?"] * 2

    dialogs.answers["question"] = QMessageBox.StandardButton.Yes
    answer_export(monkeypatch, str(tmp_path / "x.tif"), ".png")
    with qtbot.waitSignal(window.events.exported, timeout=20000) as exported:
        window.export_dialog()  # a format the engine writes keeps its own extension
    assert exported.args == [str(tmp_path / "x.tif")]


def test_loading_another_model_asks_before_dropping_unsaved_edits(
        make_window, qtbot, dialogs, photo_file, model_paths, monkeypatch):
    window = edited_window(make_window, qtbot, photo_file)
    window.confirm_close = True
    dialogs.answers["question"] = QMessageBox.StandardButton.Cancel
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: model_paths["elegant"]))
    window.load_model_dialog()
    settle(qtbot, window)
    asked = [text for kind, _title, text in dialogs if kind == "question"]
    assert len(asked) == 1 and asked[0].startswith("Another model starts this photo's edits over")
    assert len(window.worker.session.ops) == 1 and window.undo_stack.count() == 1
    window.confirm_close = False


def test_a_failing_autosave_says_so_in_the_status_bar_not_in_a_box(make_window, qtbot, dialogs, photo_file):
    from app.paths import autosave_path

    window = edited_window(make_window, qtbot, photo_file)
    autosave_path().mkdir(parents=True)  # a folder where the file should go: the write fails
    with qtbot.waitSignal(window.events.notice, timeout=20000) as notice:
        window.autosave()
    assert notice.args[0].startswith("Autosave failed") and not [d for d in dialogs if d[0] == "critical"]
    assert not window.undo_stack.isClean()
    autosave_path().rmdir()

HOLDER = """
import sys, time
from PySide6.QtCore import QCoreApplication, QLockFile
app = QCoreApplication([])
lock = QLockFile(sys.argv[1])
print("locked" if lock.tryLock(0) else "busy", flush=True)
time.sleep(120)
"""


def test_each_running_copy_autosaves_apart_and_only_a_crashed_ones_is_offered(
        make_window, qtbot, dialogs, photo_file):
    import shutil
    import subprocess
    import sys

    from app.paths import autosave_path, data_dir, orphaned_autosaves

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir() / "instance-0.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"  # another copy of Facet Studio is running
        window = edited_window(make_window, qtbot, photo_file)
        assert autosave_path() == data_dir() / "autosave-1.facet"  # so this one autosaves elsewhere
        with qtbot.waitSignal(window.events.saved, timeout=20000):
            window.autosave()
        theirs = data_dir() / "autosave.facet"
        shutil.copy(autosave_path(), theirs)  # the other copy's own autosave
        assert theirs not in orphaned_autosaves()
        window.mark_clean_exit()
        assert not window.check_recovery() and theirs.exists()  # neither offered nor deleted
    finally:
        holder.kill()  # the other copy crashes
        holder.wait()
        holder.stdout.close()
    assert orphaned_autosaves() == [theirs]
    with qtbot.waitSignal(window.events.sessionReady, timeout=20000) as ready:
        assert window.check_recovery()
    assert ready.args[0]["recovered"] is not None and len(ready.args[0]["ops"]) == 1
    assert not theirs.exists() and autosave_path().exists()  # taken over: the next autosave replaces it


def test_an_export_keeps_the_cameras_metadata(make_window, qtbot, photo_file, tmp_path, monkeypatch):
    from PIL import Image

    from engine.images import load_image

    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    camera = tmp_path / "camera.jpg"
    Image.fromarray(load_image(photo_file)).save(camera, exif=exif.tobytes(), quality=95)
    window = edited_window(make_window, qtbot, str(camera))
    out = tmp_path / "camera-edited.jpg"
    answer_export(monkeypatch, str(out))
    with qtbot.waitSignal(window.events.exported, timeout=20000):
        window.export_dialog()
    with Image.open(out) as exported:
        assert exported.getexif()[0x010F] == "CameraMaker"


def test_saving_on_close_stops_a_running_job_instead_of_waiting_for_it(
        make_window, qtbot, dialogs, photo_file, tmp_path):
    window = edited_window(make_window, qtbot, photo_file)
    window.project_path = str(tmp_path / "work.facet")
    window.worker.submit("set_preset", preset="optimize", steps=100000)
    with qtbot.waitSignal(window.events.jobProgress, timeout=30000):
        window.worker.submit("invert", face=0)  # minutes of work
    window.confirm_close = True
    dialogs.answers["question"] = QMessageBox.StandardButton.Save
    start = time.perf_counter()
    assert window.close()
    # waiting for the job would take minutes; stopping it takes a step (up to ~10 s on a loaded machine)
    assert time.perf_counter() - start < 60 and len(read_project(window.project_path)[0]["ops"]) == 1


def second_photo(photo_file: str, tmp_path: Path) -> str:
    """Another photo file (the same pixels under another name: a different document)."""
    import shutil

    return str(shutil.copy(photo_file, tmp_path / f"second{Path(photo_file).suffix}"))


def test_a_discarded_document_is_never_recovered_and_the_next_one_is_autosaved(
        make_window, qtbot, dialogs, photo_file, tmp_path):
    """Photo A edited and autosaved; Open → Discard; photo B edited: a crash now must bring back B, not A."""
    from app.paths import autosave_path

    window = edited_window(make_window, qtbot, photo_file)
    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.autosave()
    window.confirm_close = True
    dialogs.answers["question"] = QMessageBox.StandardButton.Discard
    second = second_photo(photo_file, tmp_path)
    open_and_invert(qtbot, window, second)
    assert [title for kind, title, _ in dialogs if kind == "question"] == ["Unsaved edits"]
    assert not autosave_path().exists()  # A was discarded: nothing of it may come back

    slide(qtbot, window, "Male", 40)  # B's first edit: the undo index is what A's was when it was autosaved
    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.autosave()
    data, extra = read_project(autosave_path())
    assert extra["photo_path"] == second and [op.name for op in window.worker.session.ops] == ["Male"]
    assert len(data["ops"]) == 1

    window.undo_stack.undo()  # undo, then another edit: the same index again, other edits
    slide(qtbot, window, "Smiling", 60)
    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.autosave()
    data, _ = read_project(autosave_path())
    assert [op.name for op in window.worker.session.ops] == ["Smiling"]
    assert "Smiling" in str(data["ops"]) and "Male" not in str(data["ops"])
    window.confirm_close = False


def test_a_file_that_is_not_an_image_is_refused_before_asking_to_save(
        make_window, qtbot, dialogs, photo_file, tmp_path):
    from app.paths import autosave_path

    window = edited_window(make_window, qtbot, photo_file)
    window.confirm_close = True
    notes = tmp_path / "notes.jpg"
    notes.write_text("a shopping list, not a photo")
    window.open_path(str(notes))
    assert [(kind, title) for kind, title, _ in dialogs] == [("critical", "Cannot open the photo")]
    assert "notes.jpg" in dialogs[0][2] and "not an image format" in dialogs[0][2]
    assert not window.statusBar().currentMessage().startswith("Opening")
    assert len(window.worker.session.ops) == 1 and not window.undo_stack.isClean()

    # a header that looks right but a body that is not: the worker refuses it, after the question
    from engine.images import save_image

    whole = save_image(tmp_path / "whole.png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(whole.read_bytes()[:200])
    dialogs.answers["question"] = QMessageBox.StandardButton.Discard
    with qtbot.waitSignal(window.events.failed, timeout=20000):
        window.open_path(str(truncated))
    settle(qtbot, window)
    assert dialogs[-1][:2] == ("critical", "Cannot open the photo")
    assert not window.statusBar().currentMessage().startswith("Opening")
    # the open failed, so the "discarded" document is still the one on screen: it is autosaved again
    assert len(window.worker.session.ops) == 1
    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.autosave()
    assert autosave_path().exists()
    window.confirm_close = False


def test_an_autosave_that_could_not_be_restored_survives_a_clean_exit(
        make_window, qtbot, dialogs, photo_file, model_paths):
    """Recovery without a usable cGAN fails; quitting then must not delete the autosave as a clean exit does."""
    from app.main import parse_args, start_window
    from app.paths import autosave_path, orphaned_autosaves
    from app.preferences import settings

    crashed = edited_window(make_window, qtbot, photo_file)
    with qtbot.waitSignal(crashed.events.saved, timeout=20000):
        crashed.autosave()

    window = start_window(parse_args(["--no-models"]))  # no cGAN: the autosave's edits cannot be replayed
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: any(kind == "critical" for kind, _t, _x in dialogs), timeout=20000)
    settle(qtbot, window)
    assert [title for kind, title, _ in dialogs if kind == "critical"] == ["Cannot open the project"]
    assert not window.has_session and "kept" in window.statusBar().currentMessage()
    window.confirm_close = False
    assert window.close()  # a clean exit
    kept = orphaned_autosaves()
    assert len(kept) == 1 and kept[0] != autosave_path()  # under a name no autosave or clean exit touches
    assert len(read_project(kept[0])[0]["ops"]) == 1

    for family in ("cgan", "elegant"):  # the next start has the models: the edits come back
        settings().setValue(f"models/{family}", model_paths[family])
    again = start_window(parse_args([]))
    qtbot.addWidget(again)
    try:
        qtbot.waitUntil(lambda: again.has_session and again.worker.pending() == 0, timeout=30000)
        settle(qtbot, again)
        assert len(again.worker.session.ops) == 1 and not again.undo_stack.isClean()
        assert orphaned_autosaves() == [autosave_path()]  # restored: now this copy's own autosave
    finally:
        again.confirm_close = False
        again.close()


def test_a_save_removes_the_temps_that_killed_saves_left(make_window, qtbot, photo_file, tmp_path):
    import os

    from app.paths import autosave_path, data_dir

    window = edited_window(make_window, qtbot, photo_file)
    minute_ago = time.time() - 120
    stale = [tmp_path / ".holiday.facet.tmp", data_dir() / ".autosave.facet.tmp"]
    for path in stale:
        path.write_bytes(b"PK\x03\x04 half a project")
        os.utime(path, (minute_ago, minute_ago))
    busy = tmp_path / ".busy.facet.tmp"  # being written right now (another copy saving): left alone
    busy.write_bytes(b"PK\x03\x04")
    window.project_path = str(tmp_path / "work.facet")
    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.save_project()
    assert not stale[0].exists() and busy.exists()
    slide(qtbot, window, "Male", 30)
    with qtbot.waitSignal(window.events.saved, timeout=20000):
        window.autosave()
    assert not stale[1].exists() and autosave_path().exists()


def test_a_model_that_fails_to_load_says_so_in_its_title(make_window, qtbot, dialogs, tmp_path, monkeypatch):
    window = make_window()
    empty = tmp_path / "not-a-bundle"
    empty.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(empty)))
    with qtbot.waitSignal(window.events.failed, timeout=20000) as failed:
        window.load_model_dialog()
    assert failed.args[0] == "Cannot load the model" and "not-a-bundle" in failed.args[1]
