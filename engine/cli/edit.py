"""``facet edit``: set attribute dials / add attribute vectors of a face with the cGAN, and render it.

The input is a face crop, a whole photo (``--photo``: its faces are found, edited and pasted back at full
resolution, as the app does), a folder of either (a batch), or a code file that ``facet invert`` wrote.
Each face is inverted once: the inversion is cached (:mod:`engine.cache`), so editing the same photo again
only renders. ``--code`` edits a saved code while keeping the face of the image it was made from.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.cli.common import (
    FACE_NUMBERING,
    add_photo_flags,
    batch_text,
    check_output,
    check_photo_flags,
    edit_photo,
    emit,
    face_crop,
    input_images,
    left_to_right,
    output_path,
    run_batch,
)
from engine.cli.invert import (
    _bundle,
    _cache,
    _invert,
    _method,
    _note_cache,
    _pairs,
    _read_code,
    _run_with_bar,
)
from engine.errors import FacetError

SUFFIX = "_edited"


def register_edit(subparsers: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = subparsers.add_parser(
        "edit", help="set attribute dials / add attribute vectors of a face (or of every image in a folder) and render",
        description="Without --photo the input is a face crop: its centre square, kept at its own size (never smaller "
                    "than the model's crop resolution), changed by what the edit changed in the generator's face. "
                    "With --photo its faces are found, edited and pasted back at full resolution. A folder is a "
                    "batch. Each face's inversion is cached, so editing it again does not invert again.")
    p.add_argument("input", metavar="IMG|DIR|CODE.json")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="attribute dial, -1 (none) to 1 (as in training), further where the model's "
                        "attribute_limits allow (repeatable)")
    p.add_argument("--vector", action="append", default=[], metavar="NAME=STRENGTH", help="add an attribute vector (repeatable)")
    p.add_argument("-o", "--out", help=f"output image (one input) or folder (batch); default: next to the input, "
                                       f"NAME{SUFFIX}.png")
    p.add_argument("--code", metavar="CODE.json",
                   help="edit this saved code (from `facet invert`) instead of inverting the face of IMG, whose own "
                        "face is kept (with --photo: the code of face --face, or of the photo's only face)")
    p.add_argument("--generated-face", action="store_true",
                   help="output the generator's face itself (IcGAN) instead of the input face changed by what the edit "
                        "changed (the default for an image input; a CODE.json alone has no face to keep)")
    add_photo_flags(p)
    common(p)
    p.set_defaults(func=cmd_edit)


@dataclass
class _Job:
    """What every input of one ``facet edit`` call is edited with."""

    args: argparse.Namespace
    bundle: Any
    dials: dict[str, float]
    vectors: dict[str, float]
    cache: Any  # engine.cache.InversionCache, or None with --no-cache
    code: Any  # a LatentCode from --code, or None
    batch: bool

    def edited(self, code):
        from engine.edit import apply_vector, set_attributes

        out = set_attributes(code, self.bundle, self.dials)
        for name, strength in self.vectors.items():
            out = apply_vector(out, self.bundle, name, strength)
        return out

    def ops(self, faces: list[int]) -> list:
        from engine.ops import ApplyVector, SetAttribute

        return ([SetAttribute(i, n, v) for i in faces for n, v in self.dials.items()]
                + [ApplyVector(i, n, v) for i in faces for n, v in self.vectors.items()])


def cmd_edit(args: argparse.Namespace) -> int:
    from engine.edit.latent import attribute_limit

    bundle = _bundle(args)
    _method(args, bundle)  # an unknown method fails before any image is read
    dials, vectors = _pairs(args.set, "--set"), _pairs(args.vector, "--vector")
    outside = [f"{n}={v:g} (from -{lim:g} to {lim:g})" for n, v in dials.items()
               for lim in [attribute_limit(bundle, n) if n in bundle.attributes else 1.0] if not -lim <= v <= lim]
    if outside:
        raise FacetError(f"--set {', '.join(outside)}: outside the attribute's dial")
    check_photo_flags(args)
    source = Path(args.input)
    batch = source.is_dir()
    if source.suffix.lower() == ".json" and not batch:
        if args.code or args.photo:
            raise FacetError(f"{source}: --code and --photo need an image whose face is kept; this is a code file")
        return _edit_code_file(args, bundle, dials, vectors)
    if batch and args.code:
        raise FacetError(f"--code is one face's code: give it with one image, not the folder {source}")
    code = _read_code(args.code, bundle) if args.code else None
    files = input_images(source, own_suffix=SUFFIX if args.out is None else None)
    if not batch:
        check_output(output_path(files[0], args.out, False, SUFFIX))
    job = _Job(args, bundle, dials, vectors, None if code is not None else _cache(args), code, batch)
    taken: set[Path] = set()

    def one(src: Path) -> dict[str, Any]:
        dst = check_output(output_path(src, args.out, batch, SUFFIX, taken))
        return (_edit_photo if args.photo else _edit_crop)(src, dst, job)

    records, failures = run_batch(files, batch, one, "edit", args.json)
    lines = [r.pop("text") for r in records]
    emit(args, {"results": records, "failed": failures} if batch else records[0], batch_text(lines, failures, len(files)))
    return 1 if failures else 0


def _edit_code_file(args: argparse.Namespace, bundle, dials: dict[str, float], vectors: dict[str, float]) -> int:
    """A code alone: there is no face to keep, so the output is the generator's face."""
    from engine.edit import render
    from engine.images import save_image

    out = check_output(output_path(Path(args.input), args.out, False, SUFFIX))
    job = _Job(args, bundle, dials, vectors, None, None, False)
    edited = job.edited(_read_code(args.input, bundle))
    out = save_image(out, render(bundle, edited))
    emit(args, {"input": str(args.input), "output": str(out), "set": dials, "vectors": vectors, "kept_face": False,
                "cached": False, **edited.to_dict()}, f"wrote {out}")
    return 0


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    from engine.images import resize

    return image if image.shape[:2] == (side, side) else np.asarray(resize(image, (side, side)))


