"""A seeded GUI monkey: random user actions on the real main window, offscreen, in a process of its own.

Each action is what a user does (open a photo, drag or step a slider, brush, undo/redo, save, open a
project, cancel a job, load a model, draw a face box, take attributes from an exemplar, view toggles);
some are bursts that do several things before the worker catches up, which is where the undo stack and the
session's edit stack used to fall out of step. After every action the monkey waits until the worker is
idle and checks that the window's undo stack mirrors the worker's edit history, entry for entry.

It runs as a script so that an abort (a fatal error in Qt or PySide) is seen as one, and so that its peak
memory is its own::

    python -m tests.robustness.gui_monkey --actions 1000 --seed 7 --images ../shared/fixtures/images
    python -m tests.robustness.gui_monkey --actions 3400 --models shipped      # the longer mode

The last line of its output is a JSON report: actions run, exceptions, unexpected-error messages, projects
it saved that did not reopen, mirror violations (with the first few described), peak memory (MB), seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# -- set-up ---------------------------------------------------------------------------------------------
def prepare_environment(home: Path) -> None:
    """Offscreen Qt, settings in ``home``, no default models found (the monkey loads its own)."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["FACET_STUDIO_HOME"] = str(home)
    os.environ["FACET_MODELS_DIR"] = str(home / "no-default-models")
    # OpenMP threads that spin while they wait take the CPU from the GUI thread: on a busy 2-core machine the
    # same thousand actions took eight times longer (set before torch is imported)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def tiny_models(folder: Path) -> dict[str, str]:
    """The randomly initialised 32-px bundles the app tests use (fast: CI runs the monkey with these)."""
    sys.path.insert(0, str(ROOT))
    from tests.engine.test_session import make_cgan_bundle, make_elegant_bundle

    return {"cgan": str(make_cgan_bundle(folder / "cgan")), "elegant": str(make_elegant_bundle(folder / "elegant"))}


def shipped_models() -> dict[str, str]:
    models = ROOT / "resources" / "models"
    return {"cgan": str(models / "cgan64"), "elegant": str(models / "elegant64")}


def fixture_images(folder: Path | None) -> list[str]:
    """Every fixture image (those meant to be refused too), else the bundled sample photo."""
    if folder is not None and folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() != ".tsv")
        if files:
            return [str(p) for p in files]
    return [str(ROOT / "resources" / "samples" / "astronaut.png")]


class Recorder:
    """Message boxes and file dialogs answered by the monkey's random generator instead of a person."""

    def __init__(self, rng: random.Random, workdir: Path, models: dict[str, str]) -> None:
        self.rng, self.workdir, self.models = rng, workdir, models
        self.boxes: Counter = Counter()

    def install(self) -> None:
        from PySide6.QtGui import QColor
        from PySide6.QtWidgets import QColorDialog, QFileDialog, QMessageBox

        b = QMessageBox.StandardButton

        def box(kind):
            def answer(_parent, title, _text, buttons=b.Ok, *_args, **_kwargs):
                self.boxes[f"{kind}: {title}"] += 1
                choices = [x for x in (b.Yes, b.No, b.Save, b.Discard, b.Cancel) if buttons & x]
                return self.rng.choice(choices) if choices else b.Ok

            return staticmethod(answer)

        for kind in ("critical", "warning", "information", "question", "about"):
            setattr(QMessageBox, kind, box(kind))

        def save_name(*_args, **_kwargs):
            return str(self.workdir / f"monkey-{self.rng.randrange(3)}.facet"), ""

        QFileDialog.getSaveFileName = staticmethod(save_name)
        QFileDialog.getOpenFileName = staticmethod(lambda *a, **k: ("", ""))
        QFileDialog.getExistingDirectory = staticmethod(lambda *a, **k: self.rng.choice(list(self.models.values())))
        QColorDialog.getColor = staticmethod(lambda *a, **k: QColor(self.rng.randrange(256), 90, 40))


