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


def _clock() -> tuple[float, float]:
    """(wall, process CPU) seconds: CPU time is what the ratio uses, as other jobs on the machine inflate wall time."""
    return time.perf_counter(), time.process_time()


def _rates(n_images: int, t0: tuple[float, float], t1: tuple[float, float]) -> tuple[float, float]:
    """(img/s by wall clock, img/s by process CPU time)."""
    return n_images / (t1[0] - t0[0]), n_images / (t1[1] - t0[1])


def bare_loop(res: int, precision: str, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int) -> tuple[float, float]:
    """The reference: the cgan step in plain PyTorch; returns img/s (wall, CPU) after ``warmup`` steps."""
    recipe = create_recipe("cgan", {"resolution": res}, ATTRS, seed=0)
    G, D = recipe.nets["generator"], recipe.nets["discriminator"]
    og = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    cpu = torch.device("cpu")
    for i in range(warmup + steps):
        if i == warmup:
            t0 = _clock()
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
    return _rates(steps * len(x), t0, _clock())


def trainer_loop(res: int, precision: str, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int) -> tuple[float, float]:
    recipe = create_recipe("cgan", {"resolution": res}, ATTRS, seed=0)
    stamps: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(Path(tmp), steps=warmup + steps, batch_size=len(x), device="cpu", precision=precision,
                          sample_every=0, checkpoint_every=0, log_every=10, export=False)
        Trainer(recipe, FixedBatch(x, y, warmup + steps), cfg).run(progress=lambda s: stamps.append(_clock()))
    # stamps[0] is the start message; stamps[k] is after step k
    return _rates(steps * len(x), stamps[warmup], stamps[warmup + steps])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the CPU is shared; avoids spin-wait)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    steps, warmup, rounds = (1, 1, 1) if args.quick else (4, 1, 3)
    t_start = time.perf_counter()

    res, batch = 64, 16
    x, y = make_batch(res, batch)
    bare, trained = [], []
    for _ in range(rounds):
        bare.append(bare_loop(res, "bf16", x, y, steps, warmup))
        trained.append(trainer_loop(res, "bf16", x, y, steps, warmup))
    bare_wall, bare_cpu = max(b[0] for b in bare), max(b[1] for b in bare)
    tr_wall, tr_cpu = max(t[0] for t in trained), max(t[1] for t in trained)
    ratio, ratio_wall = tr_cpu / bare_cpu, tr_wall / bare_wall
    print(f"64 px bf16 batch {batch}: bare {bare_wall:.1f} img/s ({bare_cpu:.1f} per CPU-s), "
          f"trainer {tr_wall:.1f} img/s ({tr_cpu:.1f} per CPU-s); ratio {ratio:.2f} by CPU time, {ratio_wall:.2f} by wall time")

    rows = []
    for res, batch in ((64, 16), (128, 8)):
        x, y = make_batch(res, batch)
        speeds = {"bf16": (tr_wall, tr_cpu)} if res == 64 else {}
        for precision in ("bf16", "fp32"):
            if precision not in speeds:
                speeds[precision] = trainer_loop(res, precision, x, y, steps, warmup)
            print(f"{res} px {precision} batch {batch}: {speeds[precision][0]:.1f} img/s, {speeds[precision][1]:.1f} per CPU-s")
        (bw, bc), (fw, fc) = speeds["bf16"], speeds["fp32"]
        rows.append([f"{res}", batch, f"{bc:.1f}", f"{fc:.1f}", f"{bc / fc:.2f}x", f"{bw:.1f} / {fw:.1f}"])
    total = time.perf_counter() - t_start
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    body = (
        f"cgan recipe (DCGAN G/D, 64 base channels, AC-GAN head, Adam), CPU, one process, {args.threads} torch thread(s); "
        f"{steps} timed steps after {warmup} warm-up, best of {rounds} round(s).\n\n"
        f"**Trainer vs bare PyTorch loop** (64 px, bf16, batch 16, same networks and batch): "
        f"trainer {tr_cpu:.1f} img per CPU-second, bare loop {bare_cpu:.1f}: **ratio {ratio:.2f}** (target >= 0.9); "
        f"by wall clock {tr_wall:.1f} vs {bare_wall:.1f} img/s, ratio {ratio_wall:.2f} (noisier: shared CPU).\n\n"
        + "Absolute throughput of the trainer, in images per CPU-second of the (single-threaded) process, "
        "which is img/s on an otherwise idle core; the last column is the wall-clock img/s seen during the run:\n\n"
        + markdown_table(["resolution", "batch", "bf16 img/CPU-s", "fp32 img/CPU-s", "bf16 speed-up", "wall img/s bf16 / fp32"], rows)
        + f"\n\nCaveat: measured on a CPU shared with other jobs (1-min load average {load:.1f} at the end); "
        f"absolute numbers are pessimistic and noisy, the ratios are the useful part. Whole run {total:.0f} s."
    )
    print(body)
    if not args.quick:
        write_section("train_throughput", "Training throughput (cgan, CPU)", body)


if __name__ == "__main__":
    main()