def _edit_crop(src: Path, dst: Path, job: _Job) -> dict[str, Any]:
    """A face crop: inverted (or its ``--code``), edited, and kept at its own size with the change added."""
    from engine.edit import add_change, render
    from engine.images import load_image, save_image

    args, bundle = job.args, job.bundle
    crop = face_crop(load_image(src), bundle.crop_resolution)
    cached = False
    if job.code is not None:
        code = job.code
    else:
        result, cached = _run_with_bar(lambda p: _invert(crop, bundle, args, job.cache, p),
                                       f"invert ({args.method})", args.json or job.batch)
        code = result.code
    edited = job.edited(code)
    image = render(bundle, edited)
    if not args.generated_face:  # the face changed by what the edit changed; G(code) rendered the same way as
        side = crop.shape[0]  # the edit, so no edit gives the face back bit for bit
        image = add_change(crop, _fit(render(bundle, code), side), _fit(image, side))
    out = save_image(dst, image)
    text = f"wrote {out}" + (" (inversion from the cache)" if cached else "")
    return {"input": str(src), "output": str(out), "set": job.dials, "vectors": job.vectors,
            "kept_face": not args.generated_face, "cached": cached, **edited.to_dict(), "text": text}


def _edit_photo(src: Path, dst: Path, job: _Job) -> dict[str, Any]:
    """``--photo``: invert each chosen face (or take it from the cache, or ``--code``), edit it, paste it back."""
    from engine.images import load_image, read_exif, save_image

    args = job.args
    cached = 0

    def ops(session, faces: list[int]) -> list:
        nonlocal cached
        if job.code is not None and len(faces) != 1:
            raise FacetError(f"{src}: --code is one face's code, but {len(faces)} faces were found: pick one with "
                             f"--face N ({FACE_NUMBERING})")
        order = left_to_right([f.box for f in session.faces])
        for i in faces:
            cached += _face_code(session, i, order.index(i) + 1, job)
        return job.ops(faces)

    photo, faces = edit_photo(load_image(src), ops, args.face, src, cgan=job.bundle, keep_face=not args.generated_face)
    out = save_image(dst, photo, exif=read_exif(src))
    text = f"wrote {out} ({faces['edited']} face(s) edited" + (f", {cached} inverted before" if cached else "") + ")"
    if not faces["detected"]:
        text += "; no face was found, so the centre square was edited"
    return {"input": str(src), "output": str(out), "set": job.dials, "vectors": job.vectors, "faces": faces,
            "cached": cached, "text": text}


def _face_code(session, i: int, number: int, job: _Job) -> bool:
    """Give face ``i`` of ``session`` its code: ``--code``, the cache's, or a fresh inversion (then cached).
    Returns True when it came from the cache."""
    from engine.cache import inversion_key
    from engine.edit import render
    from engine.progress import drive

    args, bundle, slot = job.args, job.bundle, session.faces[i]
    if job.code is not None:
        _set_code(slot, job.code, render(bundle, job.code), "code file")
        return False
    method = _method(args, bundle)
    key = inversion_key(slot.crop, bundle, method, args.inv_steps, args.seed) if job.cache is not None else None
    hit = job.cache.get(key, bundle) if job.cache is not None else None
    if hit is not None:
        _set_code(slot, hit.code, hit.reconstruction, hit.method)
        return True
    _run_with_bar(lambda p: drive(session.invert_face_job(i, method, args.inv_steps, args.seed), p),
                  f"face {number}: invert ({method})", args.json or job.batch)
    if job.cache is not None:
        job.cache.put(key, slot.code, slot.reconstruction, slot.method, args.inv_steps or 0)
        _note_cache(job.cache)
    return False


def _set_code(slot, code, reconstruction: np.ndarray, method: str) -> None:
    """What :meth:`EditSession.invert_face_job` stores when it completes, from a code known already."""
    slot.code, slot.reconstruction, slot.method = code.copy(), reconstruction, method
    slot.code_version += 1
