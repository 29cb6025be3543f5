"""The inversion objective's average curvature in z, and the preconditioner the optimisers use from it.

A GAN's latent space is strongly anisotropic: a few directions change the image a lot and most barely
change it, and these directions are much the same all over the space (Wang & Ponce, "The Geometry of
Deep Generative Image Models and its Applications", ICLR 2021). cgan64's average Hessian of the
reconstruction objective spans eigenvalues 2.0 to 0.0012 (a condition number of ~1600). An optimiser
on z itself spends most of its steps on the stiff directions and crawls along the soft ones; that slow
last descent is why hybrid inversion needed ~150 evaluations of G to match optimize-only. Optimising
u with z = z0 + P·u, P = (H̄ + ε)^(-1/2), makes the problem round: on 20 held-out faces hybrid then
reaches what optimize-only on z reached with 4 x 200 evaluations after a median 45 (was 146); optimize-only,
preconditioned too, goes deeper still (docs/benchmarks.md).

H̄ is computed once per bundle, from real faces at the codes the domain encoder gives them, and stored
in the bundle as the extra tensor ``latent_metric`` (``facet latent-metric``); ``precondition`` in
:class:`~engine.invert.core.OptimConfig` takes the P this module builds from it.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from pathlib import Path

import torch

from engine.bundle import Bundle, store_tensors
from engine.errors import FacetError
from engine.losses import reconstruction_loss
from engine.progress import CancelFn, Job, ProgressFn, Step, drive

METRIC = "latent_metric"
#: eigenvalues below FLOOR x the largest are treated as FLOOR x the largest: a direction that changes
#: nothing should not get an unbounded step (20 held-out faces: 1e-3 median 45 evaluations, 1e-2 56, 1e-1 120)
FLOOR = 1e-3


#: metric → P, for as long as the loaded bundle keeps its metric (a reloaded or dropped model leaves nothing behind)
_P_CACHE: dict[int, torch.Tensor] = {}  # id(metric) → P; the entry goes when the metric does


def latent_hessian_job(bundle: Bundle, images: Sequence[torch.Tensor]) -> Job[torch.Tensor]:
    """Mean Hessian (z_dim, z_dim) of the default reconstruction objective in z, one face at a time.

    Each face (3, R, R) in [-1, 1] is encoded where hybrid inversion starts (z0, y) and the
    objective's Hessian is taken at z0 against the target G(z0, y): there the residual is zero, so this is
    the Gauss-Newton curvature, positive semi-definite, of the objective the optimisers minimise.
    """
    if not len(images):
        raise FacetError("latent metric: no images to average over")
    from engine.invert.api import freeze
    from engine.invert.hybrid import encoder_start  # hybrid imports this module for the preconditioner

    G = freeze(bundle).network("generator")
    total: torch.Tensor | None = None
    for i, image in enumerate(images):
        x = torch.as_tensor(image, dtype=torch.float32, device=bundle.device)[None]
        z0, y = encoder_start(bundle, x)
        with torch.no_grad():
            loss = reconstruction_loss(bundle).set_target(G(z0, y))

        def objective(z: torch.Tensor, y: torch.Tensor = y, loss=loss) -> torch.Tensor:
            return loss(G(z[None], y))[0]

        h = torch.autograd.functional.hessian(objective, z0[0], vectorize=True).detach()
        total = h if total is None else total + h
        yield Step(i + 1, len(images), "latent metric")
    assert total is not None
    mean = total / len(images)
    return (mean + mean.T) / 2


def latent_metric(bundle: Bundle, images: Sequence[torch.Tensor], progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None) -> torch.Tensor:
    """Plain-function twin of :func:`latent_hessian_job`."""
    return drive(latent_hessian_job(bundle, images), progress, cancel)


def store_latent_metric(bundle: Bundle, metric: torch.Tensor, images: int,
                        path: str | os.PathLike | None = None) -> Path:
    """Write the metric into the bundle folder (``path`` or the bundle's own) and into ``bundle.tensors``."""
    lam = torch.linalg.eigvalsh(metric.double())
    fields = {METRIC: {"images": int(images), "floor": FLOOR,
                       "condition": round(float(lam.max() / lam.clamp_min(1e-12).min()), 1)}}
    return store_tensors(bundle, {METRIC: metric}, fields, path, what="store_latent_metric")


def preconditioner(metric: torch.Tensor, floor: float = FLOOR) -> torch.Tensor:
    """P = (H + ε)^(-1/2), scaled so that the stiffest direction keeps unit step: z = z0 + P·u."""
    lam, vecs = torch.linalg.eigh(metric.double())
    top = float(lam.max())
    if not top > 0:
        raise FacetError("latent metric: the stored curvature has no positive direction; compute it again")
    eps = floor * top
    scale = ((top + eps) / (lam.clamp_min(0) + eps)).sqrt()
    return ((vecs * scale) @ vecs.T).float()


def bundle_preconditioner(bundle: Bundle) -> torch.Tensor | None:
    """P from the bundle's stored metric (None when it has none: the optimisers then work on z itself)."""
    metric = bundle.tensors.get(METRIC)
    if metric is None:
        return None
    cached = _P_CACHE.get(id(metric))
    if cached is None:
        cached = _P_CACHE[id(metric)] = preconditioner(metric).to(metric.device)
        weakref.finalize(metric, _P_CACHE.pop, id(metric), None)
    return cached


def method_preconditioner(bundle: Bundle, optimizer: str, precondition: bool | None) -> torch.Tensor | None:
    """The P an inversion method uses: by default only with L-BFGS, which is invariant to the change of
    coordinates and gains from it; Adam's per-coordinate steps do worse in the rounded coordinates (hybrid, 20
    held-out faces: objective 0.595 at 50 evaluations vs 0.567 on z)."""
    use = optimizer == "lbfgs" if precondition is None else precondition
    return bundle_preconditioner(bundle) if use else None
