"""Pivotal tuning (PTI, ``engine.invert.pivotal``) on held-out faces: reconstruction, time, locality, storage.

For each held-out face (``resources/models/validation_faces.txt``, centre square at 64 px) the shipped cGAN is
inverted with ``pivotal``: hybrid's code (the pivot, whose G(pivot) is hybrid's reconstruction), then the tuned
generator G'. Reported: PSNR / SSIM of G(pivot) and G'(pivot) to the face; CPU and wall seconds per face with
one torch thread (the CPU is shared: CPU seconds are what the work costs, wall seconds what a user waited
here); how far G' moved away from G for prior samples (other faces) as rendered, and with the change applied
in full (PTI's own locality); how an attribute's change through G' compares with G's (cosine, size); the
bytes a face's tuned weights add to a project.

    python bench/pivotal.py [--n 200] [--threads 1] [--save runs/pivotal_bench.npz] [--no-write]

``--save`` keeps the codes and tuned weights (npz + JSON, no pickle) for ``bench/slider_edits.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inversion import held_out_parser, load_faces  # noqa: E402
from bench.report import markdown_table, run_and_write  # noqa: E402

TARGET_PSNR, TARGET_SSIM, TARGET_SECONDS = 28.0, 0.85, 5.0


def timed_pivotal(face: np.ndarray, bundle, seed: int):
    """(result, cpu s, wall s, cpu s of the pivot alone, wall s of the pivot alone)."""
    from engine.invert import invert_job

    c0, w0 = time.process_time(), time.perf_counter()
    pivot_cpu = pivot_wall = None
    job = invert_job(face, bundle, "pivotal", seed=seed)
    try:
        while True:
            step = next(job)
            if pivot_cpu is None and step.message == "pivotal tuning":
                pivot_cpu, pivot_wall = time.process_time() - c0, time.perf_counter() - w0
    except StopIteration as stop:
        result = stop.value
    return result, time.process_time() - c0, time.perf_counter() - w0, pivot_cpu or 0.0, pivot_wall or 0.0


def far_change(bundle, result, codes, everywhere: bool) -> float:
    """Mean |G'(c) − G(c)| in grey levels over ``codes`` (prior samples); ``everywhere``: the change in full."""
    import copy

    from engine.edit import render
    from engine.invert.pivotal import render as tuned_render

    tuned = result.tuned
    if everywhere:
        tuned = copy.copy(tuned)
        tuned.radius, tuned._deltas = 1e9, {}
    return float(np.mean([np.abs(tuned_render(bundle, c, tuned).astype(np.int16)
                                 - render(bundle, c).astype(np.int16)).mean() for c in codes]))


@torch.no_grad()
def edit_agreement(bundle, result) -> tuple[float, float]:
    """Mean cosine and size ratio of each attribute's flip: G'(edited) − G'(pivot) against G's."""
    from engine.invert.core import code_tensors
    from engine.invert.pivotal import tuned_generator

    G, Gt = bundle.network("generator"), tuned_generator(bundle, result.tuned)
    z, y = code_tensors(result.code)
    k = y.shape[1]
    ye = y.repeat(k, 1)
    idx = torch.arange(k)
    ye[idx, idx] = torch.where(ye[idx, idx] > 0, -1.0, 1.0)
    ze = z.repeat(k, 1)
    d0 = (G(ze, ye) - G(z, y)).flatten(1)
    d1 = (Gt(ze, ye) - Gt(z, y)).flatten(1)
    cos = torch.nn.functional.cosine_similarity(d0, d1).mean()
    return float(cos), float((d1.norm(dim=1) / d0.norm(dim=1).clamp_min(1e-6)).mean())


def project_cost(face: np.ndarray, bundle, result) -> tuple[int, int]:
    """Bytes of a one-face project (the face as the photo) without and with the tuned weights."""
    from app.project import write_project
    from engine.session import EditSession

    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for tuned in (None, result.tuned):
            s = EditSession(face, bundle, detect=False)
            slot = s.faces[0]
            slot.code, slot.reconstruction, slot.tuned = result.code, result.reconstruction, tuned
            sizes.append(write_project(Path(tmp) / "p.facet", s.to_dict()).stat().st_size)
    return sizes[0], sizes[1]


def save_inversions(path: Path, results: list) -> None:
    """Codes and tuned weights of every face as one npz (arrays) with a JSON member (the rest); no pickle."""
    arrays, meta = {}, []
    for i, r in enumerate(results):
        arrays[f"{i}.z"], arrays[f"{i}.y"] = r.code.z, r.code.y
        t = r.tuned
        entry = None
        if t is not None:
            arrays[f"{i}.centre"] = t.centre
            parts = {}
            for n, p in t.deltas.items():
                for key, arr in p.items():
                    arrays[f"{i}.{n}.{key}"] = arr
                parts[n] = sorted(p)
            entry = {"base": t.base, "radius": t.radius, "falloff": t.falloff, "parts": parts}
        meta.append(entry)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def load_inversions(path: Path) -> list[tuple]:
    """[(LatentCode, TunedWeights or None)] as :func:`save_inversions` wrote them."""
    from engine.invert import LatentCode
    from engine.invert.pivotal import TunedWeights

    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        out = []
        for i, entry in enumerate(meta):
            code = LatentCode(data[f"{i}.z"], data[f"{i}.y"])
            tuned = None
            if entry is not None:
                deltas = {n: {k: data[f"{i}.{n}.{k}"] for k in keys} for n, keys in entry["parts"].items()}
                tuned = TunedWeights(entry["base"], data[f"{i}.centre"], entry["radius"], entry["falloff"], deltas)
            out.append((code, tuned))
    return out


