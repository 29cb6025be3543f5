"""Optimisation-only inversion: z* = argmin_z pixel + feature distance(G(z, y), x), from random starts.

The restarts are one batch (one G forward per step for all of them); the best final code is kept.
y comes from E_y when the bundle has it, else it is optimised together with z.
"""

from __future__ import annotations

import torch

from engine.bundle import Bundle
from engine.invert.core import OptimConfig, encode, optimize_latent_job, random_z, z_dim
from engine.invert.metric import method_preconditioner
from engine.invert.registry import MethodJob, register_method
from engine.losses import reconstruction_loss

DEFAULT_LR = {"adam": 0.1, "lbfgs": 1.0}
#: 20 held-out faces, 200 evaluations x 4 restarts: final objective 0.527 vs Adam's 0.540 (bench/hybrid_reach.py),
#: 6.6 s per face vs 7.6 s (bench/inversion.py)
DEFAULT_OPTIMIZER = "lbfgs"


def recon_objective(bundle: Bundle, x: torch.Tensor):
    loss = reconstruction_loss(bundle).set_target(x)
    return lambda z, y, img: loss(img)


@register_method("optimize", default_steps=200, default_restarts=4,
                 summary="L-BFGS from several random starts (slow, no encoder needed)")
def optimize_method(bundle: Bundle, x: torch.Tensor, steps: int, seed: int, restarts: int, lr: float | None,
                    optimizer: str = DEFAULT_OPTIMIZER, precondition: bool | None = None, **_: object) -> MethodJob:
    n = max(1, restarts)
    _, y = encode(bundle, x)
    z0 = random_z(n, z_dim(bundle), seed, x.device)
    cfg = OptimConfig(steps=steps, lr=lr or DEFAULT_LR.get(optimizer, 1.0), optimize_y=not bundle.has("encoder_y"),
                      optimizer=optimizer, precondition=method_preconditioner(bundle, optimizer, precondition))
    return (yield from optimize_latent_job(bundle, recon_objective(bundle, x), z0, y.expand(n, -1), cfg))
