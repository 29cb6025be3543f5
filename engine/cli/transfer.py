"""``facet transfer`` (take attributes from exemplar faces) and ``facet dial`` (move them with prototypes).

SOURCE may be a folder (batch mode): every image in it is edited with the same exemplars or settings, which
are encoded once. By default SOURCE is a face crop: its centre square, kept at its own size (never smaller
than the bundle's crop resolution). With ``--photo`` SOURCE is a whole photo: its faces are found, aligned,
edited and pasted back at the photo's full resolution, exactly as the app does (:class:`engine.session.EditSession`).

Several exemplars in one call: ``facet transfer SOURCE --exemplar glasses.png Eyeglasses --exemplar smile.png
Smiling,Bangs`` takes each exemplar's attributes from it (an attribute from one exemplar only); the short form
``facet transfer SOURCE EXEMPLAR --attributes A,B`` is one exemplar.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import (
    add_device_flag,
    add_json_flag,
    add_photo_flags,
    check_output,
    check_photo_flags,
    edit_photo,
    emit,
    face_crop,
    input_images,
    output_path,
    run_batch,
)
from engine.errors import FacetError

TRANSFER_EPILOG = """\
examples:
  facet transfer face.png glasses.png --attributes Eyeglasses --bundle BUNDLE
  facet transfer photo.jpg --photo --bundle BUNDLE \\
      --exemplar glasses.png Eyeglasses --exemplar smiling.png Smiling,Bangs
Each attribute is taken from one exemplar; all of them are exchanged in one decoder pass (one operation per
exemplar with --photo, as the app stacks them). A model that pastes the exemplar's own pixels does not take
Male or Young (that would paste the other person's face): dial them or use the cGAN's sliders."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("transfer", help="give a face the attributes of one or more exemplar faces (ELEGANT)",
                              epilog=TRANSFER_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="face image, or a folder of them (batch mode)")
    p.add_argument("exemplar", nargs="?", help="face image that has (or, to remove, lacks) the attributes given with "
                                               "--attributes")
    p.add_argument("--attributes", help="comma-separated attribute names to take from EXEMPLAR, e.g. Smiling,Eyeglasses")
    p.add_argument("--exemplar", dest="exemplars", action="append", nargs=2, default=[], metavar=("IMAGE", "ATTRS"),
                   help="another exemplar and the comma-separated attributes to take from it (repeatable)")
    p.add_argument("--bundle", required=True, help="an ELEGANT model bundle folder")
    p.add_argument("--strength", type=float, default=1.0, help="0 = unchanged, 1 = exemplar's (up to 1.5)")
    p.add_argument("-o", "--output", help="output image (one source) or folder (batch)")
    add_photo_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_transfer)

    q = subparsers.add_parser("dial", help="move attributes of a face without an exemplar (ELEGANT prototypes)")
    q.add_argument("source", help="face image, or a folder of them (batch mode)")
    q.add_argument("--bundle", required=True, help="an ELEGANT model bundle folder")
    q.add_argument("--set", action="append", required=True, metavar="NAME=VALUE", dest="settings",
                   help="attribute and amount in [-1.5, 1.5] (+ adds, - removes); repeatable or comma-separated")
    q.add_argument("-o", "--output", help="output image (one source) or folder (batch)")
    add_photo_flags(q)
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_flag(q)
    add_json_flag(q)
    q.set_defaults(func=_dial)


def parse_settings(items: list[str]) -> dict[str, float]:
    """``["Smiling=0.7,Bangs=-1"]`` → ``{"Smiling": 0.7, "Bangs": -1.0}``, with a clear error on bad input."""
    from engine.errors import FacetError

    out: dict[str, float] = {}
    for item in items:
        for part in filter(None, (s.strip() for s in item.split(","))):
            name, sep, value = part.partition("=")
            try:
                if not sep or not name.strip():
                    raise ValueError
                out[name.strip()] = float(value)
            except ValueError:
                raise FacetError(f"--set {part!r}: expected NAME=NUMBER, e.g. Smiling=0.7") from None
    return out


def _load(args: argparse.Namespace):
    from engine.bundle import load_bundle
    from engine.device import pick_device

    return load_bundle(args.bundle, pick_device(args.device))