# -- waiting and the invariant ------------------------------------------------------------------------
def settle(window, timeout: float = 120.0) -> bool:
    """Run the event loop until the worker is idle and everything it sent has reached the window."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    tick = QTimer()
    tick.setInterval(50)  # re-checks pending(): ``idle`` may have been sent before this loop listened
    tick.timeout.connect(loop.quit)
    window.events.idle.connect(loop.quit)
    tick.start()
    try:
        while time.monotonic() < deadline:
            while window.worker.pending() and time.monotonic() < deadline:
                loop.exec()
            QApplication.processEvents()  # the relays of the last signals; their slots may send more
            if not window.worker.pending():
                return True
        return False
    finally:
        tick.stop()
        window.events.idle.disconnect(loop.quit)


def wait_for(signals: list, timeout: float) -> bool:
    """Run the event loop until one of ``signals`` is emitted (True) or ``timeout`` seconds pass (False)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, seen = QEventLoop(), []
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)

    def got(*_args) -> None:
        seen.append(True)
        loop.quit()

    for signal in signals:
        signal.connect(got)
    timer.start(int(timeout * 1000))
    try:
        loop.exec()
    finally:
        for signal in signals:
            signal.disconnect(got)
        timer.stop()
    return bool(seen)


def mirror_problem(window) -> str | None:
    """Why the window's undo stack is not the worker's edit history entry for entry (None when it is)."""
    stack, worker = window.undo_stack, window.worker
    gui = [stack.command(i).token for i in range(stack.count())]
    history = worker.history
    if gui != history.tokens or stack.index() != history.cursor:
        return (f"undo stack {gui} at {stack.index()} but the worker's history {history.tokens} at "
                f"{history.cursor}")
    session = worker.session
    if session is None:
        return None if not gui else f"{len(gui)} undo entries without a document"
    ops = [t for t in history.tokens if history.kinds[t] == "op"]
    active = [t for t in history.tokens[: history.cursor] if history.kinds[t] == "op"]
    if len(ops) != len(session.ops) or len(active) != session.cursor:
        return (f"{len(ops)} edit entries ({len(active)} active) for {len(session.ops)} session operations "
                f"(cursor {session.cursor})")
    faces = [t for t in history.tokens[: history.cursor] if history.kinds[t] == "face"]
    if history.base_faces + len(faces) != len(session.faces):
        return f"{history.base_faces} found + {len(faces)} drawn face boxes, but {len(session.faces)} faces"
    return None


