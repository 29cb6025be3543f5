"""The face strip: the selected face's aligned crop, its reconstruction and the current edit, side by side."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.qimage import to_pixmap

SIDE = 128


class FaceStrip(QWidget):
    TITLES = ("Aligned crop", "Reconstruction", "Current edit")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        self.images: list[QLabel] = []
        for title in self.TITLES:
            col = QVBoxLayout()
            image = QLabel()
            image.setFixedSize(SIDE, SIDE)
            image.setAlignment(Qt.AlignmentFlag.AlignCenter)
            image.setStyleSheet("background: #303030; color: #aaa;")
            col.addWidget(image)
            caption = QLabel(title)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            col.addWidget(caption)
            row.addLayout(col)
            self.images.append(image)
        row.addStretch(1)
        self.clear()

    def clear(self) -> None:
        for label in self.images:
            label.clear()
            label.setText("–")

    def show_slot(self, index: int, image: np.ndarray | None, note: str = "–") -> None:
        label = self.images[index]
        if image is None:
            label.clear()
            label.setText(note)
            return
        pix = to_pixmap(image).scaled(SIDE, SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                      Qt.TransformationMode.SmoothTransformation)
        label.setPixmap(pix)

    def show_face(self, state: dict) -> None:
        self.show_slot(0, state.get("crop"))
        self.show_slot(1, state.get("reconstruction"), "not inverted")
        self.show_slot(2, state.get("edit"))
