"""The app survives thousands of slider values and repaints (PySide6 6.12.0 did not: see pyproject.toml).

On PySide6-Essentials 6.12.0 every call of a Python override of a Qt virtual (``QUndoCommand.redo``, a
``QGraphicsItem.paint``) and every ``processEvents`` dropped a reference to ``None`` it did not own; after
roughly 1,500 slider values Python aborted with ``Fatal Python error: none_dealloc``. The stress runs in a
process of its own, so an abort is this test failing, not pytest dying.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import ROOT

GESTURE = 50  # slider values per drag: they merge into one undo step

STRESS = r"""
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
import numpy as np
from PySide6.QtCore import QCoreApplication, QEventLoop, QRectF
from PySide6.QtGui import QImage, QPainter, QUndoStack
from PySide6.QtWidgets import QApplication

app = QApplication([])
from app.canvas import Canvas
from app.commands import EditCommand

class Client:  # what EditCommand talks to: the worker host
    silent = False
    sent = 0
    def submit(self, kind, **args):
        Client.sent += 1

def refcounts():
    return {"None": sys.getrefcount(None), "True": sys.getrefcount(True), "False": sys.getrefcount(False)}

n, gesture = int(sys.argv[1]), int(sys.argv[2])
start = refcounts()
stack = QUndoStack()
for i in range(n):  # slider drags: each value is pushed, and merged into its drag's undo step
    stack.push(EditCommand(Client(), ("apply", {"value": i}), f"value {i}", merge_key=("Smiling", i // gesture)))
    if i % gesture == gesture - 1:
        stack.undo()
        stack.redo()
canvas = Canvas()
photo = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)
canvas.set_photo(photo)
canvas.set_result(photo)
canvas.set_split(0.5)  # the edited photo's own paint() clips it and draws the split line
image = QImage(160, 120, QImage.Format.Format_RGB32)
for _ in range(n):
    painter = QPainter(image)
    canvas.scene().render(painter, QRectF(image.rect()), canvas.scene().sceneRect())
    painter.end()
    QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)  # as the save wait does
end = refcounts()
print(json.dumps({"steps": stack.count(), "sent": Client.sent, "drift": {k: end[k] - start[k] for k in end}}))
"""


def test_thousands_of_slider_values_and_repaints_do_not_abort(tmp_path):
    n = 3000  # more than None's reference count at start-up: a leak of one per call aborts before the end
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FACET_STUDIO_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", STRESS, str(n), str(GESTURE)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"the app's Qt patterns abort Python (exit {done.returncode}):\n{done.stderr[-2000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    gestures = n // GESTURE
    assert report["steps"] == gestures  # every drag merged into one step
    assert report["sent"] == 2 * n + gestures  # apply (+ squash when merged) per value; undo and redo per drag
    assert min(report["drift"].values()) > -n // 10, f"references to None/True/False are being dropped: {report}"
