"""The worker's failure handling and the project file format, without a window."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from app.project import ProjectError, read_project, write_project
from app.worker import EngineWorker

pytestmark = pytest.mark.qt_log_level_fail("WARNING")


def test_out_of_memory_falls_back_to_the_cpu_and_retries(qtbot):
    import torch

    worker = EngineWorker()
    worker.device = "cuda:0"  # pretend the models were on a GPU
    calls = []

    def flaky(**_):
        calls.append(worker.device)
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    worker._do_flaky = flaky
    with qtbot.waitSignal(worker.notice) as notice:
        worker._run("flaky", {})
    assert calls == ["cuda:0", "cpu"] and worker.device == "cpu"
    assert "CPU" in notice.args[0]


def test_errors_become_messages_not_crashes(qtbot):
    worker = EngineWorker()
    with qtbot.waitSignal(worker.failed) as failed:
        worker._run("open_photo", {"path": "/nonexistent/photo.jpg"})
    assert failed.args[0] == "Cannot open the photo" and "no such file" in failed.args[1]

    def bug(**_):
        raise ZeroDivisionError("division by zero")

    worker._do_bug = bug
    with qtbot.waitSignal(worker.failed) as failed:
        worker._run("bug", {})
    assert "Unexpected error (ZeroDivisionError)" in failed.args[1]
    with qtbot.waitSignal(worker.applied) as applied:
        worker._run("apply", {"op": None, "token": 7})  # no session: the edit is reported as not applied
    assert applied.args == [7, False]


def test_project_files_round_trip_and_refuse_damage(tmp_path):
    photo = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    session = {"format": "facet-session", "photo": photo, "faces": [{"crop": np.ones((4, 4, 3), np.uint8),
               "transform": np.eye(2, 3), "code": {"z": [0.5], "y": [-1.0]}}], "ops": [], "cursor": 0}
    path = write_project(tmp_path / "p.facet", session, {"photo_path": "x.jpg"})
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: the temp file is gone
    data, extra = read_project(path)
    np.testing.assert_array_equal(data["photo"], photo)
    np.testing.assert_array_equal(data["faces"][0]["transform"], np.eye(2, 3))
    assert data["faces"][0]["code"] == {"z": [0.5], "y": [-1.0]} and extra == {"photo_path": "x.jpg"}
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["arrays.npz", "photo.png", "session.json"]

    (tmp_path / "bad.facet").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ProjectError, match="bad.facet"):
        read_project(tmp_path / "bad.facet")
    with zipfile.ZipFile(tmp_path / "other.facet", "w") as zf:
        zf.writestr("session.json", '{"format": "something-else"}')
    with pytest.raises(ProjectError):
        read_project(tmp_path / "other.facet")
    with zipfile.ZipFile(path) as zf:  # a project whose session.json lost its session
        parts = {name: zf.read(name) for name in zf.namelist()}
    doc = json.loads(parts["session.json"])
    del doc["session"]
    with zipfile.ZipFile(tmp_path / "hollow.facet", "w") as zf:
        for name, data in {**parts, "session.json": json.dumps(doc).encode()}.items():
            zf.writestr(name, data)
    with pytest.raises(ProjectError, match="hollow.facet: the project is damaged"):
        read_project(tmp_path / "hollow.facet")


def test_preferences_persist():
    from app.preferences import Preferences

    Preferences(device="cpu", autosave_seconds=15, jpeg_quality=70).save()
    loaded = Preferences.load()
    assert (loaded.device, loaded.autosave_seconds, loaded.jpeg_quality) == ("cpu", 15, 70)
    Preferences().save()


def test_a_missing_gpu_falls_back_to_the_cpu_with_a_notice(qtbot, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    worker = EngineWorker()
    with qtbot.waitSignal(worker.notice) as notice, qtbot.waitSignal(worker.modelsChanged) as models:
        worker._run("set_device", {"device": "cuda"})
    assert "CPU" in notice.args[0] and models.args[0]["device"] == "cpu"


def test_python_m_app_starts_logs_and_exits_cleanly(tmp_path):
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FACET_STUDIO_HOME=str(tmp_path),
               FACET_MODELS_DIR=str(tmp_path / "none"))
    done = subprocess.run([sys.executable, "-m", "app", "--no-models", "--quit-after", "300"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "logs" / "facet-studio.log").read_text()
    assert "starting" in log and "exited with code 0" in log
    assert not list((tmp_path / "logs").glob("crash-*"))
    settings = (tmp_path / "settings.ini").read_text()
    assert "clean_exit_time" in settings and "geometry" in settings  # clean exit + layout saved


def test_undo_redo_and_merges_act_on_the_commands_the_window_names(qtbot, model_paths, photo_file):
    """The worker's half of keeping the undo stack and the edit stack in step (app.history)."""
    from engine.ops import SetAttribute

    worker = EngineWorker()
    worker._run("load_models", dict(model_paths))
    worker._run("open_photo", {"path": photo_file})
    worker._run("invert", {"face": 0})
    session, history = worker.session, worker.history
    worker._run("apply", {"op": SetAttribute(0, "Male", 0.5, 0), "token": 1})
    worker._run("undo", {"token": 99})  # a command whose edit failed: the edit before it stays
    assert session.cursor == 1 and history.tokens == [1]

    # a drag whose first value failed: the values merged into it are taken back with it
    with qtbot.waitSignal(worker.applied) as failed:
        worker._run("apply", {"op": SetAttribute(0, "Smiling", float("nan"), 7), "token": 2})
    assert failed.args == [2, False]
    worker._run("apply", {"op": SetAttribute(0, "Smiling", 0.4, 7), "token": 3})
    worker._run("squash", {"token": 2, "merged": 3})
    assert len(session.ops) == 1 and history.tokens == [1]
    # a drag whose values all landed: one operation, the first command's token
    worker._run("apply", {"op": SetAttribute(0, "Smiling", 0.2, 8), "token": 4})
    worker._run("apply", {"op": SetAttribute(0, "Smiling", 0.6, 8), "token": 5})
    worker._run("squash", {"token": 4, "merged": 5})
    assert [op.value for op in session.ops] == [0.5, 0.6] and history.tokens == [1, 4]

    # an edit that fails after an undo drops the redo tail, as the window's push of it did
    worker._run("undo", {"token": 4})
    worker._run("apply", {"op": SetAttribute(0, "No_Such_Attribute", 0.1, 0), "token": 6})
    assert len(session.ops) == 1 and history.tokens == [1] and history.cursor == 1


