"""``facet invert | edit | interpolate | complete | upscale | attribute-vectors | latent-metric``: the cGAN latent tools.

Inputs that are codes may be given as the ``.json`` files ``facet invert`` writes instead of images
(no re-inversion). Folders are processed as a batch with a progress bar. A face's inversion is kept in the
user cache folder (:mod:`engine.cache`), so inverting the same face again with the same bundle and settings
is instant; ``--no-cache`` turns that off.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine.cli.common import (
    add_device_flag,
    add_json_flag,
    batch_text,
    check_output,
    emit,
    input_images,
    output_path,
    positive_int,
    read_json_file,
    run_batch,
)


def _common(p: argparse.ArgumentParser, method: bool = True, steps_flag: str = "--steps") -> None:
    p.add_argument("--bundle", required=True, metavar="PATH", help="a cgan model bundle folder")
    if method:
        p.add_argument("--method", default="hybrid", help="encoder, optimize, hybrid (default), in-domain, "
                                                          "force-in-domain, or a preset: fast, balanced, best")
        p.add_argument(steps_flag, dest="inv_steps", type=positive_int, help="inversion steps (default: the method's)")
        p.add_argument("--no-cache", action="store_true",
                       help="invert again even if this face was inverted before with the same bundle and settings, "
                            "and keep nothing (inversions are cached in the user cache folder)")
    p.add_argument("--seed", type=int, default=0, help="random seed (repeatable results)")
    add_device_flag(p)
    add_json_flag(p)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("invert", help="find the latent code of a face image (or every image in a folder)")
    p.add_argument("input", metavar="IMG|DIR")
    p.add_argument("-o", "--out", help="output PNG (one image) or folder (batch); the code goes next to it as .json")
    _common(p)
    p.set_defaults(func=cmd_invert)

    from engine.cli.edit import register_edit  # its own module; registered here to keep the commands' order

    register_edit(subparsers, _common)

    p = subparsers.add_parser("interpolate", help="a strip of faces between two images or codes")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--steps", dest="frames", type=positive_int, default=8, help="number of faces in the strip (default 8)")
    p.add_argument("--mode", choices=["linear", "slerp"], default="slerp")
    p.add_argument("-o", "--out", required=True, help="output PNG strip")
    _common(p, steps_flag="--inversion-steps")
    p.set_defaults(func=cmd_interpolate)

    p = subparsers.add_parser("complete", help="fill the masked region of a face (or of every face in a folder) "
                                               "from the generator")
    p.add_argument("input", metavar="IMG|DIR")
    p.add_argument("--mask", required=True, metavar="MASK.png", help="white = fill, black = keep (one for every face)")
    p.add_argument("-o", "--out", help="output PNG (one input) or folder (batch); default: next to the input")
    _common(p, method=False)
    p.add_argument("--steps", type=positive_int, default=60)
    p.set_defaults(func=cmd_complete)

    p = subparsers.add_parser("upscale", help="super-resolve a small face (or every face in a folder) by inversion "
                                              "to the bundle's resolution")
    p.add_argument("input", metavar="LOWRES|DIR")
    p.add_argument("-o", "--out", help="output PNG (one input) or folder (batch); default: next to the input")
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


def _method(args: argparse.Namespace, bundle) -> str:
    """The inversion method ``--method`` names (a preset resolves to its best method this bundle can run)."""
    from engine.errors import FacetError
    from engine.invert import METHODS
    from engine.session_models import PRESETS, method_for_preset

    if args.method in METHODS:
        return args.method
    if args.method in PRESETS:
        return method_for_preset(args.method, bundle)
    raise FacetError(f"unknown inversion method {args.method!r}; choose one of {', '.join(METHODS)} "
                     f"or a preset ({', '.join(PRESETS)})")


def _cache(args: argparse.Namespace):
    """The inversion cache, or None with ``--no-cache``."""
    from engine.cache import InversionCache

    return None if getattr(args, "no_cache", True) else InversionCache()


def _note_cache(cache) -> None:
    """A cache that could not be written is said once, on stderr (the command itself went well)."""
    import sys

    if cache is not None and cache.write_error:
        print(f"facet: note: inversions are not cached ({cache.write_error})", file=sys.stderr)
        cache.write_error = None


def _invert(image, bundle, args: argparse.Namespace, cache=None, progress=None):
    """Invert ``image`` (uint8, as handed to the inversion), from the cache when it was done before with the
    same bundle, method, steps and seed; returns (InversionResult, came from the cache)."""
    from engine.cache import inversion_key
    from engine.images import center_square
    from engine.invert import InversionResult, invert

    method = _method(args, bundle)
    steps = getattr(args, "inv_steps", None)
    key = inversion_key(image, bundle, method, steps, args.seed) if cache is not None else None
    hit = cache.get(key, bundle) if cache is not None else None
    if hit is not None:
        r = bundle.resolution
        target = image if image.shape[:2] == (r, r) else center_square(image, r)  # what the inversion saw
        return InversionResult(code=hit.code, reconstruction=hit.reconstruction, seconds=0.0, method=hit.method,
                               steps=hit.steps, target=target,
                               losses=[] if hit.final_loss is None else [hit.final_loss]), True
    result = invert(image, bundle, method, steps=steps, seed=args.seed, progress=progress)
    if cache is not None:
        cache.put(key, result.code, result.reconstruction, result.method, result.steps,
                  result.losses[-1] if result.losses else None)
        _note_cache(cache)
    return result, False


def _read_code(path: str | Path, bundle):
    """A latent code from a ``.json`` file that ``facet invert`` wrote, checked against ``bundle``."""
    from engine.errors import FacetError
    from engine.invert import LatentCode

    path = Path(path)
    data = read_json_file(path, "latent code file")
    if not isinstance(data, dict) or not isinstance(data.get("z"), list) or not isinstance(data.get("y"), list):
        raise FacetError(f"{path}: not a latent code file (it needs the lists 'z' and 'y')")
    try:
        code = LatentCode.from_dict(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise FacetError(f"{path}: not a latent code file ({exc})") from None
    _check_code(path, data, code, bundle)
    return code


def _code_for(path: str | Path, bundle, args: argparse.Namespace, progress=None, cache=None):
    """A code from a ``.json`` file, or by inverting an image (cached); returns (code, result or None)."""
    from engine.images import load_image

    path = Path(path)
    if path.suffix.lower() == ".json":
        return _read_code(path, bundle), None
    result, _ = _invert(load_image(path), bundle, args, cache, progress)
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
    from engine.images import load_image, save_image

    bundle = _bundle(args)
    _method(args, bundle)  # an unknown method fails before any image is read
    cache = _cache(args)
    batch = Path(args.input).is_dir()
    files = input_images(args.input, own_suffix="_inverted" if args.out is None else None)
    if not batch:
        check_output(output_path(files[0], args.out, False, "_inverted"))
    taken: set[Path] = set()

    def one(src: Path) -> dict[str, Any]:
        dst = check_output(output_path(src, args.out, batch, "_inverted", taken))
        result, cached = _invert(load_image(src), bundle, args, cache)
        save_image(dst, result.reconstruction)
        record = {"input": str(src), "output": str(dst), "code": str(dst.with_suffix(".json")),
                  **_code_record(bundle, result), "cached": cached}
        dst.with_suffix(".json").write_text(
            json.dumps({k: record[k] for k in ("bundle", "attributes", "z", "y", "method")}) + "\n")
        return record

    records, failures = run_batch(files, batch, one, f"invert ({args.method})", args.json)
    lines = [f"{r['input']} -> {r['output']} ({r['method']}, " + ("cached" if r["cached"] else f"{r['seconds']:.2f} s")
             + ")" for r in records]
    summary = [{k: v for k, v in r.items() if k not in ("z",)} for r in records]
    emit(args, {"results": summary, "failed": failures} if batch else summary[0], batch_text(lines, failures, len(files)))
    return 1 if failures else 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    import numpy as np

    from engine.edit import interpolate, render
    from engine.errors import FacetError
    from engine.images import save_image

    if args.frames < 2:
        raise FacetError("--steps (faces in the strip) must be at least 2")
    check_output(args.out)
    bundle = _bundle(args)
    cache = _cache(args)
    a, _ = _code_for(args.a, bundle, args, cache=cache)
    b, _ = _code_for(args.b, bundle, args, cache=cache)
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
    batch = Path(args.input).is_dir()
    files = input_images(args.input, own_suffix="_completed" if args.out is None else None)
    if not batch:
        check_output(output_path(files[0], args.out, False, "_completed"))
    mask = center_square(load_image(args.mask), bundle.resolution).mean(axis=2) / 255.0
    taken: set[Path] = set()

    def one(src: Path) -> dict[str, Any]:
        out = check_output(output_path(src, args.out, batch, "_completed", taken))
        image = center_square(load_image(src), bundle.resolution)
        result = _run_with_bar(lambda p: complete(bundle, image, mask, progress=p, steps=args.steps, seed=args.seed),
                               f"complete {src.name}", args.json or batch)
        out = save_image(out, result.reconstruction)
        return {"input": str(src), "output": str(out), "seconds": round(result.seconds, 3), **result.code.to_dict()}

    records, failures = run_batch(files, batch, one, "complete", args.json)
    emit(args, {"results": records, "failed": failures} if batch else records[0],
         batch_text([f"wrote {r['output']}" for r in records], failures, len(files)))
    return 1 if failures else 0


def cmd_upscale(args: argparse.Namespace) -> int:
    from engine.edit import upscale
    from engine.images import load_image, save_image

    bundle = _bundle(args)
    batch = Path(args.input).is_dir()
    files = input_images(args.input, own_suffix="_upscaled" if args.out is None else None)
    if not batch:
        check_output(output_path(files[0], args.out, False, "_upscaled"))
    taken: set[Path] = set()

    def one(src: Path) -> dict[str, Any]:
        out = check_output(output_path(src, args.out, batch, "_upscaled", taken))
        low = load_image(src)
        result = _run_with_bar(lambda p: upscale(bundle, low, progress=p, steps=args.steps, seed=args.seed),
                               f"upscale {src.name}", args.json or batch)
        out = save_image(out, result.reconstruction)
        text = f"wrote {out} ({result.method})"
        if result.method == "upscale x1":
            text += (f"; the input is already {min(low.shape[:2])} px, at least the model's {bundle.resolution}: "
                     "nothing to super-resolve, so this is its reconstruction at the model's resolution")
        return {"input": str(src), "output": str(out), "method": result.method,
                "seconds": round(result.seconds, 3), "text": text}

    records, failures = run_batch(files, batch, one, "upscale", args.json)
    lines = [r.pop("text") for r in records]
    emit(args, {"results": records, "failed": failures} if batch else records[0], batch_text(lines, failures, len(files)))
    return 1 if failures else 0


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
