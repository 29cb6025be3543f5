"""Documents for the main window: open (dialog, drop, recent), save/export, autosave and crash recovery.

Saving, exporting and reading run in the worker (photo encoding can take a second); the window only
picks paths. Autosave writes a project to the data folder on a timer while there are unsaved edits; a
clean exit deletes it, so an autosave found at start-up means the last run did not end cleanly.

The autosave always holds the current document or nothing: it is rewritten whenever an edit was sent
since the last one (whatever the undo index), and it goes when its document is saved, discarded or
replaced. An autosave being restored is kept under a name of its own until its document has opened, so
a restore that fails (its model is missing) leaves it for the next start.
"""

from __future__ import annotations

import logging
import os
import time
import zipfile
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
from PySide6.QtWidgets import QFileDialog

from app import dialogs
from app.paths import (
    APP_NAME,
    autosave_path,
    data_dir,
    orphaned_autosaves,
    remove_stale_temps,
    unrestored_autosave_path,
)
from app.preferences import list_value, settings
from app.project import SUFFIX, ProjectError
from engine.errors import FacetError
from engine.fileio import check_regular_file
from engine.images import IMAGE_EXTENSIONS, check_image

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (" + " ".join(f"*{e}" for e in IMAGE_EXTENSIONS) + ")"
PROJECT_FILTER = f"Facet projects (*{SUFFIX})"
OPEN_TITLES = {"photo": "Cannot open the photo", "project": "Cannot open the project"}


