"""Accepting dropped files: one behaviour for every widget that takes photos or exemplars by drag-and-drop."""

from __future__ import annotations


class FileDrops:
    """Mixin (before the Qt base class): accept drags carrying URLs, emit ``filesDropped(list[str])`` on drop.

    The widget declares ``filesDropped = Signal(list)`` and calls ``setAcceptDrops(True)``.
    """

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.filesDropped.emit(paths)
