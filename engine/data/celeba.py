"""CelebA in its standard layout as a torch Dataset: image folders + an attribute label file.

Several folders (e.g. full-size and half-size aligned images) combine into one dataset, since every
image is reduced to the same centred square at the model resolution. Real data is messy, so rows
without an image and images without a row are counted, not fatal, and an image that fails to decode
mid-epoch is replaced by another sample (and logged) instead of killing a long training run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.data.labels import LabelTable, positive_fraction, read_labels, read_partition, split_code
from engine.errors import DatasetError, ImageLoadError
from engine.images import IMAGE_EXTENSIONS, center_square, load_image

log = logging.getLogger(__name__)

CELEBA_SOURCE_NOTE = (
    "CelebA (Liu et al., ICCV 2015). Licence: non-commercial research purposes only; "
    "the images may not be redistributed."
)
#: How many other samples to try when an image cannot be read before giving up.
MAX_REPLACEMENTS = 20


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (R, R, 3) -> float32 (3, R, R) in [-1, 1]."""
    image = np.ascontiguousarray(image)
    if not image.flags.writeable:
        image = image.copy()
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def labels_to_tensor(row: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(row, dtype=np.float32))


def _index_folders(image_dirs: Sequence[Path]) -> tuple[dict[str, Path], int]:
    """Map image file name -> path over all folders (first folder wins); also count duplicate names."""
    found: dict[str, Path] = {}
    duplicates = 0
    for folder in image_dirs:
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such image folder")
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file():
                    if entry.name in found:
                        duplicates += 1
                    else:
                        found[entry.name] = Path(entry.path)
    return found, duplicates


