#!/usr/bin/env python
"""Train, evaluate and export the default models in resources/models, reproducibly, with the project's own CLI.

Every training stage is one ``facet train`` (or ``facet pack``) run under ``nice -n 19`` writing to
``runs/<stage>/``; stages run in order, a finished stage (its bundle exists with the planned steps) is
skipped, an interrupted one resumes from its latest checkpoint (``--resume``). Exports convert the fp32
training bundle to fp16 in ``resources/models/<name>/``, add the held-out validation list, licence, status
and metrics to the manifest and write MODEL_CARD.md. CelebA images never leave runs/ and packs/.

    .venv/bin/python tools/train_defaults.py plan                # stages, commands and status
    .venv/bin/python tools/train_defaults.py run                 # everything still missing, in order
    .venv/bin/python tools/train_defaults.py run --only cgan64   # one stage (its prerequisites must exist)
    .venv/bin/python tools/train_defaults.py export cgan64 --from-checkpoint --status "early checkpoint"
    .venv/bin/python tools/train_defaults.py samples             # docs/img/cgan64_samples.png (generated faces)
    .venv/bin/python tools/train_defaults.py check               # load every bundle, total size < 150 MB

Set ``CELEBA_DIR`` for another copy of the data; ``FACET_NICE=0`` to train without nice (e.g. on a GPU box);
``FACET_TRAIN_THREADS=N`` for N torch threads per training (default 1 under nice: on a shared 2-core CPU one
thread does ~4x more work per CPU-second than two oversubscribed ones).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = Path(os.environ.get("CELEBA_DIR", "/work/shared/datasets/celeba"))
FACET = [str(ROOT / ".venv" / "bin" / "facet")] if (ROOT / ".venv" / "bin" / "facet").exists() else [
    sys.executable, "-c", "import sys; from engine.cli import main; sys.exit(main())"]  # no venv (e.g. a GPU box)
NICE = ["nice", "-n", os.environ.get("FACET_NICE", "19")] if os.environ.get("FACET_NICE", "19") != "0" else []
#: torch threads of each training process; default 1 when niced (a shared CPU), else torch's own choice.
TRAIN_THREADS = os.environ.get("FACET_TRAIN_THREADS", "1" if NICE else "")
MODELS = ROOT / "resources" / "models"
VAL_LIST = MODELS / "validation_faces.txt"
VAL_SEED, VAL_COUNT = 20261123, 500
MAX_TOTAL_MB = 150
ATTRIBUTES = ["Smiling", "Eyeglasses", "Bangs", "Blond_Hair", "Black_Hair", "Male", "Young", "Mustache",
              "No_Beard", "Mouth_Slightly_Open", "Heavy_Makeup", "Pale_Skin"]
LICENCE = "CelebA: non-commercial research only (the images may not be redistributed)"
DATA_NOTE = ("CelebA aligned faces (Liu et al., ICCV 2015): img_align_celeba (178x218, test-split ids) and "
             "img_align_celeba_half (89x109, train ids 1-10000), centre square resized; "
             f"{VAL_COUNT} held-out validation faces excluded")


@dataclass
class Stage:
    """One ``facet`` run. ``base``: the stage whose bundle this one builds on; ``export``: resources/models name."""

    name: str
    kind: str  # "pack" or "train"
    recipe: str = ""
    pack: str = ""
    resolution: int = 64
    steps: int = 0
    batch_size: int = 64
    base: str | None = None
    sets: list[str] = field(default_factory=list)
    export: str | None = None
    drop: tuple[str, ...] = ()  # networks left out of the exported bundle (training-only discriminators)
    attributes: list[str] = field(default_factory=lambda: list(ATTRIBUTES))
    crop_resolution: int | None = None  # the face crop the exported bundle edits (> resolution: upsampled residual)
    init: str | None = None  # warm start from this bundle (repo-relative): `facet train --init`
    seed: int = 0

    @property
    def out(self) -> Path:
        return ROOT / "runs" / self.name

    @property
    def bundle(self) -> Path:
        return self.out / "bundle"

    @property
    def pack_path(self) -> Path:
        return ROOT / "packs" / f"{self.name}.safetensors"


STAGES: list[Stage] = [
    Stage("celeba64_a12", "pack", resolution=64),
    # first: its features are what the other models' Frechet distances and attribute accuracies use
    # session 6 tried 6000 steps with hflip=true: mean held-out accuracy 0.9295 vs 0.9283, not shipped
    # (docs/models.md "The judge")
    Stage("classifier64", "train", "classifier", pack="celeba64_a12", steps=1500, export="classifier64"),
    Stage("cgan64", "train", "cgan", pack="celeba64_a12", steps=3500, export="cgan64"),
    Stage("encoder_z64", "train", "encoder-z", pack="celeba64_a12", steps=1500, base="cgan64", export="cgan64"),
    Stage("encoder_y64", "train", "encoder-y", pack="celeba64_a12", steps=1500, base="encoder_z64", export="cgan64"),
    Stage("encoder_domain64", "train", "encoder-domain", pack="celeba64_a12", steps=1500, base="encoder_y64",
          sets=["latent_adversarial=true"], export="cgan64"),
    # ELEGANT at 64 px, its upsampled residual added to a 128 px crop (crop_resolution): at 128 px a step costs
    # 3.3 s here, so the planned 4000 steps would take 3.7 h of CPU — over the 2.5 h a run may take. Batch 64 so
    # that rare attributes (Mustache 4 %, Eyeglasses 6 %) find pairs in most batches; max_pairs caps the cost of
    # the common ones (Smiling, Male) at 12 pairs.
    Stage("elegant64", "train", "elegant", pack="celeba64_a12", resolution=64, steps=8000, batch_size=64,
          sets=["max_pairs=12", "prototype_images=1000"], export="elegant64", drop=("disc_full", "disc_half"),
          attributes=["Smiling", "Eyeglasses", "Bangs", "Blond_Hair", "Male", "Mustache"], crop_resolution=128),
    # Session 4: runs/ (and with it elegant64's checkpoints and discriminators) does not survive between
    # sessions, so the shipped bundle is trained on: warm start, fresh discriminators trained alone for their
    # first steps, then both. Not in `run`'s default list: it starts from the shipped bundle. Session 4 without
    # the classifier loss: present afterwards stayed at 0.74-0.77 (docs/models.md). Session 5 added the
    # discriminator's auxiliary attribute classifier (cls_weight, AC-GAN / AttGAN style) and ran this stage
    # from the 8000-step bundle of sessions 2-3 (the manifest's training.elegant.warm_start says so).
    Stage("elegant64_more", "train", "elegant", pack="celeba64_a12", resolution=64, steps=7000, batch_size=64,
          sets=["max_pairs=12", "prototype_images=1000", "disc_warmup=1000", "gen_lr=5e-5", "cls_weight=1.0"],
          export="elegant64", drop=("disc_full", "disc_half"), init="resources/models/elegant64",
          attributes=["Smiling", "Eyeglasses", "Bangs", "Blond_Hair", "Male", "Mustache"], crop_resolution=128),
    # Session 6: the weakest transfers are the rarest attributes (moustache 4 %, glasses 6 %), which found about
    # 2.5 and 4 pairs per batch of 64 against the 12 of the others; min_pairs tops their steps up to 12 from
    # a pool of recent faces (elegant_pairs.PairPool). From the shipped elegant64 (sessions 2-5).
    Stage("elegant64_pairs", "train", "elegant", pack="celeba64_a12", resolution=64, steps=5000, batch_size=64,
          sets=["max_pairs=12", "min_pairs=12", "prototype_images=1000", "disc_warmup=1000", "gen_lr=5e-5",
                "cls_weight=1.0"],
          export="elegant64", drop=("disc_full", "disc_half"), init="resources/models/elegant64",
          attributes=["Smiling", "Eyeglasses", "Bangs", "Blond_Hair", "Male", "Mustache"], crop_resolution=128),
    # Session 7: the weakest transfers were male (removed 0.66) and the moustache; attribute_weights gives Male 3
    # steps in every cycle of 10 and Mustache and Bangs 2. From elegant64_pairs' own training bundle, which keeps
    # the discriminators and their classifier (so no warm-up); seed 2 (seed 0 had been the previous runs').
    Stage("elegant64_focus", "train", "elegant", pack="celeba64_a12", resolution=64, steps=3000, batch_size=64,
          sets=["max_pairs=12", "min_pairs=12", "prototype_images=1000", "gen_lr=5e-5", "cls_weight=1.0",
                'attribute_weights={"Male":3,"Mustache":2,"Bangs":2}'],
          export="elegant64", drop=("disc_full", "disc_half"), init="runs/elegant64_pairs/bundle", seed=2,
          attributes=["Smiling", "Eyeglasses", "Bangs", "Blond_Hair", "Male", "Mustache"], crop_resolution=128),
]
#: Multiply every stage's step count (e.g. FACET_STEPS_SCALE=8 on a GPU, where 64 px steps take milliseconds).
STEPS_SCALE = float(os.environ.get("FACET_STEPS_SCALE", "1"))
for _s in STAGES:
    _s.steps = round(_s.steps * STEPS_SCALE)
BY_NAME = {s.name: s for s in STAGES}
PART_BYTES = 15 * 1024 * 1024  # files coming back from a device session are limited to 16 MiB each
CHECKPOINT_EVERY, SAMPLE_EVERY = 250, 250


# -- validation list ------------------------------------------------------------------------------------
def validation_names() -> list[str]:
    """The 500 held-out faces: a seeded sample of img_align_celeba (test-split ids), sorted."""
    names = sorted(n for n in os.listdir(DATA / "img_align_celeba") if n.lower().endswith(".jpg"))
    return sorted(random.Random(VAL_SEED).sample(names, VAL_COUNT))


def read_validation_list() -> list[str]:
    return [ln.strip() for ln in VAL_LIST.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


def write_validation_list() -> list[str]:
    names = validation_names()
    if VAL_LIST.exists() and read_validation_list() != names:
        raise SystemExit(f"{VAL_LIST} differs from the seeded sample: the data changed? Not overwriting.")
    VAL_LIST.write_text(
        f"# {VAL_COUNT} held-out CelebA validation faces (file names only; images are never in the repo).\n"
        f"# Chosen by tools/train_defaults.py: sorted(random.Random({VAL_SEED}).sample(sorted(img_align_celeba/*.jpg), {VAL_COUNT})).\n"
        "# Every default model is trained with --exclude-list on this file.\n" + "\n".join(names) + "\n",
        encoding="utf-8")
    return names


# -- commands ------------------------------------------------------------------------------------------
def command(stage: Stage, display: bool = False) -> list[str]:
    """The exact facet command line of a stage (without nice); ``display``: repo-relative, for manifests/docs."""
    rel = lambda p: os.path.relpath(p, ROOT)  # noqa: E731
    facet = [".venv/bin/facet"] if display else FACET
    if stage.kind == "pack":
        return [*facet, "pack", "--images", str(DATA / "img_align_celeba"), str(DATA / "img_align_celeba_half"),
                "--labels", str(DATA / "list_attr_celeba.txt"), "--attributes", ",".join(stage.attributes),
                "--resolution", str(stage.resolution), "--exclude", rel(VAL_LIST), "-o", rel(stage.pack_path),
                "--workers", "2", "--quiet"]
    cmd = [*facet, "train", stage.recipe, "--pack", rel(BY_NAME[stage.pack].pack_path), "--steps", str(stage.steps),
           "--batch-size", str(stage.batch_size), "--precision", "auto", "--seed", str(stage.seed), "--out", rel(stage.out),
           "--checkpoint-every", str(CHECKPOINT_EVERY), "--sample-every", str(SAMPLE_EVERY), "--log-every", "10",
           "--resume", "--quiet", "--json"]
    if stage.attributes != BY_NAME[stage.pack].attributes:  # a subset of the pack's labels
        cmd += ["--attributes", ",".join(stage.attributes)]
    if stage.base:
        cmd += ["--bundle", rel(BY_NAME[stage.base].bundle)]
    if stage.init:
        cmd += ["--init", stage.init]
    for s in stage.sets:
        cmd += ["--set", s]
    return cmd


def done(stage: Stage) -> bool:
    if stage.kind == "pack":
        return stage.pack_path.exists()
    mpath = stage.bundle / "manifest.json"
    if not mpath.exists():
        return False
    training = json.loads(mpath.read_text(encoding="utf-8")).get("training", {})
    if int(training.get(stage.recipe, {}).get("steps", 0)) < stage.steps:
        return False
    if stage.base:  # stale when the base was trained further after this stage was built on it
        base = BY_NAME[stage.base]
        bpath = base.bundle / "manifest.json"
        if not bpath.exists():
            return False
        base_training = json.loads(bpath.read_text(encoding="utf-8")).get("training", {})
        return all(training.get(k, {}).get("steps") == v.get("steps") for k, v in base_training.items())
    return True


def latest_step(stage: Stage) -> int:
    from engine.train.checkpoint import latest_checkpoint

    ck = latest_checkpoint(stage.out / "checkpoints")
    return int(ck.stem.split("_")[1]) if ck else 0


def run(stages: list[Stage], export: bool = True) -> None:
    for stage in stages:
        if done(stage):
            print(f"[{stage.name}] done, skipped")
        else:
            if stage.base and not done(BY_NAME[stage.base]):
                raise SystemExit(f"[{stage.name}] needs the finished bundle of {stage.base} first")
            cmd = NICE + command(stage)
            print(f"[{stage.name}] {' '.join(cmd)}", flush=True)
            stage.out.mkdir(parents=True, exist_ok=True)
            t0 = time.time()
            env = dict(os.environ)
            if TRAIN_THREADS:  # oversubscribed OpenMP threads spin and waste a shared CPU: one thread is faster there
                env.update(OMP_NUM_THREADS=TRAIN_THREADS, MKL_NUM_THREADS=TRAIN_THREADS)
            with open(ROOT / "runs" / f"{stage.name}.log", "a", encoding="utf-8") as log:
                rc = subprocess.call(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
            if rc:
                raise SystemExit(f"[{stage.name}] stopped with exit code {rc} after {time.time() - t0:.0f} s "
                                 f"(see runs/{stage.name}.log; run again to resume)")
        if export and stage.kind == "train" and stage.export:
            export_stage(stage, status="trained to the planned step count")


# -- export ----------------------------------------------------------------------------------------------
def _bundle_from_checkpoint(stage: Stage, dest: Path) -> int:
    """Export the latest checkpoint of a (stopped) stage through its recipe, as the trainer would; returns its step."""
    from engine.bundle import load_bundle
    from engine.data import read_pack_metadata
    from engine.train.checkpoint import latest_checkpoint, load_checkpoint
    from engine.train.recipes import create_recipe

    ck = latest_checkpoint(stage.out / "checkpoints")
    if ck is None:
        raise SystemExit(f"[{stage.name}] has no checkpoint in {stage.out / 'checkpoints'}")
    meta = json.loads(ck.read_text(encoding="utf-8"))
    base = load_bundle(BY_NAME[stage.base].bundle) if stage.base else None
    recipe = create_recipe(stage.recipe, meta["recipe_config"], meta["attributes"], base=base)
    step = int(load_checkpoint(ck, recipe)["step"])
    trainer = meta["info"]["trainer"]
    pack = BY_NAME[stage.pack].pack_path
    extra = {"data": {"description": "PackDataset", "images": int(read_pack_metadata(pack)["count"])},
             "training": {stage.recipe: {"steps": step, "batch_size": trainer["batch_size"], "seed": trainer["seed"],
                                         "precision": trainer["precision"], "config": meta["recipe_config"]}}}
    if meta["info"].get("warm_start"):
        extra["training"][stage.recipe]["warm_start"] = meta["info"]["warm_start"]
    recipe.export_bundle(dest, step, extra)
    return step


def export_stage(stage: Stage, status: str, from_checkpoint: bool = False) -> Path:
    """fp16 copy of the stage's bundle in resources/models/<export>, with validation list, metrics and card."""
    import tempfile

    import torch

    from engine.bundle import load_bundle, save_bundle

    dest = MODELS / (stage.export or stage.name)
    with tempfile.TemporaryDirectory(dir=ROOT / "runs") as tmp:
        src = Path(tmp) / "bundle"
        if from_checkpoint:
            _bundle_from_checkpoint(stage, src)
        elif not (stage.bundle / "manifest.json").exists():
            raise SystemExit(f"[{stage.name}] has no bundle yet (train it, or export --from-checkpoint)")
        else:
            shutil.copytree(stage.bundle, src)
        bundle = load_bundle(src)
    manifest = dict(bundle.manifest)
    networks = {k: v for k, v in bundle.networks.items() if k not in stage.drop}
    manifest["name"] = dest.name
    manifest["status"] = status
    if stage.crop_resolution:
        manifest["crop_resolution"] = stage.crop_resolution
    manifest["licence"] = LICENCE
    val = read_validation_list()
    data = dict(manifest.get("data", {}))
    data.update(description=DATA_NOTE, licence=LICENCE,
                validation={"list": os.path.relpath(VAL_LIST, ROOT), "count": len(val), "seed": VAL_SEED, "files": val})
    manifest["data"] = data
    training = dict(manifest.get("training", {}))
    for s in STAGES:  # record the exact command of every stage that contributed (for its recipe: this stage's)
        if s.kind == "train" and s.recipe in training and (s is stage or s.recipe != stage.recipe):
            training[s.recipe] = {**training[s.recipe], "planned_steps": s.steps, "command": shlex.join(command(s, display=True))}
    manifest["training"] = training
    if dest.exists():
        shutil.rmtree(dest)
    save_bundle(dest, networks, manifest, tensors=dict(bundle.tensors), dtype=torch.float16)
    if stage.pack and "generator" in networks and "encoder_z" in networks:
        add_inversion_tensors(dest, BY_NAME[stage.pack].pack_path)
    # measured as shipped: the fp16 weights, at its crop_resolution (ELEGANT64: 128 px crops)
    update_shipped(dest, metrics=evaluate(load_bundle(dest)))
    mb = sum(p.stat().st_size for p in dest.iterdir()) / 1e6
    print(f"[{stage.name}] exported {dest} ({mb:.1f} MB): {status}")
    return dest


