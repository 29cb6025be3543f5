"""App tests run offscreen, with settings, data and logs in a temporary home and tiny random models.

Message boxes are recorded instead of shown (a modal box would block an offscreen test forever).
The ``windowed`` test starts the real application in its own process on an X display instead.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from tests.engine.test_session import make_cgan_bundle, make_elegant_bundle  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "samples" / "astronaut.png"


@pytest.fixture(autouse=True)
def app_home(tmp_path, monkeypatch):
    """Each test's settings, autosave and logs live in its own folder; no default models are found."""
    home = tmp_path / "facet-home"
    monkeypatch.setenv("FACET_STUDIO_HOME", str(home))
    monkeypatch.setenv("FACET_MODELS_DIR", str(home / "no-default-models"))
    return home


@pytest.fixture(scope="session")
def model_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("app-models")
    return {"cgan": str(make_cgan_bundle(root / "cgan")), "elegant": str(make_elegant_bundle(root / "elegant"))}


class Shown(list):
    """The recorded message boxes; ``answers`` maps a kind ("question") to the button it returns."""

    answers: dict


@pytest.fixture
def dialogs(monkeypatch):
    """Record every message box (kind, title, text) instead of blocking; questions answer ``answers``."""
    shown = Shown()
    answers = {"question": QMessageBox.StandardButton.Yes}

    def record(kind):
        def fn(parent, title, text, *args, **kwargs):
            shown.append((kind, title, text))
            return answers.get(kind, QMessageBox.StandardButton.Ok)

        return staticmethod(fn)

    for kind in ("critical", "warning", "information", "question", "about"):
        monkeypatch.setattr(QMessageBox, kind, record(kind))
    shown.answers = answers
    return shown


@pytest.fixture
def photo_file(tmp_path):
    """The bundled public-domain sample when present, else a synthetic picture (no face: the window offers to
    draw a box, nothing is edited until there is one)."""
    if SAMPLE.exists():
        return str(SAMPLE)
    from engine.images import save_image

    rng = np.random.default_rng(1)
    return str(save_image(tmp_path / "photo.png", rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)))


@pytest.fixture
def make_window(qtbot, dialogs, model_paths):
    """A main window with the tiny models loaded (``models=False``: none) and the fast preset."""
    made = []

    def make(models: bool = True):
        from app.window import MainWindow

        window = MainWindow()
        window.confirm_close = False
        window.attributes.set_preset("fast")
        window.worker.submit("set_preset", preset="fast")
        qtbot.addWidget(window)
        made.append(window)
        if models:
            with qtbot.waitSignal(window.events.modelsChanged, timeout=20000):
                window.worker.submit("load_models", **model_paths)
        return window

    yield make
    for window in made:
        window.host.shutdown()
