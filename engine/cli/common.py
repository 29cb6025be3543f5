"""Small pieces every CLI command shares: JSON output, batch input listing, progress bars."""

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
