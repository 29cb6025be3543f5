"""``invert`` / ``invert_job``: one entry point for every registered inversion method."""

from __future__ import annotations

import time

import numpy as np

from engine.bundle import Bundle
from engine.errors import FacetError
from engine.invert.core import InversionResult, LatentCode, image_to_tensor, tensor_to_image
from engine.invert.registry import METHODS
from engine.progress import CancelFn, Job, ProgressFn, drive


def freeze(bundle: Bundle) -> Bundle:
    """Eval mode and no weight gradients: inversion only ever differentiates with respect to the code.

    A network that is already frozen is skipped: walking every module costs ~2 ms a call, a sixth of
    the encoder method's whole budget. A network put back into training mode is frozen again.
    """
    for net in bundle.networks.values():
        if getattr(net, "_facet_frozen", False) and not net.training:
            continue
        net.eval().requires_grad_(False)
        net._facet_frozen = True
    return bundle


def invert_job(
    image: np.ndarray,
    bundle: Bundle,
    method: str = "hybrid",
    steps: int | None = None,
    seed: int = 0,
    restarts: int | None = None,
    lr: float | None = None,
    **options: object,
) -> Job[InversionResult]:
    """Find the code (z, y) whose rendering best matches ``image`` (uint8 (H, W, 3); centre-square-resized).

    Yields a Step per optimisation step (with a preview image every few steps); returns an InversionResult.
    """
    if method not in METHODS:
        raise FacetError(f"unknown inversion method {method!r}; choose one of {', '.join(METHODS)}")
    spec = METHODS[method]
    for role in spec.needs:
        bundle.network(role)  # BundleError naming the bundle and the missing network
    if bundle.family != "cgan":
        raise FacetError(f"{bundle.path or bundle.name}: inversion needs a cgan bundle, this one is {bundle.family!r}")
    freeze(bundle)
    start = time.perf_counter()
    x = image_to_tensor(image, bundle.resolution, bundle.device)
    n_steps = spec.default_steps if steps is None else int(steps)
    n_restarts = spec.default_restarts if restarts is None else int(restarts)
    outcome = yield from spec.fn(bundle, x, steps=n_steps, seed=seed, restarts=n_restarts, lr=lr, **options)
    code = LatentCode(outcome.z[0].detach().cpu().numpy(), outcome.y[0].detach().cpu().numpy())
    return InversionResult(
        code=code,
        reconstruction=tensor_to_image(outcome.image),
        losses=list(outcome.losses),
        seconds=time.perf_counter() - start,
        method=method,
        steps=outcome.steps,
        target=tensor_to_image(x),
        tuned=outcome.tuned,
        note=outcome.note,
    )


def invert(
    image: np.ndarray,
    bundle: Bundle,
    method: str = "hybrid",
    steps: int | None = None,
    seed: int = 0,
    restarts: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    **options: object,
) -> InversionResult:
    """Plain-function twin of :func:`invert_job` (raises Cancelled when ``cancel()`` turns true)."""
    return drive(invert_job(image, bundle, method, steps, seed, restarts, **options), progress, cancel)
