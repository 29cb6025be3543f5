"""Looks: a named set of slider values and exemplar transfers, saved once and applied to other faces.

A look is the net edit of one face, as operations another face can take: the attribute values its sliders
were left at (cGAN attributes and ELEGANT dials), the attribute vectors it was moved along, and the
attributes it took from exemplars. Edits that belong to that face alone (brush strokes, completion, a blend
with another face, super-resolution) are not part of it. On disk a look is a folder holding ``look.json``
and copies of its exemplar images, so it still works after the gallery's files have moved; it is read with
:func:`engine.fileio.load_json_bounded` (a look can be handed over like any file). Plain Python (no torch).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import FacetError
from engine.fileio import commit, load_json_bounded, read_regular_file
from engine.ops import ApplyVector, Change, Dial, Op, ResetAttributes, SetAttribute, TransferFromExemplar

FORMAT, FORMAT_VERSION = "facet-look", 1
LOOK_FILE = "look.json"
MAX_LOOK_BYTES = 256 * 2**10
MAX_EXEMPLAR_BYTES = 64 * 2**20  # an exemplar image copied into a look
MAX_NAME, MAX_ENTRIES, MAX_TRANSFERS = 100, 64, 32
MAX_MAGNITUDE = 10.0  # |value| of a slider, a vector strength or a transfer strength


@dataclass(frozen=True)
class LookTransfer:
    """Take ``attributes`` from the exemplar image ``exemplar`` (a path; a file name inside a saved look)."""

    exemplar: str
    attributes: tuple[str, ...]
    strength: float = 1.0


@dataclass(frozen=True)
class Look:
    name: str
    attributes: dict[str, float] = field(default_factory=dict)  # cGAN attribute sliders (SetAttribute)
    dials: dict[str, float] = field(default_factory=dict)  # ELEGANT dials (Dial)
    vectors: dict[str, float] = field(default_factory=dict)  # attribute-vector strengths (ApplyVector)
    transfers: tuple[LookTransfer, ...] = ()

    def is_empty(self) -> bool:
        return not (self.attributes or self.dials or self.vectors or self.transfers)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name,
                "attributes": dict(self.attributes), "dials": dict(self.dials), "vectors": dict(self.vectors),
                "transfers": [{"exemplar": t.exemplar, "attributes": list(t.attributes), "strength": t.strength}
                              for t in self.transfers]}

    @classmethod
    def from_dict(cls, data: Any, where: str = "look") -> Look:
        """A look from :meth:`to_dict` data, every field checked (FacetError naming ``where`` and the field)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise FacetError(f"{where}: not a Facet look")
        if data.get("format_version") != FORMAT_VERSION:
            raise FacetError(f"{where}: look format version {data.get('format_version')!r} is not supported")
        name = _text(data.get("name"), f"{where}: name", MAX_NAME)
        values = {key: _values(data.get(key, {}), f"{where}: {key}") for key in ("attributes", "dials", "vectors")}
        transfers = data.get("transfers", [])
        if not isinstance(transfers, list) or len(transfers) > MAX_TRANSFERS:
            raise FacetError(f"{where}: transfers must be a list of at most {MAX_TRANSFERS}")
        return cls(name, **values, transfers=tuple(_transfer(t, f"{where}: transfers[{k}]")
                                                   for k, t in enumerate(transfers)))


def _text(v: Any, where: str, limit: int = 200) -> str:
    if not isinstance(v, str) or not v.strip() or len(v) > limit:
        raise FacetError(f"{where} must be a text of 1 to {limit} characters")
    return v


def _number(v: Any, where: str) -> float:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= MAX_MAGNITUDE
    if not ok:
        raise FacetError(f"{where} must be a number from -{MAX_MAGNITUDE:g} to {MAX_MAGNITUDE:g}, got {str(v)[:40]!r}")
    return float(v)


def _values(v: Any, where: str) -> dict[str, float]:
    if not isinstance(v, dict) or len(v) > MAX_ENTRIES:
        raise FacetError(f"{where} must map at most {MAX_ENTRIES} attribute names to numbers")
    return {_text(k, f"{where}: a name"): _number(x, f"{where}: {k}") for k, x in v.items()}


