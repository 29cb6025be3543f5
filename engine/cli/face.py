"""`facet detect`, `facet align`, `facet prepare-dataset`: faces in real photos from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import (
    FACE_NUMBERING,
    add_face_flag,
    add_json_flag,
    add_threads_flag,
    batch_text,
    check_face_number,
    check_output,
    emit,
    input_images,
    left_to_right,
    output_path,
    pick_face,
    positive_int,
    run_batch,
)
from engine.errors import FacetError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="find faces (boxes, 5 landmarks, scores) in a photo or every photo in a folder")
    p.add_argument("photo", metavar="IMG|DIR")
    p.add_argument("--min-face", type=float, default=None, help="smallest face side in pixels (default: 40 or 2%% of the long side)")
    add_threads_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_detect)

    p = sub.add_parser("align", help="write the aligned model crop of one face (of a photo, or of every photo in a folder)")
    p.add_argument("photo", metavar="IMG|DIR")
    p.add_argument("-o", "--output", help="crop image to write (.png, .jpg, ...), or a folder for a batch "
                                          "(default: next to the input, NAME_aligned.png)")
    add_face_flag(p, "which face", default=1)
    p.add_argument("--resolution", type=positive_int, default=128, help="crop side in pixels (default 128)")
    p.add_argument("--box", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"), default=None,
                   help="place the face by hand instead of detecting it (one photo only)")
    p.add_argument("--min-face", type=float, default=None)
    add_threads_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_align)

    p = sub.add_parser("prepare-dataset", help="align a folder of raw photos into the CelebA 178x218 layout")
    p.add_argument("raw_dir")
    p.add_argument("out_dir")
    p.add_argument("--resolution", type=positive_int, default=178,
                   help="canvas width (178 = CelebA, 89 = its half-size layout)")
    p.add_argument("--min-face", type=float, default=None)
    add_threads_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_prepare)


def _detect(args: argparse.Namespace) -> int:
    batch = Path(args.photo).is_dir()
    files = input_images(args.photo)
    records, failures = run_batch(files, batch, lambda src: _detect_one(src, args.min_face), "detect", args.json)
    lines = []
    for r in records:
        lines.append(f"{r['photo']}: {r['width']} x {r['height']}, {len(r['faces'])} face(s)")
        for f in r["faces"]:
            x0, y0, x1, y1 = f["box"]
            lines.append(f"  [{f['face']}] box ({x0:.0f}, {y0:.0f}) - ({x1:.0f}, {y1:.0f}), score {f['score']:.3f}")
    if any(r["faces"] for r in records):
        lines.append(f"({FACE_NUMBERING})")
    result = {"results": records, "failed": failures} if batch else records[0]
    emit(args, result, batch_text(lines, failures, len(files)))
    return 0 if records and all(r["faces"] for r in records) and not failures else 1


def _detect_one(src: Path, min_face: float | None) -> dict:
    """One photo's faces, numbered from 1 left to right (``face``), as the app and ``--face`` count them."""
    from engine.face import detect_faces
    from engine.images import load_image

    image = load_image(src)
    faces = detect_faces(image, min_face=min_face)
    h, w = image.shape[:2]
    ordered = [faces[i] for i in left_to_right([f.box for f in faces])]
    return {"photo": str(src), "width": w, "height": h,
            "faces": [{"face": n, **f.to_dict()} for n, f in enumerate(ordered, start=1)]}


def _align(args: argparse.Namespace) -> int:
    check_face_number(args.face)
    if args.resolution < 8:
        raise FacetError(f"--resolution {args.resolution}: a face crop needs at least 8 pixels a side")
    batch = Path(args.photo).is_dir()
    if batch and args.box:
        raise FacetError("--box places one face by hand: give one photo, not a folder")
    files = input_images(args.photo, own_suffix="_aligned" if args.output is None else None)
    if not batch:
        check_output(output_path(files[0], args.output, False, "_aligned"))
    taken: set[Path] = set()
    records, failures = run_batch(files, batch, lambda src: _align_one(src, args, batch, taken), "align", args.json)
    lines = [f"wrote {r['output']} ({args.resolution} x {args.resolution})" for r in records]
    emit(args, {"results": records, "failed": failures} if batch else records[0], batch_text(lines, failures, len(files)))
    return 1 if failures else 0


def _align_one(src: Path, args: argparse.Namespace, batch: bool, taken: set[Path]) -> dict:
    from engine.face import align_face, detect_faces, manual_alignment
    from engine.face.detect import require_face
    from engine.images import load_image, save_image

    dst = check_output(output_path(src, args.output, batch, "_aligned", taken))
    image = load_image(src)
    if args.box:
        aligned = manual_alignment(image, tuple(args.box), args.resolution)
    else:
        faces = detect_faces(image, min_face=args.min_face)
        if not faces:
            require_face(image, 0, min_face=args.min_face)  # the engine's "no face found ... draw a box" error
        aligned = align_face(image, faces[pick_face([f.box for f in faces], args.face, src)], args.resolution)
    out = save_image(dst, aligned.crop)
    return {"input": str(src), "output": str(out), "face": None if args.box else args.face,
            "matrix": aligned.matrix.tolist(), "detection": aligned.face.to_dict()}


def _prepare(args: argparse.Namespace) -> int:
    from engine.face.dataset import prepare_dataset
    from engine.progress import tqdm_progress

    progress, close = tqdm_progress("aligning", disable=args.json)
    try:
        result = prepare_dataset(args.raw_dir, args.out_dir, args.resolution, args.min_face, progress=progress)
    finally:
        close()
    lines = [f"aligned {len(result.written)} photo(s) into {args.out_dir}; {len(result.failures)} failure(s)"]
    lines += [f"  {name}: {why}" for name, why in result.failures]
    if result.failures:
        lines.append(f"(listed in {result.failures_file})")
    emit(args, {"written": len(result.written), "failures": [{"file": n, "reason": r} for n, r in result.failures],
                "failures_file": str(result.failures_file)}, "\n".join(lines))
    return 0
