"""Dropping files on the canvas or the exemplar gallery hands their local paths to the window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.canvas import Canvas
from app.exemplars import ExemplarList

pytestmark = pytest.mark.qt_log_level_fail("WARNING")


def _mime(*urls: QUrl) -> QMimeData:
    mime = QMimeData()
    mime.setUrls(list(urls))
    return mime


@pytest.mark.parametrize("widget_class", [Canvas, ExemplarList])
def test_dropped_local_files_are_emitted(qtbot, tmp_path, widget_class):
    widget = widget_class()
    qtbot.addWidget(widget)
    photo = tmp_path / "face.png"
    mime = _mime(QUrl.fromLocalFile(str(photo)))
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(widget.filesDropped) as blocker:
        widget.dropEvent(event)
    assert event.isAccepted()
    assert blocker.args == [[str(photo)]]


@pytest.mark.parametrize("widget_class", [Canvas, ExemplarList])
def test_drops_without_local_files_are_ignored(qtbot, widget_class):
    widget = widget_class()
    qtbot.addWidget(widget)
    mime = _mime(QUrl("https://example.org/a.png"))  # kept alive: the event does not own it
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.assertNotEmitted(widget.filesDropped):
        widget.dropEvent(event)
    assert not event.isAccepted()