def test_a_face_gets_the_encoders_code_at_once_and_the_refined_one_in_the_background(qtbot, model_paths, photo_file):
    from engine.ops import SetAttribute

    worker = EngineWorker()
    worker._run("load_models", dict(model_paths))
    worker._run("open_photo", {"path": photo_file})
    worker._run("set_preset", {"preset": "optimize", "steps": 3})
    worker._run("invert", {"face": 0})
    session = worker.session
    assert session.faces[0].method == "encoder" and worker.pending() == 1  # the refinement is under way
    worker._run("apply", {"op": SetAttribute(0, "Male", 0.5, 0), "token": 1})  # and edits go on meanwhile
    with qtbot.waitSignal(worker.faceUpdated, timeout=30000, check_params_cb=lambda s: s["method"] == "optimize"):
        pass  # the refinement thread wakes the worker, which adopts its code
    assert session.faces[0].code_version == 2 and session.ops == [SetAttribute(0, "Male", 0.5, 0)]
    assert worker.pending() == 0

    worker._run("set_preset", {"preset": "optimize", "steps": 100000})
    worker._run("invert", {"face": 0})  # a re-inversion, stopped by the next document
    assert worker.pending() == 1
    worker._run("open_photo", {"path": photo_file})
    assert worker.pending() == 0 and worker.session is not session and not worker.session.has_code(0)
    assert session.faces[0].code_version == 2  # the old document kept its last complete code


def test_the_models_info_says_which_model_each_slider_edits(qtbot, model_paths):
    worker = EngineWorker()
    with qtbot.waitSignal(worker.modelsChanged) as got:
        worker._run("load_models", {"elegant": model_paths["elegant"]})
    assert got.args[0]["routes"] == dict.fromkeys(["Black_Hair", "Blond_Hair", "Male", "Smiling"], "elegant")
    with qtbot.waitSignal(worker.modelsChanged) as got:
        worker._run("load_models", dict(model_paths))
    assert set(got.args[0]["routes"].values()) == {"cgan"}  # an unmasked ELEGANT leaves shared ones to the cGAN


def test_the_app_lets_idle_openmp_threads_sleep_unless_told_otherwise():
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = "import app.main, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for given, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        run_env = env if given is None else {**env, "OMP_WAIT_POLICY": given}
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=run_env, capture_output=True, text=True,
                             check=True)
        assert out.stdout.strip() == expected
