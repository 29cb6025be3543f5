"""File > Export Edited Photo: where, in which format (the photo's own by default), the quality, and an
optional new size (the long side in pixels). The worker writes the file; this only asks."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app import dialogs

#: (label, suffix) of the formats an export can write, in menu order
FORMATS = (("JPEG", ".jpg"), ("PNG", ".png"), ("WebP", ".webp"), ("TIFF", ".tif"), ("BMP", ".bmp"))
LOSSY = (".jpg", ".webp")
ALIASES = {".jpeg": ".jpg", ".tiff": ".tif"}


def export_suffix(source: str | None) -> str:
    """The format an export proposes for a photo: its own when it can be written, else PNG (a GIF's frame)."""
    suffix = Path(source).suffix.lower() if source else ""
    suffix = ALIASES.get(suffix, suffix)
    return suffix if suffix in dict((s, n) for n, s in FORMATS) else ".png"


def default_export_path(photo: str | None, project: str | None) -> str:
    """``NAME-edited`` next to the photo (or the project), in the photo's own format."""
    base = Path(photo or project or "photo.png")
    return str(base.with_name(base.stem + "-edited" + export_suffix(photo)))


class ExportDialog(QDialog):
    def __init__(self, path: str, quality: int, size: tuple[int, int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export the edited photo")
        self.photo_side = max(size) if size and max(size) > 0 else 1
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.path = QLineEdit(path)
        self.path.setToolTip("The file to write; its extension sets the format")
        self.path.textChanged.connect(self._path_changed)
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose the folder and file name")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("File:", row)
        self.format = QComboBox()
        for label, suffix in FORMATS:
            self.format.addItem(label, suffix)
        self.format.setToolTip("The image format (the photo's own is proposed)")
        self.format.currentIndexChanged.connect(self._format_changed)
        form.addRow("Format:", self.format)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(quality)
        self.quality.setToolTip("JPEG and WebP quality: higher keeps more detail and makes larger files")
        form.addRow("Quality:", self.quality)
        size_row = QHBoxLayout()
        self.resize_box = QCheckBox("Resize to a long side of")
        self.resize_box.setToolTip("Export at another size (the edit is rendered at full resolution first)")
        self.long_side = QSpinBox()
        self.long_side.setRange(16, 4 * self.photo_side)
        self.long_side.setValue(self.photo_side)
        self.long_side.setSuffix(" px")
        self.long_side.setToolTip(f"The exported photo's longer side (the photo's is {self.photo_side} px)")
        self.long_side.setEnabled(False)
        self.resize_box.toggled.connect(self.long_side.setEnabled)
        size_row.addWidget(self.resize_box)
        size_row.addWidget(self.long_side, 1)
        form.addRow("Size:", size_row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Save).setToolTip("Write the edited photo")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setToolTip("Close without exporting")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._confirmed: str | None = None  # a path the file dialog already asked to replace
        self._path_changed(path)

    # -- what was chosen ------------------------------------------------------------------------------
    def chosen_path(self) -> str:
        return self.path.text().strip()

    def chosen_quality(self) -> int:
        return self.quality.value()

    def chosen_long_side(self) -> int | None:
        """The long side to export at; None for the photo's own size."""
        if not self.resize_box.isChecked() or self.long_side.value() == self.photo_side:
            return None
        return self.long_side.value()

    # -- keeping the path, the format and the quality box in step -------------------------------------
    def _path_changed(self, text: str) -> None:
        suffix = ALIASES.get(Path(text).suffix.lower(), Path(text).suffix.lower())
        i = self.format.findData(suffix)
        if i >= 0 and i != self.format.currentIndex():
            self.format.blockSignals(True)
            self.format.setCurrentIndex(i)
            self.format.blockSignals(False)
        self.quality.setEnabled(self.format.currentData() in LOSSY)

    def _format_changed(self, _index: int) -> None:
        suffix = self.format.currentData()
        text = self.chosen_path()
        if text:
            self.path.setText(str(Path(text).with_suffix(suffix)))
        self.quality.setEnabled(suffix in LOSSY)

    def _browse(self) -> None:
        label = self.format.currentText()
        path, _ = QFileDialog.getSaveFileName(self, "Export the edited photo", self.chosen_path(),
                                              f"{label} (*{self.format.currentData()});;All files (*)")
        if path:
            self._confirmed = path
            self.path.setText(path)

    def _accept(self) -> None:
        text = self.chosen_path()
        if not text:
            dialogs.info(self, "No file name", "Type a file name or choose one with Browse…")
            return
        path = Path(text)
        if ALIASES.get(path.suffix.lower(), path.suffix.lower()) not in dict((s, n) for n, s in FORMATS):
            path = Path(text + self.format.currentData())
            self.path.setText(str(path))
        if not path.parent.is_dir():
            dialogs.error(self, "No such folder", f"{path.parent} does not exist: choose another folder.")
            return
        if path.exists() and str(path) != self._confirmed and not dialogs.ask(
                self, "Replace the file?", f"{path.name} already exists in {path.parent}. Replace it?"):
            return
        self.accept()
