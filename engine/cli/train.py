"""``facet train RECIPE``: train a model family on a dataset and export a bundle.

Recipe names come from ``engine.train.recipes.RECIPES`` (imported only when a train command is parsed,
so ``facet --help`` stays fast). Settings: built-in defaults < ``--config file.json`` < flags. The JSON
may hold any option below by its long name with ``_`` for ``-`` (``"batch_size": 64``), and recipe
settings either under ``"recipe": {...}`` or at the top level (``"z_dim": 128``); ``--set KEY=VALUE``
sets one recipe setting from the command line. Ctrl+C stops after the current step with a checkpoint
(``--resume`` continues); a second Ctrl+C aborts at once (a checkpoint is still attempted).
"""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path
from typing import Any

from engine.cli.common import add_device_flag, add_json_flag, emit, read_json_file

#: Trainer/data options and their defaults when neither --config nor a flag gives them.
DEFAULTS: dict[str, Any] = {
    "synthetic": None, "synthetic_seed": 0, "pack": None, "images": None, "labels": None, "partition": None,
    "split": None, "include": None, "exclude": None, "attributes": None, "resolution": None, "bundle": None, "init": None,
    "steps": 2000, "batch_size": 64, "out": None, "resume": False, "seed": 0, "device": "auto",
    "precision": "auto", "workers": 0, "sample_every": 500, "checkpoint_every": 1000, "log_every": 10,
}


