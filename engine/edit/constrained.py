"""Edits that are optimisation problems in z (seconds): colour strokes, completion, super-resolution.

All three run the inversion optimiser (:func:`engine.invert.core.optimize_latent_job`) with their own
objective, so they share its batched restarts, previews, cancel and NaN checks.

- Strokes (iGAN, Zhu et al. 2016): z* = argmin U(G(z)) + λ1·||z − z0||² − λ2·realism(G(z)), U the colour
  distance inside the stroke mask; realism = log sigmoid(D(G(z), y)) (the bounded form of "+D").
- Completion: inversion that only looks at the known pixels; the hole is filled from G, known pixels kept.
- Super-resolution: find z with downsample(G(z)) ≈ the low-resolution input; the answer is G(z).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from engine.bundle import Bundle
from engine.errors import FacetError
from engine.invert.api import freeze
from engine.invert.core import (
    InversionResult,
    LatentCode,
    OptimConfig,
    OptimOutcome,
    code_tensors,
    encode,
    image_to_tensor,
    optimize_latent_job,
    tensor_to_image,
)
from engine.invert.hybrid import start_codes
from engine.losses import reconstruction_loss
from engine.progress import CancelFn, Job, ProgressFn, drive

#: edits settle with a cosine-decayed step (the previews calm down); inversion found no decay better
LR_DECAY = True


def mask_tensor(mask: np.ndarray, resolution: int, device: torch.device) -> torch.Tensor:
    """(H, W) float in [0, 1] (or uint8 0..255, or (H, W, C)) → (1, 1, R, R) float in [0, 1]."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m.mean(axis=2)
    if m.ndim != 2:
        raise FacetError(f"a mask must be a (H, W) array, got shape {m.shape}")
    m = m.astype(np.float32) / (255.0 if m.dtype == np.uint8 or m.max() > 1.0 else 1.0)
    if m.shape != (resolution, resolution):
        m = np.asarray(Image.fromarray(m, mode="F").resize((resolution, resolution), Image.Resampling.BILINEAR))
    return torch.from_numpy(np.clip(m, 0, 1).copy()).to(device)[None, None]


def _result(bundle: Bundle, outcome: OptimOutcome, image: torch.Tensor, start: float, method: str) -> InversionResult:
    code = LatentCode(outcome.z[0].cpu().numpy(), outcome.y[0].cpu().numpy())
    return InversionResult(code, tensor_to_image(image), outcome.losses, time.perf_counter() - start, method, outcome.steps)


