"""Edit > Blend with Another Face: a small modeless window whose slider mixes the selected face with another.

The other face is another face of this photo or the largest face of another photo; the worker inverts it
(``blend_target``) and sends its code back. Each slider drag then becomes one undoable
:class:`~engine.ops.Interpolate` edit, exactly as an attribute slider's drag does.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from engine.images import IMAGE_EXTENSIONS

_gestures = itertools.count(1_000_000)  # apart from the attribute sliders' gestures


class BlendDialog(QDialog):
    targetRequested = Signal(object, object)  # another face's index or None, a photo's path or None
    blendMoved = Signal(float, int)  # t in [0, 1], gesture (0 = a keyboard step)
    released = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Blend with another face")
        layout = QVBoxLayout(self)
        self.face_label = QLabel()
        self.face_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.face_label)
        row = QHBoxLayout()
        self.source = QComboBox()
        self.source.setToolTip("Another face of this photo to blend the selected face with")
        self.source.activated.connect(self._face_chosen)
        self.photo_button = QPushButton("Choose a photo…")
        self.photo_button.setToolTip("Blend with the largest face of another photo")
        self.photo_button.clicked.connect(self._choose_photo)
        row.addWidget(self.source, 1)
        row.addWidget(self.photo_button)
        layout.addLayout(row)
        self.status = QLabel("Pick the face to blend with.")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Blend:"))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setPageStep(10)
        self.slider.setToolTip("0 %: the face as it is; 100 %: the other face")
        self.slider.sliderPressed.connect(self._new_gesture)
        self.slider.valueChanged.connect(self._moved)
        self.slider.sliderReleased.connect(self.released.emit)
        self.value_label = QLabel("0%")
        self.value_label.setMinimumWidth(40)
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(self.value_label)
        layout.addLayout(slider_row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.button(QDialogButtonBox.StandardButton.Close).setToolTip("Close; the blend stays (Undo takes it back)")
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.target: dict | None = None
        self._gesture = 0
        self.set_faces("", [])

    # -- what the window tells it -------------------------------------------------------------------------
    def set_faces(self, current: str, others: list[tuple[int, str]]) -> None:
        """The selected face's name and the other faces of the photo (index, name); forgets the target."""
        self.face_label.setText(f"Blend {current} with:" if current else "Open a photo first.")
        self.source.clear()
        self.source.addItem("Another face of this photo…" if others else "No other face in this photo", None)
        for index, name in others:
            self.source.addItem(name, index)
        self.source.setEnabled(bool(others))
        self.photo_button.setEnabled(bool(current))
        self.clear_target("Pick the face to blend with." if current else "")

    def clear_target(self, text: str) -> None:
        self.target = None
        self.slider.blockSignals(True)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.value_label.setText("0%")
        self.slider.setEnabled(False)
        self.status.setText(text)

    def set_target(self, info: dict) -> None:
        """The other face's code has arrived: the slider blends towards it."""
        self.target = info
        self.slider.setEnabled(True)
        self.status.setText(f"Blending with {info['source']}: move the slider.")

    # -- the user -----------------------------------------------------------------------------------------
    def _face_chosen(self, index: int) -> None:
        other = self.source.itemData(index)
        if other is not None:
            self.clear_target("Inverting the other face…")
            self.targetRequested.emit(other, None)

    def _choose_photo(self) -> None:
        patterns = " ".join(f"*{e}" for e in IMAGE_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Blend with a face from a photo", "", f"Images ({patterns})")
        if path:
            self.clear_target(f"Inverting the face in {Path(path).name}…")
            self.targetRequested.emit(None, path)

    def _new_gesture(self) -> None:
        self._gesture = next(_gestures)

    def _moved(self, v: int) -> None:
        self.value_label.setText(f"{v}%")
        if self.target is not None:
            self.blendMoved.emit(v / 100.0, self._gesture if self.slider.isSliderDown() else 0)
