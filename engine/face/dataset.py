"""Align a folder of raw photos into the CelebA aligned layout (178 x 218), for training on your own data.

Every file is loaded safely, its largest face aligned onto the template and saved as PNG under the same
stem; photos without a face or unreadable files are listed in ``failures.txt`` (file, tab, reason)
instead of stopping the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import DatasetError, FacetError
from engine.progress import CancelFn, Job, ProgressFn, Step, drive

FAILURES = "failures.txt"


@dataclass
class PrepareResult:
    written: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    failures_file: Path | None = None


def prepare_dataset_job(raw_dir: str | os.PathLike, out_dir: str | os.PathLike, width: int = 178,
                        min_face: float | None = None) -> Job[PrepareResult]:
    """Generator: align every image in ``raw_dir`` into ``out_dir`` (canvas ``width`` x 218*width/178)."""
    from engine.face.align import align_to_celeba_canvas
    from engine.face.detect import detect_faces
    from engine.images import iter_image_files, load_image, save_image

    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not raw_dir.is_dir():
        raise DatasetError(f"{raw_dir}: not a folder")
    files = iter_image_files(raw_dir)
    if not files:
        raise DatasetError(f"{raw_dir}: the folder holds no image files")
    if out_dir.resolve() == raw_dir.resolve():
        raise DatasetError(f"{out_dir}: the output folder must differ from the input folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = PrepareResult()
    for i, path in enumerate(files):
        try:
            image = load_image(path)
            faces = detect_faces(image, min_face=min_face)
            if not faces:
                result.failures.append((path.name, "no face found"))
            else:
                aligned = align_to_celeba_canvas(image, faces[0], width)
                result.written.append(save_image(out_dir / f"{path.stem}.png", aligned.crop))
        except FacetError as exc:  # unreadable / corrupt / too large: list it, go on
            result.failures.append((path.name, str(exc)))
        yield Step(i + 1, len(files), path.name, {"failed": float(len(result.failures))})
    result.failures_file = out_dir / FAILURES
    result.failures_file.write_text("".join(f"{name}\t{why}\n" for name, why in result.failures), encoding="utf-8")
    return result


def prepare_dataset(raw_dir: str | os.PathLike, out_dir: str | os.PathLike, width: int = 178,
                    min_face: float | None = None, progress: ProgressFn | None = None,
                    cancel: CancelFn | None = None) -> PrepareResult:
    """Plain-function twin of :func:`prepare_dataset_job`."""
    return drive(prepare_dataset_job(raw_dir, out_dir, width, min_face), progress, cancel)
