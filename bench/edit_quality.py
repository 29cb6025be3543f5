"""Edits judged as a user sees them: success, locality, realism, identity (engine.edit_eval) for ELEGANT models.

    python bench/edit_quality.py                                   # the shipped ELEGANT models
    python bench/edit_quality.py --models resources/models/elegant64 runs/elegant_mask128/bundle
    python bench/edit_quality.py --n 200 --per-direction 100 --modes transfer dial

Faces: the held-out pack `packs/celeba128_head_eval.safetensors` (the 500 validation and 1500 more held-out
CelebA faces at 128 px in the `head` layout; built from ../shared when missing). The first ``--n`` validation
faces are the sources; the rest of the pack is the exemplars' pool and the realism reference. Results go to
docs/benchmarks.md (section "edit_quality"). Identity needs the optional judge: ``pip install -e '.[eval]'``
(dlib); without it that column says why it was skipped.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import markdown_table, run_and_write  # noqa: E402
from engine.edit_eval import MODES  # noqa: E402

CELEBA = ROOT.parent / "shared" / "datasets" / "celeba"
EVAL_PACK = ROOT / "packs" / "celeba128_head_eval.safetensors"
NAMES = ROOT / "resources" / "models"
ATTRIBUTES = ["Smiling", "Eyeglasses", "Bangs", "Blond_Hair", "Black_Hair", "Male", "Young", "Mustache"]


def _names(path: Path) -> list[str]:
    return [ln.split()[0] for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def eval_faces() -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(faces uint8 (N, 128, 128, 3) head layout, labels (N, A), their file names, attribute names)."""
    from engine.data import build_pack
    from engine.data.celeba import CelebADataset
    from engine.data.pack import PackDataset

    if not EVAL_PACK.exists():
        names = _names(NAMES / "validation_faces.txt") + _names(NAMES / "heldout_faces.txt")
        ds = CelebADataset(CELEBA / "img_align_celeba", CELEBA / "list_attr_celeba.txt", ATTRIBUTES, 128,
                           include=names, layout="head")
        build_pack(ds, EVAL_PACK)
    pack = PackDataset(EVAL_PACK)
    cols = [pack.attributes.index(a) for a in ATTRIBUTES]
    return pack.images.numpy(), pack.labels.numpy()[:, cols], pack.files, ATTRIBUTES


def latency_ms(bundle, face: np.ndarray, exemplar: np.ndarray, repeats: int = 20) -> float:
    """Median wall time of one transfer on encoded faces (a slider move's cost), ms."""
    from engine import transfer as T

    src, ex = T.encode(bundle, face), T.encode(bundle, exemplar)
    name = bundle.attributes[0]
    T.transfer_codes(bundle, src, ex, [name])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        T.transfer_codes(bundle, src, ex, [name])
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def fmt(v, pattern: str = "{:.2f}") -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else pattern.format(v)


def mean_row(label: str, reports: list) -> list[str]:
    """A table row of means over ``reports`` (engine.edit_eval.AttributeReport)."""
    local = [r.locality for r in reports if r.locality is not None]
    ids = [r.identity for r in reports if r.identity is not None]
    real = [(r.realism, r.realism_floor) for r in reports if r.realism is not None]
    return [label, "", fmt(np.nanmean([r.added for r in reports])), fmt(np.nanmean([r.removed for r in reports])),
            fmt(np.mean([r.present for r in reports])), fmt(np.mean([r.others_unchanged for r in reports])),
            fmt(np.mean([x.mean_abs for x in local]) if local else None, "{:.1f}"),
            fmt(100 * np.mean([x.changed for x in local]) if local else None, "{:.1f}"),
            f"{fmt(np.mean([a for a, _ in real]) if real else None, '{:.1f}')} / "
            f"{fmt(np.mean([b for _, b in real]) if real else None, '{:.1f}')}",
            fmt(100 * np.mean([x.same_person for x in ids]) if ids else None, "{:.0f}"),
            fmt(np.mean([x.mean_distance for x in ids]) if ids else None)]


