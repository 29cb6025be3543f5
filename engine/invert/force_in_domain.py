"""Force-in-domain inversion: in-domain, plus a latent discriminator's verdict as a penalty.

The latent discriminator (trained with the domain encoder, recipe ``encoder-domain`` with
``latent_adversarial``) tells samples of p_z = N(0, I) from encoded codes; softplus(−LD(z)) is small
where z looks like a prior sample, so the optimised code stays inside the prior's typical set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.bundle import Bundle
from engine.invert.core import OptimConfig, optimize_latent_job
from engine.invert.in_domain import DEFAULT_LR, DOMAIN_WEIGHT, domain_penalty, domain_start
from engine.invert.optimize import recon_objective
from engine.invert.registry import MethodJob, register_method

LATENT_WEIGHT = 0.05


@register_method("force-in-domain", default_steps=50, needs=("generator", "encoder_domain", "latent_discriminator"),
                 summary="in-domain + latent-discriminator penalty keeping z in p_z")
def force_in_domain_method(bundle: Bundle, x: torch.Tensor, steps: int, seed: int, restarts: int,
                           lr: float | None, domain_weight: float = DOMAIN_WEIGHT,
                           latent_weight: float = LATENT_WEIGHT, **_: object) -> MethodJob:
    ld = bundle.network("latent_discriminator")
    z0, y0 = domain_start(bundle, x, restarts, seed)
    recon = recon_objective(bundle, x)

    def objective(z: torch.Tensor, y: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        return (recon(z, y, img) + domain_weight * domain_penalty(bundle, z, img)
                + latent_weight * F.softplus(-ld(z).float()))

    cfg = OptimConfig(steps=steps, lr=lr or DEFAULT_LR, optimize_y=not bundle.has("encoder_y"))
    return (yield from optimize_latent_job(bundle, objective, z0, y0, cfg))