def stroke_edit_job(
    bundle: Bundle,
    code: LatentCode,
    mask: np.ndarray,
    colors: np.ndarray,
    lambda1: float = 0.05,
    lambda2: float = 0.01,
    steps: int = 40,
    seed: int = 0,
    lr: float = 0.1,
    restarts: int = 1,
) -> Job[InversionResult]:
    """Move ``code`` so the rendering takes ``colors`` (R, R, 3 uint8) where ``mask`` is set, staying close and real."""
    freeze(bundle)
    start = time.perf_counter()
    dev, R = bundle.device, bundle.resolution
    m = mask_tensor(mask, R, dev)
    if float(m.sum()) <= 0:
        raise FacetError("stroke edit: the stroke mask is empty")
    target = image_to_tensor(np.asarray(colors, dtype=np.uint8), R, dev)
    z_start, y = code_tensors(code, dev)
    D = bundle.network("discriminator") if lambda2 and bundle.has("discriminator") else None

    def objective(z: torch.Tensor, y: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        u = ((img - target).pow(2) * m).flatten(1).sum(1) / (3 * m.sum())
        loss = u + lambda1 * (z - z_start).pow(2).mean(1)
        if D is not None:
            loss = loss + lambda2 * F.softplus(-D(img, y)[0].float())
        return loss

    z0 = start_codes(z_start, restarts, seed, spread=0.1)
    cfg = OptimConfig(steps=steps, lr=lr, lr_decay=LR_DECAY)
    outcome = yield from optimize_latent_job(bundle, objective, z0, y.expand(z0.shape[0], -1), cfg, "stroke edit")
    return _result(bundle, outcome, outcome.image, start, "stroke")


def complete_job(
    bundle: Bundle,
    image: np.ndarray,
    mask: np.ndarray,
    steps: int = 60,
    seed: int = 0,
    lr: float = 0.03,
    restarts: int = 2,
    feature_weight: float = 0.5,
) -> Job[InversionResult]:
    """Fill the region where ``mask`` is 1 from G; pixels where it is 0 are kept from ``image``."""
    freeze(bundle)
    start = time.perf_counter()
    dev, R = bundle.device, bundle.resolution
    x = image_to_tensor(image, R, dev)
    hole = mask_tensor(mask, R, dev)
    known = 1.0 - hole
    if float(known.sum()) < 1:
        raise FacetError("completion: the mask covers the whole image; nothing is known to complete from")
    loss = reconstruction_loss(bundle, feature_weight).set_target(x, known)
    z_enc, y = encode(bundle, x * known)
    z0 = start_codes(z_enc, restarts, seed)
    cfg = OptimConfig(steps=steps, lr=lr, optimize_y=not bundle.has("encoder_y"), lr_decay=LR_DECAY)
    outcome = yield from optimize_latent_job(
        bundle, lambda z, y, img: loss(img), z0, y.expand(z0.shape[0], -1), cfg, "completion"
    )
    blended = x * known + outcome.image * hole
    return _result(bundle, outcome, blended, start, "complete")


def upscale_job(
    bundle: Bundle,
    low_res: np.ndarray,
    steps: int = 60,
    seed: int = 0,
    lr: float = 0.05,
    restarts: int = 2,
) -> Job[InversionResult]:
    """Super-resolution by inversion: a square low-res face (side R / factor) → G(z) at the bundle's R."""
    freeze(bundle)
    start = time.perf_counter()
    dev, R = bundle.device, bundle.resolution
    arr = np.asarray(low_res)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise FacetError(f"upscale: expected an RGB uint8 image, got {arr.dtype} {arr.shape}")
    side = min(arr.shape[:2])
    factor = max(1, R // side) if side < R else 1
    small = R // factor
    lr_t = image_to_tensor(arr, small, dev)
    up = F.interpolate(lr_t, size=(R, R), mode="bicubic", align_corners=False).clamp(-1, 1)
    z_enc, y = encode(bundle, up)
    z0 = start_codes(z_enc, restarts, seed)

    def objective(z: torch.Tensor, y: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        return (F.avg_pool2d(img, factor) - lr_t).pow(2).flatten(1).mean(1) if factor > 1 else (img - lr_t).pow(2).flatten(1).mean(1)

    cfg = OptimConfig(steps=steps, lr=lr, optimize_y=not bundle.has("encoder_y"), lr_decay=LR_DECAY)
    outcome = yield from optimize_latent_job(bundle, objective, z0, y.expand(z0.shape[0], -1), cfg, "upscale")
    return _result(bundle, outcome, outcome.image, start, f"upscale x{factor}")


def stroke_edit(bundle: Bundle, code: LatentCode, mask: np.ndarray, colors: np.ndarray,
                progress: ProgressFn | None = None, cancel: CancelFn | None = None, **kw: object) -> InversionResult:
    return drive(stroke_edit_job(bundle, code, mask, colors, **kw), progress, cancel)


def complete(bundle: Bundle, image: np.ndarray, mask: np.ndarray,
             progress: ProgressFn | None = None, cancel: CancelFn | None = None, **kw: object) -> InversionResult:
    return drive(complete_job(bundle, image, mask, **kw), progress, cancel)


def upscale(bundle: Bundle, low_res: np.ndarray,
            progress: ProgressFn | None = None, cancel: CancelFn | None = None, **kw: object) -> InversionResult:
    return drive(upscale_job(bundle, low_res, **kw), progress, cancel)
