"""The exemplar pane: a gallery of faces to take attributes from (ELEGANT transfer).

Bundled samples come from resources/exemplars (generated faces or public-domain photos, never CelebA);
users add folders or single images (buttons or drag and drop). Picking one, ticking attributes and
setting a strength asks for a transfer onto the selected face.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.drops import FileDrops
from engine.images import IMAGE_EXTENSIONS
from engine.ops import plain_name

THUMB = 72


def thumbnail(path: Path, size: int = THUMB) -> QPixmap:
    """A small preview (EXIF-oriented); a null pixmap when Qt cannot read the file."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid() and full.width() > 0 and full.height() > 0:
        reader.setScaledSize(full.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    return QPixmap.fromImage(reader.read())


class ExemplarList(FileDrops, QListWidget):
    filesDropped = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setAcceptDrops(True)


class ExemplarPanel(QWidget):
    transferRequested = Signal(str, tuple, float)  # exemplar path, attributes, strength
    foldersChanged = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.info = QLabel()
        self.info.setWordWrap(True)
        layout.addWidget(self.info)
        self.list = ExemplarList()
        self.list.filesDropped.connect(self.add_paths)
        self.list.itemSelectionChanged.connect(self._update_enabled)
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        add_folder = QPushButton("Add folder…")
        add_folder.clicked.connect(self._choose_folder)
        add_images = QPushButton("Add images…")
        add_images.clicked.connect(self._choose_images)
        buttons.addWidget(add_folder)
        buttons.addWidget(add_images)
        layout.addLayout(buttons)
        self.checks_box = QGridLayout()
        layout.addLayout(self.checks_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Strength:"))
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(0, 150)
        self.strength.setValue(100)
        self.strength_label = QLabel("100%")
        self.strength.valueChanged.connect(lambda v: self.strength_label.setText(f"{v}%"))
        row.addWidget(self.strength, 1)
        row.addWidget(self.strength_label)
        layout.addLayout(row)
        self.apply = QPushButton("Take from exemplar")
        self.apply.clicked.connect(self._request)
        layout.addWidget(self.apply)
        self.checks: dict[str, QCheckBox] = {}
        self.folders: list[str] = []
        self.available = False
        self.set_attributes([])

    # -- content ----------------------------------------------------------------------------------------
    def set_attributes(self, names: list[str]) -> None:
        """The ELEGANT model's attributes ([] = no ELEGANT model loaded)."""
        while self.checks_box.count():
            w = self.checks_box.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.checks = {}
        for i, name in enumerate(names):
            box = QCheckBox(plain_name(name))
            box.toggled.connect(self._update_enabled)
            self.checks_box.addWidget(box, i // 2, i % 2)
            self.checks[name] = box
        self.available = bool(names)
        self.info.setText(
            "Pick a face, tick what to take from it, set the strength."
            if names else "Exemplar transfer needs an ELEGANT model: File > Load model…"
        )
        self._update_enabled()

    def add_folder(self, folder: str | Path, remember: bool = True) -> int:
        folder = Path(folder)
        if not folder.is_dir():
            return 0
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        n = self.add_paths([str(p) for p in files])
        if remember and str(folder) not in self.folders:
            self.folders.append(str(folder))
            self.foldersChanged.emit(list(self.folders))
        return n

    def add_paths(self, paths: list[str]) -> int:
        known = {self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())}
        added = 0
        for p in paths:
            path = Path(p)
            if path.is_dir():
                added += self.add_folder(path)
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS or str(path) in known:
                continue
            item = QListWidgetItem(QIcon(thumbnail(path)), path.stem[:14])
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.list.addItem(item)
            added += 1
        return added

    def selected_path(self) -> str | None:
        items = self.list.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def selected_attributes(self) -> tuple[str, ...]:
        return tuple(n for n, box in self.checks.items() if box.isChecked())

    # -- actions ----------------------------------------------------------------------------------------
    def _update_enabled(self) -> None:
        self.apply.setEnabled(self.available and self.selected_path() is not None and bool(self.selected_attributes()))

    def _request(self) -> None:
        path = self.selected_path()
        if path and self.selected_attributes():
            self.transferRequested.emit(path, self.selected_attributes(), self.strength.value() / 100.0)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of exemplar faces")
        if folder:
            self.add_folder(folder)

    def _choose_images(self) -> None:
        patterns = " ".join(f"*{e}" for e in IMAGE_EXTENSIONS)
        files, _ = QFileDialog.getOpenFileNames(self, "Add exemplar faces", "", f"Images ({patterns})")
        self.add_paths(files)
