"""CelebA label files: ``list_attr_celeba.txt``, the same labels as CSV, and ``list_eval_partition.txt``.

Parsing is strict because a silently shifted column trains a model on the wrong attribute: every
malformed line raises :class:`DatasetError` naming the file and the line number.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import DatasetError

#: Partition codes of ``list_eval_partition.txt``.
SPLITS = {"train": 0, "val": 1, "valid": 1, "validation": 1, "test": 2}


@dataclass
class LabelTable:
    """Binary attribute labels: ``values[i, j]`` is +1/-1 for image ``files[i]`` and attribute ``names[j]``."""

    files: list[str]
    names: list[str]
    values: np.ndarray  # int8 (len(files), len(names)) of +1/-1
    source: str = ""

    def __len__(self) -> int:
        return len(self.files)

    def select(self, attributes: Iterable[str] | None) -> LabelTable:
        """The same rows restricted to ``attributes`` (CelebA names, in the order given)."""
        if attributes is None:
            return self
        attributes = list(attributes)
        index = {n: i for i, n in enumerate(self.names)}
        unknown = [a for a in attributes if a not in index]
        if unknown:
            raise DatasetError(
                f"{self.source or 'labels'}: unknown attribute(s) {', '.join(unknown)}; "
                f"known: {', '.join(self.names)}"
            )
        if len(set(attributes)) != len(attributes):
            raise DatasetError(f"{self.source or 'labels'}: an attribute is requested twice: {attributes}")
        cols = [index[a] for a in attributes]
        return LabelTable(list(self.files), attributes, self.values[:, cols].copy(), self.source)

    def row(self, file: str) -> np.ndarray:
        return self.values[self.files.index(file)]


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such label file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the label file ({exc})") from None


def _to_pm1(token: str, allowed: dict[str, int], path: Path, lineno: int, column: str) -> int:
    try:
        return allowed[token.strip()]
    except KeyError:
        raise DatasetError(
            f"{path}, line {lineno}: value {token!r} for {column} is not one of {', '.join(allowed)}"
        ) from None


def _check_unique(path: Path, names: list[str], lineno: int, what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise DatasetError(f"{path}, line {lineno}: duplicate {what} {n!r}")
        seen.add(n)


_TXT_VALUES = {"1": 1, "-1": -1, "0": -1}  # some re-releases write 0 for "absent"


def read_attribute_file(path: str | os.PathLike) -> LabelTable:
    """Read ``list_attr_celeba.txt``: count, attribute names, then ``file v1 .. vN`` rows of 1/-1."""
    path = Path(path)
    lines = _read_lines(path)
    # Keep original line numbers; drop trailing/blank lines.
    numbered = [(i + 1, ln.split()) for i, ln in enumerate(lines) if ln.strip()]
    if len(numbered) < 2:
        raise DatasetError(
            f"{path}: too short for a CelebA attribute file (need a count line and a names line)"
        )
    (count_line, count_tokens), (names_line, names) = numbered[0], numbered[1]
    if len(count_tokens) != 1 or not count_tokens[0].isdigit():
        raise DatasetError(
            f"{path}, line {count_line}: expected the number of rows, got {' '.join(count_tokens)!r}"
        )
    count = int(count_tokens[0])
    if names and names[0].lower() in ("file", "image_id", "filename"):
        names = names[1:]
    if not names:
        raise DatasetError(f"{path}, line {names_line}: no attribute names")
    _check_unique(path, names, names_line, "attribute name")
    rows = numbered[2:]
    values = np.empty((len(rows), len(names)), dtype=np.int8)
    files: list[str] = []
    seen: dict[str, int] = {}
    for r, (lineno, tokens) in enumerate(rows):
        if len(tokens) != len(names) + 1:
            raise DatasetError(
                f"{path}, line {lineno}: expected a file name and {len(names)} values, got {len(tokens)} columns"
            )
        name = tokens[0]
        if name in seen:
            raise DatasetError(
                f"{path}, line {lineno}: duplicate file name {name!r} (first on line {seen[name]})"
            )
        seen[name] = lineno
        files.append(name)
        for j, tok in enumerate(tokens[1:]):
            values[r, j] = _to_pm1(tok, _TXT_VALUES, path, lineno, names[j])
    if count != len(files):
        raise DatasetError(
            f"{path}, line {count_line}: the header says {count} rows but the file has {len(files)}"
        )
    return LabelTable(files, list(names), values, str(path))


def read_attribute_csv(path: str | os.PathLike) -> LabelTable:
    """Read labels as CSV: header ``file,<attr>,...``, first column the image name, values 0/1 or 1/-1."""
    path = Path(path)
    lines = _read_lines(path)
    reader = csv.reader(lines)
    header: list[str] | None = None
    files: list[str] = []
    raw: list[list[str]] = []
    linenos: list[int] = []
    seen: dict[str, int] = {}
    for lineno, cells in enumerate(reader, start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if header is None:
            header = cells
            if len(header) < 2:
                raise DatasetError(
                    f"{path}, line {lineno}: the header needs an image column and attribute columns"
                )
            _check_unique(path, header[1:], lineno, "attribute name")
            continue
        if len(cells) != len(header):
            raise DatasetError(f"{path}, line {lineno}: expected {len(header)} columns, got {len(cells)}")
        if cells[0] in seen:
            raise DatasetError(
                f"{path}, line {lineno}: duplicate file name {cells[0]!r} (first on line {seen[cells[0]]})"
            )
        seen[cells[0]] = lineno
        files.append(cells[0])
        raw.append(cells[1:])
        linenos.append(lineno)
    if header is None:
        raise DatasetError(f"{path}: empty CSV label file")
    names = header[1:]
    tokens = {t for row in raw for t in row}
    # Decide the convention once for the whole file: any -1 means 1/-1, otherwise 0/1.
    allowed = {"1": 1, "-1": -1, "0": -1} if "-1" in tokens else {"1": 1, "0": -1}
    values = np.empty((len(files), len(names)), dtype=np.int8)
    for r, row in enumerate(raw):
        for j, tok in enumerate(row):
            values[r, j] = _to_pm1(tok, allowed, path, linenos[r], names[j])
    return LabelTable(files, names, values, str(path))


def read_labels(path: str | os.PathLike) -> LabelTable:
    """A label table from ``.csv`` or the CelebA text format, by extension."""
    path = Path(path)
    return read_attribute_csv(path) if path.suffix.lower() == ".csv" else read_attribute_file(path)


def read_partition(path: str | os.PathLike) -> dict[str, int]:
    """Read ``list_eval_partition.txt``: ``file P`` with P = 0 train, 1 validation, 2 test."""
    path = Path(path)
    out: dict[str, int] = {}
    lines_of: dict[str, int] = {}
    for lineno, line in enumerate(_read_lines(path), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 2:
            raise DatasetError(f"{path}, line {lineno}: expected 'file partition', got {len(tokens)} columns")
        name, code = tokens
        if code not in ("0", "1", "2"):
            raise DatasetError(
                f"{path}, line {lineno}: partition {code!r} is not 0 (train), 1 (val) or 2 (test)"
            )
        if name in out:
            raise DatasetError(
                f"{path}, line {lineno}: duplicate file name {name!r} (first on line {lines_of[name]})"
            )
        out[name] = int(code)
        lines_of[name] = lineno
    return out


def split_code(split: str | int) -> int:
    """``"train"``/``"val"``/``"test"`` (or 0/1/2) as a partition code."""
    if isinstance(split, int) and split in (0, 1, 2):
        return split
    if isinstance(split, str) and split.lower() in SPLITS:
        return SPLITS[split.lower()]
    if isinstance(split, str) and split in ("0", "1", "2"):
        return int(split)
    raise DatasetError(f"unknown split {split!r}; use train, val or test")


def positive_fraction(labels: Any, attributes: Sequence[str]) -> dict[str, float]:
    """Fraction of rows with each attribute present (label > 0); 0.0 for an empty table.

    ``labels`` is any (N, A) array or tensor of ±1. Recorded in every trained bundle's manifest, where the
    attribute classifier's balanced decisions (``engine.metrics.attribute_decisions``) read it as the prior.
    """
    values = np.asarray(labels)
    if not len(values):
        return {a: 0.0 for a in attributes}
    return {a: float(f) for a, f in zip(attributes, (values > 0).mean(0), strict=True)}