class CelebADataset(Dataset):
    """Images from one or more folders with CelebA attribute labels; items ``(image, y)``.

    ``image`` is float32 (3, R, R) in [-1, 1] (centred square, resized), ``y`` float32 (n,) in {-1, 1}.
    ``labels`` is a label file path (``.txt`` CelebA format or ``.csv``) or a :class:`LabelTable`;
    ``partition`` a ``list_eval_partition.txt`` path or a mapping, needed with ``split``.
    ``include``/``exclude`` restrict by file name (e.g. a held-out validation list).
    """

    def __init__(
        self,
        image_dirs: str | os.PathLike | Sequence[str | os.PathLike],
        labels: str | os.PathLike | LabelTable,
        attributes: Iterable[str] | None = None,
        resolution: int = 64,
        split: str | int | None = None,
        partition: str | os.PathLike | Mapping[str, int] | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        layout: str | None = None,
    ) -> None:
        if isinstance(image_dirs, str | os.PathLike):
            image_dirs = [image_dirs]
        self.image_dirs = [Path(d) for d in image_dirs]
        if not self.image_dirs:
            raise DatasetError("no image folder given")
        if int(resolution) < 4:
            raise DatasetError(f"resolution {resolution} is too small")
        self.resolution = int(resolution)
        #: None: the centred square of each image (the classic crop); a layout name (``engine.face.layout``,
        #: e.g. ``head``): that square of the CelebA aligned canvas, edge-padded where it reaches beyond it
        self.layout = layout
        if layout is not None:
            from engine.face.layout import get_layout

            get_layout(layout)  # an unknown name fails here, not in a worker
        table = labels if isinstance(labels, LabelTable) else read_labels(labels)
        table = table.select(list(attributes) if attributes is not None else None)
        self.attributes = list(table.names)
        self.label_source = table.source
        self.source_note = CELEBA_SOURCE_NOTE

        keep = np.ones(len(table), dtype=bool)
        if split is not None:
            if partition is None:
                raise DatasetError(f"split {split!r} needs a partition file (list_eval_partition.txt)")
            parts = partition if isinstance(partition, Mapping) else read_partition(partition)
            code = split_code(split)
            keep &= np.array([parts.get(f, -1) == code for f in table.files], dtype=bool)
        if include is not None:
            inc = set(include)
            keep &= np.array([f in inc for f in table.files], dtype=bool)
        if exclude is not None:
            exc = set(exclude)
            keep &= np.array([f not in exc for f in table.files], dtype=bool)

        found, self.duplicate_names = _index_folders(self.image_dirs)
        labelled = set(table.files)
        self.unlabelled = sorted(n for n in found if n not in labelled)
        rows = np.flatnonzero(keep)
        self.missing = [table.files[i] for i in rows if table.files[i] not in found]
        rows = np.array([i for i in rows if table.files[i] in found], dtype=np.int64)
        self.files = [table.files[i] for i in rows]
        self.paths = [found[f] for f in self.files]
        self.labels = table.values[rows] if len(rows) else np.zeros((0, len(self.attributes)), np.int8)
        self.selected_rows = int(keep.sum())
        #: Images that could not be read during iteration (per process: DataLoader workers count their own).
        self.skipped = 0
        self.skipped_files: list[str] = []

    def __len__(self) -> int:
        return len(self.files)

    def load_uint8(self, index: int) -> np.ndarray:
        """The crop of image ``index`` at the dataset resolution; raises ImageLoadError."""
        image = load_image(self.paths[index])
        if self.layout is None:
            return center_square(image, self.resolution)
        from engine.face.layout import canvas_crop

        return canvas_crop(image, self.layout, self.resolution)

    def item_uint8(self, index: int) -> tuple[np.ndarray | None, np.ndarray]:
        """(uint8 image or None if unreadable, int8 labels) — for pack building, which skips failures."""
        try:
            return self.load_uint8(index), self.labels[index]
        except ImageLoadError as exc:
            self._note_skip(index, exc)
            return None, self.labels[index]

    def _note_skip(self, index: int, exc: Exception) -> None:
        self.skipped += 1
        if len(self.skipped_files) < 100:
            self.skipped_files.append(self.files[index])
        log.warning("skipping unreadable image %s: %s", self.paths[index], exc)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(index)
        index %= n
        for attempt in range(min(MAX_REPLACEMENTS, n)):
            i = (index + attempt * 7919) % n  # hop far away: neighbouring files often share a fault
            try:
                image = self.load_uint8(i)
            except ImageLoadError as exc:
                self._note_skip(i, exc)
                continue
            return to_tensor(image), labels_to_tensor(self.labels[i])
        raise DatasetError(
            f"{self.image_dirs[0]}: {MAX_REPLACEMENTS} images in a row could not be read "
            f"(last: {self.paths[i]}); is the folder damaged?"
        )

    def summary(self) -> dict:
        """Counts for ``dataset-info`` and training logs."""
        return {
            "images": len(self),
            "attributes": self.attributes,
            "resolution": self.resolution,
            "layout": self.layout,
            "folders": [str(d) for d in self.image_dirs],
            "label_file": self.label_source,
            "selected_label_rows": self.selected_rows,
            "missing_images": len(self.missing),
            "missing_examples": self.missing[:5],
            "unlabelled_images": len(self.unlabelled),
            "unlabelled_examples": self.unlabelled[:5],
            "duplicate_names": self.duplicate_names,
            "skipped_unreadable": self.skipped,
            "skipped_examples": self.skipped_files[:5],
            "positive_fraction": positive_fraction(self.labels, self.attributes),
        }

    def report(self) -> str:
        """A human-readable account of what was used and what was skipped, and why."""
        s = self.summary()
        lines = [
            f"{s['images']} images at {self.resolution} px, {len(self.attributes)} attribute(s) "
            f"from {len(self.image_dirs)} folder(s); {s['selected_label_rows']} label rows selected",
        ]
        if s["missing_images"]:
            lines.append(
                f"{s['missing_images']} label row(s) skipped: no image file (e.g. {', '.join(s['missing_examples'])})"
            )
        if s["unlabelled_images"]:
            lines.append(
                f"{s['unlabelled_images']} image(s) without a label row ignored "
                f"(e.g. {', '.join(s['unlabelled_examples'])})"
            )
        if s["duplicate_names"]:
            lines.append(
                f"{s['duplicate_names']} image name(s) present in several folders: the first folder's copy is used"
            )
        if s["skipped_unreadable"]:
            lines.append(
                f"{s['skipped_unreadable']} unreadable image(s) replaced by other samples "
                f"(e.g. {', '.join(s['skipped_examples'])})"
            )
        return "\n".join(lines)
