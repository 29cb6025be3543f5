"""The exemplar pane: a gallery of faces to take attributes from (ELEGANT transfer).

Bundled samples come from resources/exemplars (generated faces or public-domain photos, never CelebA);
users add folders or single images (buttons or drag and drop). Single images are copied into the user's
data folder (``keep_folder``), so the gallery still has them after a restart and after the originals moved;
folders are listed where they are and remembered. Picking one, ticking attributes and setting a strength
asks for a transfer onto the selected face.

Thumbnails are read in a thread of their own, regular files only: a FIFO or a slow disk in a gallery
folder must never freeze the window. A photo's thumbnail is the face a transfer takes from it (aligned as
the session aligns exemplars), not the whole photo.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import as_text
from app.drops import FileDrops
from app.qimage import to_qimage
from engine.images import IMAGE_EXTENSIONS
from engine.ops import plain_name

log = logging.getLogger(__name__)
THUMB = 72
#: images up to this side are taken as face crops already (the bundled and generated exemplars); larger ones
#: are photos, whose face is found and aligned at this side, as the session aligns an exemplar
CROP_SIDE = 128
DETECT_SIDE = 640  # photos are read at most this large for finding their face (a thumbnail needs no more)


def face_thumbnail(path: str | Path, size: int = THUMB) -> np.ndarray:
    """The face a transfer takes from the image at ``path``, at most ``size`` px: its largest face aligned,
    or the centre square when there is none (``EditSession.add_exemplar`` does the same). Raises FacetError."""
    from engine.images import load_thumbnail

    image = load_thumbnail(path, DETECT_SIDE)  # the engine's formats and checks (regular files, size limits)
    if max(image.shape[:2]) > CROP_SIDE:
        from engine.session_faces import find_faces, manual_slot

        found = find_faces(image, CROP_SIDE)
        image = found[0].crop if found else manual_slot(image, None, CROP_SIDE).crop
    return image


#: the largest image file copied into the gallery's folder
MAX_KEPT_BYTES = 64 * 2**20


def copy_into(path: Path, folder: Path) -> Path:
    """Copy the image file ``path`` into ``folder`` (atomically, at most :data:`MAX_KEPT_BYTES`); the same file
    added again is not copied twice, another one with the same name gets a free name (``NAME-2.png``)."""
    from engine.fileio import commit, read_regular_file

    data = read_regular_file(path, MAX_KEPT_BYTES, "exemplar image")
    folder.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    for n in range(1, 10_000):
        target = folder / (f"{path.stem}{suffix}" if n == 1 else f"{path.stem}-{n}{suffix}")
        if not target.exists():
            break
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            return target  # already kept
    tmp = folder / f".{target.name}.tmp"
    tmp.write_bytes(data)
    return commit(tmp, target)


class ThumbnailLoader(QObject):
    """Makes thumbnails in a background thread; ``ready(path, QImage)`` arrives in the GUI thread (a null
    QImage when the file cannot be read). A plain Python thread: it may block on a file for ever without
    holding up the window or its exit."""

    ready = Signal(str, QImage)

    def __init__(self, size: int = THUMB) -> None:
        super().__init__()
        self.size = size
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def request(self, path: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="exemplar-thumbnails", daemon=True)
            self._thread.start()
        self._queue.put(path)

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        from engine.errors import FacetError

        while (path := self._queue.get()) is not None:
            try:
                image = to_qimage(face_thumbnail(path, self.size))
            except FacetError as exc:
                log.info("no thumbnail for %s: %s", path, exc)
                image = QImage()
            except Exception:  # noqa: BLE001 - a thumbnail is never worth a crash; the log has the details
                log.exception("no thumbnail for %s", path)
                image = QImage()
            try:
                self.ready.emit(path, image)
            except RuntimeError:  # the gallery is gone
                return


class ExemplarList(FileDrops, QListWidget):
    filesDropped = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 36, THUMB + 40))  # room for two lines of the full name under each face
        self.setWordWrap(True)
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setAcceptDrops(True)

    def keyboardSearch(self, search: str) -> None:
        """No type-ahead: a letter typed here is a tool shortcut (B = brush), not a search for "Bangs"."""


class ExemplarPanel(QWidget):
    transferRequested = Signal(str, tuple, float)  # exemplar path, attributes, strength
    foldersChanged = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.info = QLabel()
        self.info.setWordWrap(True)
        layout.addWidget(self.info)
        self.list = ExemplarList()
        self.list.setToolTip("Faces to take attributes from: pick one (drop images or folders here to add them)")
        self.list.filesDropped.connect(self.import_paths)
        self.list.itemSelectionChanged.connect(self._update_enabled)
        layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        add_folder = QPushButton("Add folder…")
        add_folder.setToolTip("Add every image of a folder to the gallery (remembered for the next start)")
        add_folder.clicked.connect(self._choose_folder)
        add_images = QPushButton("Add images…")
        add_images.setToolTip("Add faces to the gallery (copied into Facet Studio's data folder, kept after a restart)")
        add_images.clicked.connect(self._choose_images)
        self.remove = QPushButton("Remove")
        self.remove.setToolTip("Take the selected face you added out of the gallery (and its copy out of the data folder)")
        self.remove.clicked.connect(self._remove_selected)
        buttons.addWidget(add_folder)
        buttons.addWidget(add_images)
        buttons.addWidget(self.remove)
        layout.addLayout(buttons)
        self.checks_box = QGridLayout()
        layout.addLayout(self.checks_box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Strength:"))
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(0, 150)
        self.strength.setValue(100)
        self.strength.setToolTip("How strongly the ticked attributes are taken (above 100 % exaggerates them)")
        self.strength_label = QLabel("100%")
        self.strength.valueChanged.connect(lambda v: self.strength_label.setText(f"{v}%"))
        row.addWidget(self.strength, 1)
        row.addWidget(self.strength_label)
        layout.addLayout(row)
        self.apply = QPushButton("Take from exemplar")
        self.apply.setToolTip("Give the selected face the ticked attributes of the picked exemplar (one undoable step)")
        self.apply.clicked.connect(self._request)
        layout.addWidget(self.apply)
        self.checks: dict[str, QCheckBox] = {}
        self.folders: list[str] = []
        self.keep_folder: Path | None = None  # where added images are copied (None: listed where they are)
        self.available = False
        self.loader = ThumbnailLoader()
        self.loader.ready.connect(self._thumbnail_ready)
        loader = self.loader
        self.destroyed.connect(lambda *_: loader.stop())
        self.set_attributes([])

    # -- content ----------------------------------------------------------------------------------------
    def set_attributes(self, names: list[str], takes_pixels: bool = False,
                       face_swapping: list[str] | tuple[str, ...] = ()) -> None:
        """The ELEGANT model's attributes ([] = no ELEGANT model loaded); ``takes_pixels``: the model pastes the
        exemplar's own pixels (engine.transfer.takes_exemplar_pixels), so the exemplar's sharpness and face
        matter, and the user should know it before picking one. ``face_swapping``: attributes it could only take
        by pasting the other person's face (engine.transfer.face_swapping): shown, but not offered."""
        while self.checks_box.count():
            w = self.checks_box.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.checks = {}
        for i, name in enumerate(names):
            box = QCheckBox(plain_name(name))
            box.setToolTip(as_text(f"Take {plain_name(name).lower()} from the picked exemplar"))
            if name in face_swapping:
                box.setEnabled(False)
                box.setToolTip(as_text(f"This model would paste the other person's face to change "
                                       f"{plain_name(name).lower()}: use the {plain_name(name)} slider instead"))
            box.toggled.connect(self._update_enabled)
            self.checks_box.addWidget(box, i // 2, i % 2)
            self.checks[name] = box
        self.available = bool(names)
        if not names:
            text = "Exemplar transfer needs an ELEGANT model: File > Load model…"
        else:
            text = "Pick a face, tick what to take from it, set the strength."
            if takes_pixels:
                text += ("\nThis model pastes the exemplar's own pixels where the attribute lives: pick a sharp "
                         "photo of a face (the bundled faces are generated and blurry).")
            if face_swapping:
                text += (f"\n{', '.join(plain_name(n) for n in face_swapping)}: not taken from another face with "
                         "this model (it would paste that face); use the sliders.")
        self.info.setText(text)
        self._update_enabled()

    def add_folder(self, folder: str | Path, remember: bool = True) -> int:
        folder = Path(folder)
        if not folder.is_dir():
            return 0
        try:
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        except OSError as exc:
            log.warning("cannot list the exemplar folder %s: %s", folder, exc)
            return 0
        n = self.add_paths([str(p) for p in files])
        if remember and str(folder) not in self.folders:
            self.folders.append(str(folder))
            self.foldersChanged.emit(list(self.folders))
        return n

    def import_paths(self, paths: list[str]) -> int:
        """What the user adds: images are copied into ``keep_folder`` first (so they come back after a restart),
        folders are listed where they are (and remembered). Returns how many faces were added."""
        added, images = 0, []
        for p in paths:
            if Path(p).is_dir():
                added += self.add_folder(p)
            else:
                kept = self.keep(p)
                if kept is not None:
                    images.append(kept)
        return added + self.add_paths(images)

    def keep(self, path: str | Path) -> str | None:
        """A copy of the image ``path`` in ``keep_folder`` (the path itself without one, or when it is there
        already); None, logged, for a file that is not an image the engine reads."""
        from engine.errors import FacetError
        from engine.images import check_image

        path = Path(path)
        if self.keep_folder is None or path.parent.resolve() == Path(self.keep_folder).resolve():
            return str(path)
        try:
            check_image(path)  # a regular file holding an image (never a FIFO), before anything is copied
            return str(copy_into(path, Path(self.keep_folder)))
        except (FacetError, OSError) as exc:
            log.warning("exemplar %s not added: %s", path, exc)
            return None

    def add_paths(self, paths: list[str]) -> int:
        known = {self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())}
        added = 0
        for p in paths:
            path = Path(p)
            if path.is_dir():
                added += self.add_folder(path)
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS or str(path) in known or not path.is_file():
                continue  # is_file(): regular files only (a FIFO named .png is never opened)
            item = QListWidgetItem(path.stem)  # the whole name: "Eyeglasses (yes)", not "Eyeglasses (ye"
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(as_text(str(path)))
            self.list.addItem(item)
            known.add(str(path))
            self.loader.request(str(path))
            added += 1
        return added

    def item_for(self, path: str) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == path:
                return self.list.item(i)
        return None

    def _thumbnail_ready(self, path: str, image: QImage) -> None:
        item = self.item_for(path)
        if item is None:
            return
        if image.isNull():
            item.setToolTip(as_text(f"{path}\n(cannot be read as an image)"))
            return
        pix = QPixmap.fromImage(image).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation)
        item.setIcon(QIcon(pix))

    def _remove_selected(self) -> None:
        """Take a face the user added (a copy in ``keep_folder``) out of the gallery and the data folder."""
        path = self.selected_path()
        if path is None or not self._removable(path):
            return
        try:
            Path(path).unlink()
        except OSError as exc:
            log.warning("cannot remove the exemplar %s: %s", path, exc)
            return
        self.list.takeItem(self.list.row(self.item_for(path)))
        self._update_enabled()

    def _removable(self, path: str) -> bool:
        return self.keep_folder is not None and Path(path).parent.resolve() == Path(self.keep_folder).resolve()

    def selected_path(self) -> str | None:
        items = self.list.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def selected_attributes(self) -> tuple[str, ...]:
        return tuple(n for n, box in self.checks.items() if box.isChecked() and box.isEnabled())

    # -- actions ----------------------------------------------------------------------------------------
    def _update_enabled(self) -> None:
        path = self.selected_path()
        self.remove.setEnabled(path is not None and self._removable(path))
        self.apply.setEnabled(self.available and self.selected_path() is not None and bool(self.selected_attributes()))

    def _request(self) -> None:
        path = self.selected_path()
        if path and self.selected_attributes():
            self.transferRequested.emit(path, self.selected_attributes(), self.strength.value() / 100.0)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of exemplar faces")
        if folder:
            self.add_folder(folder)

    def _choose_images(self) -> None:
        patterns = " ".join(f"*{e}" for e in IMAGE_EXTENSIONS)
        files, _ = QFileDialog.getOpenFileNames(self, "Add exemplar faces", "", f"Images ({patterns})")
        self.import_paths(files)
