"""Small pieces every CLI command shares: JSON output, batch input listing, progress bars, photo mode, threads."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine.errors import FacetError
from engine.fileio import load_json_bounded
from engine.images import iter_image_files

#: The largest JSON file a command reads (codes are a few KB, training configs less).
MAX_JSON_FILE_BYTES = 4 * 2**20


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a machine-readable JSON result on stdout")


def add_device_flag(parser: argparse.ArgumentParser, thread_cap: int | None = 4) -> None:
    """``--device`` and ``--threads`` (every command that computes with torch has both)."""
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    add_threads_flag(parser, thread_cap)


#: Inference in these networks gains little beyond 4 CPU threads, and a CLI shares the machine.
THREAD_CAP = 4


def add_threads_flag(parser: argparse.ArgumentParser, cap: int | None = THREAD_CAP) -> None:
    limit = f"at most {cap}, " if cap else ""
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help=f"CPU threads for torch (default: one fewer than the cores, {limit}and no more than "
                             "the cores the load average leaves idle; 1 on a busy machine)")
    parser.set_defaults(thread_cap=cap)


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the whole machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_threads(cap: int | None = THREAD_CAP, cores: int | None = None, load: float | None = None) -> int:
    """Torch threads that do not oversubscribe the machine: one core is left to the rest of the system, at
    most ``cap``, and no more than the cores the 1-minute load average leaves idle (at least 1).

    Measured on a 2-core machine busy with a training run: hybrid inversion took 2.0 s on one thread and
    10.0 s on torch's default two (threads that wait for a busy core stall every parallel region)."""
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # Windows has no load average
            load = 0.0
    n = max(1, cores - 1)
    if cap:
        n = min(n, cap)
    idle = int(cores - load)  # whole idle cores
    return max(1, min(n, idle))


