#!/usr/bin/env python
"""Export the masked ELEGANT run (issue 20) as the default bundle, measured as shipped.

    .venv/bin/python tools/export_elegant_mask.py --status "..."            # latest checkpoint of the run
    .venv/bin/python tools/export_elegant_mask.py --measure-only            # re-measure the shipped bundle
    .venv/bin/python tools/export_elegant_mask.py --run runs/X --dest /tmp/candidate --status "candidate"

The run (``runs/elegant_mask128``, started by ``runs/elegant_mask128.sh`` — the command is below and in the
manifest) trains on ``packs/celeba128_head_a12.safetensors``: the CelebA test-split faces at 128 px in the
``head`` layout, minus the 500 validation and 1500 more held-out faces (``--exclude packs/exclude_head.txt``).
The export converts the latest checkpoint's networks to fp16, keeps the discriminator in ``training/`` (so a
new machine trains on from the shipped bundle: ``facet train elegant-mask --init resources/models/...``),
records steps and CPU-hours, measures success, locality, realism and identity (``engine.edit_eval``) on the
held-out faces, chooses each attribute's slider model from those numbers, and writes MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.train_defaults import LICENCE, MODELS, read_validation_list, update_shipped  # noqa: E402

RUN = ROOT / "runs" / "elegant_mask128"
DEST = MODELS / "elegant_mask128"
HELD_OUT = MODELS / "heldout_faces.txt"
PACK_COMMAND = (".venv/bin/facet pack --images ../shared/datasets/celeba/img_align_celeba --labels "
                "../shared/datasets/celeba/list_attr_celeba.txt --attributes Smiling,Eyeglasses,Bangs,Blond_Hair,"
                "Black_Hair,Male,Young,Mustache,No_Beard,Mouth_Slightly_Open,Heavy_Makeup,Pale_Skin --resolution 128 "
                "--layout head --exclude packs/exclude_head.txt -o packs/celeba128_head_a12.safetensors")
DATA_NOTE = ("CelebA aligned faces (Liu et al., ICCV 2015): img_align_celeba (178x218, test-split ids) only, the "
             "'head' square (208 px from (-15, 5), edge-padded) at 128 px; the 500 validation faces and 1500 more "
             "held-out faces excluded")
#: An attribute's slider uses this model's dial when its dial edits succeed at least this often (else the cGAN).
SLIDER_MIN_PRESENT = 0.6


def bundle_from_checkpoint(run: Path, dest: Path) -> tuple[int, dict]:
    """The run's latest checkpoint exported through its recipe (fp32); returns (step, the run's info)."""
    from engine.train.checkpoint import latest_checkpoint, load_checkpoint
    from engine.train.recipes import create_recipe

    ck = latest_checkpoint(run / "checkpoints")
    if ck is None:
        raise SystemExit(f"{run} has no checkpoint")
    meta = json.loads(ck.read_text(encoding="utf-8"))
    recipe = create_recipe("elegant-mask", meta["recipe_config"], meta["attributes"])
    step = int(load_checkpoint(ck, recipe)["step"])
    trainer = meta["info"]["trainer"]
    command = (run.parent / f"{run.name}.sh")
    extra = {"data": {"description": DATA_NOTE, "images": None},
             "training": {"elegant-mask": {"steps": step, "batch_size": trainer["batch_size"], "seed": trainer["seed"],
                                           "precision": trainer["precision"], "config": meta["recipe_config"],
                                           "command": "\n".join(command.read_text(encoding="utf-8").strip()
                                                                .splitlines()[-5:]) if command.exists() else None}}}
    recipe.export_bundle(dest, step, extra)
    return step, meta


def export(run: Path, dest: Path, status: str) -> Path:
    import torch

    from engine.bundle import load_bundle, save_bundle
    from engine.data import read_pack_metadata

    with tempfile.TemporaryDirectory(dir=ROOT / "runs") as tmp:
        src = Path(tmp) / "bundle"
        step, _ = bundle_from_checkpoint(run, src)
        bundle = load_bundle(src)
        disc = load_bundle(src / "training")
    manifest = dict(bundle.manifest)
    manifest.update(name=dest.name, status=status, licence=LICENCE, crop_resolution=bundle.resolution)
    pack = ROOT / "packs" / "celeba128_head_a12.safetensors"
    manifest["data"] = {**manifest.get("data", {}), "description": DATA_NOTE, "licence": LICENCE,
                        "images": int(read_pack_metadata(pack)["count"]) if pack.exists() else None,
                        "pack_command": PACK_COMMAND,
                        "validation": {"list": "resources/models/validation_faces.txt",
                                       "count": len(read_validation_list()), "files": read_validation_list()},
                        "held_out": {"list": "resources/models/heldout_faces.txt"}}
    if dest.exists():
        shutil.rmtree(dest)
    save_bundle(dest, bundle.networks, manifest, tensors=dict(bundle.tensors), dtype=torch.float16)
    save_bundle(dest / "training", disc.networks, disc.manifest, dtype=torch.float16)
    print(f"exported step {step} to {dest}")
    return dest


def measure(dest: Path, n: int, per_direction: int) -> dict:
    """engine.edit_eval on the held-out faces (bench/edit_quality.py's protocol) → manifest metrics + sliders."""
    import numpy as np

    from bench.edit_quality import NAMES, _names, eval_faces
    from engine.bundle import load_bundle
    from engine.edit_eval import evaluate, report_dict, summary
    from engine.edit_quality import FeatureSpace, IdentityJudge
    from engine.transfer import face_swapping

    bundle, judge = load_bundle(dest), load_bundle(MODELS / "classifier64")
    faces, labels, files, attributes = eval_faces()
    validation = set(_names(NAMES / "validation_faces.txt"))
    sources = np.flatnonzero([f in validation for f in files])[:n]
    pool = np.setdiff1d(np.arange(len(files)), sources)
    features = FeatureSpace(judge, faces[pool], "head")
    identity = None if IdentityJudge.unavailable_reason() else IdentityJudge("head")
    quality = {}
    for mode in ("dial", "transfer"):
        reports = evaluate(bundle, judge, faces, labels, attributes, sources, pool, mode=mode,
                           per_direction=per_direction, features=features, identity_judge=identity)
        if reports:  # a model that takes an exemplar's pixels has no dial
            quality[mode] = {r.name: report_dict(r) for r in reports}
    metrics = {"protocol": f"engine.edit_eval: {len(sources)} held-out sources, up to {per_direction} adds and "
                           f"removes per attribute, strength 1, judge classifier64 (balanced decisions)",
               "validation_faces": len(validation), "sources": len(sources),  # the first n of the validation faces
               "identity_judge": IdentityJudge.unavailable_reason() or "dlib face-recognition ResNet v1",
               **{f"{mode}_mean": summary(rows) for mode, rows in quality.items()}, "edit_quality": quality}
    swaps = set(face_swapping(bundle))  # not offered by the app and the CLI with this model
    if swaps and "transfer" in quality:
        metrics["transfer_mean_as_offered"] = summary({k: v for k, v in quality["transfer"].items() if k not in swaps})
    sliders = {name: "elegant" if (row["present"] or 0) >= SLIDER_MIN_PRESENT else "cgan"
               for name, row in quality.get("dial", {}).items()}
    update_shipped(dest, metrics=metrics, sliders=sliders)
    return metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=RUN)
    p.add_argument("--dest", type=Path, default=DEST)
    p.add_argument("--status", default="")
    p.add_argument("--measure-only", action="store_true")
    p.add_argument("--n", type=int, default=500, help="held-out source faces")
    p.add_argument("--per-direction", type=int, default=100)
    args = p.parse_args()
    if not args.measure_only:
        export(args.run, args.dest, args.status)
    metrics = measure(args.dest, args.n, args.per_direction)
    print(json.dumps({k: v for k, v in metrics.items() if k.endswith("_mean")}, indent=1))


if __name__ == "__main__":
    main()
