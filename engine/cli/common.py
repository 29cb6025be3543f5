"""Small pieces every CLI command shares: JSON output, batch input listing, progress bars, photo mode."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from engine.errors import FacetError
from engine.fileio import load_json_bounded
from engine.images import iter_image_files

#: The largest JSON file a command reads (codes are a few KB, training configs less).
MAX_JSON_FILE_BYTES = 4 * 2**20


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a machine-readable JSON result on stdout")


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")


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


def skipped(src: Path, exc: Exception, failures: list[dict[str, str]]) -> None:
    """In a batch, one file that fails is reported and recorded; the others still run."""
    failures.append({"input": str(src), "error": str(exc)})
    print(f"facet: skipped {src}: {exc}", file=sys.stderr)


BATCH_ERRORS = (FacetError, OSError)  # what a batch skips over (an unreadable image, an unwritable output)


def add_photo_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--photo", action="store_true",
                        help="the input is a whole photo: find its faces, edit them, paste them back at full resolution")
    parser.add_argument("--face", type=int, metavar="N", help="with --photo: edit only face N (0 = the largest)")


def check_photo_flags(args: argparse.Namespace) -> None:
    if args.face is not None and not args.photo:
        raise FacetError("--face picks a face in a photo: use it with --photo")


def edit_photo(photo: Any, ops: Any, face: int | None, name: str | Path, **models: Any) -> tuple[Any, dict[str, int]]:
    """A photo's faces edited as the app does it, and pasted back at full resolution.

    An :class:`~engine.session.EditSession` with ``models`` (``cgan=``, ``elegant=``) finds the faces;
    ``ops(session, faces)`` returns the operations for the chosen ones (all, or ``face``) — it may first run
    the session's jobs, e.g. inversion. Returns (photo, {"found", "edited", "detected"}); a photo in which
    no face was found is edited in its centre square (``detected`` 0), as in the app.
    """
    from engine.session import EditSession

    session = EditSession(photo, **models)
    detected = not session.faces[0].manual
    found = len(session.faces) if detected else 0
    if face is not None and not 0 <= face < found:
        raise FacetError(f"{name}: --face {face}, but {found} face(s) were found (numbered from 0, largest first)")
    chosen = list(range(len(session.faces))) if face is None else [face]
    for op in ops(session, chosen):
        session.apply(op)
    return session.render_photo(), {"found": found, "edited": len(chosen), "detected": int(detected)}