def apply_threads(args: argparse.Namespace) -> int | None:
    """Set torch's CPU threads from ``--threads`` or :func:`default_threads`; returns the number set (None when
    the command has no such option)."""
    if not hasattr(args, "threads"):
        return None
    import torch

    n = args.threads or default_threads(getattr(args, "thread_cap", THREAD_CAP))
    torch.set_num_threads(n)
    return n


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (steps, frames, image counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def read_json_file(path: str | Path, what: str, max_bytes: int = MAX_JSON_FILE_BYTES) -> Any:
    """A JSON file a user named (a code, a config): regular files of bounded size only; unreadable,
    invalid or absurdly nested JSON is one line (FacetError naming the file), never a traceback."""
    return load_json_bounded(path, max_bytes, what, FacetError)


def strict_json(value: Any) -> Any:
    """``value`` with every NaN/Infinity as null: strict JSON parsers refuse those tokens."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    """Print ``result`` as JSON with ``--json``, else the human-readable ``text``."""
    if getattr(args, "json", False):
        json.dump(strict_json(result), sys.stdout, indent=2, default=str, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(text)


def input_images(path: str | Path, own_suffix: str | None = None) -> list[Path]:
    """A single image file, or every image in a folder (batch mode); a clear error when there is none.

    ``own_suffix``: the suffix the command gives its outputs when they go next to the inputs; such files
    are earlier results, not inputs (a second run must not edit its own outputs again).
    """
    path = Path(path)
    if path.is_dir():
        files = [f for f in iter_image_files(path) if not (own_suffix and f.stem.endswith(own_suffix))]
        if not files:
            raise FacetError(f"{path}: the folder holds no image files")
        return files
    if not path.exists():
        raise FacetError(f"{path}: no such file or folder")
    return [path]


def output_path(src: Path, out: str | Path | None, batch: bool, suffix: str, taken: set[Path] | None = None) -> Path:
    """Where a result goes: ``-o`` file for one input, ``-o`` folder (or next to the input) for a batch.

    ``taken``: the outputs of this batch so far; ``a.jpg`` and ``a.png`` then get ``a_jpg…`` and ``a_png…``
    rather than one overwriting the other.
    """
    if out is None:
        dst = src.with_name(f"{src.stem}{suffix}.png")
    elif batch or Path(out).is_dir():
        dst = Path(out) / f"{src.stem}{suffix}.png"
    else:
        return Path(out)
    if taken is not None:
        if dst in taken:
            dst = dst.with_name(f"{src.stem}_{src.suffix.lstrip('.').lower()}{suffix}.png")
        taken.add(dst)
    return dst


def check_output(path: str | Path) -> Path:
    """Fail before any work when an output image cannot be written there (format, folder)."""
    from engine.images import SAVE_FORMATS

    path = Path(path)
    if path.suffix.lower() not in SAVE_FORMATS:
        raise FacetError(f"{path}: unsupported output format {path.suffix!r}; use one of {', '.join(sorted(SAVE_FORMATS))}")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacetError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    if not folder.is_dir():
        raise FacetError(f"{path}: cannot write there ({folder} is not a folder)")
    return path


T = TypeVar("T")


def run_batch(files: list[Path], batch: bool, work: Callable[[Path], T], desc: str,
              quiet: bool = False) -> tuple[list[T], list[dict[str, str]]]:
    """``work(file)`` for every input: in a batch a file that fails is skipped, named on stderr and listed
    (the rest still run, with a progress bar); a single file's error is raised as it is."""
    from engine.progress import Step, tqdm_progress

    results: list[T] = []
    failures: list[dict[str, str]] = []
    progress, close = tqdm_progress(desc, disable=quiet or not batch)
    try:
        for n, src in enumerate(files):
            try:
                results.append(work(src))
            except BATCH_ERRORS as exc:
                if not batch:
                    raise
                skipped(src, exc, failures)
            progress(Step(n + 1, len(files), src.name))
    finally:
        close()
    return results, failures


def batch_text(lines: list[str], failures: list[dict[str, str]], total: int) -> str:
    """The human-readable summary of a batch: a line per result, and how many files were skipped."""
    text = "\n".join(lines) if lines else "nothing written"
    if failures:
        text += f"\n{len(failures)} of {total} file(s) skipped (see above)"
    return text


def skipped(src: Path, exc: Exception, failures: list[dict[str, str]]) -> None:
    """In a batch, one file that fails is reported and recorded; the others still run."""
    failures.append({"input": str(src), "error": str(exc)})
    print(f"facet: skipped {src}: {exc}", file=sys.stderr)


BATCH_ERRORS = (FacetError, OSError)  # what a batch skips over (an unreadable image, an unwritable output)


FACE_NUMBERING = "faces are numbered from 1, left to right"


def face_number(text: str) -> int:
    """argparse type of ``--face``: a whole number of at least 1 (as the app numbers faces)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a face number ({FACE_NUMBERING})") from None


def add_face_flag(parser: argparse.ArgumentParser, what: str = "with --photo: edit only face N", default=None) -> None:
    parser.add_argument("--face", type=face_number, metavar="N", default=default,
                        help=f"{what} ({FACE_NUMBERING}, as in the app and in `facet detect`)")


def add_photo_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--photo", action="store_true",
                        help="the input is a whole photo: find its faces, edit them, paste them back at full resolution")
    add_face_flag(parser)


def check_face_number(face: int | None) -> None:
    """``--face 0`` (the old 0-based numbering) or less is refused, saying how faces are numbered."""
    if face is not None and face < 1:
        raise FacetError(f"--face {face}: {FACE_NUMBERING} (face 1 is the leftmost)")


def check_photo_flags(args: argparse.Namespace) -> None:
    check_face_number(args.face)
    if args.face is not None and not args.photo:
        raise FacetError("--face picks a face in a photo: use it with --photo")


def left_to_right(boxes: list[Any]) -> list[int]:
    """Indices of ``boxes`` (x0, y0, x1, y1) ordered as faces are numbered, the app's order
    (:func:`engine.numbering.reading_order`). ``left_to_right(boxes)[n - 1]`` is face ``n``."""
    from engine.numbering import reading_order

    return reading_order(boxes)


def pick_face(boxes: list[Any], face: int, name: str | Path) -> int:
    """The index (in ``boxes``' own order) of face number ``face``; a clear error when there is no such face."""
    check_face_number(face)
    if face > len(boxes):
        raise FacetError(f"{name}: --face {face}, but {len(boxes)} face(s) were found ({FACE_NUMBERING})")
    return left_to_right(boxes)[face - 1]


#: The largest side a face crop given without ``--photo`` is worked at: a "crop" larger than this is a whole
#: photo, and its float copies (ELEGANT's residual, the cGAN's change) would take gigabytes.
MAX_CROP_SIDE = 2048


def face_crop(image: np.ndarray, min_side: int) -> np.ndarray:
    """A face crop given without ``--photo``: the image's centre square at its own size, so an edit does not
    shrink the face; never smaller than ``min_side`` (the model's crop resolution: a smaller one is enlarged)
    nor larger than :data:`MAX_CROP_SIDE`."""
    from engine.images import resize

    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = np.ascontiguousarray(image[top : top + side, left : left + side])
    target = min(max(side, min_side), max(MAX_CROP_SIDE, min_side))
    return square if target == side else np.asarray(resize(square, (target, target)))


def edit_photo(photo: Any, ops: Any, face: int | None, name: str | Path, **models: Any) -> tuple[Any, dict[str, Any]]:
    """A photo's faces edited as the app does it, and pasted back at full resolution.

    An :class:`~engine.session.EditSession` with ``models`` (``cgan=``, ``elegant=``) finds the faces;
    ``ops(session, faces)`` returns the operations for the chosen ones (all, or face number ``face``, counted
    from 1 left to right) — it may first run the session's jobs, e.g. inversion. Returns
    (photo, {"found", "edited", "detected", "face"}); a photo in which no face was found is edited in its centre
    square (``detected`` 0), as in the app.
    """
    from engine.session import EditSession

    session = EditSession(photo, **models)
    detected = not session.faces[0].manual
    found = len(session.faces) if detected else 0
    if face is None:
        chosen = left_to_right([f.box for f in session.faces])
    else:
        chosen = [pick_face([f.box for f in session.faces[:found]], face, name)]
    for op in ops(session, chosen):
        session.apply(op)
    return session.render_photo(), {"found": found, "edited": len(chosen), "detected": int(detected), "face": face}