#: training faces averaged over: attribute vectors (the issue's mean E_z differences) and the latent metric
#: (hybrid and optimize inversion precondition with it; 24 faces: 2 min here, eigenvalues stable to a few %)
VECTOR_FACES, METRIC_FACES = 2000, 24


def add_inversion_tensors(dest: Path, pack: Path) -> None:
    """A cGAN bundle's extra tensors, from the training pack: attribute vectors and the latent metric."""
    from engine.bundle import load_bundle
    from engine.data import PackDataset
    from engine.edit import compute_attribute_vectors, store_attribute_vectors
    from engine.invert.metric import latent_metric, store_latent_metric

    bundle, data = load_bundle(dest), PackDataset(pack)
    store_attribute_vectors(bundle, compute_attribute_vectors(bundle, data, n=VECTOR_FACES))
    faces = [data[i][0] for i in range(min(METRIC_FACES, len(data)))]
    store_latent_metric(bundle, latent_metric(bundle, faces), len(faces))
    print(f"[{dest.name}] attribute vectors ({VECTOR_FACES} faces) and latent metric ({len(faces)} faces) stored")


def update_shipped(dest: Path, **fields: object) -> None:
    """New top-level manifest ``fields`` for a shipped bundle, and its card re-rendered (weights untouched)."""
    from engine.bundle import load_bundle
    from engine.modelcard import write_model_card

    mpath = dest / "manifest.json"
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    manifest.update(fields)
    mpath.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    write_model_card(dest)
    load_bundle(dest)  # still loads


