"""The attribute dock: one slider per attribute of the loaded cGAN, resets, and the quality preset.

Sliders show y in [-1, 1] as -100..100. Moving one emits ``valueChanged`` (a cheap preview render per
coalesced batch); pressing starts a new *gesture* so a whole drag is one undo step; releasing emits
``released`` (the refined full render).
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import as_text
from engine.ops import plain_name

PRESETS = (("fast", "Fast"), ("balanced", "Balanced"), ("best", "Best"))
PRESET_HELP = {
    "fast": "Encoder only: instant, approximate likeness",
    "balanced": "Encoder, then a short optimisation: a few seconds",
    "best": "Pivotal tuning: the generator learns this face (a few seconds); looks like the person",
}
_gestures = itertools.count(1)


class AttributePanel(QWidget):
    valueChanged = Signal(str, float, int)  # name, value in [-1, 1], gesture (0 = keyboard step)
    released = Signal(str)
    resetRequested = Signal(object)  # a name, or None for all
    presetChanged = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.PlainText)  # model names come from files: text, never markup
        layout.addWidget(self.info)
        row = QHBoxLayout()
        row.addWidget(QLabel("Quality:"))
        self.preset = QComboBox()
        for key, label in PRESETS:
            self.preset.addItem(label, key)
            self.preset.setItemData(self.preset.count() - 1, PRESET_HELP[key], Qt.ItemDataRole.ToolTipRole)
        self.preset.setCurrentIndex(1)
        self.preset.setToolTip("How faces are inverted before editing: faster, or more like the person (remembered)")
        self.preset.currentIndexChanged.connect(lambda _i: self.presetChanged.emit(self.current_preset()))
        row.addWidget(self.preset, 1)
        layout.addLayout(row)
        self.face_label = QLabel("No photo open")
        self.face_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.face_label)
        self.grid = QGridLayout()
        layout.addLayout(self.grid)
        self.reset_all = QPushButton("Reset all")
        self.reset_all.setToolTip("Put every attribute of the selected face back as it was inverted (Ctrl+R)")
        self.reset_all.clicked.connect(lambda: self.resetRequested.emit(None))
        layout.addWidget(self.reset_all)
        layout.addStretch(1)
        self.sliders: dict[str, QSlider] = {}
        self.values: dict[str, QLabel] = {}
        self._gesture = 0
        self.set_attributes([])

    def current_preset(self) -> str:
        return self.preset.currentData()

    def set_preset(self, preset: str) -> None:
        i = self.preset.findData(preset)
        if i >= 0:
            self.preset.setCurrentIndex(i)

    def set_presets_available(self, methods: dict[str, str]) -> None:
        """Show which inversion method each preset will use with this model."""
        for i in range(self.preset.count()):
            key = self.preset.itemData(i)
            method = methods.get(key)
            label = dict(PRESETS)[key] + (f" ({method})" if method else " (unavailable)")
            self.preset.setItemText(i, label)

    def set_info(self, text: str) -> None:
        self.info.setText(text)

    def set_attributes(self, names: list[str], limits: dict[str, float] | None = None) -> None:
        """One slider per attribute; ``limits``: how far each reaches (±1 unless the model's manifest measured
        that a stronger dial still keeps the person: ``engine.edit.attribute_limit``)."""
        limits = limits or {}
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.sliders, self.values = {}, {}
        for row, name in enumerate(names):
            label = QLabel(plain_name(name))
            label.setTextFormat(Qt.TextFormat.PlainText)  # attribute names come from the model's manifest
            slider = QSlider(Qt.Orientation.Horizontal)
            limit = float(limits.get(name, 1.0))
            slider.setRange(-round(100 * limit), round(100 * limit))
            slider.setPageStep(10)
            slider.setObjectName(f"slider:{name}")
            slider.setAccessibleName(plain_name(name))
            beyond = f"; the ends (±{limit:g}) make it stronger than on the faces the model learned from" \
                if limit > 1 else ""
            slider.setToolTip(as_text(f"{plain_name(name)}: drag to set it from -1 (none) to +1 (strong){beyond}; "
                                      "one drag is one undo step"))
            value = QLabel("–")
            value.setMinimumWidth(40)
            reset = QToolButton()
            reset.setText("↺")
            reset.setToolTip(as_text(f"Reset {plain_name(name).lower()}"))
            slider.sliderPressed.connect(self._new_gesture)
            slider.valueChanged.connect(lambda v, n=name: self._moved(n, v))
            slider.sliderReleased.connect(lambda n=name: self.released.emit(n))
            reset.clicked.connect(lambda _c=False, n=name: self.resetRequested.emit(n))
            for col, w in enumerate((label, slider, value, reset)):
                self.grid.addWidget(w, row, col)
            self.sliders[name], self.values[name] = slider, value
        self.reset_all.setEnabled(bool(names))
        self.set_values(None)

    def _new_gesture(self) -> None:
        self._gesture = next(_gestures)

    def _moved(self, name: str, v: int) -> None:
        self.values[name].setText(f"{v / 100:+.2f}")
        gesture = self._gesture if self.sliders[name].isSliderDown() else 0
        self.valueChanged.emit(name, v / 100.0, gesture)

    def set_face(self, text: str) -> None:
        self.face_label.setText(text)

    def set_values(self, values: dict[str, float | None] | None) -> None:
        """Show the session's values; never emits, never fights a drag. A slider whose value is None (its face
        waits for the inversion its model needs; every slider when ``values`` is None: no face) is disabled."""
        for name, slider in self.sliders.items():
            if slider.isSliderDown():
                continue
            v = None if values is None else values.get(name)
            slider.setEnabled(v is not None)
            slider.blockSignals(True)
            slider.setValue(0 if v is None else round(v * 100))
            slider.blockSignals(False)
            self.values[name].setText("–" if v is None else f"{v:+.2f}")
