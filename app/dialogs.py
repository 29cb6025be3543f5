"""Every message box the app shows goes through here (one place to patch in tests, one tone of voice).

Messages name files, models and attributes, which come from files the user or anyone else made: they are
shown as text, never interpreted as Qt rich text (a model named ``<img src="/dev/zero">`` would make Qt
read that file until memory runs out).
"""

from __future__ import annotations

import html
import json
from typing import Any

from PySide6.QtGui import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout, QWidget

from engine.ops import plain_name


def escape(text: Any) -> str:
    """``text`` made safe to put inside rich text (HTML): it shows as written."""
    return html.escape(str(text), quote=False)


def as_text(text: str) -> str:
    """``text`` for a widget that guesses the format (message boxes, tooltips): shown as written, even when it
    looks like markup."""
    return Qt.convertFromPlainText(text) if Qt.mightBeRichText(text) else text


def error(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.critical(parent, title, as_text(text))


def info(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.information(parent, title, as_text(text))


def ask(parent: QWidget | None, title: str, text: str) -> bool:
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, as_text(text), buttons) == QMessageBox.StandardButton.Yes


def ask_save(parent: QWidget | None, name: str, why: str = "") -> str:
    """'save', 'discard' or 'cancel' for a document with unsaved edits (``why``: a sentence put first)."""
    b = QMessageBox.StandardButton
    answer = QMessageBox.question(parent, "Unsaved edits", as_text(f"{why}Save the edits of {name} as a project first?"),
                                  b.Save | b.Discard | b.Cancel)
    return {b.Save: "save", b.Discard: "discard"}.get(answer, "cancel")


def licence_note(manifest: dict[str, Any]) -> str:
    """What a bundle says about its licence and training data (manifests vary; show what is there, once:
    a manifest usually repeats its data's licence at the top level)."""
    parts: list[str] = []
    for key in ("licence", "license"):
        if manifest.get(key):
            parts.append(str(manifest[key]))
    data = manifest.get("data")
    if isinstance(data, dict):
        for k, v in data.items():
            if any(w in k for w in ("licen", "name", "source", "note")) and v:
                said = any(str(v) in p for p in parts)
                parts += [] if said else [f"{k}: {v}"]
    elif data:
        parts.append(str(data))
    unique = [p for i, p in enumerate(parts) if p not in parts[:i]]
    return "; ".join(unique) or "no licence note in the manifest"


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
    body = "".join(f"<tr><td><b>{k}</b></td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table cellspacing=4>{body}</table>"


class ManifestDialog(QDialog):
    """A modeless window describing a loaded model bundle."""

    def __init__(self, manifest: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model: {manifest.get('name', manifest.get('family'))}")
        layout = QVBoxLayout(self)
        text = QTextBrowser()
        text.setHtml(manifest_html(manifest))
        text.setToolTip("What the model's manifest says: its attributes, training data, licence and metrics")
        layout.addWidget(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.button(QDialogButtonBox.StandardButton.Close).setToolTip("Close this description")
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.resize(520, 360)