def run(args: argparse.Namespace) -> str:
    from engine.bundle import load_bundle
    from engine.edit import render
    from engine.invert import LatentCode, invert
    from engine.metrics import psnr, ssim

    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.bundle)
    faces, _, _, source = load_faces(bundle, args.n, Path(args.celeba), None)
    invert(faces[0], bundle, "pivotal", steps=2)  # warm-up
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    zd, na = int(bundle.network("generator").config.z_dim), len(bundle.attributes)
    prior = [LatentCode(rng.standard_normal(zd), rng.choice([-1.0, 1.0], na)) for _ in range(8)]
    rows, results, notes = [], [], []
    for i, face in enumerate(faces):
        result, cpu, wall, pcpu, pwall = timed_pivotal(face, bundle, i)
        results.append(result)
        base = render(bundle, result.code)
        rec = {"psnr0": psnr(base, face), "ssim0": ssim(base, face), "psnr": psnr(result.reconstruction, face),
               "ssim": ssim(result.reconstruction, face), "cpu": cpu, "wall": wall, "pcpu": pcpu, "pwall": pwall}
        if result.tuned is None:
            notes.append(f"face {i}: {result.note}")
        elif i < args.n_locality:
            rec["far"] = far_change(bundle, result, prior, everywhere=False)
            rec["far_full"] = far_change(bundle, result, prior, everywhere=True)
            rec["cos"], rec["size"] = edit_agreement(bundle, result)
            rec["bytes"] = result.tuned.nbytes
        rows.append(rec)
        if i % 10 == 0:
            print(f"{i}: {rec}", flush=True)
    load_after = os.getloadavg()
    if args.save:
        save_inversions(Path(args.save), results)

    def mean(key: str, subset=None) -> float:
        vals = [r[key] for r in (subset or rows) if key in r]
        return statistics.mean(vals) if vals else float("nan")

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    n = len(rows)
    tuned_rows = [r for r in rows if "far" in r]
    without, with_tuned = project_cost(faces[0], bundle, next(r for r in results if r.tuned is not None))
    within = sum(r["cpu"] <= TARGET_SECONDS for r in rows)
    table = markdown_table(
        ["", "PSNR dB", "SSIM", "CPU s / face (mean, median)", "wall s / face (mean, median)"],
        [["hybrid (the pivot, G(pivot))", f"{mean('psnr0'):.2f}", f"{mean('ssim0'):.3f}",
          f"{mean('pcpu'):.2f}, {median('pcpu'):.2f}", f"{mean('pwall'):.2f}, {median('pwall'):.2f}"],
         ["**pivotal** (G'(pivot))", f"**{mean('psnr'):.2f}**", f"**{mean('ssim'):.3f}**",
          f"**{mean('cpu'):.2f}**, {median('cpu'):.2f}", f"{mean('wall'):.2f}, {median('wall'):.2f}"]])
    lines = [
        f"Model: `{Path(args.bundle).name}`; {n} {source} at {bundle.resolution} px; {args.threads} torch thread(s); "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (2 cores: other jobs shared the CPU, "
        "so wall seconds are inflated; CPU seconds are the work). Pivotal = hybrid's 50 L-BFGS evaluations, then "
        "200 Adam steps on the last two transposed convolutions (rank-32 change of the big one) in bf16, with PTI's "
        "locality term.", "",
        table, "",
        f"Targets: PSNR ≥ {TARGET_PSNR} dB — {'met' if mean('psnr') >= TARGET_PSNR else 'missed'} "
        f"({sum(r['psnr'] >= TARGET_PSNR for r in rows)}/{n} faces); SSIM ≥ {TARGET_SSIM} — "
        f"{'met' if mean('ssim') >= TARGET_SSIM else 'missed'} ({sum(r['ssim'] >= TARGET_SSIM for r in rows)}/{n}); "
        f"≤ {TARGET_SECONDS:.0f} s per face — {within}/{n} faces within it in CPU seconds "
        f"(worst {max(r['cpu'] for r in rows):.2f} s), {sum(r['wall'] <= TARGET_SECONDS for r in rows)}/{n} in wall "
        "seconds on this shared CPU.",
        "",
        f"Locality (first {len(tuned_rows)} faces, 8 prior samples each: other faces, ~19 from a pivot in z): "
        f"mean |G'(c) − G(c)| **{mean('far', tuned_rows):.2f}** grey levels as the session renders them (the change "
        f"fades with the distance from the pivot), {mean('far_full', tuned_rows):.1f} with the change applied in "
        "full (PTI's locality term alone). Attribute flips of the pivot through G' against G: cosine "
        f"{mean('cos', tuned_rows):.3f}, size {mean('size', tuned_rows):.2f} x — edits keep their direction and "
        "strength.",
        "",
        f"Storage: {mean('bytes', tuned_rows) / 1024:.0f} KB of float16 per face (the pivot's z, the rank-32 "
        f"factor pair and the small layers' deltas); a one-face project is {without / 1024:.0f} KB without and "
        f"{with_tuned / 1024:.0f} KB with them (+{(with_tuned - without) / 1024:.0f} KB per tuned face; npz deflate "
        "barely shrinks float16 weights).",
    ]
    if notes:
        lines += ["", f"Tunings stopped ({len(notes)}): " + "; ".join(notes[:5])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = held_out_parser(__doc__, n=200)
    p.set_defaults(threads=1)
    p.add_argument("--n-locality", type=int, default=50, help="faces whose locality and edits are measured")
    p.add_argument("--save", default="", help="keep the codes and tuned weights here (npz) for bench/slider_edits.py")
    run_and_write("pivotal", "Pivotal tuning: reconstruction, time, locality, storage", run, p.parse_args(argv))


if __name__ == "__main__":
    main()
