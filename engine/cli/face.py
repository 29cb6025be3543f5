"""`facet detect`, `facet align`, `facet prepare-dataset`: faces in real photos from the command line."""

from __future__ import annotations

import argparse

from engine.cli.common import add_json_flag, check_output, emit, positive_int
from engine.errors import FacetError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="find faces (boxes, 5 landmarks, scores) in a photo")
    p.add_argument("photo")
    p.add_argument("--min-face", type=float, default=None, help="smallest face side in pixels (default: 40 or 2%% of the long side)")
    add_json_flag(p)
    p.set_defaults(func=_detect)

    p = sub.add_parser("align", help="write the aligned model crop of one face")
    p.add_argument("photo")
    p.add_argument("-o", "--output", required=True, help="crop image to write (.png, .jpg, ...)")
    p.add_argument("--face", type=int, default=0, help="which face, largest first (default 0)")
    p.add_argument("--resolution", type=positive_int, default=128, help="crop side in pixels (default 128)")
    p.add_argument("--box", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"), default=None,
                   help="place the face by hand instead of detecting it")
    p.add_argument("--min-face", type=float, default=None)
    add_json_flag(p)
    p.set_defaults(func=_align)

    p = sub.add_parser("prepare-dataset", help="align a folder of raw photos into the CelebA 178x218 layout")
    p.add_argument("raw_dir")
    p.add_argument("out_dir")
    p.add_argument("--resolution", type=positive_int, default=178,
                   help="canvas width (178 = CelebA, 89 = its half-size layout)")
    p.add_argument("--min-face", type=float, default=None)
    add_json_flag(p)
    p.set_defaults(func=_prepare)


def _detect(args: argparse.Namespace) -> int:
    from engine.face import detect_faces
    from engine.images import load_image

    image = load_image(args.photo)
    faces = detect_faces(image, min_face=args.min_face)
    h, w = image.shape[:2]
    lines = [f"{args.photo}: {w} x {h}, {len(faces)} face(s)"]
    for i, f in enumerate(faces):
        x0, y0, x1, y1 = f.box
        lines.append(f"  [{i}] box ({x0:.0f}, {y0:.0f}) - ({x1:.0f}, {y1:.0f}), score {f.score:.3f}")
    emit(args, {"photo": str(args.photo), "width": w, "height": h, "faces": [f.to_dict() for f in faces]}, "\n".join(lines))
    return 0 if faces else 1


def _align(args: argparse.Namespace) -> int:
    from engine.face import align_face, manual_alignment, require_face
    from engine.images import load_image, save_image

    check_output(args.output)
    if args.resolution < 8:
        raise FacetError(f"--resolution {args.resolution}: a face crop needs at least 8 pixels a side")
    image = load_image(args.photo)
    if args.box:
        aligned = manual_alignment(image, tuple(args.box), args.resolution)
    else:
        aligned = align_face(image, require_face(image, args.face, min_face=args.min_face), args.resolution)
    out = save_image(args.output, aligned.crop)
    emit(args, {"output": str(out), "matrix": aligned.matrix.tolist(), "face": aligned.face.to_dict()},
         f"wrote {out} ({args.resolution} x {args.resolution})")
    return 0


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
