"""Trainer throughput: img/s of ``Trainer`` + cgan recipe vs a bare PyTorch loop, and absolute img/s.

The bare loop is the same networks, optimisers, losses and autocast written as ten lines of plain
PyTorch over one fixed in-memory batch; the trainer runs over an in-memory dataset holding that batch,
so the ratio is the trainer's own overhead (data path, logging, bookkeeping). Rounds alternate between
the two and the best round of each is kept, which damps noise from other processes on a shared CPU.
Usage: ``python bench/train_throughput.py [--quick]``; writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import markdown_table, write_section  # noqa: E402
from engine.device import autocast  # noqa: E402
from engine.train import TrainConfig, Trainer  # noqa: E402
from engine.train.recipes import create_recipe  # noqa: E402
from engine.train.recipes.cgan import bce_pm1  # noqa: E402

ATTRS = ["Smiling", "Eyeglasses", "Blond_Hair", "Bangs", "Mustache"]


class FixedBatch(torch.utils.data.Dataset):
    """``copies`` repetitions of one batch, sliced whole (the trainer's in-memory fast path)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, copies: int):
        self.x, self.y, self.copies = x, y, copies
        self.attributes, self.resolution = ATTRS, x.shape[-1]

    def __len__(self) -> int:
        return len(self.x) * self.copies

    def __getitem__(self, i: int):
        return self.x[i % len(self.x)], self.y[i % len(self.x)]

    def batch(self, idx):
        idx = torch.as_tensor(idx) % len(self.x)
        return self.x[idx], self.y[idx]


def make_batch(res: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(batch, 3, res, res, generator=g) * 2 - 1, (torch.randint(0, 2, (batch, 5), generator=g) * 2 - 1).float()


def bare_loop(res: int, precision: str, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int) -> float:
    """The reference: the cgan step in plain PyTorch; returns img/s after ``warmup`` steps."""
    recipe = create_recipe("cgan", {"resolution": res}, ATTRS, seed=0)
    G, D = recipe.nets["generator"], recipe.nets["discriminator"]
    og = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    cpu = torch.device("cpu")
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        z = torch.randn(len(x), 100)
        yf = y[torch.randperm(len(y))]
        with autocast(cpu, precision):
            fake = G(z, yf)
            ar, xr = D(x, y)
            af, xf = D(fake.detach(), yf)
            ld = F.softplus(-ar.float()).mean() + F.softplus(af.float()).mean() + bce_pm1(xr, y) + bce_pm1(xf, yf)
        od.zero_grad(set_to_none=True)
        ld.backward()
        od.step()
        with autocast(cpu, precision):
            ag, xg = D(fake, yf)
            lg = F.softplus(-ag.float()).mean() + bce_pm1(xg, yf)
        og.zero_grad(set_to_none=True)
        lg.backward()
        og.step()
        ld.item(), lg.item()
    return steps * len(x) / (time.perf_counter() - t0)


def trainer_loop(res: int, precision: str, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int) -> float:
    recipe = create_recipe("cgan", {"resolution": res}, ATTRS, seed=0)
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(Path(tmp), steps=warmup + steps, batch_size=len(x), device="cpu", precision=precision,
                          sample_every=0, checkpoint_every=0, log_every=10, export=False)
        Trainer(recipe, FixedBatch(x, y, warmup + steps), cfg).run(progress=lambda s: stamps.append(time.perf_counter()))
    # stamps[0] is the start message; stamps[k] is after step k
    return steps * len(x) / (stamps[warmup + steps] - stamps[warmup])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the CPU is shared; avoids spin-wait)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    steps, warmup, rounds = (1, 1, 1) if args.quick else (3, 1, 2)
    t_start = time.perf_counter()

    res, batch = 64, 16
    x, y = make_batch(res, batch)
    bare, trained = [], []
    for _ in range(rounds):
        bare.append(bare_loop(res, "bf16", x, y, steps, warmup))
        trained.append(trainer_loop(res, "bf16", x, y, steps, warmup))
    ratio = max(trained) / max(bare)
    print(f"64 px bf16 batch {batch}: bare {max(bare):.1f} img/s, trainer {max(trained):.1f} img/s, ratio {ratio:.2f}")

    rows = []
    for res, batch in ((64, 16), (128, 8)):
        x, y = make_batch(res, batch)
        speeds = {"bf16": max(trained)} if res == 64 else {}
        for precision in ("bf16", "fp32"):
            if precision not in speeds:
                speeds[precision] = trainer_loop(res, precision, x, y, steps, warmup)
            print(f"{res} px {precision} batch {batch}: {speeds[precision]:.1f} img/s")
        rows.append([f"{res}", batch, f"{speeds['bf16']:.1f}", f"{speeds['fp32']:.1f}", f"{speeds['bf16'] / speeds['fp32']:.2f}x"])
    total = time.perf_counter() - t_start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    body = (
        f"cgan recipe (DCGAN G/D, 64 base channels, AC-GAN head, Adam), CPU, one process, {args.threads} torch thread(s); "
        f"{steps} timed steps after {warmup} warm-up, best of {rounds} round(s).\n\n"
        f"**Trainer vs bare PyTorch loop** (64 px, bf16, batch 16, same networks and batch): "
        f"trainer {max(trained):.1f} img/s, bare loop {max(bare):.1f} img/s, **ratio {ratio:.2f}** (target >= 0.9).\n\n"
        + markdown_table(["resolution", "batch", "bf16 img/s", "fp32 img/s", "bf16 speed-up"], rows)
        + f"\n\nCaveat: measured on a CPU shared with other jobs (1-min load average {load:.1f} at the end); "
        f"absolute numbers are pessimistic and noisy, the ratios are the useful part. Whole run {total:.0f} s."
    )
    print(body)
    if not args.quick:
        write_section("train_throughput", "Training throughput (cgan, CPU)", body)


if __name__ == "__main__":
    main()
