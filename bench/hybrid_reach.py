"""How many steps hybrid inversion needs to reach optimize-only's final objective, for several settings.

``bench/inversion.py`` measures the default hybrid; this script searches the settings the engine exposes
(preconditioner, optimizer, starting encoder, jittered restarts) on the same held-out faces, so that "not met"
is a measured statement about the settings tried, not about one guess. Optimize-only runs once per face with
its defaults (200 evaluations, 4 random restarts, preconditioned by the bundle's latent metric), once on z
itself (its default until session 9) and once from a single random start (the comparison of iGAN's hybrid
with plain optimisation); each hybrid setting gets the same 200-evaluation budget and is compared with all three.

    python bench/hybrid_reach.py [--bundle resources/models/cgan64] [--n 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inversion import first_reaching, held_out_parser, load_faces  # noqa: E402
from bench.report import markdown_table, run_and_write  # noqa: E402

#: (label, hybrid options): the default first, then one change at a time.
SETTINGS: list[tuple[str, dict]] = [
    ("default (L-BFGS from the domain encoder, preconditioned by the latent metric)", {}),
    ("L-BFGS on z itself (the default until session 9)", {"precondition": False}),
    ("E_z start", {"start": "encoder_z"}),
    ("4 jittered restarts", {"restarts": 4}),
    ("Adam lr 0.2 (on z: Adam is not preconditioned)", {"optimizer": "adam"}),
]
#: optimize-only as the reference: its default first (the target), then on z itself (its default until session 9),
#: then from one random start instead of the best of four (what the restarts add to the depth reached)
REFERENCES: list[tuple[str, dict]] = [("preconditioned", {}), ("on z", {"precondition": False}),
                                      ("one start", {"restarts": 1})]


def shown(path: str) -> str:
    """``path`` relative to the repository when it is inside it (the report should not name this machine)."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else path


def run(args: argparse.Namespace) -> str:
    from engine.bundle import load_bundle
    from engine.invert import METHODS, invert

    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.bundle)
    images, _, _, source = load_faces(bundle, args.n, Path(args.celeba), None)
    targets: dict[str, list[float]] = {}
    for name, options in REFERENCES:
        t = time.perf_counter()
        runs = [invert(im, bundle, "optimize", seed=i, **options) for i, im in enumerate(images)]
        targets[name] = [r.losses[-1] for r in runs]
        print(f"optimize ({name}): {time.perf_counter() - t:.0f} s", flush=True)
    budget = runs[0].steps  # hybrid gets optimize-only's own step budget
    quarter = budget // 4
    main_ref = REFERENCES[0][0]
    rows = []
    for label, options in SETTINGS:
        t = time.perf_counter()
        traces = [invert(im, bundle, "hybrid", steps=budget, seed=i, **options).losses for i, im in enumerate(images)]
        row = [label]
        for name, _ in REFERENCES:
            reach = [first_reaching(tr, targets[name][i]) or budget + 1 for i, tr in enumerate(traces)]
            row += [f"{statistics.median(reach):.0f}", f"{sum(r <= quarter for r in reach)}/{len(images)}"]
            if name == main_ref:
                row.append(f"{sum(r > budget for r in reach)}")
        row += [f"{statistics.mean(tr[quarter - 1] for tr in traces):.4f}", f"{statistics.mean(tr[-1] for tr in traces):.4f}"]
        rows.append(row)
        print(rows[-1], f"{time.perf_counter() - t:.0f} s", flush=True)
    header = ["hybrid setting"]
    for name, _ in REFERENCES:
        header += [f"median to reach optimize ({name})", f"within {quarter}"]
        if name == main_ref:
            header.append(f"never (in {budget})")
    finals = ", ".join(f"{name}{' (its default)' if name == main_ref else ''} {statistics.mean(targets[name]):.4f}"
                       for name, _ in REFERENCES)
    return "\n".join([
        f"Model: `{shown(args.bundle)}`; faces: {source}, the first {len(images)}. Optimize-only (L-BFGS, {budget} "
        f"evaluations of G x {METHODS['optimize'].default_restarts} random restarts), mean final objective: {finals}. "
        f"Each hybrid setting re-run with a {budget}-evaluation budget; target: reach optimize's final objective within "
        f"{quarter}. Steps count evaluations of G (L-BFGS's line-search trials included).", "",
        markdown_table([*header, f"mean objective at {quarter}", f"at {budget}"], rows),
    ])


def main(argv: list[str] | None = None) -> None:
    p = held_out_parser(__doc__, n=20)
    run_and_write("hybrid_reach", "Hybrid inversion: steps to reach optimize-only (settings searched)", run, p.parse_args(argv))


if __name__ == "__main__":
    main()
