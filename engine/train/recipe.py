"""What a model family must provide to be trained by :class:`engine.train.trainer.Trainer`.

A recipe owns its networks, optimisers and losses; the trainer owns everything else (data loading,
device, mixed precision, progress, sample grids, loss curves, checkpoints, resume, DDP). Adding a model
family is one recipe module and one entry in ``engine.train.recipes.RECIPES``.

Writing a recipe
----------------
- Subclass :class:`Recipe`; set ``name``, a ``Config`` dataclass (must have ``resolution``) and, if the
  recipe builds on a trained model (e.g. an encoder for an existing generator), ``base_family``.
- ``__init__(config, attributes, base=None)``: build networks on the CPU and put every one that takes
  part in training into ``self.nets`` (role name → module); build optimisers over their parameters.
  ``base`` is a loaded :class:`engine.bundle.Bundle` (networks frozen, eval mode) or ``None``.
  Construct recipes through :func:`engine.train.recipes.create_recipe`, which seeds torch first so the
  initial weights are repeatable.
- ``train_step`` must call networks through ``self.nets[role]`` (the trainer may have replaced them by
  DistributedDataParallel wrappers), run forward passes inside ``with self.autocast():`` and update with
  :meth:`Recipe.step` (which applies the fp16 GradScaler when one is active). Use the global torch RNG
  for noise (the trainer checkpoints it) and a private generator for fixed sample noise.
- ``modules()`` (unwrapped ``self.nets`` by default) is what is checkpointed.
- ``export_bundle`` writes an :mod:`engine.bundle` folder; use :meth:`manifest_fields` to merge the
  trainer's metadata with what the base bundle already recorded.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.device import autocast
from engine.errors import FacetError


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel wrapper (or the module itself)."""
    return getattr(module, "module", module)