def set_status(dest: Path, status: str) -> None:
    update_shipped(dest, status=status)


def remeasure(dest: Path) -> dict:
    """The card's metrics measured again on a shipped bundle, for when the protocol changed and the weights did not."""
    from engine.bundle import load_bundle

    metrics = evaluate(load_bundle(dest))
    update_shipped(dest, metrics=metrics)
    return metrics


# -- metrics -------------------------------------------------------------------------------------------
def validation_faces(resolution: int, attributes: list[str]):
    """(uint8 (N, R, R, 3), labels (N, A) in {-1, 1}) of the held-out faces, decoded on the fly, never stored."""
    import numpy as np

    from engine.data import CelebADataset

    ds = CelebADataset([DATA / "img_align_celeba"], DATA / "list_attr_celeba.txt", attributes=attributes,
                       resolution=resolution, include=read_validation_list())
    items = [ds.item_uint8(i) for i in range(len(ds))]
    keep = [(im, lab) for im, lab in items if im is not None]
    return np.stack([im for im, _ in keep]), np.stack([np.asarray(lab, np.float32) for _, lab in keep])


def _classifier():
    from engine.bundle import load_bundle

    path = MODELS / "classifier64"
    return load_bundle(path) if (path / "manifest.json").exists() else None


def evaluate(bundle) -> dict:
    """Metrics on the held-out faces; 'not measured yet (...)' where a prerequisite is missing."""
    import numpy as np
    import torch

    from engine.metrics import (
        attribute_accuracy,
        attribute_decisions,
        balanced_accuracy,
        classifier_outputs,
        frechet_distance,
        psnr,
        ssim,
    )
    from engine.modelcard import not_measured

    torch.manual_seed(0)
    # at the crop size the model edits (an ELEGANT model trained at 64 px edits 128 px crops)
    faces, labels = validation_faces(bundle.crop_resolution, bundle.attributes)
    out: dict = {"validation_faces": len(faces),
                 "majority_baseline_attribute_accuracy": float(np.maximum((labels > 0).mean(0), (labels < 0).mean(0)).mean())}
    clf = _classifier() if bundle.family != "classifier" else bundle
    if bundle.family == "classifier":
        acc = attribute_accuracy(bundle, faces, labels, bundle.attributes)
        out["attribute_accuracy_mean"] = acc.pop("mean")
        out["attribute_accuracy"] = acc
        # balanced accuracy (mean of recall and specificity) of plain and of balanced decisions (engine.metrics)
        for key, balanced in (("plain_decisions", False), ("balanced_decisions", True)):
            bal = balanced_accuracy(attribute_decisions(bundle, faces, balanced), labels)
            out[f"balanced_accuracy_mean_{key}"] = float(bal.mean())
            out[f"balanced_accuracy_{key}"] = dict(zip(bundle.attributes, map(float, bal), strict=True))
        return out
    to_img = lambda x: ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # noqa: E731
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    y = torch.from_numpy(labels)
    if bundle.family == "cgan":
        G = bundle.network("generator")
        with torch.no_grad():
            _, aux = bundle.network("discriminator")(x, y)
            out["discriminator_aux_head_attribute_accuracy"] = float(((aux > 0) == (y > 0)).float().mean())
            fake = to_img(G(torch.randn(len(x), G.config.z_dim), y))
        if clf is not None:
            real_f = classifier_outputs(clf, faces, features=True)
            fake_f = classifier_outputs(clf, fake, features=True)
            out["frechet_distance_classifier_features"] = frechet_distance(real_f, fake_f)
            out["generated_attribute_accuracy"] = attribute_accuracy(clf, fake, labels, bundle.attributes)["mean"]
        else:
            out["frechet_distance_classifier_features"] = not_measured("the attribute classifier is not trained yet")
            out["generated_attribute_accuracy"] = not_measured("the attribute classifier is not trained yet")
        recon = {}
        with torch.no_grad():
            if bundle.has("encoder_z") and bundle.has("encoder_y"):
                from engine.invert.core import encode

                z, yy = encode(bundle, x)
                recon["encoders_z_y"] = to_img(G(z, yy))
            if bundle.has("encoder_domain"):
                from engine.invert.core import encode

                yy = encode(bundle, x)[1] if bundle.has("encoder_y") else y
                recon["encoder_domain"] = to_img(G(bundle.network("encoder_domain")(x).float(), yy))
        for name, rec in recon.items():
            out[f"reconstruction_psnr_{name}"] = float(np.mean([psnr(a, b) for a, b in zip(faces, rec, strict=True)]))
            out[f"reconstruction_ssim_{name}"] = float(np.mean([ssim(a, b) for a, b in zip(faces, rec, strict=True)]))
        if not recon:
            out["reconstruction_psnr_ssim"] = not_measured("no encoders trained yet (encoder-z/-y/-domain stages)")
        return out
    if bundle.family == "elegant":
        from engine import transfer

        rec = [transfer.render(bundle, transfer.encode(bundle, f)).image for f in faces]
        # identical images (PSNR inf) count as 100 dB, as in bench/elegant.py (and JSON has no infinity)
        out["reconstruction_psnr"] = float(np.mean([min(psnr(a, b), 100.0) for a, b in zip(faces, rec, strict=True)]))
        out["reconstruction_ssim"] = float(np.mean([ssim(a, b) for a, b in zip(faces, rec, strict=True)]))
        if clf is None:
            out["transfer_success"] = not_measured("the attribute classifier is not trained yet")
        else:
            from engine.transfer_eval import present_interval, transfer_success

            results = transfer_success(bundle, clf, list(faces), labels, pairs=50)  # balanced decisions
            out["transfer_present_afterwards_mean"] = float(np.mean([r.present_afterwards for r in results]))
            # how much of that is the luck of which faces were held out (pairs resampled)
            lo, hi = present_interval(results)
            out["transfer_present_afterwards_bootstrap_95"] = {"low": lo, "high": hi}
            plain = transfer_success(bundle, clf, list(faces), labels, pairs=50, balanced=False)
            # the judge's plain decisions (logit > 0), as cards measured until session 7
            out["transfer_present_afterwards_plain_decisions_mean"] = float(np.mean([r.present_afterwards for r in plain]))
            out["transfer_exemplars_judged_plain_decisions_mean"] = float(np.mean([r.exemplars_judged for r in plain]))
            out["transfer_others_unchanged_mean"] = float(np.mean([r.others_unchanged for r in results]))
            # the ceiling of present afterwards: how often the judge sees the exemplars as labelled
            out["transfer_exemplars_judged_mean"] = float(np.mean([r.exemplars_judged for r in results]))
            sure = transfer_success(bundle, clf, list(faces), labels, pairs=50, confirmed=True)
            out["transfer_present_afterwards_confirmed_pairs_mean"] = float(np.mean([r.present_afterwards for r in sure]))
            out["transfer_success"] = {r.name: {"pairs": r.pairs, "added": r.added, "removed": r.removed,
                                                "others_unchanged": r.others_unchanged,
                                                "exemplars_judged": r.exemplars_judged} for r in results}
    return out