def _transfer(t: Any, where: str) -> LookTransfer:
    if not isinstance(t, dict):
        raise FacetError(f"{where} must be a dictionary")
    attrs = t.get("attributes")
    if not isinstance(attrs, list) or not 1 <= len(attrs) <= MAX_ENTRIES:
        raise FacetError(f"{where}: attributes must be a list of 1 to {MAX_ENTRIES} names")
    return LookTransfer(_text(t.get("exemplar"), f"{where}: exemplar", 4096),
                        tuple(_text(a, f"{where}: an attribute") for a in attrs),
                        _number(t.get("strength", 1.0), f"{where}: strength"))


# -- a face's edits ↔ a look -------------------------------------------------------------------------
def look_from_ops(name: str, ops: Iterable[Op], exemplars: Mapping[str, str]) -> Look:
    """The net edit of one face's active operations ``ops`` (in stack order) as a look called ``name``.

    ``exemplars`` maps a transfer's exemplar reference to its image file. A reset drops what it resets."""
    attributes: dict[str, float] = {}
    dials: dict[str, float] = {}
    vectors: dict[str, float] = {}
    transfers: list[LookTransfer] = []
    for op in ops:
        if isinstance(op, SetAttribute):
            attributes[op.name] = op.value
        elif isinstance(op, Dial):
            dials[op.name] = op.value
        elif isinstance(op, ApplyVector):
            vectors[op.name] = vectors.get(op.name, 0.0) + op.strength
        elif isinstance(op, ResetAttributes):
            for values in (attributes, dials):
                for n in op.names or list(values):
                    values.pop(n, None)
            if not op.names:
                vectors.clear()  # a reset of everything goes back to the inverted code
        elif isinstance(op, TransferFromExemplar) and op.strength != 0:
            if op.exemplar_ref not in exemplars:
                raise FacetError(f"“{op.describe()}”: its exemplar image is not known, so the look cannot keep it")
            transfers.append(LookTransfer(str(exemplars[op.exemplar_ref]), tuple(op.attributes), op.strength))
    return Look(_text(name, "a look's name", MAX_NAME).strip(), attributes, dials,
                {n: s for n, s in vectors.items() if s != 0.0}, tuple(transfers))


def look_ops(look: Look, face: int, exemplar_ref: Callable[[str], str]) -> list[Op]:
    """The operations that give face ``face`` this look: sliders, vectors, dials, then transfers.

    ``exemplar_ref(path)`` turns a transfer's exemplar image into the reference its operation names (the
    session's :meth:`~engine.session.EditSession.add_exemplar`; the app passes the path on to its worker)."""
    ops: list[Op] = [SetAttribute(face, n, v) for n, v in look.attributes.items()]
    ops += [ApplyVector(face, n, s) for n, s in look.vectors.items()]
    ops += [Dial(face, n, v) for n, v in look.dials.items()]
    ops += [TransferFromExemplar(face, exemplar_ref(t.exemplar), t.attributes, t.strength) for t in look.transfers]
    return ops


def apply_look(session, face: int, look: Look) -> Change:
    """Apply ``look`` to face ``face`` of an :class:`~engine.session.EditSession` (cGAN faces must be inverted):
    all of its operations or, when one is refused (a model lacks an attribute), none of them."""
    from engine.images import load_image
    from engine.transfer import check_no_face_swap

    if session.models.elegant is not None:  # refused before any of its operations is applied
        try:
            check_no_face_swap(session.models.elegant, [n for t in look.transfers for n in t.attributes])
        except FacetError as exc:
            raise FacetError(f"the look “{look.name}” cannot be applied: {exc}") from None
    ops = look_ops(look, face, lambda path: session.add_exemplar(load_image(path)))
    change, applied = Change(), 0
    try:
        for op in ops:
            change = change | session.apply(op)
            applied += 1
    except FacetError as exc:
        for _ in range(applied):
            session.undo()
        session.drop_redo()
        raise FacetError(f"the look “{look.name}” cannot be applied: {exc}") from None
    return change


