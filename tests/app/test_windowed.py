"""The real application in a real (virtual) X window: it starts, opens a photo and draws something."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVER = """
import sys
from PySide6.QtCore import QTimer
from app.main import create_app, parse_args, start_window
app = create_app([sys.argv[0]])
window = start_window(parse_args([sys.argv[1], "--no-models"]))
window.confirm_close = False
deadline = [60]
def shot():
    deadline[0] -= 1
    if not window.has_session and deadline[0] > 0:
        QTimer.singleShot(250, shot)
        return
    app.processEvents()
    app.primaryScreen().grabWindow(0).save(sys.argv[2])
    window.close()
    app.quit()
QTimer.singleShot(500, shot)
sys.exit(app.exec())
"""


@pytest.fixture
def display():
    """$DISPLAY, or a private Xvfb started for this test; skip when neither is there."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("no DISPLAY and no Xvfb to start one")
    number = 99
    while Path(f"/tmp/.X{number}-lock").exists():
        number += 1
    proc = subprocess.Popen([xvfb, f":{number}", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            time.sleep(0.1)  # waiting for an external X server process to come up, not for Qt
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.windowed
def test_the_application_shows_a_window(display, tmp_path):
    from tests.app.conftest import SAMPLE

    if not SAMPLE.exists():
        pytest.skip(f"{SAMPLE} is missing")
    shot = tmp_path / "screenshot.png"
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", FACET_STUDIO_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "-c", DRIVER, str(SAMPLE), str(shot)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0 and "could not load the Qt platform plugin" in done.stderr.lower():
        pytest.skip(f"Qt's xcb plugin cannot start here: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr
    from engine.images import load_image

    image = load_image(shot)
    assert image.shape[0] >= 480 and image.shape[1] >= 640
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 200  # not a blank screen