# -- samples and checks ------------------------------------------------------------------------------------
def samples(bundle_dir: Path, out: Path, rows: int = 8, columns: int = 8, seed: int = 7) -> Path:
    """Grids of generated faces only (``out``: rows share z, each column the labels of a held-out face; and
    ``<name>_attributes.png``: column 0 a face, column j+1 the same z with attribute j flipped)."""
    import torch

    from engine.bundle import load_bundle
    from engine.images import save_image
    from engine.train.recipe import image_grid

    bundle = load_bundle(bundle_dir)
    G = bundle.network("generator")
    g = torch.Generator().manual_seed(seed)
    _, labels = validation_faces(bundle.resolution, bundle.attributes)  # only the labels are used
    ys = torch.from_numpy(labels[torch.randperm(len(labels), generator=g)[:columns].numpy()])
    z = torch.randn(rows, G.config.z_dim, generator=g)
    with torch.no_grad():
        imgs = G(z.repeat_interleave(columns, 0), ys.repeat(rows, 1))
        # attribute sweep: per row one z and one label vector; column 0 as is, column j+1 with attribute j flipped
        base_y = ys[:rows]
        flips = torch.stack([base_y] + [base_y * torch.where(torch.arange(len(bundle.attributes)) == j, -1.0, 1.0)
                                         for j in range(len(bundle.attributes))], 1)
        sweep = G(z.repeat_interleave(flips.shape[1], 0), flips.reshape(-1, flips.shape[-1]))
    save_image(out.with_name(out.stem.replace("_samples", "") + "_attributes.png"),
               image_grid(sweep, columns=flips.shape[1]))
    return save_image(out, image_grid(imgs, columns=columns))


