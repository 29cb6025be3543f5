"""Edits that are optimisation problems in z (seconds): colour strokes, completion, super-resolution.

All three run the inversion optimiser (:func:`engine.invert.core.optimize_latent_job`) with their own
objective, so they share its batched restarts, previews, cancel and NaN checks.

- Strokes (iGAN, Zhu et al. 2016): z* = argmin U(G(z)) + keep·||G(z) − G(z0)||²_outside + λ1·||z − z0||²
  − λ2·realism(G(z)), U the colour distance inside the stroke mask, the second term the change away from the
  strokes; realism = log sigmoid(D(G(z), y)) (the bounded form of "+D"). G is the face's tuned generator when it
  has one (pivotal tuning). What the user sees (:func:`paint_strokes`): the generator's change, only near the
  strokes (:func:`stroke_reach`), then a colour layer that moves the stroked pixels the rest of the way to
  their colour, as a smooth offset, so the photo's detail stays. Without it a 64 px generator moves a golden
  stroke on white hair a fraction of the way, and its change elsewhere tinted the whole face.
- Completion: inversion that only looks at the known pixels (L-BFGS in the latent metric's coordinates, as
  hybrid inversion); the hole is filled from G, shifted by a smooth offset so it meets its surroundings
  (:func:`seamless_fill`: seamless cloning, no rectangle); pixels under the mask are never used and every pixel
  outside it keeps its value. It uses the untuned generator even when the face has tuned weights: those learnt
  the very pixels the user wants replaced and paint them back.
- Super-resolution: find z with downsample(G(z)) ≈ the low-resolution input; the answer is G(z).

A mask that is empty or covers the whole face (:func:`check_mask`) is refused with a message.
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
from engine.invert.hybrid import start_codes, start_encoder
from engine.invert.metric import method_preconditioner
from engine.losses import reconstruction_loss
from engine.progress import CancelFn, Job, ProgressFn, drive

#: edits settle with a cosine-decayed step (the previews calm down); inversion found no decay better
LR_DECAY = True
#: A mask covering this much of the face's oval covers "the whole face": nothing is left to complete from.
WHOLE_FACE = 0.9
#: Lengths below are fractions of the crop side (at 64 px: 2 and 3 pixels).
#: How far beyond a stroke the generator's change may reach (4 / 64 left 1.9 grey levels of change on the rest of
#: the face, 2 / 64 0.9, on 12 strokes of held-out faces; the stroked pixels moved 95 % and 94 % of the way).
STROKE_REACH = 2 / 64
#: Share of the colour difference left after the generator's change that the colour layer closes.
STROKE_STRENGTH = 0.85
#: Width of the band around a hole whose difference to the fill sets the fill's offset.
SEAM = 3 / 64


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


def check_mask(mask: torch.Tensor, what: str, hint: str) -> None:
    """Refuse a mask (1, 1, S, S) that is empty or covers the whole face (the ``face`` crop's oval)."""
    from engine.session_view import cgan_confinement

    if float((mask > 0.5).sum()) == 0:
        raise FacetError(f"{what}: the mask is empty; {hint}")
    oval = torch.from_numpy(cgan_confinement([], mask.shape[-1], True)).to(mask.device) > 0.5
    covered = float((mask[0, 0] > 0.5)[oval].float().mean()) if bool(oval.any()) else 1.0
    if covered >= WHOLE_FACE:
        raise FacetError(f"{what}: the mask covers the whole face ({100 * covered:.0f} % of it); {hint}")


def _side_px(fraction: float, side: int) -> int:
    return max(1, round(fraction * side))


def _dilate(m: torch.Tensor, radius: int) -> torch.Tensor:
    return F.max_pool2d(m, 2 * radius + 1, 1, radius) if radius > 0 else m


def _blur(m: torch.Tensor, radius: int) -> torch.Tensor:
    """Box blur (twice: a tent) of (1, C, S, S) that keeps the image size."""
    for _ in range(2):
        m = F.avg_pool2d(F.pad(m, (radius,) * 4, mode="replicate"), 2 * radius + 1, 1)
    return m


def _image(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, np.float32)).permute(2, 0, 1)[None]


def _uint8(t: torch.Tensor) -> np.ndarray:
    return (t[0].permute(1, 2, 0).clamp(0, 255) + 0.5).to(torch.uint8).numpy()


