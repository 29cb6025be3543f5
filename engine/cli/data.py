"""``facet pack`` (dataset -> one training-pack file) and ``facet dataset-info`` (what a dataset holds)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import add_json_flag, emit


def _add_source_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--images", nargs="+", metavar="DIR", required=required, help="image folder(s), combined")
    p.add_argument("--labels", required=required, help="list_attr_celeba.txt or a CSV (file,<attr>,...)")
    p.add_argument("--partition", help="list_eval_partition.txt (needed with --split)")
    p.add_argument("--split", choices=["train", "val", "test"], help="use only this partition")
    p.add_argument("--attributes", help="comma-separated CelebA attribute names (default: all)")
    p.add_argument("--resolution", type=int, default=64, help="square side in pixels (default 64)")
    p.add_argument("--layout", choices=["head"], help="crop this square of the aligned CelebA canvas instead of the "
                   "centred square (head: the whole head with its hair)")
    p.add_argument("--include", help="text file listing image names to keep (one per line)")
    p.add_argument("--exclude", help="text file listing image names to leave out (e.g. a held-out list)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("pack", help="crop a labelled image dataset into one training-pack file")
    _add_source_args(p, required=True)
    p.add_argument("-o", "--output", required=True, help="output .safetensors pack")
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: CPU count)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_flag(p)
    p.set_defaults(func=_pack)

    q = subparsers.add_parser("dataset-info", help="count images, labels and skips of a dataset or a pack")
    q.add_argument("pack", nargs="?", help="a training pack (.safetensors); or give --images/--labels")
    _add_source_args(q, required=False)
    add_json_flag(q)
    q.set_defaults(func=_info)


def _names_file(path: str | None) -> list[str] | None:
    if path is None:
        return None
    from engine.errors import DatasetError

    try:
        return [ln.split()[0] for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the name list ({exc})") from None


def _dataset(args: argparse.Namespace):
    from engine.data import CelebADataset
    from engine.errors import DatasetError

    if not args.images or not args.labels:
        raise DatasetError("give both --images DIR [DIR ...] and --labels FILE (or a pack file)")
    attributes = [a.strip() for a in args.attributes.split(",") if a.strip()] if args.attributes else None
    return CelebADataset(
        args.images,
        args.labels,
        attributes=attributes,
        resolution=args.resolution,
        split=args.split,
        partition=args.partition,
        include=_names_file(args.include),
        exclude=_names_file(args.exclude),
        layout=getattr(args, "layout", None),
    )


def _pack(args: argparse.Namespace) -> int:
    import os

    from engine.data import build_pack
    from engine.progress import tqdm_progress

    ds = _dataset(args)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    workers = 0 if workers <= 1 or len(ds) < 64 else workers
    progress, close = tqdm_progress("packing", disable=args.quiet or args.json)
    try:
        meta = build_pack(ds, args.output, progress=progress, workers=workers)
    finally:
        close()
    summary = ds.summary()
    result = {
        "output": str(args.output),
        "count": meta["count"],
        "resolution": meta["resolution"],
        "attributes": meta["attributes"],
        "skipped_unreadable": meta["skipped"],
        "missing_images": summary["missing_images"],
        "unlabelled_images": summary["unlabelled_images"],
    }
    text = f"wrote {args.output}: {meta['count']} images at {meta['resolution']} px\n{ds.report()}"
    if meta["skipped"]:
        text += f"\n{len(meta['skipped'])} unreadable image(s) left out of the pack (e.g. {', '.join(meta['skipped'][:5])})"
    emit(args, result, text)
    return 0


def _info(args: argparse.Namespace) -> int:
    if args.pack:
        from engine.data import PackDataset
        from engine.data.labels import positive_fraction

        ds = PackDataset(args.pack)
        result = {
            "pack": str(args.pack),
            "images": len(ds),
            "resolution": ds.resolution,
            "attributes": ds.attributes,
            "positive_fraction": positive_fraction(ds.labels, ds.attributes),
            "skipped_at_build": len(ds.skipped_at_build),
            "source": ds.source_note,
        }
        text = (
            f"{args.pack}: {len(ds)} images at {ds.resolution} px, {len(ds.attributes)} attribute(s)\n"
            f"source: {ds.source_note}\n"
            + "\n".join(f"  {a:<22} {p:6.1%} positive" for a, p in result["positive_fraction"].items())
        )
        if ds.skipped_at_build:
            text += f"\n{len(ds.skipped_at_build)} unreadable image(s) were left out when it was built"
        emit(args, result, text)
        return 0
    ds = _dataset(args)
    summary = ds.summary()
    text = (
        ds.report()
        + "\n"
        + "\n".join(f"  {a:<22} {p:6.1%} positive" for a, p in summary["positive_fraction"].items())
    )
    emit(args, summary, text)
    return 0
