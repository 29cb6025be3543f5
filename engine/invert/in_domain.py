"""In-domain inversion (Zhu et al. 2020): a domain-guided encoder's code, refined with a domain regulariser.

Objective: reconstruction + λ·||z − E(G(z))||² / z_dim, which keeps z where the encoder — trained on
real images and on G's samples (recipe ``encoder-domain``) — maps the generated image back to itself,
i.e. on the generator's semantic domain rather than anywhere that happens to reproduce the pixels.
"""

from __future__ import annotations

import torch

from engine.bundle import Bundle
from engine.invert.core import OptimConfig, optimize_latent_job
from engine.invert.hybrid import encoder_start, start_codes
from engine.invert.optimize import recon_objective
from engine.invert.registry import MethodJob, register_method

DEFAULT_LR = 0.1
DOMAIN_WEIGHT = 2.0


def domain_penalty(bundle: Bundle, z: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
    enc = bundle.network("encoder_domain")
    return (z - enc(img).float()).pow(2).mean(1)


def domain_start(bundle: Bundle, x: torch.Tensor, restarts: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    z, y = encoder_start(bundle, x, "encoder_domain")
    z0 = start_codes(z, restarts, seed)
    return z0, y.expand(z0.shape[0], -1)


@register_method("in-domain", default_steps=50, needs=("generator", "encoder_domain"),
                 summary="domain-guided encoder + domain-regularised optimisation")
def in_domain_method(bundle: Bundle, x: torch.Tensor, steps: int, seed: int, restarts: int, lr: float | None,
                     domain_weight: float = DOMAIN_WEIGHT, **_: object) -> MethodJob:
    z0, y0 = domain_start(bundle, x, restarts, seed)
    recon = recon_objective(bundle, x)

    def objective(z: torch.Tensor, y: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        return recon(z, y, img) + domain_weight * domain_penalty(bundle, z, img)

    cfg = OptimConfig(steps=steps, lr=lr or DEFAULT_LR, optimize_y=not bundle.has("encoder_y"))
    return (yield from optimize_latent_job(bundle, objective, z0, y0, cfg))