def _run_batch(args: argparse.Namespace, suffix: str, edit, ops, extra: dict | None = None) -> int:
    """Edit and save every source image; prints one line or JSON.

    A face crop goes through ``edit(code) -> uint8``; with ``--photo`` a photo's chosen faces get
    ``ops(session, faces)`` (the session's operations, so the result is what the app would export).
    """
    from engine import transfer as T
    from engine.images import load_image, read_exif, save_image

    bundle = args.bundle_obj
    check_photo_flags(args)
    batch = Path(args.source).is_dir()
    sources = input_images(args.source, own_suffix=suffix if args.output is None else None)
    if not batch:
        check_output(output_path(sources[0], args.output, False, suffix))
    faces: dict[str, dict] = {}
    taken: set[Path] = set()

    def one(src: Path) -> str:
        out = check_output(output_path(src, args.output, batch, suffix, taken))
        if args.photo:
            image, faces[str(out)] = edit_photo(load_image(src), ops, args.face, src, elegant=bundle)
        else:
            image = edit(T.encode(bundle, face_crop(load_image(src), bundle.crop_resolution)))
        save_image(out, image, exif=read_exif(src) if args.photo else None)  # a photo keeps its metadata
        return str(out)

    written, failures = run_batch(sources, batch, one, args.command, args.quiet or args.json)
    if not written:
        text = "no image written"
    else:
        text = written[0] if len(written) == 1 else f"{len(written)} images written to {Path(written[0]).parent}"
    if failures:
        text += f"\n{len(failures)} of {len(sources)} file(s) skipped (see above)"
    missed = sum(not f["detected"] for f in faces.values())
    if missed:
        text += f"\n(no face was found in {missed} photo(s): the centre square was edited instead)"
    result = {"outputs": written, "failed": failures, "bundle": str(args.bundle), "resolution": bundle.resolution,
              **(extra or {})}
    if args.photo:
        result["faces"] = faces
    emit(args, result, text)
    return 1 if failures else 0


def _names(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


def exemplar_requests(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(exemplar image, attribute names) pairs from ``EXEMPLAR --attributes`` and every ``--exemplar IMAGE ATTRS``;
    each attribute is taken from one exemplar only."""
    pairs: list[tuple[str, list[str]]] = []
    if args.exemplar is not None:
        if not args.attributes:
            raise FacetError(f"name the attributes to take from {args.exemplar} with --attributes, e.g. Smiling,Bangs")
        pairs.append((args.exemplar, _names(args.attributes)))
    elif args.attributes:
        raise FacetError("--attributes names what to take from EXEMPLAR, but no exemplar was given "
                         "(or use --exemplar IMAGE ATTRS)")
    pairs += [(image, _names(attrs)) for image, attrs in args.exemplars]
    if not pairs:
        raise FacetError("give an exemplar: EXEMPLAR --attributes A,B, or --exemplar IMAGE ATTRS (repeatable)")
    seen: dict[str, str] = {}
    for image, names in pairs:
        if not names:
            raise FacetError(f"no attribute named to take from {image}")
        for n in names:
            if n in seen:
                raise FacetError(f"{n} is taken from two exemplars ({seen[n]} and {image}): take it from one")
            seen[n] = image
    return pairs


def _transfer(args: argparse.Namespace) -> int:
    from engine import transfer as T
    from engine.images import load_image

    args.bundle_obj = bundle = _load(args)
    pairs = exemplar_requests(args)
    names = [n for _, ns in pairs for n in ns]
    T.check_request(bundle, names, args.strength)  # bad names/strength fail before any image is read
    T.check_no_face_swap(bundle, names)
    images = [load_image(path) for path, _ in pairs]
    codes = None if args.photo else [T.encode(bundle, image) for image in images]

    def edit(code) -> object:  # every exchanged block at once
        return T.transfer_several(bundle, code, [(c, ns) for c, (_, ns) in zip(codes, pairs, strict=True)],
                                  args.strength)

    def ops(session, faces: list[int]) -> list:
        from engine.ops import TransferFromExemplar

        refs = [session.add_exemplar(image) for image in images]  # aligned like the faces (a crop stays as it is)
        return [TransferFromExemplar(i, ref, tuple(ns), args.strength)
                for i in faces for ref, (_, ns) in zip(refs, pairs, strict=True)]

    extra = {"exemplars": [{"exemplar": str(path), "attributes": ns} for path, ns in pairs]}
    return _run_batch(args, "_transfer", edit, ops, extra)


def _dial(args: argparse.Namespace) -> int:
    from engine import transfer as T

    args.bundle_obj = bundle = _load(args)
    settings = parse_settings(args.settings)
    T.check_dial(bundle)  # a bundle without a dial or prototypes fails before any image is read
    T.prototypes(bundle)

    def ops(session, faces: list[int]) -> list:
        from engine.ops import Dial

        return [Dial(i, name, value) for i in faces for name, value in settings.items()]

    return _run_batch(args, "_dial", lambda code: T.dial_codes(bundle, code, settings), ops)