def _binary(mask: np.ndarray, side: int) -> torch.Tensor:
    return (mask_tensor(mask, side, torch.device("cpu")) > 0.5).float()


def stroke_reach(mask: np.ndarray) -> np.ndarray:
    """float32 (S, S) in [0, 1]: where a stroke edit's generator change may reach (the strokes, grown and feathered)."""
    m = np.asarray(mask)
    side = m.shape[0]
    r = _side_px(STROKE_REACH, side)
    return _blur(_dilate(_binary(m, side), r), max(1, r // 2))[0, 0].clamp(0, 1).numpy()


def paint_strokes(image: np.ndarray, mask: np.ndarray, colors: np.ndarray, strength: float = STROKE_STRENGTH) -> np.ndarray:
    """``image`` (uint8 (S, S, 3)) with the stroked pixels moved ``strength`` of the rest of the way to their colour.

    The move is a smooth offset (the strokes' colour minus the image, averaged over nearby stroked pixels), so the
    photo's detail under a stroke stays; it fades out within a pixel or two of the strokes."""
    side = image.shape[0]
    m = _binary(mask, side)
    if not bool(m.any()):
        return image
    img = _image(image)
    colour = _image(np.asarray(colors)) if np.asarray(colors).shape[:2] == (side, side) else \
        F.interpolate(_image(np.asarray(colors)), size=(side, side), mode="nearest")
    r = _side_px(1.5 / 64, side)
    weight = _blur(m, r)
    offset = _blur((colour - img) * m, r) / weight.clamp_min(1e-6)
    reach = torch.maximum(m, (2 * _blur(m, max(1, r // 2))).clamp(0, 1)) * (weight > 1e-3)
    return _uint8(img + float(strength) * reach * offset)


def _push_pull(values: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """A smooth interpolation (a pyramid's push-pull, close to a membrane) of ``values`` (1, C, S, S) from the
    pixels where ``known`` (1, 1, S, S) is 1 into the rest."""
    v, w = values * known, known
    levels = []
    while v.shape[-1] > 1:
        levels.append((v, w))
        v, w = F.avg_pool2d(v, 2, ceil_mode=True), F.avg_pool2d(w, 2, ceil_mode=True)
    out = v / w.clamp_min(1e-6)
    for v, w in reversed(levels):
        up = F.interpolate(out, size=v.shape[-2:], mode="bilinear", align_corners=False)
        a = w.clamp(0, 1)
        out = torch.where(w > 1e-6, v / w.clamp_min(1e-6), up) * a + up * (1 - a)
    return out


def seamless_fill(image: np.ndarray, fill: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``image`` (uint8 (S, S, 3)) with the ``hole`` filled from ``fill``, shifted so it meets its surroundings.

    The shift is the image-minus-fill difference in a band just outside the hole, carried smoothly into the hole
    (seamless cloning: at the hole's edge the fill takes the surroundings' colour, deeper in it keeps its own
    shading), so no rectangle shows. Pixels under the mask are never used (they are what the user wants
    replaced) and every pixel outside it keeps its value."""
    side = image.shape[0]
    h = _binary(hole, side)
    img, raw = _image(image), _image(fill)
    band = _dilate(h, _side_px(SEAM, side)) - h
    shifted = raw + _push_pull(img - raw, band) if bool(band.any()) else raw
    return _uint8(img * (1 - h) + shifted * h)


def blend_completion(image: np.ndarray, completed: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``image`` with a stored completion's pixels inside ``hole`` (outside it ``image`` is kept exactly)."""
    h = np.asarray(hole)
    h = (h > 127 if h.dtype == np.uint8 else h > 0.5)[..., None]
    return np.where(h, completed, image).astype(np.uint8)


def _result(bundle: Bundle, outcome: OptimOutcome, image: torch.Tensor | np.ndarray, start: float,
            method: str) -> InversionResult:
    code = LatentCode(outcome.z[0].cpu().numpy(), outcome.y[0].cpu().numpy())
    image = image if isinstance(image, np.ndarray) else tensor_to_image(image)
    return InversionResult(code, image, outcome.losses, time.perf_counter() - start, method, outcome.steps)


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
    keep: float = 1.0,
    tuned=None,
) -> Job[InversionResult]:
    """Move ``code`` so the rendering takes ``colors`` (R, R, 3 uint8) where ``mask`` is set and stays as it was
    away from the strokes (``keep``), close and real; through the face's ``tuned`` generator when given."""
    from engine.invert.pivotal import tuned_generator

    freeze(bundle)
    start = time.perf_counter()
    dev, R = bundle.device, bundle.resolution
    m = mask_tensor(mask, R, dev)
    check_mask(m, "stroke edit", "paint only where the colour should change")
    target = image_to_tensor(np.asarray(colors, dtype=np.uint8), R, dev)
    z_start, y = code_tensors(code, dev)
    G = tuned_generator(bundle, tuned)
    with torch.no_grad():
        before = G(z_start, y)
    away = 1 - torch.from_numpy(stroke_reach(m[0, 0].cpu().numpy())).to(dev)[None, None]
    D = bundle.network("discriminator") if lambda2 and bundle.has("discriminator") else None

    def objective(z: torch.Tensor, y: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        u = ((img - target).pow(2) * m).flatten(1).sum(1) / (3 * m.sum())
        rest = ((img - before).pow(2) * away).flatten(1).sum(1) / (3 * away.sum().clamp_min(1.0))
        loss = u + keep * rest + lambda1 * (z - z_start).pow(2).mean(1)
        if D is not None:
            loss = loss + lambda2 * F.softplus(-D(img, y)[0].float())
        return loss

    z0 = start_codes(z_start, restarts, seed, spread=0.1)
    cfg = OptimConfig(steps=steps, lr=lr, lr_decay=LR_DECAY)
    outcome = yield from optimize_latent_job(bundle, objective, z0, y.expand(z0.shape[0], -1), cfg, "stroke edit",
                                             generator=G)
    return _result(bundle, outcome, outcome.image, start, "stroke")


def complete_job(
    bundle: Bundle,
    image: np.ndarray,
    mask: np.ndarray,
    steps: int = 60,
    seed: int = 0,
    lr: float | None = None,
    restarts: int = 1,
    feature_weight: float = 0.5,
    optimizer: str = "lbfgs",
) -> Job[InversionResult]:
    """Fill the region where ``mask`` is set from G; every pixel outside it keeps its value in ``image``.

    A square ``image`` is completed at its own size (the generator's fill is resized to it), others are taken
    as their centre square at the bundle's resolution; the result's ``reconstruction`` (:func:`seamless_fill`)."""
    freeze(bundle)
    start = time.perf_counter()
    dev, R = bundle.device, bundle.resolution
    arr = np.asarray(image)
    side = arr.shape[0] if arr.ndim == 3 and arr.shape[0] == arr.shape[1] else R
    hole = (mask_tensor(mask, side, dev) > 0.5).float()
    check_mask(hole, "completion", "paint over the part of the face to fill, and leave the rest to fill it from")
    x = image_to_tensor(image, R, dev)
    known = 1.0 - (mask_tensor(mask, R, dev) > 0.5).float()
    loss = reconstruction_loss(bundle, feature_weight).set_target(x, known)
    z_enc, y = _masked_start(bundle, x * known)
    z0 = start_codes(z_enc, restarts, seed)
    cfg = OptimConfig(steps=steps, lr=lr or (1.0 if optimizer == "lbfgs" else 0.03), optimizer=optimizer,
                      optimize_y=not bundle.has("encoder_y"), lr_decay=optimizer != "lbfgs" and LR_DECAY,
                      precondition=method_preconditioner(bundle, optimizer, None))
    outcome = yield from optimize_latent_job(
        bundle, lambda z, y, img: loss(img), z0, y.expand(z0.shape[0], -1), cfg, "completion"
    )
    full = image_to_tensor(arr, side, dev) if side != R else x
    fill = F.interpolate(outcome.image, size=(side, side), mode="bicubic", align_corners=False) if side != R \
        else outcome.image
    completed = seamless_fill(tensor_to_image(full), tensor_to_image(fill), hole[0, 0].cpu().numpy())
    return _result(bundle, outcome, completed, start, "complete")


def _masked_start(bundle: Bundle, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, y) to start a completion from: hybrid's encoder on the masked image (zeros without one)."""
    if not (bundle.has("encoder_domain") or bundle.has("encoder_z")):
        return encode(bundle, x)
    with torch.no_grad():
        return bundle.network(start_encoder(bundle))(x).float(), encode(bundle, x)[1]


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
