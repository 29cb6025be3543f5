"""Training packs: a whole dataset pre-cropped into ONE safetensors file.

Decoding tens of thousands of JPEGs every epoch dominates training on a small CPU, and a folder of
26k files is awkward to carry to a GPU machine. A pack stores uint8 images (N, R, R, 3), int8 labels
(N, A) and JSON metadata (attribute names, file names, resolution, source and licence note); loading
it is one read, with no pickle and no JPEG decoding. Packs are validated on load.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch.utils.data import Dataset

from engine.data.celeba import labels_to_tensor, to_tensor
from engine.errors import DatasetError
from engine.fileio import commit
from engine.progress import CancelFn, Job, ProgressFn, Step, drive

FORMAT = "facet-pack"
FORMAT_VERSION = 1

_worker_dataset: Any = None


def _init_worker(dataset: Any) -> None:
    global _worker_dataset
    _worker_dataset = dataset
    torch.set_num_threads(1)


def _worker_item(index: int) -> tuple[int, np.ndarray | None, np.ndarray]:
    image, labels = _item_uint8(_worker_dataset, index)
    return index, image, labels


def _item_uint8(dataset: Any, index: int) -> tuple[np.ndarray | None, np.ndarray]:
    """(uint8 image or None when unreadable, int8 labels) from any dataset with our item format."""
    if hasattr(dataset, "item_uint8"):
        image, labels = dataset.item_uint8(index)
        return image, np.asarray(labels, dtype=np.int8)
    x, y = dataset[index]
    image = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return image, np.sign(y.detach().numpy()).astype(np.int8)


def build_pack_job(
    dataset: Any, path: str | os.PathLike, workers: int = 0, source: str | None = None, chunk: int = 256
) -> Job[dict]:
    """Generator: decode every item of ``dataset`` into a pack at ``path``; returns the pack metadata.

    ``workers`` > 0 decodes in a process pool. Unreadable images are left out and listed in the metadata.
    The file is written to a temporary name and renamed, so a cancelled build leaves nothing behind.
    """
    path = Path(path)
    n, r = len(dataset), int(dataset.resolution)
    attributes = list(dataset.attributes)
    if n == 0:
        raise DatasetError(f"{path}: the dataset is empty, nothing to pack")
    files = list(getattr(dataset, "files", [str(i) for i in range(n)]))
    images = np.empty((n, r, r, 3), dtype=np.uint8)
    labels = np.empty((n, len(attributes)), dtype=np.int8)
    ok = np.zeros(n, dtype=bool)
    start = time.perf_counter()
    yield Step(0, n, "decoding images")

    def store(i: int, image: np.ndarray | None, lab: np.ndarray) -> None:
        if image is not None:
            if image.shape != (r, r, 3):
                raise DatasetError(f"item {i} has shape {image.shape}, expected {(r, r, 3)}")
            images[i] = image
            ok[i] = True
        labels[i] = lab

    if workers > 0:
        ctx = multiprocessing.get_context("spawn" if torch.cuda.is_initialized() else None)
        with ctx.Pool(workers, initializer=_init_worker, initargs=(dataset,)) as pool:
            for done, (i, image, lab) in enumerate(
                pool.imap_unordered(_worker_item, range(n), chunksize=32), 1
            ):
                store(i, image, lab)
                if done % chunk == 0 or done == n:
                    yield Step(done, n, "decoding images", {"images/s": done / (time.perf_counter() - start)})
    else:
        for i in range(n):
            store(i, *_item_uint8(dataset, i))
            if (i + 1) % chunk == 0 or i + 1 == n:
                yield Step(i + 1, n, "decoding images", {"images/s": (i + 1) / (time.perf_counter() - start)})

    skipped = [files[i] for i in np.flatnonzero(~ok)]
    keep = np.flatnonzero(ok)
    if len(keep) == 0:
        raise DatasetError(f"{path}: not a single image could be read")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "resolution": r,
        "layout": getattr(dataset, "layout", None),
        "attributes": attributes,
        "files": [files[i] for i in keep],
        "count": int(len(keep)),
        "skipped": skipped,
        "source": source if source is not None else getattr(dataset, "source_note", ""),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if len(keep) < n:
        images, labels = images[keep], labels[keep]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(
        {"images": torch.from_numpy(images), "labels": torch.from_numpy(labels)},
        str(tmp),
        metadata={"format": FORMAT, "facet": json.dumps(meta)},
    )
    commit(tmp, path)
    yield Step(n, n, f"wrote {path}")
    return meta


def build_pack(
    dataset: Any,
    path: str | os.PathLike,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    workers: int = 0,
    source: str | None = None,
) -> dict:
    """Plain-function twin of :func:`build_pack_job`."""
    return drive(build_pack_job(dataset, path, workers=workers, source=source), progress, cancel)


def read_pack_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a pack (cheap: reads the header only)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such pack file")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, ValueError) as exc:
        raise DatasetError(
            f"{path}: not a readable training pack (truncated or not safetensors): {exc}"
        ) from None
    if header.get("format") != FORMAT or "facet" not in header:
        raise DatasetError(f"{path}: not a Facet training pack (format {header.get('format')!r})")
    try:
        meta = json.loads(header["facet"])
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: damaged pack metadata ({exc})") from None
    meta["_shapes"] = shapes
    return meta


class PackDataset(Dataset):
    """A training pack loaded into memory; items ``(image, y)`` like :class:`CelebADataset`."""

    def __init__(self, path: str | os.PathLike, attributes: list[str] | None = None) -> None:
        """``attributes``: keep only these of the pack's label columns, in this order (default: all)."""
        self.path = Path(path)
        meta = read_pack_metadata(self.path)
        shapes = meta.pop("_shapes")
        if int(meta.get("format_version", 0)) > FORMAT_VERSION:
            raise DatasetError(
                f"{self.path}: pack format {meta.get('format_version')} is newer than this program"
            )
        try:
            self.resolution = int(meta["resolution"])
            self.attributes = [str(a) for a in meta["attributes"]]
            self.files = [str(f) for f in meta["files"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{self.path}: pack metadata lacks {exc}") from None
        n, r, a = len(self.files), self.resolution, len(self.attributes)
        if list(shapes.get("images", [])) != [n, r, r, 3] or list(shapes.get("labels", [])) != [n, a]:
            raise DatasetError(
                f"{self.path}: pack contents do not match its metadata: images {shapes.get('images')} "
                f"(expected {[n, r, r, 3]}), labels {shapes.get('labels')} (expected {[n, a]})"
            )
        try:
            with safe_open(str(self.path), framework="pt") as f:
                self.images = f.get_tensor("images")
                self.labels = f.get_tensor("labels")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise DatasetError(f"{self.path}: unreadable pack data (truncated?): {exc}") from None
        if self.images.dtype != torch.uint8 or self.labels.dtype != torch.int8:
            raise DatasetError(
                f"{self.path}: wrong dtypes {self.images.dtype}/{self.labels.dtype} (uint8/int8 expected)"
            )
        if n and not bool(((self.labels == 1) | (self.labels == -1)).all()):
            raise DatasetError(f"{self.path}: labels must all be +1 or -1")
        if attributes is not None and attributes != self.attributes:
            missing = [a for a in attributes if a not in self.attributes]
            if missing:
                raise DatasetError(f"{self.path}: the pack has no labels for {missing}; it holds {self.attributes}")
            self.labels = self.labels[:, [self.attributes.index(a) for a in attributes]].contiguous()
            self.attributes = list(attributes)
        self.source_note = str(meta.get("source", ""))
        #: the crop layout the pack was cut with (None: centred squares, i.e. the classic ``face`` crop)
        self.layout = meta.get("layout")
        self.skipped_at_build = list(meta.get("skipped", []))
        self.metadata = meta
        self.skipped = 0

    def __len__(self) -> int:
        return len(self.files)

    def item_uint8(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.images[index].numpy(), self.labels[index].numpy()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return to_tensor(self.images[index].numpy()), labels_to_tensor(self.labels[index].numpy())

    def batch(self, indices: torch.Tensor | np.ndarray | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole batch at once without a DataLoader (fast path for trainers)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        x = self.images[idx].permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        return x, self.labels[idx].float()