def open_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be opened as a photo or a project, from its header alone; None when it may be.

    Checked before the user is asked to save the current document: a file that is not an image should
    not cost them their answer. The full read happens in the worker, which still refuses what this lets
    through (a truncated image, a project that needs another model).
    """
    try:
        if Path(path).suffix.lower() != SUFFIX:
            check_image(path)  # the loader's own checks: a regular file, an open format, the pixel limit
            return None
        check_regular_file(path, what="project", error=ProjectError)
        return None if zipfile.is_zipfile(path) else f"{path}: not a Facet project (it is not a zip archive)"
    except FacetError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: cannot read the project ({exc.strerror or exc})"


class DocumentsMixin:
    """Mixed into MainWindow (uses its worker, undo_stack, canvas, prefs and status bar)."""

    def init_documents(self) -> None:
        self.photo_path: str | None = None
        self.project_path: str | None = None
        self.settings = settings()
        self.autosave_timer = QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave)
        self._autosaved: tuple[int | None, int] | None = None  # (document serial, edits sent) last autosaved
        self._document_serial: int | None = None  # the document the autosave belongs to
        self._discarded: int | None = None  # a discarded document, while the one replacing it opens
        self._recovering: Path | None = None  # an autosave being restored, kept until its document opens
        self._saves: dict[str, int] = {}  # path → the host's edit count when its save was sent
        self.events.sessionReady.connect(self.on_document_opened)  # after the window's own on_session
        self.events.failed.connect(self.on_request_failed)
        self.events.idle.connect(self.on_worker_idle)
        remove_stale_temps(data_dir())
        self.configure_autosave()
        self.rebuild_recent()

    # -- title and recent files -----------------------------------------------------------------------
    def set_document(self, photo: str | None, project: str | None) -> None:
        self.photo_path, self.project_path = photo, project
        for p in (project, photo):
            if p and Path(p).resolve() != autosave_path().resolve():
                self.add_recent(p)
                break
        self.update_title()

    def update_title(self) -> None:
        name = Path(self.project_path or self.photo_path).name if (self.project_path or self.photo_path) else ""
        dirty = "*" if not self.undo_stack.isClean() else ""
        self.setWindowTitle(f"{name}{dirty} — {APP_NAME}" if name else APP_NAME)

    def recent_files(self) -> list[str]:
        return list_value("recent")

    def add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        items = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", items[: self.prefs.max_recent])
        self.rebuild_recent()

    def rebuild_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for p in files:
            action = self.recent_menu.addAction(Path(p).name)
            action.setToolTip(dialogs.as_text(p))  # a path is text, even one that looks like markup
            action.setStatusTip(p)
            action.triggered.connect(lambda _c=False, path=p: self.open_path(path))
        self.recent_menu.setEnabled(bool(files))

    # -- opening ----------------------------------------------------------------------------------------
    def open_path(self, path: str) -> None:
        project = Path(path).suffix.lower() == SUFFIX
        problem = open_problem(path)
        if problem:  # before asking to save: refusing the file must not cost the current document
            self.events.failed.emit(OPEN_TITLES["project" if project else "photo"], problem)  # as the worker would
            return
        if not self.maybe_save():
            return
        if project:
            remove_stale_temps(Path(path).parent)
            self.worker.submit("open_project", path=str(path))
        else:
            self.worker.submit("open_photo", path=str(path))
        self.statusBar().showMessage(f"Opening {Path(path).name}…")

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", "", f"{IMAGE_FILTER};;{PROJECT_FILTER}")
        if path:
            self.open_path(path)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a project", "", PROJECT_FILTER)
        if path:
            self.open_path(path)

    def open_dropped(self, paths: list[str]) -> None:
        if paths:
            self.open_path(paths[0])

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.open_dropped([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])

    # -- saving -----------------------------------------------------------------------------------------
    def save_project(self) -> bool:
        if not self.has_session:
            return False
        if not self.project_path or Path(self.project_path).resolve() == autosave_path().resolve():
            return self.save_project_as()
        self.save_to(self.project_path)
        return True

    def save_project_as(self) -> bool:
        if not self.has_session:
            return False
        start = str(Path(self.photo_path).with_suffix(SUFFIX)) if self.photo_path else ""
        path, _ = QFileDialog.getSaveFileName(self, "Save the project", start, PROJECT_FILTER)
        if not path:
            return False
        if Path(path).suffix.lower() != SUFFIX:
            path += SUFFIX
            if not self.may_replace(path):
                return False
        self.save_to(path)
        return True

    def may_replace(self, path: str) -> bool:
        """For a path the file dialog did not see (a suffix was added after it): ask before replacing a file."""
        return not Path(path).exists() or dialogs.ask(
            self, "Replace the file?", f"{Path(path).name} already exists in {Path(path).parent}. Replace it?")

    def save_to(self, path: str) -> None:
        remove_stale_temps(Path(path).parent)  # what a killed save left next to it
        self._saves[str(path)] = self.host.edits
        self.worker.submit("save_project", path=path, extra={"photo_path": self.photo_path})

    def on_saved(self, path: str, autosave: bool) -> None:
        if autosave:
            if self._discarded == self.session_serial or self.undo_stack.isClean():
                # written after the document was discarded or saved (it was queued before): not to be recovered
                autosave_path().unlink(missing_ok=True)
            return
        self.project_path = path
        if self._saves.pop(path, None) == self.host.edits:
            self.undo_stack.setClean()
            autosave_path().unlink(missing_ok=True)  # saved: nothing left to recover after a crash
            self._autosaved = None
            self.statusBar().showMessage(f"Saved {path}", 5000)
        else:  # edits made while it was being written are not in the file: the document stays modified
            self.statusBar().showMessage(f"Saved {path} (without the edits made since)", 8000)
        self.add_recent(path)
        self.update_title()

    def export_dialog(self) -> None:
        """The export dialog (window-modal, not blocking): the photo's own format proposed, the quality, an
        optional new size; the export is sent when it is accepted."""
        from app.export_dialog import ExportDialog, default_export_path

        if not self.has_session:
            return
        pix = self.canvas.before.pixmap()
        dialog = ExportDialog(default_export_path(self.photo_path, self.project_path), self.prefs.jpeg_quality,
                              (pix.width(), pix.height()), self)
        dialog.accepted.connect(lambda: self.export_chosen(dialog))
        dialog.finished.connect(lambda _result: dialog.deleteLater())
        self.export_window = dialog
        dialog.open()

    def export_chosen(self, dialog) -> None:
        if dialog.chosen_quality() != self.prefs.jpeg_quality:  # the quality chosen there is the next default
            self.prefs.jpeg_quality = dialog.chosen_quality()
            self.prefs.save()
        path, long_side = dialog.chosen_path(), dialog.chosen_long_side()
        if long_side is None:
            self.worker.submit("export", path=path, quality=dialog.chosen_quality())
        else:
            self.worker.submit("export_scaled", path=path, quality=dialog.chosen_quality(), long_side=long_side)

    def maybe_save(self, why: str = "") -> bool:
        """True when it is fine to drop the current document (saved, discarded or nothing to save)."""
        if not self.has_session or self.undo_stack.isClean() or not self.confirm_close:
            return True
        answer = dialogs.ask_save(self, Path(self.project_path or self.photo_path or "the photo").name, why)
        if answer == "discard":
            self.discard_autosave()
        if answer != "save":
            return answer == "discard"
        if not self.save_project():
            return False
        if not self.progress.isHidden():  # a running job would hold the save (and the window) up: this
            self.worker.cancel()  # document is being closed or replaced, so its job is stopped, not waited for
        self.wait_for_worker()
        return self.undo_stack.isClean()  # on_saved marked it clean; a failed save leaves it modified

    def wait_for_worker(self) -> None:
        """Run the event loop (without user input) until the worker has done everything sent to it.

        A save must have landed before the document is dropped or the window closes: if it failed, the
        edits are still only in memory. Its ``saved``/``failed`` signal is handled before this returns.
        """
        loop = QEventLoop(self)
        self.events.idle.connect(loop.quit)
        try:
            while self.worker.pending():
                loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        finally:
            self.events.idle.disconnect(loop.quit)
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)

    # -- models -----------------------------------------------------------------------------------------
    def load_model_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Load a model bundle (the folder with manifest.json)")
        if folder and self.may_restart_edits():
            self.worker.submit("load_model", path=folder)

    def may_restart_edits(self) -> bool:
        """A new model starts the photo's edits over (codes belong to the model): save or confirm first."""
        if not self.has_session or self.undo_stack.count() == 0 or not self.confirm_close:
            return True
        if self.undo_stack.isClean():
            return dialogs.ask(self, "Start the edits over?", "The edits of this photo were made with the current "
                               "model; with another model they start over (the saved project keeps them).")
        return self.maybe_save("Another model starts this photo's edits over. ")

    def load_startup_models(self) -> None:
        """The models of the last session (if still there), else the defaults in resources/models.

        Found and loaded by the worker: reading manifests imports the engine (and torch), which must not
        delay the window.
        """
        saved = {family: str(self.settings.value(f"models/{family}") or "") for family in ("cgan", "elegant")}
        self.worker.submit("load_startup_models", saved=saved, device=self.prefs.device)
        self.statusBar().showMessage("Loading models…")

    def remember_models(self, info: dict) -> None:
        for family in ("cgan", "elegant"):
            m = info.get(family)
            if m:
                self.settings.setValue(f"models/{family}", m["path"])

    # -- autosave and recovery -------------------------------------------------------------------------
    def configure_autosave(self) -> None:
        self.autosave_timer.stop()
        if self.prefs.autosave_seconds > 0:
            self.autosave_timer.start(self.prefs.autosave_seconds * 1000)

    def autosave(self) -> None:
        """Write the document's unsaved edits when any edit was sent since the last autosave.

        Keyed on the document and the count of edit requests, not on the undo index: after an undo and a
        new edit, or in a new document, the index can be what it was at the last autosave.
        """
        state = (self.session_serial, self.host.edits)
        if (not self.has_session or self.undo_stack.isClean() or state == self._autosaved
                or self._discarded == self.session_serial):
            return
        self._autosaved = state
        remove_stale_temps(autosave_path().parent)
        self.worker.submit("save_project", path=str(autosave_path()), autosave=True,
                           extra={"photo_path": self.photo_path, "project_path": self.project_path})

    def discard_autosave(self) -> None:
        """The user discarded the document: its autosave goes now, and none is written until it is replaced."""
        self._discarded = self.session_serial
        self._autosaved = None
        autosave_path().unlink(missing_ok=True)

    def on_document_opened(self, info: dict) -> None:
        """A new document replaced the old one (saved or discarded by now): the autosave follows it."""
        serial = info.get("serial")
        if serial == self._document_serial:
            return  # the same document (a face box was added)
        self._document_serial, self._discarded = serial, None
        if info.get("recovered") is not None:
            if self._recovering is not None:
                self._take_over(self._recovering)
            self._autosaved = (serial, self.host.edits)  # the autosave holds exactly this
        else:
            autosave_path().unlink(missing_ok=True)
            self._autosaved = None
        self._recovering = None

    def _take_over(self, path: Path) -> None:
        """A restored autosave becomes this copy's own, which its next autosave replaces (an older one that
        was there waits for a later start)."""
        own = autosave_path()
        try:
            if own.exists():
                os.replace(own, unrestored_autosave_path())
            os.replace(path, own)
        except OSError as exc:
            log.warning("the restored autosave %s stays where it is: %s", path, exc)

    def on_request_failed(self, title: str, _message: str) -> None:
        if self.statusBar().currentMessage().startswith("Opening "):
            self.statusBar().clearMessage()
        if self._recovering is not None and title == OPEN_TITLES["project"]:
            log.info("the autosave %s could not be restored; it is kept", self._recovering)
            self.statusBar().showMessage("The autosaved edits were not restored: they are kept and offered "
                                         "again at the next start.", 30000)
            self._recovering = None

    def on_worker_idle(self) -> None:
        """A document was discarded for one that did not open: it is still the document, so it is autosaved."""
        if self._discarded is not None and self._discarded == self.session_serial and not self.worker.pending():
            self._discarded = None

    def check_recovery(self) -> bool:
        """Offer the newest autosave of a run that did not exit cleanly; True when it is being restored.

        Only autosaves no running copy owns are offered (``paths.orphaned_autosaves``); the others wait
        for the next start. Once its document has opened, a recovered autosave becomes this copy's own
        (``on_document_opened``), so the next autosave replaces it and it is not offered again; until then
        nothing this copy does deletes it, so a restore that fails leaves it for the next start.
        """
        found = orphaned_autosaves()
        if not found:
            return False
        path = found[0]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
        if dialogs.ask(self, "Recover unsaved edits?",
                       f"Facet Studio did not close cleanly last time. Restore the edits autosaved at {when}?"):
            if path == autosave_path():  # out of the way of this copy's autosaves and clean exit until it opens
                kept = unrestored_autosave_path()
                os.replace(path, kept)
                path = kept
            self._recovering = path
            self.worker.submit("open_project", path=str(path), recovered=True)
            return True
        path.unlink(missing_ok=True)
        return False

    def mark_clean_exit(self) -> None:
        autosave_path().unlink(missing_ok=True)
        self.settings.setValue("state/clean_exit_time", time.time())  # for the log and support: when it last closed

    # -- layout and closing ------------------------------------------------------------------------------
    def restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.autosave_timer.stop()
        self.host.shutdown()
        self.mark_clean_exit()
        event.accept()