# -- looks on disk ------------------------------------------------------------------------------------
def slug(name: str) -> str:
    """A folder name for a look called ``name``: letters, digits, spaces, dashes and underscores only."""
    text = re.sub(r"[^\w \-]+", "_", name, flags=re.ASCII).strip(" ._")[:60]
    return text or "look"


def _folder_for(folder: Path, name: str) -> Path:
    """The folder of the look called ``name``: its own when saved before, else a free one ("a/b" and "a_b"
    share a slug, never a folder)."""
    base = slug(name)
    for n in range(1, 1000):
        target = folder / (base if n == 1 else f"{base}-{n}")
        try:
            if not target.exists() or load_look(target).name == name:
                return target
        except FacetError:  # a damaged look holds that folder
            continue
    raise FacetError(f"{folder}: too many looks called like “{name}”")


def save_look(folder: str | os.PathLike, look: Look) -> Path:
    """Write ``look`` as ``folder/<slug>/look.json`` with copies of its exemplar images; a look of the same
    name is replaced (another whose name has the same slug is kept). Returns the look's file."""
    from engine.images import check_image

    target = _folder_for(Path(folder), look.name)
    target.mkdir(parents=True, exist_ok=True)
    transfers, kept = [], {LOOK_FILE}
    for k, t in enumerate(look.transfers, 1):
        source = Path(t.exemplar)
        name = f"exemplar-{k}{source.suffix.lower()}"
        if source.resolve() != (target / name).resolve():
            check_image(source)  # an image the session can read, before it is copied
            tmp = target / f".{name}.tmp"
            tmp.write_bytes(read_regular_file(source, MAX_EXEMPLAR_BYTES, "exemplar image"))
            commit(tmp, target / name)
        transfers.append(LookTransfer(name, t.attributes, t.strength))
        kept.add(name)
    stored = Look(look.name, look.attributes, look.dials, look.vectors, tuple(transfers))
    tmp = target / f".{LOOK_FILE}.tmp"
    tmp.write_text(json.dumps(stored.to_dict(), indent=2), encoding="utf-8")
    path = commit(tmp, target / LOOK_FILE)
    for old in target.glob("exemplar-*"):  # a replaced look's exemplars it no longer takes
        if old.name not in kept:
            with contextlib.suppress(OSError):
                old.unlink()
    return path


def load_look(path: str | os.PathLike) -> Look:
    """A saved look (its ``look.json`` or its folder), its exemplars as paths inside its folder."""
    path = Path(path)
    if path.is_dir():
        path = path / LOOK_FILE
    look = Look.from_dict(load_json_bounded(path, MAX_LOOK_BYTES, "look"), str(path))
    transfers = []
    for t in look.transfers:
        name = t.exemplar
        if Path(name).name != name or name in (".", ".."):
            raise FacetError(f"{path}: exemplar {name!r} must be a file name inside the look's folder")
        transfers.append(LookTransfer(str(path.parent / name), t.attributes, t.strength))
    return Look(look.name, look.attributes, look.dials, look.vectors, tuple(transfers))


def list_looks(folder: str | os.PathLike) -> list[tuple[str, Path]]:
    """(name, look file) of the looks saved in ``folder``, by name; a damaged one is left out."""
    found = []
    with contextlib.suppress(OSError):
        for path in Path(folder).glob(f"*/{LOOK_FILE}"):
            try:
                found.append((load_look(path).name, path))
            except FacetError:
                continue
    return sorted(found, key=lambda item: item[0].lower())


def delete_look(path: str | os.PathLike) -> None:
    """Remove a saved look's folder (its ``look.json`` and exemplar copies)."""
    path = Path(path)
    folder = path.parent if path.name == LOOK_FILE else path
    for f in folder.iterdir():
        if f.is_file() and (f.name == LOOK_FILE or f.name.startswith(("exemplar-", "."))):
            f.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
