"""How many steps hybrid inversion needs to reach optimize-only's final objective, for several settings.

``bench/inversion.py`` measures the default hybrid; this script searches the settings the engine exposes
(learning rate, starting encoder, jittered restarts) on the same held-out faces, so that "not met" is a
measured statement about the settings tried, not about one guess. Optimize-only runs once per face with its
defaults (200 steps, 4 random restarts); each hybrid setting gets the same 200-step budget.

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

from bench.inversion import CELEBA, first_reaching, load_faces  # noqa: E402
from bench.report import markdown_table, write_section  # noqa: E402

#: (label, hybrid options): the default first, then one change at a time.
SETTINGS: list[tuple[str, dict]] = [
    ("default (domain encoder start, lr 0.2)", {}),
    ("lr 0.1", {"lr": 0.1}),
    ("lr 0.3", {"lr": 0.3}),
    ("E_z start", {"start": "encoder_z"}),
    ("4 jittered restarts", {"restarts": 4}),
    ("4 jittered restarts, lr 0.3", {"restarts": 4, "lr": 0.3}),
]


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
    t = time.perf_counter()
    optimized = [invert(im, bundle, "optimize", seed=i) for i, im in enumerate(images)]
    print(f"optimize: {time.perf_counter() - t:.0f} s", flush=True)
    targets = [r.losses[-1] for r in optimized]
    budget = optimized[0].steps  # hybrid gets optimize-only's own step budget
    quarter = budget // 4
    rows = []
    for label, options in SETTINGS:
        t = time.perf_counter()
        reach, at_quarter = [], []
        for i, im in enumerate(images):
            losses = invert(im, bundle, "hybrid", steps=budget, seed=i, **options).losses
            reach.append(first_reaching(losses, targets[i]) or budget + 1)
            at_quarter.append(losses[quarter - 1])
        rows.append([label, f"{statistics.median(reach):.0f}", f"{sum(r <= quarter for r in reach)}/{len(images)}",
                     f"{sum(r > budget for r in reach)}", f"{statistics.mean(at_quarter):.4f}"])
        print(label, rows[-1], f"{time.perf_counter() - t:.0f} s", flush=True)
    return "\n".join([
        f"Model: `{shown(args.bundle)}`; faces: {source}, the first {len(images)}. Optimize-only ({budget} steps x "
        f"{METHODS['optimize'].default_restarts} random restarts): mean final objective {statistics.mean(targets):.4f}. Each hybrid setting re-run with a {budget}-step "
        f"budget; target: reach optimize's final objective within {quarter} steps.", "",
        markdown_table(["hybrid setting", "median steps to reach", f"within {quarter}", f"never (in {budget})",
                        f"mean objective at step {quarter}"], rows),
    ])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", default=str(ROOT / "resources" / "models" / "cgan64"))
    p.add_argument("--n", type=int, default=20, help="held-out faces (default 20)")
    p.add_argument("--celeba", default=str(CELEBA))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true", help="print only; do not touch docs/benchmarks.md")
    args = p.parse_args(argv)
    body = run(args)
    print(body)
    if not args.no_write:
        print("wrote", write_section("hybrid_reach", "Hybrid inversion: steps to reach optimize-only (settings searched)", body))


if __name__ == "__main__":
    main()