def run(args: argparse.Namespace) -> str:
    from engine.bundle import load_bundle
    from engine.edit_eval import evaluate, model_layout
    from engine.edit_quality import FeatureSpace, IdentityJudge
    from engine.transfer import face_swapping, is_masked, takes_exemplar_pixels

    torch.set_num_threads(args.threads)
    faces, labels, files, attributes = eval_faces()
    validation = set(_names(NAMES / "validation_faces.txt"))
    is_val = np.array([f in validation for f in files])
    sources = np.flatnonzero(is_val)[: args.n]
    pool = np.setdiff1d(np.arange(len(files)), sources)
    judge = load_bundle(args.classifier)
    features = FeatureSpace(judge, faces[pool], "head")
    reason = IdentityJudge.unavailable_reason()
    identity_judge = None if reason else IdentityJudge("head")
    lines = [f"{len(sources)} held-out sources, a pool of {len(pool)} held-out faces (exemplars, realism reference); "
             f"strength {args.strength}; judge {judge.name} (balanced decisions). Locality: outside the attribute's "
             "region (engine.face.regions), mean |Δ| in grey levels and % of pixels changed by > 8; Male and Young "
             "are global (–). Realism: Frechet distance on the judge's features (64 leading components), edits vs "
             "real pool faces with (add) / without (remove) the attribute, next to the floor of two disjoint real "
             "sets of the same size. Identity: dlib distance source→edit on up to 30 edits each way, % below 0.6.",
             reason or ""]
    for path in args.models:
        bundle = load_bundle(path)
        for mode in args.modes:
            if mode == "transfer-exemplar" and (not is_masked(bundle) or takes_exemplar_pixels(bundle)):
                continue  # only a masked model says where to take the exemplar's pixels (one that always does: "transfer")
            if mode == "dial" and takes_exemplar_pixels(bundle):
                continue  # it has no dial
            if mode == "transfer-recolour" and not takes_exemplar_pixels(bundle):
                continue  # a model that synthesises its edit has no hair mode
            t = time.perf_counter()
            reports = evaluate(bundle, judge, faces, labels, attributes, sources, pool, mode=mode,
                               strength=args.strength, per_direction=args.per_direction, features=features,
                               identity_judge=identity_judge)
            took = time.perf_counter() - t
            rows = []
            for r in reports:
                loc = r.locality
                rows.append([r.name, f"{r.n_add}/{r.n_remove}", fmt(r.added), fmt(r.removed), fmt(r.present),
                             fmt(r.others_unchanged), fmt(loc and loc.mean_abs, "{:.1f}"),
                             fmt(loc and 100 * loc.changed, "{:.1f}"),
                             f"{fmt(r.realism, '{:.1f}')} / {fmt(r.realism_floor, '{:.1f}')}",
                             fmt(r.identity and 100 * r.identity.same_person, "{:.0f}"),
                             fmt(r.identity and r.identity.mean_distance)])
            rows.append(mean_row("**mean**", reports))
            swaps = set(face_swapping(bundle))
            if swaps and mode.startswith("transfer"):  # what the app and the CLI offer with this model
                rows.append(mean_row("**mean, as offered** (no " + ", ".join(sorted(swaps)) + ")",
                                     [r for r in reports if r.name not in swaps]))
            ms = latency_ms(bundle, faces[sources[0]], faces[pool[0]]) if mode == "transfer" else None
            lines += [f"### {bundle.name} — {mode} ({model_layout(bundle)} layout, {bundle.crop_resolution} px"
                      + (f"; {ms:.1f} ms per transfer" if ms else "") + f"; measured in {took:.0f} s)", "",
                      markdown_table(["attribute", "add/remove", "added", "removed", "present", "others unchanged",
                                      "outside mean abs", "outside > 8 (%)", "Frechet (edit / floor)",
                                      "same person (%)", "identity distance"], rows), ""]
            print(lines[-2], flush=True)
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=[str(NAMES / "elegant64")])
    p.add_argument("--classifier", default=str(NAMES / "classifier64"))
    p.add_argument("--modes", nargs="+", default=["transfer", "dial"], choices=list(MODES),
                   help="transfer-exemplar: masked models taking the exemplar's own pixels inside the mask; "
                        "transfer-recolour: models that take the exemplar's pixels, hair colours recoloured")
    p.add_argument("--n", type=int, default=200, help="held-out source faces")
    p.add_argument("--per-direction", type=int, default=100, help="at most this many adds and removes per attribute")
    p.add_argument("--strength", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    run_and_write("edit_quality", "Edit quality: success, locality, realism, identity (ELEGANT)", run, p.parse_args())


if __name__ == "__main__":
    main()
