"""Facet Studio's entry point: logging, the crash handler, the QApplication and the main window.

``facet-studio [PHOTO|PROJECT]`` starts the editor; ``facet-studio --self-test`` runs the installed-copy
checks of :mod:`app.selftest` without a window. The window appears before the engine (and torch) is
imported: the worker thread imports it while the user looks at the window.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import platform
import sys
import time
import traceback
from pathlib import Path

# OpenMP threads that spin while they wait took a busy machine's cores from the threads doing the work (hybrid
# inversion 8x slower on a loaded 2-core machine): they sleep instead. Set before torch starts OpenMP (torch is
# imported later, in the worker thread); a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

log = logging.getLogger("app")


def version() -> str:
    try:
        from importlib.metadata import version as dist_version

        return dist_version("facet-studio")
    except Exception:  # noqa: BLE001 - not installed as a distribution (frozen or source tree)
        from engine import __version__

        return __version__


def setup_logging(folder: Path, level: int = logging.INFO) -> Path:
    """A rotating log file in the user log folder (plus warnings on stderr)."""
    path = folder / "facet-studio.log"
    root = logging.getLogger()
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
        root.addHandler(handler)
        root.setLevel(level)
    return path


def route_qt_messages() -> None:
    """Qt's own warnings go to the log file too (they explain many display problems)."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    qt_log = logging.getLogger("qt")
    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}
    qInstallMessageHandler(lambda mode, _context, message: qt_log.log(levels.get(mode, logging.WARNING), message))


def write_crash_report(folder: Path, exc_type, exc, tb, stack: list[str] | None = None) -> Path:
    """Save what a bug report needs (traceback, the code that was running, versions); return the file's path.

    ``stack`` is where the error was reported from: an exception raised while Qt calls a slot (a signal
    connected to a slot that takes other arguments) comes with no traceback of its own, and its message
    alone does not say which connection it was.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"crash-{stamp}.txt"
    lines = [
        f"Facet Studio {version()} crash report, {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"Python {platform.python_version()} on {platform.platform()}, PySide6 {_pyside_version()}",
        "",
        *traceback.format_exception(exc_type, exc, tb),
    ]
    if tb is None:
        lines.append("(no traceback of its own: raised where Qt called Python, e.g. a signal's slot)")
    if stack:
        lines += ["", "Python code running when it was reported (most recent call last):", *stack]
    path.write_text("".join(line if line.endswith("\n") else line + "\n" for line in lines), encoding="utf-8")
    return path


def _pyside_version() -> str:
    try:
        import PySide6

        return PySide6.__version__
    except ImportError:  # the self-test can run without Qt
        return "not installed"


def install_crash_handler(folder: Path, show_dialog: bool = True):
    """sys.excepthook → crash report in ``folder`` + a friendly dialog naming it; the app keeps running."""
    previous = sys.excepthook
    state = {"busy": False}

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        stack = traceback.format_stack()[:-1]  # the hook's own frame left out
        log.error("unhandled exception (reported from:\n%s)", "".join(stack), exc_info=(exc_type, exc, tb))
        try:
            report = write_crash_report(folder, exc_type, exc, tb, stack)
        except OSError:
            report = None
        if show_dialog and not state["busy"]:
            state["busy"] = True
            try:
                from PySide6.QtWidgets import QApplication

                if QApplication.instance() is not None:
                    from app import dialogs

                    where = f"A report was saved to:\n{report}" if report else "The report could not be saved."
                    dialogs.error(None, "Facet Studio hit a bug",  # the message may name files: shown as text
                                  f"Something went wrong: {exc_type.__name__}: {exc}\n\n{where}\n\n"
                                  "Your edits are autosaved; you can keep working or restart.")
            finally:
                state["busy"] = False

    sys.excepthook = hook
    return hook


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="facet-studio", description="Facet Studio face editor")
    parser.add_argument("path", nargs="?", help="a photo or a .facet project to open")
    parser.add_argument("--self-test", action="store_true", help="check this installation without a window")
    parser.add_argument("--log", metavar="FILE", help="with --self-test: also write its results to FILE")
    parser.add_argument("--no-models", action="store_true", help="start without loading the default models")
    parser.add_argument("--quit-after", type=int, metavar="MS", help=argparse.SUPPRESS)  # smoke tests: close itself
    return parser.parse_args(argv)


def create_app(argv: list[str]):
    from PySide6.QtWidgets import QApplication

    from app.paths import APP_NAME, ORG_NAME

    app = QApplication.instance() or QApplication(argv)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(version())
    return app


def start_window(args: argparse.Namespace):
    """The main window, shown, with models loading and the recovery offer made."""
    from app.window import MainWindow

    window = MainWindow()
    window.show()
    if not args.no_models:
        # queued first: the worker handles requests in order, so a recovered or named project opens with the
        # models it was made with already loaded (the worker reads them while the window paints)
        window.load_startup_models()
    recovering = window.check_recovery()
    if args.path and not recovering:
        window.open_path(args.path)
    return window


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.self_test:
        from app.selftest import run

        return run(["--log", args.log] if args.log else [])
    from app.paths import log_dir

    folder = log_dir()
    setup_logging(folder)
    install_crash_handler(folder)
    route_qt_messages()
    log.info("Facet Studio %s starting", version())
    app = create_app([sys.argv[0], *argv])
    window = start_window(args)
    if args.quit_after is not None:
        from PySide6.QtCore import QTimer

        window.confirm_close = False
        QTimer.singleShot(args.quit_after, window.close)
    code = app.exec()
    log.info("Facet Studio exited with code %s", code)
    del window
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
