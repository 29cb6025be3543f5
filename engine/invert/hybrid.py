"""Hybrid inversion: the encoder's code is the starting point of the optimisation (far fewer steps)."""

from __future__ import annotations

import torch

from engine.bundle import Bundle
from engine.invert.core import OptimConfig, encode, optimize_latent_job, random_z
from engine.invert.optimize import recon_objective
from engine.invert.registry import MethodJob, register_method

DEFAULT_LR = 0.2  # from the encoder's start a larger step settles lower in 50 steps (bench/inversion.py: 0.676 vs 0.691)


def start_codes(z_enc: torch.Tensor, restarts: int, seed: int, spread: float = 0.3) -> torch.Tensor:
    """The encoder's code, plus (restarts − 1) jittered copies of it."""
    if restarts <= 1:
        return z_enc
    noise = random_z(restarts - 1, z_enc.shape[1], seed, z_enc.device) * spread
    return torch.cat([z_enc, z_enc + noise])


@register_method("hybrid", default_steps=50, needs=("generator", "encoder_z", "encoder_y"),
                 summary="encoder code refined by optimisation (default)")
def hybrid_method(bundle: Bundle, x: torch.Tensor, steps: int, seed: int, restarts: int, lr: float | None,
                  **_: object) -> MethodJob:
    bundle.network("encoder_z")
    z, y = encode(bundle, x)
    z0 = start_codes(z, restarts, seed)
    n = z0.shape[0]
    cfg = OptimConfig(steps=steps, lr=lr or DEFAULT_LR, optimize_y=not bundle.has("encoder_y"))
    return (yield from optimize_latent_job(bundle, recon_objective(bundle, x), z0, y.expand(n, -1), cfg))