class _RecipeNames:
    """argparse ``choices`` that import the recipe registry (and torch) only when consulted."""

    def _names(self) -> list[str]:
        from engine.train.recipes import RECIPES

        return list(RECIPES)

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a model (cgan, encoders, classifier, ...) and export a bundle")
    p.add_argument("recipe", choices=_RecipeNames(), metavar="RECIPE", help="what to train: cgan, encoder-z, encoder-y, classifier, ...")
    d = p.add_argument_group("data (one of)")
    d.add_argument("--synthetic", type=int, metavar="N", help="N procedural synthetic faces (no download needed)")
    d.add_argument("--pack", metavar="FILE", help="a training pack made by `facet pack`")
    d.add_argument("--images", nargs="+", metavar="DIR", help="image folder(s) in CelebA layout (with --labels)")
    d.add_argument("--labels", metavar="FILE", help="list_attr_celeba.txt or a CSV (file,<attr>,...)")
    d.add_argument("--partition", metavar="FILE", help="list_eval_partition.txt (with --split)")
    d.add_argument("--split", choices=["train", "val", "test"], help="use only this partition")
    d.add_argument("--include", metavar="FILE", help="file listing the image names to keep")
    d.add_argument("--exclude-list", dest="exclude", metavar="FILE", help="file listing image names to leave out (held-out set)")
    p.add_argument("--attributes", help="comma-separated attribute names (default: the base bundle's, else all of the data)")
    p.add_argument("--resolution", type=int, help="32, 64 or 128 (default: the base bundle's / pack's, else 64)")
    p.add_argument("--bundle", metavar="PATH", help="base bundle for recipes that build on a trained model (encoders)")
    p.add_argument("--init", metavar="PATH", help="warm start: copy the weights of this bundle's networks (same "
                   "resolution, attributes and widths) and train on; networks it lacks start fresh")
    p.add_argument("--steps", type=int, help=f"total optimisation steps (default {DEFAULTS['steps']})")
    p.add_argument("--batch-size", type=int, help=f"images per step per process (default {DEFAULTS['batch_size']})")
    p.add_argument("--out", help="output folder: samples, curves, log, checkpoints, bundle/ (default runs/RECIPE)")
    p.add_argument("--resume", action="store_true", default=None, help="continue from the latest checkpoint in --out")
    p.add_argument("--seed", type=int, help="seed for weights, data order and noise (default 0)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], help="auto: bf16 where fast, else fp32")
    p.add_argument("--workers", type=int, help="data loading processes (default 0)")
    p.add_argument("--sample-every", type=int, help="write a sample grid every N steps")
    p.add_argument("--checkpoint-every", type=int, help="write a checkpoint every N steps")
    p.add_argument("--log-every", type=int, help="average and log losses every N steps")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a recipe setting, e.g. --set z_dim=128")
    p.add_argument("--config", metavar="FILE", help="JSON file with settings (flags override it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_flag(p, thread_cap=None)  # training may use every idle core
    p.set_defaults(device=None)
    add_json_flag(p)
    p.set_defaults(func=_train)


def _settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer/data settings, recipe settings) from defaults < --config < flags."""
    from engine.errors import FacetError

    opts, recipe_values = dict(DEFAULTS), {}
    if args.config:
        loaded = read_json_file(args.config, "JSON config")
        if not isinstance(loaded, dict) or not isinstance(loaded.get("recipe") or {}, dict):
            raise FacetError(f"{args.config}: the config must be a JSON object (its 'recipe' too)")
        recipe_values.update(loaded.pop("recipe", {}) or {})
        for key, value in loaded.items():
            (opts if key in DEFAULTS else recipe_values)[key] = value
    for key in DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            opts[key] = value
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep:
            raise FacetError(f"--set {item!r}: expected KEY=VALUE")
        try:
            recipe_values[key.strip()] = json.loads(raw)
        except ValueError:
            recipe_values[key.strip()] = raw
    if opts["resolution"] is not None:
        recipe_values["resolution"] = opts["resolution"]
    return opts, recipe_values


def _check_sources(opts: dict[str, Any]) -> None:
    from engine.errors import DatasetError

    if len([k for k in ("synthetic", "pack", "images") if opts[k]]) != 1:
        raise DatasetError("give exactly one data source: --synthetic N, --pack FILE or --images DIR... --labels FILE")


def _dataset(opts: dict[str, Any], attributes: list[str] | None, resolution: int):
    if opts["synthetic"]:
        from engine.data import SyntheticFaces

        return SyntheticFaces(int(opts["synthetic"]), resolution=resolution, seed=int(opts["synthetic_seed"]), attributes=attributes)
    if opts["pack"]:
        from engine.data import PackDataset

        return PackDataset(opts["pack"], attributes)
    from engine.cli.data import _dataset as celeba_dataset

    ns = argparse.Namespace(**{k: opts[k] for k in ("images", "labels", "partition", "split", "include", "exclude")})
    ns.attributes, ns.resolution = (",".join(attributes) if attributes else None), resolution
    return celeba_dataset(ns)


def _train(args: argparse.Namespace) -> int:
    from engine.bundle import load_bundle
    from engine.data import read_pack_metadata
    from engine.progress import tqdm_progress
    from engine.train import TrainConfig, Trainer
    from engine.train.recipes import create_recipe, recipe_config

    opts, values = _settings(args)
    _check_sources(opts)
    base = load_bundle(opts["bundle"]) if opts["bundle"] else None
    attributes = opts["attributes"]
    if isinstance(attributes, str):
        attributes = [a.strip() for a in attributes.split(",") if a.strip()]
    attributes = attributes or (base.attributes if base is not None else None)
    if opts["pack"] and values.get("resolution") is None and base is None:
        values["resolution"] = int(read_pack_metadata(opts["pack"])["resolution"])
    resolution = recipe_config(args.recipe, values, base).resolution
    dataset = _dataset(opts, attributes, resolution)
    recipe = create_recipe(args.recipe, values, dataset.attributes, base=base, seed=int(opts["seed"]))
    if opts["init"]:
        recipe.warm_start(load_bundle(opts["init"]))
    out = Path(opts["out"] or Path("runs") / args.recipe)
    config = TrainConfig(
        out, steps=int(opts["steps"]), batch_size=int(opts["batch_size"]), seed=int(opts["seed"]),
        device=opts["device"], precision=opts["precision"], num_workers=int(opts["workers"]),
        sample_every=int(opts["sample_every"]), checkpoint_every=int(opts["checkpoint_every"]),
        log_every=int(opts["log_every"]), resume=bool(opts["resume"]),
    )
    trainer = Trainer(recipe, dataset, config)
    stop = {"asked": False}

    def on_sigint(signum, frame):  # first Ctrl+C: finish the step, checkpoint, exit; second: abort now
        stop["asked"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, on_sigint)
    progress, close = tqdm_progress(f"train {args.recipe}", disable=args.quiet or args.json)
    try:
        result = trainer.run(progress=progress, cancel=lambda: stop["asked"])
    finally:
        close()
        signal.signal(signal.SIGINT, previous)
    if trainer.rank != 0:  # torchrun: one report, from rank 0
        return 0
    info = {
        "recipe": args.recipe, "out": str(result.out_dir), "bundle": str(result.bundle) if result.bundle else None,
        "steps": result.steps, "resumed_from": result.resumed_from, "seconds": round(result.seconds, 2),
        "images_per_second": round(result.images_per_second, 1), "metrics": result.metrics,
        "data": {"kind": type(dataset).__name__, "images": len(dataset), "attributes": dataset.attributes},
    }
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics.items())
    emit(args, info, f"trained {args.recipe} for {result.steps} steps ({result.images_per_second:.0f} img/s): {metrics}\n"
                     f"bundle: {result.bundle}")
    return 0