class Recipe:
    """Base class; subclasses set ``name``/``Config`` and implement the abstract methods below."""

    name: str = "recipe"
    Config: type = object
    #: Family of the bundle this recipe needs as ``base`` (``None``: trains from scratch).
    base_family: str | None = None

    def __init__(self, config: Any, attributes: list[str], base: Any = None):
        if self.base_family is not None:
            if base is None:
                raise FacetError(f"recipe {self.name!r} needs a trained {self.base_family!r} bundle (--bundle PATH)")
            if base.family != self.base_family:
                raise FacetError(f"recipe {self.name!r} needs a {self.base_family!r} bundle, {base.name!r} is {base.family!r}")
        self.config = config
        self.attributes = list(attributes)
        self.base = base
        self.device = torch.device("cpu")
        self.precision = "fp32"
        self.nets: dict[str, nn.Module] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.warm_started: dict[str, Any] | None = None  # set by warm_start()

    @property
    def resolution(self) -> int:
        return int(self.config.resolution)

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    # -- set up by the trainer -------------------------------------------------------------------
    def to(self, device: torch.device, precision: str) -> Recipe:
        """Move networks (and the base bundle) to ``device``; ``precision`` is already resolved (bf16/fp16/fp32)."""
        self.device, self.precision = device, precision
        for net in self.nets.values():
            net.to(device)
        if self.base is not None:
            self.base.to(device)
        use_scaler = device.type == "cuda" and precision == "fp16"
        self.scalers = {name: torch.amp.GradScaler("cuda") for name in self.optimizers()} if use_scaler else {}
        return self

    def autocast(self) -> contextlib.AbstractContextManager:
        """Use around forward passes: bf16 on CPU, AMP on CUDA, nothing for fp32."""
        return autocast(self.device, self.precision)

    def step(self, name: str, loss: torch.Tensor, clip: float = 0.0) -> None:
        """Zero grads, backward ``loss`` and step optimiser ``name`` (through the fp16 GradScaler if any).

        ``clip`` > 0 caps the gradients' total norm first: one odd batch then cannot throw a network far off."""
        opt = self.optimizers()[name]
        opt.zero_grad(set_to_none=True)
        scaler = self.scalers.get(name)
        params = [p for group in opt.param_groups for p in group["params"]]
        if scaler is None:
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
        else:
            scaler.scale(loss).backward()
            if clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, clip)
            scaler.step(opt)
            scaler.update()

    def manifest_fields(self, extra_manifest: dict[str, Any]) -> dict[str, Any]:
        """Manifest fields for export: the base bundle's (name, data, training, metrics) merged with ``extra``."""
        core = {"format", "format_version", "family", "resolution", "attributes", "normalization", "networks", "weights_dtype"}
        fields = {k: v for k, v in (self.base.manifest if self.base is not None else {}).items() if k not in core}
        for key, value in extra_manifest.items():
            if isinstance(value, dict) and isinstance(fields.get(key), dict):
                fields[key] = {**fields[key], **value}
            else:
                fields[key] = value
        return fields

    def warm_start(self, bundle: Any) -> list[str]:
        """Start from a trained bundle's weights: every network the bundle has is copied into this recipe's
        network of the same role; the others (e.g. discriminators an export left out) start fresh.

        Why: checkpoints live in git-ignored run folders that a later session or machine may not have, while
        the shipped bundle always travels; training on from it beats training again from scratch.
        Returns the roles copied (recorded in the exported manifest).
        """
        where = bundle.path or bundle.name
        if bundle.resolution != self.resolution:
            raise FacetError(f"{where}: a {bundle.resolution} px bundle cannot start a {self.resolution} px run")
        if list(bundle.attributes) != self.attributes:
            raise FacetError(f"{where}: its attributes ({', '.join(bundle.attributes)}) differ from this run's "
                             f"({', '.join(self.attributes)}); a warm start needs the same ones in the same order")
        modules = self.modules()
        roles = [r for r in modules if bundle.has(r)]
        if not roles:
            raise FacetError(f"{where}: shares no network with recipe {self.name!r} (it has "
                             f"{', '.join(bundle.networks)}; the recipe trains {', '.join(modules)})")
        for role in roles:
            try:
                modules[role].load_state_dict(bundle.network(role).state_dict())
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[-1].strip()
                raise FacetError(f"{where}: network {role!r} does not fit this run's settings (different widths or "
                                 f"sizes: {first})") from None
        self.warm_started = {"bundle": str(bundle.name), "networks": roles,
                             "training": {k: v.get("steps") for k, v in bundle.manifest.get("training", {}).items()
                                          if isinstance(v, dict)}}
        return roles

    # -- to implement -------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """Every module whose state is checkpointed, by role name (the unwrapped ``self.nets``)."""
        return {name: unwrap(net) for name, net in self.nets.items()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        """One optimisation step on a batch (images in [-1, 1], labels in [-1, 1]); returns scalar losses."""
        raise NotImplementedError

    def sample_grid(self, step: int) -> np.ndarray:
        """A uint8 (H, W, 3) picture of what the model does now, written as a PNG by the trainer."""
        raise NotImplementedError

    def export_bundle(self, path: Path, steps: int, extra_manifest: dict[str, Any]) -> Path:
        """Save the trained networks as a model bundle (see engine.bundle)."""
        raise NotImplementedError

    # -- optional ------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """JSON-serialisable state beyond modules/optimisers that resume needs (e.g. fixed sample noise seed)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass


def image_grid(images: torch.Tensor, columns: int = 8, pad: int = 2) -> np.ndarray:
    """(N, 3, R, R) images in [-1, 1] → one uint8 (H, W, 3) grid with ``pad`` px gaps."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    n, _, r, _ = x.shape
    columns = min(columns, n)
    rows = (n + columns - 1) // columns
    grid = np.full((rows * (r + pad) + pad, columns * (r + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        top, left = pad + (i // columns) * (r + pad), pad + (i % columns) * (r + pad)
        grid[top : top + r, left : left + r] = x[i].permute(1, 2, 0).numpy()
    return grid