# -- the monkey ------------------------------------------------------------------------------------------
class Monkey:
    def __init__(self, window, rng: random.Random, images: list[str], models: dict[str, str], workdir: Path):
        self.w, self.rng, self.images, self.models, self.workdir = window, rng, images, models, workdir
        self.projects: list[str] = []
        self.actions = Counter()
        self.weights = {  # how often each action comes up (the slow ones less often: CI runs this in a minute)
            self.open_image: 4, self.open_project: 2, self.save: 3, self.autosave: 1, self.drag: 18,
            self.step: 10, self.reset: 3, self.undo: 12, self.redo: 8, self.brush: 2, self.cancel: 3,
            self.preset: 2, self.load_model: 1, self.add_box: 2, self.select_face: 2, self.transfer: 3,
            self.view: 4, self.burst: 4,
        }

    def act(self) -> str:
        action = self.rng.choices(list(self.weights), weights=list(self.weights.values()))[0]
        name = action.__name__
        self.actions[name] += 1
        action()
        return name

    # the actions ------------------------------------------------------------------------------
    def _slider(self):
        sliders = list(self.w.attributes.sliders.values())
        return self.rng.choice(sliders) if sliders else None

    def open_image(self) -> None:
        self.w.open_path(self.rng.choice(self.images))

    def open_project(self) -> None:
        existing = [p for p in self.projects if Path(p).exists()]
        if existing:
            self.w.open_path(self.rng.choice(existing))

    def save(self) -> None:
        if self.rng.random() < 0.5:
            path = str(self.workdir / f"saved-{self.rng.randrange(4)}.facet")
            if self.w.has_session:
                self.w.save_to(path)
                self.projects.append(path)
        else:
            self.w.save_project()
            if self.w.project_path:
                self.projects.append(self.w.project_path)

    def autosave(self) -> None:
        self.w.autosave()

    def drag(self) -> None:
        slider = self._slider()
        if slider is None:
            return
        slider.setSliderDown(True)
        for _ in range(self.rng.randint(2, 12)):
            slider.setValue(self.rng.randint(-100, 100))
            if self.rng.random() < 0.3:
                self._events()
        slider.setSliderDown(False)

    def step(self) -> None:
        slider = self._slider()
        if slider is not None:
            slider.setValue(self.rng.randint(-100, 100))

    def reset(self) -> None:
        names = list(self.w.attributes.sliders)
        self.w.attributes.resetRequested.emit(self.rng.choice(names) if names and self.rng.random() < 0.7 else None)

    def undo(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            self.w.undo_action.trigger()

    def redo(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            self.w.redo_action.trigger()

    def brush(self) -> None:
        from PySide6.QtCore import QPointF

        if not self.w.faces:
            return
        mode = self.rng.choice(("brush", "mask"))
        self.w.set_tool(mode)
        x0, y0, x1, y1 = self.w.faces[min(self.w.current_face, len(self.w.faces) - 1)]["box"]
        pick = lambda: QPointF(self.rng.uniform(x0, x1), self.rng.uniform(y0, y1))  # noqa: E731
        self.w.canvas.paint_line(pick(), pick())
        self.w.apply_brush()
        if self.rng.random() < 0.3:
            self.w.cancel_job()
        self.w.set_tool("pan")

    def cancel(self) -> None:
        """Start a long inversion and press Cancel once it runs (or Cancel whatever runs)."""
        if self.rng.random() < 0.6 and self.w.has_session and self.w.faces:
            self.w.attributes.set_preset("balanced")
            if self.w.worker.pending():  # an inversion was asked for: cancel it once it runs
                wait_for([self.w.events.jobProgress, self.w.events.idle], 10.0)
        self.w.cancel_job()
        self.w.attributes.set_preset("fast")

    def preset(self) -> None:
        self.w.attributes.set_preset(self.rng.choice(("fast", "best")))

    def load_model(self) -> None:
        self.w.load_model_dialog()

    def add_box(self) -> None:
        if not self.w.canvas.has_photo():
            return
        pix = self.w.canvas.before.pixmap()
        w, h = pix.width(), pix.height()
        x0, y0 = self.rng.uniform(0, w * 0.7), self.rng.uniform(0, h * 0.7)
        side = self.rng.uniform(8, max(9.0, min(w - x0, h - y0)))
        self.w.canvas.boxDrawn.emit((x0, y0, x0 + side, y0 + side))

    def select_face(self) -> None:
        if self.w.faces:
            self.w.select_face(self.rng.randrange(len(self.w.faces)))

    def transfer(self) -> None:
        panel = self.w.exemplars
        if panel.list.count() == 0 or not panel.checks:
            return
        panel.list.setCurrentRow(self.rng.randrange(panel.list.count()))
        for box in panel.checks.values():
            box.setChecked(self.rng.random() < 0.4)
        panel.strength.setValue(self.rng.randint(20, 150))
        panel.apply.click()

    def view(self) -> None:
        choice = self.rng.randrange(5)
        if choice == 0:
            self.w.original_action.trigger()
        elif choice == 1:
            self.w.keep_face_action.trigger()
        elif choice == 2:
            self.w.split.setValue(self.rng.randint(0, 100))
        elif choice == 3:
            self.w.canvas.zoom_by(self.rng.choice((0.8, 1.25)))
        else:
            self.w.canvas.fit()

    def burst(self) -> None:
        """Several edits, undos and redos sent before the worker has handled the first."""
        for _ in range(self.rng.randint(2, 6)):
            self.rng.choice((self.step, self.drag, self.undo, self.redo, self.reset, self.transfer, self.add_box,
                             self.cancel))()

    def _events(self) -> None:
        from PySide6.QtWidgets import QApplication

        QApplication.processEvents()


def quick_jobs(worker, steps: int = 4) -> None:
    """Long jobs stop after a few cheap steps: the tiny models' results mean nothing anyway, and CI runs a
    thousand actions in a minute. The "balanced" preset's L-BFGS steps become Adam steps (``optimize``)."""
    set_preset, invert = worker._do_set_preset, worker._do_invert
    stroke, complete = worker._do_stroke, worker._do_complete
    cheap = lambda preset: "optimize" if preset == "balanced" else preset  # noqa: E731
    worker._do_set_preset = lambda preset, steps_=None: set_preset(cheap(preset), steps)
    worker._do_invert = lambda face, preset=None: invert(face, cheap(preset))
    worker._do_stroke = lambda face, rgba, steps_=None: stroke(face, rgba, steps=steps)
    worker._do_complete = lambda face, rgba, steps_=None: complete(face, rgba, steps=steps)


def run(actions: int, seed: int, models: dict[str, str], images: list[str], workdir: Path,
        quick: bool = True) -> dict:
    from PySide6.QtWidgets import QApplication

    from app.window import MainWindow

    exceptions: list[str] = []
    sys.excepthook = lambda t, e, tb: exceptions.append("".join(traceback.format_exception(t, e, tb))[-2000:])
    app = QApplication.instance() or QApplication([sys.argv[0]])
    rng = random.Random(seed)
    Recorder(rng, workdir, models).install()
    window = MainWindow()
    if quick:
        quick_jobs(window.worker)
    window.confirm_close = True
    window.attributes.set_preset("fast")
    window.worker.submit("set_preset", preset="fast")
    failures: Counter = Counter()
    window.events.failed.connect(lambda title, message: failures.update([f"{title}: {message[:80]}"]))
    window.show()
    window.worker.submit("load_models", **models)
    settle(window)
    monkey = Monkey(window, rng, images, models, workdir)
    violations: list[str] = []
    hangs = 0
    started = time.monotonic()
    timing: Counter = Counter()
    for i in range(actions):
        t0 = time.monotonic()
        name = monkey.act()
        ok = settle(window)
        timing[name] += time.monotonic() - t0
        if not ok:
            hangs += 1
            window.worker.cancel()
            settle(window)
        problem = mirror_problem(window)
        if problem is not None:
            violations.append(f"action {i} ({name}): {problem}")
    seconds = time.monotonic() - started
    window.confirm_close = False
    window.close()
    app.processEvents()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    unexpected = {k: v for k, v in failures.items() if "Unexpected error" in k or "Internal error" in k}
    # every project the monkey opens is one it saved, with the same two models loaded: each must reopen
    reopen = {k: v for k, v in failures.items() if k.startswith("Cannot open the project")}
    return {
        "actions": actions, "seed": seed, "seconds": round(seconds, 1), "exceptions": len(exceptions),
        "exception_samples": exceptions[:3], "unexpected_errors": sum(unexpected.values()),
        "unexpected_samples": list(unexpected)[:5], "reopen_failures": sum(reopen.values()),
        "reopen_samples": list(reopen)[:3], "violations": len(violations), "violation_samples": violations[:5],
        "hangs": hangs, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "action_counts": dict(monkey.actions), "messages": dict(failures.most_common(12)),
        "timing": {k: round(v, 1) for k, v in timing.most_common()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--actions", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--models", choices=("tiny", "shipped"), default="tiny")
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "fixtures" / "images")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="facet-monkey-") as tmp:
        tmp = Path(tmp)
        prepare_environment(tmp / "home")
        models = tiny_models(tmp / "models") if args.models == "tiny" else shipped_models()
        report = run(args.actions, args.seed, models, fixture_images(args.images), tmp, quick=args.models == "tiny")
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
