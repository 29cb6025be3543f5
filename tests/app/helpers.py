"""Helpers shared by the window tests: wait for the worker, open a photo and wait for its inversion."""

from __future__ import annotations


def settle(qtbot, window) -> None:
    """Wait until the worker is idle and every signal it sent has been delivered to the window."""
    from PySide6.QtWidgets import QApplication

    qtbot.waitUntil(lambda: window.worker.pending() == 0)
    QApplication.processEvents()  # the relays were queued before the worker went idle


def open_and_invert(qtbot, window, path) -> None:
    """Open a photo and wait until face 1 is inverted (the window inverts it on its own)."""
    with qtbot.waitSignal(window.events.faceUpdated, timeout=30000, check_params_cb=lambda s: s["inverted"]):
        window.open_path(path)
    settle(qtbot, window)


def slide(qtbot, window, name: str, value: int) -> None:
    """Move an attribute slider and wait until the edit is in the session."""
    window.attributes.sliders[name].setValue(value)
    settle(qtbot, window)


def start_long_inversion(qtbot, window, path) -> None:
    """Open a photo (no automatic inversion) and start an inversion that would run for minutes."""
    window.auto_invert = False
    with qtbot.waitSignal(window.events.sessionReady, timeout=30000):
        window.open_path(path)
    window.worker.submit("set_preset", preset="optimize", steps=100000)
    with qtbot.waitSignal(window.events.jobProgress, timeout=30000):
        window.worker.submit("invert", face=0)


def answer_export(monkeypatch, path: str, suffix: str | None = None) -> None:
    """Make File > Export's dialog answer as a user who types ``path`` (and picks the format ``suffix``, e.g.
    ".webp") and presses Save: its own checks run (a missing extension added, "Replace the file?")."""
    from app.export_dialog import ExportDialog

    def answer(dialog) -> None:
        if suffix is not None:
            dialog.format.setCurrentIndex(dialog.format.findData(suffix))
        dialog.path.setText(path)
        dialog._accept()

    monkeypatch.setattr(ExportDialog, "open", answer)
