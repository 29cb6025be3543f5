"""The one training loop: data, device, precision, progress, samples, curves, checkpoints, resume, DDP.

Everything model-specific lives in a :class:`~engine.train.recipe.Recipe`; this module never knows
what a generator is. Repeatability: the data order of epoch ``e`` is a pure function of (seed, e), so a
run resumed from a checkpoint (which also stores every RNG state) continues with the very same batches,
noise and therefore losses as an uninterrupted run.

Multi-GPU: start with ``torchrun --nproc_per_node N -m engine.cli train ...``; ``WORLD_SIZE>1`` (or
``TrainConfig.distributed``) makes every rank join a process group (NCCL on CUDA, gloo on CPU), wraps
the recipe's trainable networks in DistributedDataParallel and shards each epoch with a
DistributedSampler. Only rank 0 writes files. ``batch_size`` is per process.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from engine.data.labels import positive_fraction
from engine.device import cpu_has_bf16, pick_device
from engine.errors import DatasetError, FacetError, NumericalError
from engine.images import save_image
from engine.progress import CancelFn, Job, ProgressFn, Step, drive
from engine.train.checkpoint import checkpoint_path, latest_checkpoint, load_checkpoint, save_checkpoint
from engine.train.curves import draw_curves
from engine.train.recipe import Recipe, unwrap

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


@dataclass
class TrainConfig:
    out_dir: Path
    steps: int = 1000
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto | bf16 | fp16 | fp32
    num_workers: int = 0
    sample_every: int = 500  # 0: never (a last grid is still written at the end)
    checkpoint_every: int = 1000  # 0: only at the end and on cancel
    log_every: int = 10
    resume: bool = False
    keep_checkpoints: int = 2
    distributed: bool | None = None  # None: from the WORLD_SIZE environment variable (torchrun)
    export: bool = True

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.precision not in PRECISIONS:
            raise FacetError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.steps < 0 or self.batch_size < 1 or self.log_every < 1:
            raise FacetError("steps must be >= 0, batch_size and log_every >= 1")


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    bundle: Path | None
    seconds: float
    images_per_second: float
    metrics: dict[str, float] = field(default_factory=dict)
    resumed_from: int = 0


def resolve_precision(device: torch.device, precision: str) -> str:
    """``auto`` → bf16 on CUDA GPUs that have it (else fp16), bf16 on CPUs with native bf16, else fp32."""
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device.type == "cpu" and cpu_has_bf16() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        return "fp32"  # fp16 autocast on CPU is slow and gains nothing
    return precision


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _describe(ds: Any) -> str:
    """A short, path-free description of the training data for the bundle manifest."""
    text = getattr(ds, "description", None)
    if text:
        return str(text)
    name = type(ds).__name__
    if getattr(ds, "image_dirs", None):
        label = Path(str(getattr(ds, "label_source", "") or "")).name
        return f"{name}: folders {', '.join(Path(d).name for d in ds.image_dirs)}" + (f", labels {label}" if label else "")
    if getattr(ds, "path", None):
        return f"{name}: {Path(ds.path).name}"
    if hasattr(ds, "seed"):
        return f"{name} (seed {ds.seed})"
    return name


class Trainer:
    """Train ``recipe`` on ``dataset`` (items: image (3, R, R) in [-1, 1], y (n,) in {-1, 1})."""

    def __init__(self, recipe: Recipe, dataset: Dataset, config: TrainConfig):
        self.recipe, self.dataset, self.config = recipe, dataset, config
        res = getattr(dataset, "resolution", None)
        if res is not None and int(res) != recipe.resolution:
            raise DatasetError(f"the data is {res} px but the {recipe.name} recipe is configured for {recipe.resolution} px")
        attrs = getattr(dataset, "attributes", None)
        if attrs is not None and list(attrs) != recipe.attributes:
            raise DatasetError(f"the data's attributes {list(attrs)} differ from the recipe's {recipe.attributes}")
        self.rank, self.world_size, self._own_group = 0, 1, False

    # -- set-up --------------------------------------------------------------------------------
    def _setup_distributed(self) -> torch.device:
        cfg = self.config
        distributed = cfg.distributed if cfg.distributed is not None else int(os.environ.get("WORLD_SIZE", "1")) > 1
        device = pick_device(cfg.device)
        if not distributed:
            return device
        import torch.distributed as dist

        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self._own_group = True
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        return device

    def _wrap_ddp(self, device: torch.device) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        for name, net in self.recipe.nets.items():
            if any(p.requires_grad for p in net.parameters()):
                self.recipe.nets[name] = DDP(net, device_ids=[device.index] if device.type == "cuda" else None)

    def _batches(self, start_step: int, device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Endless shuffled batches (drop_last); epoch ``e``'s order depends only on (seed, e)."""
        cfg, n = self.config, len(self.dataset)  # type: ignore[arg-type]
        per_epoch = (n // self.world_size) // cfg.batch_size
        if per_epoch < 1:
            raise DatasetError(f"the data has {n} images, fewer than one batch of {cfg.batch_size} per process")
        epoch, offset = divmod(start_step, per_epoch)
        while True:
            sampler = DistributedSampler(
                self.dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=cfg.seed, drop_last=True
            )
            sampler.set_epoch(epoch)
            order = list(sampler)
            batches = [order[i * cfg.batch_size : (i + 1) * cfg.batch_size] for i in range(offset, per_epoch)]
            if cfg.num_workers == 0 and callable(getattr(self.dataset, "batch", None)):
                for idx in batches:  # in-memory packs slice whole batches at once: no per-item collate
                    x, y = self.dataset.batch(idx)
                    x = x.contiguous()
                    yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                epoch, offset = epoch + 1, 0
                continue
            loader = DataLoader(
                self.dataset,
                batch_sampler=batches,
                num_workers=cfg.num_workers,
                generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch),
                pin_memory=device.type == "cuda",
            )
            for x, y in loader:
                yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            epoch, offset = epoch + 1, 0

    # -- files (rank 0 only) ----------------------------------------------------------------
    @property
    def writes(self) -> bool:
        return self.rank == 0

    def _read_log(self, upto: int) -> list[dict[str, float]]:
        path = self.config.out_dir / "log.jsonl"
        if not path.exists():
            return []
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [r for r in records if r["step"] <= upto]

    def _write_samples(self, step: int) -> np.ndarray:
        grid = self.recipe.sample_grid(step)
        if self.writes:
            save_image(self.config.out_dir / "samples" / f"step_{step:06d}.png", grid)
        return grid

    def _checkpoint(self, step: int) -> None:
        if self.writes:
            info = {"trainer": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.config).items()}}
            if self.recipe.warm_started:  # so that a bundle exported from this checkpoint still says so
                info["warm_start"] = self.recipe.warm_started
            save_checkpoint(self.config.out_dir / "checkpoints", step, self.recipe, info, keep=self.config.keep_checkpoints)

    def _manifest_extra(self, steps: int, seconds: float) -> dict[str, Any]:
        ds = self.dataset
        data = {"description": _describe(ds), "images": len(ds)}  # type: ignore[arg-type]
        if getattr(ds, "labels", None) is not None and getattr(ds, "attributes", None) is not None:
            # the prior that balanced classifier decisions correct for (engine.metrics.attribute_decisions)
            data["positive_fraction"] = positive_fraction(ds.labels, ds.attributes)
        for key in ("licence", "license", "source_note"):
            if getattr(ds, key, None):
                data["licence"] = getattr(ds, key)
                break
        training = {
            "steps": steps,
            "batch_size": self.config.batch_size * self.world_size,
            "seed": self.config.seed,
            "precision": self.recipe.precision,
            "device": self.recipe.device.type,
            "world_size": self.world_size,
            "seconds": round(seconds, 1),
            "config": self.recipe.config_dict(),
        }
        if self.recipe.warm_started:
            training["warm_start"] = self.recipe.warm_started
        return {"data": data, "training": {self.recipe.name: training}}

    # -- the loop ----------------------------------------------------------------------------
    def run_job(self) -> Job[TrainResult]:
        device = self._setup_distributed()
        try:
            return (yield from self._loop(device))
        finally:
            self.recipe.nets = {k: unwrap(v) for k, v in self.recipe.nets.items()}  # drop DDP wrappers: they die with the process group
            if self._own_group:
                import torch.distributed as dist

                dist.destroy_process_group()
                self._own_group = False

    def _loop(self, device: torch.device) -> Job[TrainResult]:
        cfg, recipe = self.config, self.recipe
        seed_everything(cfg.seed + self.rank)
        recipe.to(device, resolve_precision(device, cfg.precision))
        start = 0
        if not cfg.resume and latest_checkpoint(cfg.out_dir / "checkpoints") is not None:
            raise FacetError(
                f"{cfg.out_dir} already holds checkpoints of an earlier run; resume it (--resume) or use a new output folder"
            )
        if cfg.resume:
            latest = latest_checkpoint(cfg.out_dir / "checkpoints")
            if latest is not None:
                meta = load_checkpoint(latest, recipe)
                start = int(meta["step"])
                recipe.warm_started = recipe.warm_started or meta.get("info", {}).get("warm_start")
                if self.rank:
                    seed_everything(cfg.seed + self.rank + 1_000_003 * start)
        if self.writes:
            cfg.out_dir.mkdir(parents=True, exist_ok=True)
            records = self._read_log(start)
            (cfg.out_dir / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        else:
            records = []
        if self.world_size > 1 or self._own_group:
            self._wrap_ddp(device)
        for net in recipe.nets.values():
            net.train()
        yield Step(start, cfg.steps, f"resumed from step {start}" if start else f"training {recipe.name} on {device.type}")

        step, window, rate, images, t_begin = start, [], 0.0, 0, time.perf_counter()
        last: dict[str, float] = {}
        batches = self._batches(start, device)
        try:
            t_prev = time.perf_counter()
            while step < cfg.steps:
                batch = next(batches)
                metrics = recipe.train_step(batch, step + 1)
                step += 1
                bad = [k for k, v in metrics.items() if not np.isfinite(v)]
                if bad:
                    raise NumericalError(
                        f"{', '.join(bad)} became NaN/Inf at step {step}; lower the learning rate or use --precision fp32"
                    )
                now = time.perf_counter()
                n_img = len(batch[0]) * self.world_size
                images += n_img
                rate = n_img / max(now - t_prev, 1e-9) if rate == 0 else 0.9 * rate + 0.1 * n_img / max(now - t_prev, 1e-9)
                t_prev = now
                window.append(metrics)
                last = {**metrics, "img_per_s": rate}
                if step % cfg.log_every == 0 or step == cfg.steps:
                    record = {"step": step, **{k: float(np.mean([m[k] for m in window])) for k in window[0]}, "img_per_s": rate}
                    window = []
                    records.append(record)
                    if self.writes:
                        with open(cfg.out_dir / "log.jsonl", "a", encoding="utf-8") as f:
                            f.write(json.dumps(record) + "\n")
                preview = None
                if cfg.sample_every and step % cfg.sample_every == 0:
                    preview = self._write_samples(step)
                    if self.writes:
                        draw_curves(records, cfg.out_dir / "loss_curves.png")
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                    self._checkpoint(step)
                yield Step(step, cfg.steps, metrics=last, preview=preview)
        except (GeneratorExit, KeyboardInterrupt):
            # Cancel arrives between steps (state is exactly step ``step``); Ctrl+C may land mid-step.
            self._checkpoint(step)
            if self.writes and records:
                draw_curves(records, cfg.out_dir / "loss_curves.png")
            raise
        seconds = time.perf_counter() - t_begin
        bundle = None
        if not checkpoint_path(cfg.out_dir / "checkpoints", step).exists():
            self._checkpoint(step)
        if self.writes:
            self._write_samples(step)
            if records:
                draw_curves(records, cfg.out_dir / "loss_curves.png")
            if cfg.export:
                bundle = recipe.export_bundle(cfg.out_dir / "bundle", step, self._manifest_extra(step, seconds))
        return TrainResult(
            out_dir=cfg.out_dir,
            steps=step,
            bundle=bundle,
            seconds=seconds,
            images_per_second=images / seconds if seconds > 0 and images else 0.0,
            metrics=last,
            resumed_from=start,
        )

    def run(self, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> TrainResult:
        """Train to ``config.steps``; on cancel or Ctrl+C a checkpoint is written before the exception propagates."""
        return drive(self.run_job(), progress, cancel)
