"""Help: the user guide (a Markdown file shipped in resources/guide), the keyboard shortcuts listed from the
window's own actions, and the hint on the empty canvas.

The guide is a plain local file shown in a QTextBrowser: no network, no web engine, and links leave the
window only when they point into the guide itself (``#anchor``). The shortcut list is built from the
actions at the moment it is shown, so it lists exactly what the keys do and cannot go stale.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QUrl
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.paths import RESOURCES

GUIDE = RESOURCES / "guide" / "guide.md"
EMPTY_HINT = "Open a photo (File > Open…, Ctrl+O) or drop one here"


def guide_path() -> Path:
    return GUIDE


class GuideWindow(QDialog):
    """The user guide in a modeless window: the shipped Markdown file, read from disk, links inside it only."""

    def __init__(self, parent: QWidget | None = None, path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Facet Studio User Guide")
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)  # nothing is fetched: anchors scroll, other links are only shown
        self.browser.setOpenExternalLinks(False)
        self.browser.anchorClicked.connect(self._follow)
        self.browser.setToolTip("The user guide (shipped with the app; no internet needed)")
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        buttons.button(QDialogButtonBox.StandardButton.Close).setToolTip("Close the guide")
        layout.addWidget(buttons)
        self.resize(720, 640)
        self.source: Path | None = None  # the file shown, once it was read
        self.load(path or guide_path())

    def load(self, path: Path) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.browser.setPlainText(f"The user guide cannot be read from {path}: {exc}")
            return
        self.browser.document().setBaseUrl(QUrl.fromLocalFile(str(path)))
        self.browser.setMarkdown(text)
        self.source = Path(path)

    def _follow(self, url: QUrl) -> None:
        """A link inside the guide (``#a-heading``) scrolls to that heading; any other link is left alone."""
        if url.scheme() or url.path() or not url.hasFragment():
            return  # nothing outside the guide is ever fetched
        block = self.browser.document().begin()
        while block.isValid():
            if block.blockFormat().headingLevel() and heading_anchor(block.text()) == url.fragment():
                cursor = self.browser.textCursor()
                cursor.setPosition(block.position())
                self.browser.setTextCursor(cursor)
                self.browser.verticalScrollBar().setValue(self.browser.verticalScrollBar().maximum())
                self.browser.ensureCursorVisible()  # from the bottom up: the heading ends at the top
                return
            block = block.next()


def heading_anchor(text: str) -> str:
    """The anchor a Markdown heading gets (GitHub's rule): "Save, export and autosave" → "save-export-and-autosave"."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _plain(text: str) -> str:
    """A menu text as it reads: "&Open…" → "Open…" ("&&" stays one "&")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def shortcut_rows(window: QWidget) -> list[tuple[str, str]]:
    """(what, keys) for every action of ``window`` that has a shortcut, keys as the platform writes them,
    sorted by what; one row per action (several shortcuts joined by commas)."""
    rows = set()
    for action in window.findChildren(QAction):
        keys = list(dict.fromkeys(k.toString(QKeySequence.SequenceFormat.NativeText)
                                  for k in action.shortcuts() if not k.isEmpty()))  # once each, in order
        if keys and action.text():
            rows.add((_plain(action.text()), ", ".join(keys)))
    return sorted(rows, key=lambda row: row[0].lower())


class ShortcutsDialog(QDialog):
    """Help > Keyboard Shortcuts: a table made from the window's actions."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard Shortcuts")
        layout = QVBoxLayout(self)
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Keys"])
        self.table.setToolTip("Every keyboard shortcut of the window, taken from its menus")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for r, (what, keys) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(what))
            self.table.setItem(r, 1, QTableWidgetItem(keys))
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        buttons.button(QDialogButtonBox.StandardButton.Close).setToolTip("Close the list")
        layout.addWidget(buttons)
        self.resize(460, 520)

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).text(), self.table.item(r, 1).text()) for r in range(self.table.rowCount())]


class EmptyHint(QLabel):
    """A line centred on the canvas while no photo is shown: what to do first. It lets clicks and drops
    through to the canvas under it."""

    def __init__(self, canvas: QWidget) -> None:
        super().__init__(EMPTY_HINT, canvas.viewport())
        self.setObjectName("emptyHint")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setStyleSheet("color: #bbb; font-size: 15px; background: transparent;")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setToolTip(EMPTY_HINT)
        canvas.viewport().installEventFilter(self)
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        self.setGeometry(self.parentWidget().rect().adjusted(24, 24, -24, -24))
