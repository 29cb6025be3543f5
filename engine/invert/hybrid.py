"""Hybrid inversion: an encoder's code is the starting point of the optimisation (far fewer steps).

The start is the best encoder of real faces the bundle has: the domain-guided encoder (trained on real
images, recipe ``encoder-domain``) when present, else IcGAN's E_z (trained on G's own samples only).
From the domain encoder's start the optimisation reaches optimize-only's final error in fewer steps
than from E_z's (8 held-out faces, cgan64 at step 2000, 200-step budget: median 49 vs 68 steps). Unlike ``in-domain`` there is
no regulariser: the code may leave the generator's domain if that reproduces the pixels better.

The optimiser is L-BFGS (strong-Wolfe line search) since session 5: from the encoder's start it needs about
half of Adam's evaluations of G to reach a given objective and settles lower (``bench/hybrid_reach.py``: 20
held-out faces, against optimize-only with Adam, median 57 evaluations vs Adam's 118; final objective at 200
evaluations 0.529 vs 0.534). With Adam, no setting reached optimize-only's objective within 50 of 200 steps
(learning rate, start, jittered restarts; ad hoc also Adam betas, NAdam, Adamax, SGD, a step-down schedule):
the slow part is the last descent, not the start (E_z's start is 0.14 worse and costs only 8 steps).
optimize-only switched to L-BFGS as well (mean final 0.527 vs Adam's 0.540 on those faces): its four random
restarts find minima about as deep as, or deeper than, the encoder's basin holds (hybrid: 0.529 after 200
evaluations), so hybrid reaches *that* objective on only 10-13 of 20 faces within 200 evaluations. Freeing y as well reaches
Adam-optimize's objective in a median 60 steps, but a free y loses the attribute dials' meaning.

Since session 9 both optimise in the coordinates the bundle's latent metric makes round (``engine.invert.metric``):
the slow last descent was the latent space's anisotropy. Hybrid's 50 evaluations now reach the objective that
optimize-only on z reached with 4 x 200 (0.527); optimize-only, preconditioned too, goes deeper still (0.521). ``bench/hybrid_basins.py`` (session 10) shows why
that gap stays: the last descent is slow even three quarters of the way to optimize's code, and more starts
or a better-picked start do not make up for optimize's four converged restarts.
"""

from __future__ import annotations

import torch

from engine.bundle import Bundle
from engine.errors import FacetError
from engine.invert.core import OptimConfig, encode_y, optimize_latent_job, random_z
from engine.invert.metric import method_preconditioner
from engine.invert.optimize import recon_objective
from engine.invert.registry import MethodJob, register_method

#: per optimizer. Adam: from an encoder's start a larger step settles lower in 50 steps (held-out faces: 0.653;
#: 0.3: 0.654). L-BFGS: 1, the quasi-Newton step its line search starts from.
DEFAULT_LR = {"adam": 0.2, "lbfgs": 1.0}
DEFAULT_OPTIMIZER = "lbfgs"
STARTS = ("auto", "encoder_domain", "encoder_z")


def start_codes(z_enc: torch.Tensor, restarts: int, seed: int, spread: float = 0.3) -> torch.Tensor:
    """The encoder's code, plus (restarts − 1) jittered copies of it."""
    if restarts <= 1:
        return z_enc
    noise = random_z(restarts - 1, z_enc.shape[1], seed, z_enc.device) * spread
    return torch.cat([z_enc, z_enc + noise])


def start_encoder(bundle: Bundle, start: str = "auto") -> str:
    """Which network gives the starting code: ``auto`` picks the domain encoder when the bundle has one."""
    if start not in STARTS:
        raise FacetError(f"unknown hybrid start {start!r}; choose one of {', '.join(STARTS)}")
    if start == "auto":
        return "encoder_domain" if bundle.has("encoder_domain") else "encoder_z"
    bundle.network(start)  # a clear BundleError when missing
    return start


@torch.no_grad()
def encoder_start(bundle: Bundle, x: torch.Tensor, start: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """(z, y) to start from: z from :func:`start_encoder`'s network, y from E_y."""
    return bundle.network(start_encoder(bundle, start))(x).float(), encode_y(bundle, x)


@register_method("hybrid", default_steps=50, needs=("generator", "encoder_z", "encoder_y"),
                 summary="encoder code refined by optimisation (default)")
def hybrid_method(bundle: Bundle, x: torch.Tensor, steps: int, seed: int, restarts: int, lr: float | None,
                  start: str = "auto", optimizer: str = DEFAULT_OPTIMIZER, precondition: bool | None = None,
                  **_: object) -> MethodJob:
    z, y = encoder_start(bundle, x, start)
    z0 = start_codes(z, restarts, seed)
    n = z0.shape[0]
    cfg = OptimConfig(steps=steps, lr=lr or DEFAULT_LR.get(optimizer, 1.0), optimize_y=not bundle.has("encoder_y"),
                      optimizer=optimizer, precondition=method_preconditioner(bundle, optimizer, precondition))
    return (yield from optimize_latent_job(bundle, recon_objective(bundle, x), z0, y.expand(n, -1), cfg))
