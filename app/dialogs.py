"""Every message box the app shows goes through here (one place to patch in tests, one tone of voice)."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout, QWidget

from engine.ops import plain_name


def error(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.critical(parent, title, text)


def info(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.information(parent, title, text)


def ask(parent: QWidget | None, title: str, text: str) -> bool:
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, buttons) == QMessageBox.StandardButton.Yes


def ask_save(parent: QWidget | None, name: str, why: str = "") -> str:
    """'save', 'discard' or 'cancel' for a document with unsaved edits (``why``: a sentence put first)."""
    b = QMessageBox.StandardButton
    answer = QMessageBox.question(parent, "Unsaved edits", f"{why}Save the edits of {name} as a project first?",
                                  b.Save | b.Discard | b.Cancel)
    return {b.Save: "save", b.Discard: "discard"}.get(answer, "cancel")


def licence_note(manifest: dict[str, Any]) -> str:
    """What a bundle says about its licence and training data (manifests vary; show what is there)."""
    parts = []
    for key in ("licence", "license"):
        if manifest.get(key):
            parts.append(str(manifest[key]))
    data = manifest.get("data")
    if isinstance(data, dict):
        parts += [f"{k}: {v}" for k, v in data.items() if any(w in k for w in ("licen", "name", "source", "note"))]
    elif data:
        parts.append(str(data))
    return "; ".join(parts) or "no licence note in the manifest"


def manifest_html(manifest: dict[str, Any]) -> str:
    rows = [
        ("Name", manifest.get("name", "–")),
        ("Family", manifest.get("family")),
        ("Resolution", f"{manifest.get('resolution')} px"),
        ("Attributes", ", ".join(plain_name(a) for a in manifest.get("attributes", []))),
        ("Networks", ", ".join(sorted(manifest.get("networks", {})))),
        ("Licence / data", licence_note(manifest)),
        ("Training", json.dumps(manifest.get("training", "–"))[:400]),
        ("Metrics", json.dumps(manifest.get("metrics", "–"))[:400]),
    ]
    body = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
    return f"<table cellspacing=4>{body}</table>"


class ManifestDialog(QDialog):
    """A modeless window describing a loaded model bundle."""

    def __init__(self, manifest: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model: {manifest.get('name', manifest.get('family'))}")
        layout = QVBoxLayout(self)
        text = QTextBrowser()
        text.setHtml(manifest_html(manifest))
        layout.addWidget(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.resize(520, 360)
