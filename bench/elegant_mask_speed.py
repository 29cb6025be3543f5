"""Seconds per training step of the masked ELEGANT recipe on this CPU, before planning a run (issue 20).

    python bench/elegant_mask_speed.py [--steps 6] [--batch 32]

One process, one torch thread, the recipe's own train_step on random faces at 128 px (8 attributes, the
run's pair counts), with bf16 autocast or fp32, channels-last or not. CPU time is what counts on a machine
shared with other jobs (wall time is shown too). Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import markdown_table, run_and_write  # noqa: E402
from engine.train.recipes import create_recipe  # noqa: E402

ATTRS = ["Smiling", "Eyeglasses", "Bangs", "Blond_Hair", "Black_Hair", "Male", "Young", "Mustache"]


def seconds_per_step(precision: str, channels_last: bool, steps: int, batch: int) -> tuple[float, float]:
    """(CPU s, wall s) per step after one warm-up step."""
    recipe = create_recipe("elegant-mask", {"channels_last": channels_last}, ATTRS, seed=0)
    recipe.to(torch.device("cpu"), precision)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 128, 128, generator=g) * 2 - 1
    y = (torch.rand(batch, len(ATTRS), generator=g) < 0.4).float() * 2 - 1
    recipe.train_step((x, y), 1)
    cpu, wall = time.process_time(), time.perf_counter()
    for step in range(2, steps + 2):
        recipe.train_step((x, y), step)
    return (time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps


def run(args: argparse.Namespace) -> str:
    torch.set_num_threads(1)
    rows = []
    for precision in ("bf16", "fp32"):
        for cl in (True, False):
            cpu, wall = seconds_per_step(precision, cl, args.steps, args.batch)
            rows.append([precision, "yes" if cl else "no", f"{cpu:.2f}", f"{wall:.2f}"])
            print(rows[-1], flush=True)
    return (f"elegant-mask recipe at 128 px, batch {args.batch} (up to 8 pairs per step, 4 of them also reconstructed), "
            f"default widths; {args.steps} timed steps after a warm-up, one torch thread.\n\n"
            + markdown_table(["precision", "channels-last", "CPU s / step", "wall s / step"], rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--no-write", action="store_true")
    run_and_write("elegant_mask_speed", "Masked ELEGANT: seconds per training step (CPU)", run, p.parse_args())


if __name__ == "__main__":
    main()
