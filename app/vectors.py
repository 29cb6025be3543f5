"""The attribute-vector panel: move the selected face along an attribute's direction in the cGAN's latent space.

A vector (mean code with the attribute minus without it, stored in the bundle) is added to the face's z with
a strength: unlike a slider it is relative, so each Apply is one more undoable step of that size.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from engine.ops import plain_name

STEPS = 100  # slider units per unit of strength


class VectorPanel(QWidget):
    applyRequested = Signal(str, float)  # attribute, strength

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.info)
        self.attribute = QComboBox()
        self.attribute.setToolTip("The attribute whose direction the face moves along")
        layout.addWidget(self.attribute)
        row = QHBoxLayout()
        row.addWidget(QLabel("Strength:"))
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(-2 * STEPS, 2 * STEPS)
        self.strength.setValue(STEPS)
        self.strength.setPageStep(STEPS // 4)
        self.strength.setToolTip("How far to move: positive adds the attribute, negative takes it away")
        self.strength_label = QLabel()
        self.strength_label.setMinimumWidth(40)
        self.strength.valueChanged.connect(self._show_strength)
        row.addWidget(self.strength, 1)
        row.addWidget(self.strength_label)
        layout.addLayout(row)
        self.apply = QPushButton("Apply")
        self.apply.setToolTip("Move the selected face along the vector (one undoable step)")
        self.apply.clicked.connect(self._request)
        layout.addWidget(self.apply)
        layout.addStretch(1)
        self._show_strength(self.strength.value())
        self.set_attributes([])

    def set_attributes(self, names: list[str]) -> None:
        """The cGAN's attributes ([] = no cGAN model loaded)."""
        self.attribute.clear()
        for name in names:
            self.attribute.addItem(plain_name(name), name)
        self.attribute.setEnabled(bool(names))
        self.apply.setEnabled(bool(names))
        self.info.setText("Move the face along an attribute's direction the model learnt; Apply again to go further."
                          if names else "Attribute vectors need a cGAN model with vectors: File > Load model…")

    def value(self) -> float:
        return self.strength.value() / STEPS

    def _show_strength(self, v: int) -> None:
        self.strength_label.setText(f"{v / STEPS:+.2f}")

    def _request(self) -> None:
        name = self.attribute.currentData()
        if name and self.value() != 0:
            self.applyRequested.emit(name, self.value())
