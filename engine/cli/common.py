"""Small pieces every CLI command shares: JSON output, batch input listing, progress bars, photo mode."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.errors import FacetError
from engine.images import iter_image_files


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a machine-readable JSON result on stdout")


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")


def emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    """Print ``result`` as JSON with ``--json``, else the human-readable ``text``."""
    if getattr(args, "json", False):
        json.dump(result, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(text)


def input_images(path: str | Path) -> list[Path]:
    """A single image file, or every image in a folder (batch mode); a clear error when there is none."""
    path = Path(path)
    if path.is_dir():
        files = iter_image_files(path)
        if not files:
            raise FacetError(f"{path}: the folder holds no image files")
        return files
    if not path.exists():
        raise FacetError(f"{path}: no such file or folder")
    return [path]


def output_path(src: Path, out: str | Path | None, batch: bool, suffix: str) -> Path:
    """Where a result goes: ``-o`` file for one input, ``-o`` folder (or next to the input) for a batch."""
    if out is None:
        return src.with_name(f"{src.stem}{suffix}.png")
    out = Path(out)
    if batch or out.is_dir():
        return out / f"{src.stem}{suffix}.png"
    return out


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
