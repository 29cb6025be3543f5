"""Preferences (persisted with QSettings) and their dialog."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QSpinBox

from app.paths import APP_NAME, ORG_NAME

DEVICES = (("auto", "Automatic (GPU if available)"), ("cpu", "CPU"), ("cuda", "GPU (CUDA)"))


def settings() -> QSettings:
    """The app's settings: an INI file, under ``$FACET_STUDIO_HOME`` when set (tests, portable installs)."""
    home = os.environ.get("FACET_STUDIO_HOME")
    if home:
        return QSettings(str(Path(home) / "settings.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG_NAME, APP_NAME)


def list_value(key: str) -> list[str]:
    """A list setting (INI files give a one-element list back as a plain string)."""
    value = settings().value(key, []) or []
    return [value] if isinstance(value, str) else [str(v) for v in value]


@dataclass
class Preferences:
    device: str = "auto"
    autosave_seconds: int = 60
    jpeg_quality: int = 92
    max_recent: int = 10
    keep_face: bool = True  # Edit > Keep the Photo's Own Face (engine.session.EditSession.keep_face)
    quality: str = "balanced"  # the Attributes panel's quality preset, as the user last chose it

    @classmethod
    def load(cls) -> Preferences:
        s = settings()
        d = cls()
        return cls(
            device=str(s.value("prefs/device", d.device)),
            autosave_seconds=int(s.value("prefs/autosave_seconds", d.autosave_seconds)),
            jpeg_quality=int(s.value("prefs/jpeg_quality", d.jpeg_quality)),
            max_recent=int(s.value("prefs/max_recent", d.max_recent)),
            keep_face=str(s.value("prefs/keep_face", d.keep_face)).lower() in ("true", "1", "yes"),
            quality=str(s.value("prefs/quality", d.quality)),
        )

    def save(self) -> None:
        s = settings()
        for key in ("device", "autosave_seconds", "jpeg_quality", "max_recent", "keep_face", "quality"):
            s.setValue(f"prefs/{key}", getattr(self, key))


class PreferencesDialog(QDialog):
    def __init__(self, prefs: Preferences, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        form = QFormLayout(self)
        self.device = QComboBox()
        for key, label in DEVICES:
            self.device.addItem(label, key)
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        self.device.setToolTip("Where the models run: a CUDA GPU is much faster when there is one")
        form.addRow("Compute device:", self.device)
        self.autosave = QSpinBox()
        self.autosave.setRange(0, 3600)
        self.autosave.setSuffix(" s")
        self.autosave.setSpecialValueText("off")
        self.autosave.setValue(prefs.autosave_seconds)
        self.autosave.setToolTip("How often unsaved edits are written to a recovery file (off: never)")
        form.addRow("Autosave every:", self.autosave)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(prefs.jpeg_quality)
        self.quality.setToolTip("The export's quality for JPEG and WebP files (higher: larger files)")
        form.addRow("JPEG / WebP quality:", self.quality)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._base = prefs

    def result_preferences(self) -> Preferences:
        return Preferences(device=self.device.currentData(), autosave_seconds=self.autosave.value(),
                           jpeg_quality=self.quality.value(), max_recent=self._base.max_recent,
                           keep_face=self._base.keep_face, quality=self._base.quality)
