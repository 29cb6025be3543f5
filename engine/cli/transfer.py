"""``facet transfer`` (take attributes from an exemplar face) and ``facet dial`` (move them with prototypes).

SOURCE may be a folder (batch mode): every image in it is edited with the same exemplar or settings,
which is encoded once. By default SOURCE is a face crop and the result is the bundle's crop (centre square of
the input). With ``--photo`` SOURCE is a whole photo: its faces are found, aligned, edited and pasted back at
the photo's full resolution, exactly as the app does (:class:`engine.session.EditSession`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import (
    BATCH_ERRORS,
    add_device_flag,
    add_json_flag,
    add_photo_flags,
    check_output,
    check_photo_flags,
    edit_photo,
    emit,
    input_images,
    output_path,
    skipped,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("transfer", help="give a face the attributes of an exemplar face (ELEGANT)")
    p.add_argument("source", help="face image, or a folder of them (batch mode)")
    p.add_argument("exemplar", help="face image that has (or, to remove, lacks) the attributes")
    p.add_argument("--bundle", required=True, help="an ELEGANT model bundle folder")
    p.add_argument("--attributes", required=True, help="comma-separated attribute names, e.g. Smiling,Eyeglasses")
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


def _run_batch(args: argparse.Namespace, suffix: str, edit, ops) -> int:
    """Edit and save every source image; prints one line or JSON.

    A face crop goes through ``edit(code) -> uint8``; with ``--photo`` a photo's chosen faces get
    ``ops(session, faces)`` (the session's operations, so the result is what the app would export).
    """
    from engine import transfer as T
    from engine.images import load_image, read_exif, save_image
    from engine.progress import Step, tqdm_progress

    bundle = args.bundle_obj
    check_photo_flags(args)
    batch = Path(args.source).is_dir()
    sources = input_images(args.source, own_suffix=suffix if args.output is None else None)
    if not batch:
        check_output(output_path(sources[0], args.output, False, suffix))
    progress, close = tqdm_progress(args.command, disable=args.quiet or args.json or not batch)
    written: list[str] = []
    failures: list[dict[str, str]] = []
    faces: dict[str, dict[str, int]] = {}
    taken: set[Path] = set()
    try:
        for n, src in enumerate(sources):
            try:
                out = check_output(output_path(src, args.output, batch, suffix, taken))
                if args.photo:
                    image, faces[str(out)] = edit_photo(load_image(src), ops, args.face, src, elegant=bundle)
                else:
                    image = edit(T.encode(bundle, load_image(src)))
                save_image(out, image, exif=read_exif(src) if args.photo else None)  # a photo keeps its metadata
                written.append(str(out))
            except BATCH_ERRORS as exc:
                if not batch:
                    raise
                skipped(src, exc, failures)
            progress(Step(n + 1, len(sources), src.name))
    finally:
        close()
    if not written:
        text = "no image written"
    else:
        text = written[0] if len(written) == 1 else f"{len(written)} images written to {Path(written[0]).parent}"
    if failures:
        text += f"\n{len(failures)} of {len(sources)} file(s) skipped (see above)"
    missed = sum(not f["detected"] for f in faces.values())
    if missed:
        text += f"\n(no face was found in {missed} photo(s): the centre square was edited instead)"
    result = {"outputs": written, "failed": failures, "bundle": str(args.bundle), "resolution": bundle.resolution}
    if args.photo:
        result["faces"] = faces
    emit(args, result, text)
    return 1 if failures else 0


def _transfer(args: argparse.Namespace) -> int:
    from engine import transfer as T
    from engine.images import load_image

    args.bundle_obj = bundle = _load(args)
    names = [a.strip() for a in args.attributes.split(",") if a.strip()]
    T.check_request(bundle, names, args.strength)  # bad names/strength fail before any image is read
    image = load_image(args.exemplar)
    exemplar = None if args.photo else T.encode(bundle, image)

    def ops(session, faces: list[int]) -> list:
        from engine.ops import TransferFromExemplar

        ref = session.add_exemplar(image)  # aligned like the faces (a face crop stays as it is)
        return [TransferFromExemplar(i, ref, tuple(names), args.strength) for i in faces]

    return _run_batch(args, "_transfer", lambda code: T.transfer_codes(bundle, code, exemplar, names, args.strength),
                      ops)


def _dial(args: argparse.Namespace) -> int:
    from engine import transfer as T

    args.bundle_obj = bundle = _load(args)
    settings = parse_settings(args.settings)
    T.prototypes(bundle)  # a bundle without prototypes fails before any image is read

    def ops(session, faces: list[int]) -> list:
        from engine.ops import Dial

        return [Dial(i, name, value) for i in faces for name, value in settings.items()]

    return _run_batch(args, "_dial", lambda code: T.dial_codes(bundle, code, settings), ops)
