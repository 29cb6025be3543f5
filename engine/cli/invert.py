"""``facet invert | edit | interpolate | complete | upscale | attribute-vectors | latent-metric``: the cGAN latent tools.

Inputs that are codes may be given as the ``.json`` files ``facet invert`` writes instead of images
(no re-inversion). Folders are processed as a batch with a progress bar.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

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
    positive_int,
    read_json_file,
    skipped,
)


def _common(p: argparse.ArgumentParser, method: bool = True, steps_flag: str = "--steps") -> None:
    p.add_argument("--bundle", required=True, metavar="PATH", help="a cgan model bundle folder")
    if method:
        p.add_argument("--method", default="hybrid", help="encoder, optimize, hybrid (default), in-domain, force-in-domain")
        p.add_argument(steps_flag, dest="inv_steps", type=positive_int, help="inversion steps (default: the method's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (repeatable results)")
    add_device_flag(p)
    add_json_flag(p)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("invert", help="find the latent code of a face image (or every image in a folder)")
    p.add_argument("input", metavar="IMG|DIR")
    p.add_argument("-o", "--out", help="output PNG (one image) or folder (batch); the code goes next to it as .json")
    _common(p)
    p.set_defaults(func=cmd_invert)

    p = subparsers.add_parser("edit", help="invert a face, set attribute dials / add attribute vectors, render")
    p.add_argument("input", metavar="IMG|CODE.json")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="attribute dial in [-1, 1] (repeatable)")
    p.add_argument("--vector", action="append", default=[], metavar="NAME=STRENGTH", help="add an attribute vector (repeatable)")
    p.add_argument("-o", "--out", required=True, help="output PNG")
    p.add_argument("--generated-face", action="store_true",
                   help="output the generator's face itself (IcGAN) instead of the input face changed by what the edit "
                        "changed (the default for an image input; a CODE.json has no face to keep)")
    add_photo_flags(p)
    _common(p)
    p.set_defaults(func=cmd_edit)

    p = subparsers.add_parser("interpolate", help="a strip of faces between two images or codes")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--steps", dest="frames", type=positive_int, default=8, help="number of faces in the strip (default 8)")
    p.add_argument("--mode", choices=["linear", "slerp"], default="slerp")
    p.add_argument("-o", "--out", required=True, help="output PNG strip")
    _common(p, steps_flag="--inversion-steps")
    p.set_defaults(func=cmd_interpolate)

    p = subparsers.add_parser("complete", help="fill the masked region of a face from the generator")
    p.add_argument("input", metavar="IMG")
    p.add_argument("--mask", required=True, metavar="MASK.png", help="white = fill, black = keep")
    p.add_argument("-o", "--out", help="output PNG (default: next to the input)")
    _common(p, method=False)
    p.add_argument("--steps", type=positive_int, default=60)
    p.set_defaults(func=cmd_complete)

    p = subparsers.add_parser("upscale", help="super-resolve a small face by inversion to the bundle's resolution")
    p.add_argument("input", metavar="LOWRES")
    p.add_argument("-o", "--out", help="output PNG (default: next to the input)")
    _common(p, method=False)
    p.add_argument("--steps", type=positive_int, default=60)
    p.set_defaults(func=cmd_upscale)

    p = subparsers.add_parser("attribute-vectors", help="compute attribute vectors from labelled faces into a bundle")
    _data_args(p, default_n=2000)
    p.set_defaults(func=cmd_attribute_vectors)

    p = subparsers.add_parser("latent-metric", help="compute the inversion objective's average curvature in z into a "
                                                    "bundle (hybrid and optimize inversion precondition with it)")
    _data_args(p, default_n=24)
    p.set_defaults(func=cmd_latent_metric)


def _data_args(p: argparse.ArgumentParser, default_n: int) -> None:
    """--bundle, the faces to average over (one source), --n, -o: for the commands that add tensors to a bundle."""
    p.add_argument("--bundle", required=True, metavar="PATH")
    d = p.add_argument_group("data (one of)")
    d.add_argument("--images", nargs="+", metavar="DIR", help="image folder(s) in CelebA layout (with --labels)")
    d.add_argument("--labels", metavar="FILE", help="list_attr_celeba.txt or a CSV")
    d.add_argument("--partition", metavar="FILE", help="list_eval_partition.txt (with --split)")
    d.add_argument("--split", choices=["train", "val", "test"])
    d.add_argument("--pack", metavar="FILE", help="a pack made by `facet pack`")
    d.add_argument("--synthetic", type=int, metavar="N", help="N procedural synthetic faces")
    p.add_argument("--n", type=positive_int, default=default_n, help=f"images to average over (default {default_n})")
    p.add_argument("-o", "--out", metavar="PATH", help="write the updated bundle here (default: in place)")
    add_device_flag(p)
    add_json_flag(p)


# -- helpers ---------------------------------------------------------------------------------------
def _bundle(args: argparse.Namespace):
    from engine.bundle import load_bundle
    from engine.device import pick_device
    from engine.errors import FacetError

    bundle = load_bundle(args.bundle, pick_device(args.device))
    if bundle.family != "cgan":
        raise FacetError(f"{args.bundle}: this is a {bundle.family!r} bundle; `facet {args.command}` needs a 'cgan' "
                         "bundle (ELEGANT bundles: `facet transfer` / `facet dial`)")
    return bundle


def _code_for(path: str | Path, bundle, args: argparse.Namespace, progress=None):
    """A code from a ``.json`` file, or by inverting an image; returns (code, result or None)."""
    from engine.errors import FacetError
    from engine.images import load_image
    from engine.invert import LatentCode, invert

    path = Path(path)
    if path.suffix.lower() == ".json":
        data = read_json_file(path, "latent code file")
        if not isinstance(data, dict) or not isinstance(data.get("z"), list) or not isinstance(data.get("y"), list):
            raise FacetError(f"{path}: not a latent code file (it needs the lists 'z' and 'y')")
        try:
            code = LatentCode.from_dict(data)
        except (ValueError, TypeError, OverflowError) as exc:
            raise FacetError(f"{path}: not a latent code file ({exc})") from None
        _check_code(path, data, code, bundle)
        return code, None
    result = invert(load_image(path), bundle, getattr(args, "method", "hybrid"), steps=getattr(args, "inv_steps", None),
                    seed=args.seed, progress=progress)
    return result.code, result


def _check_code(path: Path, data: dict, code, bundle) -> None:
    """A code file must fit the bundle it is rendered with: sizes, attribute names, finite numbers."""
    from engine.errors import FacetError
    from engine.invert.core import check_code

    made_for = data.get("attributes")
    if made_for is not None and not (isinstance(made_for, list) and all(isinstance(a, str) for a in made_for)):
        raise FacetError(f"{path}: the code's 'attributes' must be a list of names")
    if made_for is not None and made_for != list(bundle.attributes):
        raise FacetError(f"{path}: the code was made for attributes {', '.join(map(str, made_for))}; the bundle has "
                         f"{', '.join(bundle.attributes)} (invert the image with this bundle instead)")
    check_code(bundle, code.z, code.y, str(path))


def _code_record(bundle, result) -> dict[str, Any]:
    return {
        "bundle": bundle.name, "attributes": bundle.attributes, **result.code.to_dict(), "method": result.method,
        "steps": result.steps, "seconds": round(result.seconds, 4), "final_loss": result.losses[-1] if result.losses else None,
    }


def _pairs(items: list[str], what: str) -> dict[str, float]:
    import math

    from engine.errors import FacetError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise FacetError(f"{what} {item!r}: expected NAME=NUMBER")
        if not math.isfinite(out[name.strip()]):
            raise FacetError(f"{what} {item!r}: the number must be finite")
    return out


# -- commands --------------------------------------------------------------------------------------
def cmd_invert(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.images import load_image, save_image
    from engine.invert import invert

    bundle = _bundle(args)
    batch = Path(args.input).is_dir()
    files = input_images(args.input, own_suffix="_inverted" if args.out is None else None)
    if not batch:
        check_output(output_path(files[0], args.out, False, "_inverted"))
    records, failures, taken = [], [], set()
    for src in tqdm(files, desc=f"invert ({args.method})", disable=not batch or args.json, leave=False):
        try:
            dst = check_output(output_path(src, args.out, batch, "_inverted", taken))
            result = invert(load_image(src), bundle, args.method, steps=args.inv_steps, seed=args.seed)
            save_image(dst, result.reconstruction)
            record = {"input": str(src), "output": str(dst), "code": str(dst.with_suffix(".json")),
                      **_code_record(bundle, result)}
            dst.with_suffix(".json").write_text(
                json.dumps({k: record[k] for k in ("bundle", "attributes", "z", "y", "method")}) + "\n")
        except BATCH_ERRORS as exc:
            if not batch:
                raise
            skipped(src, exc, failures)
            continue
        records.append(record)
    text = "\n".join(f"{r['input']} -> {r['output']} ({r['method']}, {r['seconds']:.2f} s)" for r in records)
    if failures:
        text += f"\n{len(failures)} of {len(files)} file(s) skipped (see above)"
    summary = [{k: v for k, v in r.items() if k not in ("z",)} for r in records]
    emit(args, {"results": summary, "failed": failures} if batch else summary[0], text)
    return 1 if failures else 0


def cmd_edit(args: argparse.Namespace) -> int:
    from engine.edit import add_change, apply_vector, render, set_attributes
    from engine.errors import FacetError
    from engine.images import save_image

    bundle = _bundle(args)
    dials, vectors = _pairs(args.set, "--set"), _pairs(args.vector, "--vector")
    outside = [f"{n}={v:g}" for n, v in dials.items() if not -1.0 <= v <= 1.0]
    if outside:
        raise FacetError(f"--set {', '.join(outside)}: attribute dials go from -1 to 1")
    check_photo_flags(args)
    check_output(args.out)
    if args.photo:
        return _edit_photo(args, bundle, dials, vectors)
    code, result = _code_for(args.input, bundle, args)
    edited = set_attributes(code, bundle, dials)
    for name, strength in vectors.items():
        edited = apply_vector(edited, bundle, name, strength)
    image = render(bundle, edited)
    kept = result is not None and not args.generated_face
    if kept:  # the input face (as the model saw it) changed by what the edit changed; G(code) rendered the same
        image = add_change(result.target, render(bundle, code), image)  # way as the edit, so no edit = the face
    out = save_image(args.out, image)
    emit(args, {"output": str(out), "set": dials, "vectors": vectors, "kept_face": kept, **edited.to_dict()},
         f"wrote {out}")
    return 0


def _edit_photo(args: argparse.Namespace, bundle, dials: dict[str, float], vectors: dict[str, float]) -> int:
    """``facet edit --photo``: invert each chosen face of the photo, edit it, paste it back (as the app does)."""
    from engine.images import load_image, read_exif, save_image
    from engine.ops import ApplyVector, SetAttribute
    from engine.progress import drive

    def ops(session, faces: list[int]) -> list:
        for i in faces:
            _run_with_bar(lambda progress, i=i: drive(session.invert_face_job(i, args.method, args.inv_steps, args.seed),
                                                      progress), f"face {i}: invert ({args.method})", args.json)
        return ([SetAttribute(i, n, v) for i in faces for n, v in dials.items()]
                + [ApplyVector(i, n, v) for i in faces for n, v in vectors.items()])

    photo, faces = edit_photo(load_image(args.input), ops, args.face, args.input, cgan=bundle,
                              keep_face=not args.generated_face)
    out = save_image(args.out, photo, exif=read_exif(args.input))
    text = f"wrote {out} ({faces['edited']} face(s) edited)"
    if not faces["detected"]:
        text += "; no face was found, so the centre square was edited"
    emit(args, {"output": str(out), "set": dials, "vectors": vectors, "faces": faces}, text)
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    import numpy as np

    from engine.edit import interpolate, render
    from engine.errors import FacetError
    from engine.images import save_image

    if args.frames < 2:
        raise FacetError("--steps (faces in the strip) must be at least 2")
    check_output(args.out)
    bundle = _bundle(args)
    a, _ = _code_for(args.a, bundle, args)
    b, _ = _code_for(args.b, bundle, args)
    frames = [render(bundle, interpolate(a, b, t, args.mode)) for t in np.linspace(0.0, 1.0, args.frames)]
    out = save_image(args.out, np.concatenate(frames, axis=1))
    emit(args, {"output": str(out), "frames": args.frames, "mode": args.mode}, f"wrote {out} ({args.frames} faces)")
    return 0


def _run_with_bar(job_fn, desc: str, json_mode: bool):
    from engine.progress import tqdm_progress

    progress, close = tqdm_progress(desc, disable=json_mode)
    try:
        return job_fn(progress)
    finally:
        close()


def cmd_complete(args: argparse.Namespace) -> int:
    from engine.edit import complete
    from engine.images import center_square, load_image, save_image

    bundle = _bundle(args)
    out = check_output(output_path(Path(args.input), args.out, False, "_completed"))
    image, mask = load_image(args.input), load_image(args.mask)
    image = center_square(image, bundle.resolution)
    mask = center_square(mask, bundle.resolution).mean(axis=2) / 255.0
    result = _run_with_bar(lambda p: complete(bundle, image, mask, progress=p, steps=args.steps, seed=args.seed),
                           "complete", args.json)
    out = save_image(out, result.reconstruction)
    emit(args, {"output": str(out), "seconds": round(result.seconds, 3), **result.code.to_dict()}, f"wrote {out}")
    return 0


def cmd_upscale(args: argparse.Namespace) -> int:
    from engine.edit import upscale
    from engine.images import load_image, save_image

    bundle = _bundle(args)
    out = check_output(output_path(Path(args.input), args.out, False, "_upscaled"))
    low = load_image(args.input)
    result = _run_with_bar(lambda p: upscale(bundle, low, progress=p, steps=args.steps, seed=args.seed), "upscale", args.json)
    out = save_image(out, result.reconstruction)
    text = f"wrote {out} ({result.method})"
    if result.method == "upscale x1":
        text += (f"; the input is already {min(low.shape[:2])} px, at least the model's {bundle.resolution}: nothing to "
                 "super-resolve, so this is its reconstruction at the model's resolution")
    emit(args, {"output": str(out), "method": result.method, "seconds": round(result.seconds, 3)}, text)
    return 0


def _dataset(args: argparse.Namespace, bundle):
    from engine.errors import FacetError

    chosen = [x for x in (args.images, args.pack, args.synthetic) if x]
    if len(chosen) != 1:
        raise FacetError("give exactly one of --images (with --labels), --pack, --synthetic")
    if args.synthetic:
        from engine.data import SYNTHETIC_ATTRIBUTES, SyntheticFaces

        attrs = [a for a in bundle.attributes if a in SYNTHETIC_ATTRIBUTES] or None
        return SyntheticFaces(args.synthetic, resolution=bundle.resolution, seed=0, attributes=attrs)
    if args.pack:
        from engine.data import PackDataset

        ds = PackDataset(args.pack)
        if ds.resolution != bundle.resolution:
            raise FacetError(f"{args.pack}: the pack is {ds.resolution} px, the bundle {bundle.resolution} px")
        return ds
    if not args.labels:
        raise FacetError("--images needs --labels")
    from engine.data import CelebADataset, read_labels

    known = set(bundle.attributes)
    table_attrs = [a for a in read_labels(args.labels).names if a in known]
    return CelebADataset(args.images, args.labels, attributes=table_attrs, resolution=bundle.resolution,
                         split=args.split, partition=args.partition)


def cmd_attribute_vectors(args: argparse.Namespace) -> int:
    from engine.edit import compute_attribute_vectors, store_attribute_vectors

    bundle = _bundle(args)
    data = _dataset(args, bundle)
    tensors = compute_attribute_vectors(bundle, data, n=args.n)
    path = store_attribute_vectors(bundle, tensors, args.out)
    counts = tensors["attribute_vector_counts"]
    norms = tensors["attribute_vectors"].norm(dim=1)
    per = {name: {"with": int(counts[i, 0]), "without": int(counts[i, 1]), "norm": round(float(norms[i]), 4)}
           for i, name in enumerate(bundle.attributes)}
    lines = [f"{n}: {v['with']} with / {v['without']} without, |v| = {v['norm']}" for n, v in per.items()]
    emit(args, {"bundle": str(path), "attributes": per}, "\n".join([f"wrote attribute vectors into {path}", *lines]))
    return 0


def cmd_latent_metric(args: argparse.Namespace) -> int:
    from engine.invert.metric import latent_metric, store_latent_metric

    bundle = _bundle(args)
    data = _dataset(args, bundle)
    faces = [data[i][0] for i in range(min(args.n, len(data)))]
    metric = _run_with_bar(lambda p: latent_metric(bundle, faces, progress=p), "latent metric", args.json)
    path = store_latent_metric(bundle, metric, len(faces), args.out)
    info = bundle.manifest["latent_metric"]
    emit(args, {"bundle": str(path), **info},
         f"wrote the latent metric of {len(faces)} faces into {path} (condition number {info['condition']:g})")
    return 0