def photo_edits(out_dir: Path) -> list[Path]:
    """Edits of the public-domain astronaut portrait (never a CelebA face) with the default models.

    ``cgan64_photo_edits.png``: the aligned crop, its hybrid inversion, then each attribute dialled to its slider's
    ends (± ``attribute_limit``) —
    top row the generator's face, bottom row the crop changed by what the generator changed (the app's default);
    ``elegant64_photo_edits.png`` (one row per attribute): the crop, the bundled exemplar with the attribute,
    the transfer of that attribute, then the prototype dial at +1 and -1.
    """
    import numpy as np
    import torch

    from engine import edit, transfer
    from engine.bundle import load_bundle
    from engine.images import load_image, resize, save_image
    from engine.invert import invert
    from engine.ops import plain_name
    from engine.session_faces import find_faces
    from engine.train.recipe import image_grid

    photo = load_image(ROOT / "resources" / "samples" / "astronaut.png")
    side = 128
    crop = find_faces(photo, side)[0].crop
    as_tensor = lambda im: torch.from_numpy(np.array(resize(im, (side, side)))).permute(2, 0, 1).float() / 127.5 - 1  # noqa: E731
    written = []
    cgan = load_bundle(MODELS / "cgan64")
    code = invert(crop, cgan, "hybrid", seed=0).code
    at_side = lambda c: np.array(resize(edit.render(cgan, c), (side, side)))  # noqa: E731
    base = at_side(code)
    ends = {name: edit.attribute_limit(cgan, name) for name in cgan.attributes[:6]}  # the sliders' ends
    edits = [at_side(edit.set_attributes(code, cgan, {name: v})) for name in ends for v in (ends[name], -ends[name])]
    tiles = [crop, base, *edits, crop, crop, *(edit.add_change(crop, base, e) for e in edits)]
    written.append(save_image(out_dir / "cgan64_photo_edits.png",
                              image_grid(torch.stack([as_tensor(t) for t in tiles]), columns=len(tiles) // 2)))
    print("cgan64_photo_edits.png columns: crop, reconstruction, " + ", ".join(
        f"{plain_name(n)} ±{ends[n]:g}" for n in ends) + "; rows: the generator's face, the photo's face kept")
    elegant_dir = MODELS / "elegant64"
    if (elegant_dir / "manifest.json").exists():
        elegant = load_bundle(elegant_dir)
        rows = []
        for name in elegant.attributes:
            exemplar = load_image(EXEMPLARS / f"{plain_name(name)} (yes).png")
            rows += [crop, exemplar, transfer.transfer(elegant, crop, exemplar, [name]),
                     transfer.dial(elegant, crop, {name: 1.0}), transfer.dial(elegant, crop, {name: -1.0})]
        written.append(save_image(out_dir / "elegant64_photo_edits.png",
                                  image_grid(torch.stack([as_tensor(t) for t in rows]), columns=5)))
    return written


EXEMPLARS = ROOT / "resources" / "exemplars"


def exemplars(out: Path = EXEMPLARS, per_attribute: int = 1, candidates: int = 24, side: int = 128) -> list[Path]:
    """The exemplar gallery's bundled faces: generated by the default cGAN (never CelebA photos).

    For each attribute of the default ELEGANT model (else the cGAN's), a face with it and one without,
    each the candidate the classifier finds most clearly so; saved at ``side`` px (Lanczos from the cGAN's
    resolution) with a README saying where they come from.
    """
    from PIL import Image

    from engine.bundle import load_bundle
    from engine.ops import plain_name
    from engine.session_models import generate_exemplars
    from engine.transfer import FAMILY

    cgan = load_bundle(MODELS / "cgan64")
    elegant = next((d for d in sorted(MODELS.iterdir()) if (d / "manifest.json").exists()
                    and json.loads((d / "manifest.json").read_text())["family"] == FAMILY), None)
    wanted = json.loads((elegant / "manifest.json").read_text())["attributes"] if elegant else cgan.attributes
    faces = generate_exemplars(cgan, per_attribute, seed=11, judge=_classifier(), candidates=candidates)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    paths = []
    for name, image in faces:
        attr, sign = name[:-4], name[-4]
        if attr in wanted:
            stem = f"{plain_name(attr)} ({'yes' if sign == '+' else 'no'})" + (f" {name[-1]}" if per_attribute > 1 else "")
            paths.append(out / f"{stem}.png")
            Image.fromarray(image).resize((side, side), Image.Resampling.LANCZOS).save(paths[-1], optimize=True)
    (out / "README.md").write_text(
        "# Bundled exemplar faces\n\n"
        "Faces **generated** by the default conditional GAN (`resources/models/cgan64`), not photos of anyone: for\n"
        "each attribute of the default ELEGANT model one face generated with it and one without, each the most\n"
        f"convincing of {candidates} candidates as judged by the default attribute classifier. Made by\n"
        "`python tools/train_defaults.py exemplars`. The cGAN was trained on CelebA (non-commercial research\n"
        "only); no CelebA image is stored here.\n", encoding="utf-8")
    return paths


def compact(pack: Path, out: Path, quality: int = 80) -> float:
    """A carryable copy of a pack: one WebP per face plus labels.csv (MB); ``facet pack`` turns it back into a pack.

    For a GPU session, whose working tree (carried paths included) must stay under 64 MiB: a 64 px pack of
    26k faces is 320 MB raw, ~51 MB as JPEG q85, ~27 MB as WebP q80. It lives in the git-ignored packs/.
    """
    from PIL import Image

    from engine.data import PackDataset

    ds = PackDataset(pack)
    out.mkdir(parents=True, exist_ok=True)
    rows = ["file," + ",".join(ds.attributes)]
    for i, name in enumerate(ds.files):
        img, lab = ds.item_uint8(i)
        name = Path(name).stem + ".webp"
        Image.fromarray(img).save(out / name, quality=quality)
        rows.append(name + "," + ",".join(str(int(v)) for v in lab))
    (out / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return sum(f.stat().st_size for f in out.iterdir()) / 1e6


def ship(out: Path) -> list[Path]:
    """On a GPU box: fp16 copies of every finished stage bundle, split into parts that can come back via $OUT."""
    import torch

    from engine.bundle import load_bundle, save_bundle

    files = []
    for st in STAGES:
        if st.kind != "train" or not done(st):
            continue
        b = load_bundle(st.bundle)
        tmp = ROOT / "runs" / f"{st.name}.fp16"
        save_bundle(tmp, b.networks, b.manifest, tensors=dict(b.tensors), dtype=torch.float16)
        data = (tmp / "weights.safetensors").read_bytes()
        out.mkdir(parents=True, exist_ok=True)
        files.append(out / f"{st.name}.manifest.json")
        shutil.copy(tmp / "manifest.json", files[-1])
        for i in range(0, len(data), PART_BYTES):
            files.append(out / f"{st.name}.weights.{i // PART_BYTES:02d}")
            files[-1].write_bytes(data[i : i + PART_BYTES])
        shutil.rmtree(tmp)
    return files


def unship(folder: Path) -> list[str]:
    """Here: reassemble shipped parts into runs/<stage>/bundle (fp16), ready for ``export``."""
    from engine.bundle import load_bundle

    names = []
    for m in sorted(folder.glob("*.manifest.json")):
        name = m.name.removesuffix(".manifest.json")
        dest = BY_NAME[name].bundle
        dest.mkdir(parents=True, exist_ok=True)
        parts = sorted(folder.glob(f"{name}.weights.*"))
        (dest / "weights.safetensors").write_bytes(b"".join(p.read_bytes() for p in parts))
        shutil.copy(m, dest / "manifest.json")
        load_bundle(dest)
        names.append(name)
    return names


def check() -> int:
    from engine.bundle import load_bundle

    total = 0
    for d in sorted(p for p in MODELS.iterdir() if (p / "manifest.json").exists()):
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
        total += size
        b = load_bundle(d)
        print(f"{d.name:<16} {size / 1e6:7.1f} MB  {b.family} {b.resolution} px  {b.manifest.get('status', '')}")
    total_all = sum(f.stat().st_size for f in MODELS.rglob("*") if f.is_file())
    print(f"resources/models total: {total_all / 1e6:.1f} MB (limit {MAX_TOTAL_MB} MB)")
    return 0 if total_all < MAX_TOTAL_MB * 1e6 else 1


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(int(os.environ.get("FACET_THREADS", TRAIN_THREADS or "2")))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("plan")
    sub.add_parser("validation-list")
    r = sub.add_parser("run")
    r.add_argument("--only", nargs="+", choices=list(BY_NAME))
    r.add_argument("--no-export", action="store_true")
    e = sub.add_parser("export")
    e.add_argument("stage", choices=[s.name for s in STAGES if s.kind == "train"])
    e.add_argument("--from-checkpoint", action="store_true", help="export the latest checkpoint of a stopped run")
    e.add_argument("--status", default="trained to the planned step count")
    s = sub.add_parser("samples")
    s.add_argument("--bundle", default=str(MODELS / "cgan64"))
    s.add_argument("--out", default=str(ROOT / "docs" / "img" / "cgan64_samples.png"))
    c = sub.add_parser("compact", help="WebP folder + labels.csv of a pack, small enough to carry to a GPU session")
    c.add_argument("--pack", default=str(BY_NAME["celeba64_a12"].pack_path))
    c.add_argument("--out", default=str(ROOT / "packs" / "celeba64_a12_webp"))
    c.add_argument("--quality", type=int, default=80)
    sh = sub.add_parser("ship", help="(GPU box) finished bundles as fp16 parts under OUT, to bring back")
    sh.add_argument("out")
    un = sub.add_parser("unship", help="reassemble shipped parts into runs/<stage>/bundle")
    un.add_argument("folder")
    sub.add_parser("check")
    st = sub.add_parser("set-status", help="rewrite a shipped model's status line (manifest and card), no re-export")
    st.add_argument("model", help="folder name in resources/models")
    st.add_argument("status")
    rm = sub.add_parser("remeasure", help="measure a shipped model's card metrics again (weights untouched)")
    rm.add_argument("model", help="folder name in resources/models")
    it = sub.add_parser("inversion-tensors", help="a shipped cGAN's attribute vectors and latent metric, from "
                                                   "its training pack (weights untouched)")
    it.add_argument("model", help="folder name in resources/models")
    sub.add_parser("exemplars", help="generated exemplar faces for the gallery, in resources/exemplars")
    sub.add_parser("photo-edits", help="grids of edits of the public-domain sample photo, in docs/img")
    args = p.parse_args(argv)
    if args.cmd == "plan":
        for st in STAGES:
            step = latest_step(st) if st.kind == "train" else 0
            state = "done" if done(st) else (f"checkpoint at step {step}" if step else "not started")
            print(f"{st.name:<18} {state:<26} {shlex.join(command(st, display=True))}")
    elif args.cmd == "validation-list":
        print(f"{len(write_validation_list())} names in {VAL_LIST}")
    elif args.cmd == "run":
        if not VAL_LIST.exists():
            write_validation_list()
        run([BY_NAME[n] for n in args.only] if args.only else [s for s in STAGES if not s.init], export=not args.no_export)
    elif args.cmd == "set-status":
        set_status(MODELS / args.model, args.status)
    elif args.cmd == "inversion-tensors":
        add_inversion_tensors(MODELS / args.model, BY_NAME["celeba64_a12"].pack_path)
        update_shipped(MODELS / args.model)  # the card re-rendered
    elif args.cmd == "remeasure":
        print(json.dumps(remeasure(MODELS / args.model), indent=2))
    elif args.cmd == "export":
        export_stage(BY_NAME[args.stage], args.status, from_checkpoint=args.from_checkpoint)
    elif args.cmd == "samples":
        print(samples(Path(args.bundle), Path(args.out)))
    elif args.cmd == "compact":
        print(f"{args.out}: {compact(Path(args.pack), Path(args.out), args.quality):.1f} MB")
    elif args.cmd == "ship":
        for f in ship(Path(args.out)):
            print(f, f.stat().st_size)
    elif args.cmd == "unship":
        print("reassembled:", ", ".join(unship(Path(args.folder))))
    elif args.cmd == "check":
        return check()
    elif args.cmd == "photo-edits":
        for path in photo_edits(ROOT / "docs" / "img"):
            print(path)
    elif args.cmd == "exemplars":
        for path in exemplars():
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
