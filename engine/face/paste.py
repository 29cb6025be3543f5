"""Paste an edited crop back into the full-resolution photo, touching only the face's region.

The edited crop is warped back with the inverse of the alignment transform, but only into the bounding
rectangle of a feathered ellipse around the face (a 12 MP photo is never resampled as a whole). Before
blending, the crop's colours are matched to the photo on the ellipse's feather ring, which hides the
generator's colour drift. Pixels where the mask is exactly 0 — everything outside the ellipse — keep
their original bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from engine.face.align import AlignedFace, apply_affine, compose, invert_affine, warp


@dataclass
class PasteConfig:
    """The blend region, in fractions of the crop: an ellipse around the face, feathered inwards."""

    center: tuple[float, float] = (0.5, 0.56)
    radii: tuple[float, float] = (0.36, 0.43)
    feather: float = 0.15  # fraction of the radius over which the edit fades out
    color_match: bool = True
    max_gain: float = 1.25  # clamp for the contrast correction of colour matching
    fast: bool = False  # bilinear instead of bicubic resampling: for live previews while a slider moves


def _crop_matrix(aligned: AlignedFace, crop_side: int) -> np.ndarray:
    """photo→edited crop (the edited crop may have another resolution than the aligned one)."""
    k = crop_side / aligned.resolution
    return compose(np.array([[k, 0.0, 0.0], [0.0, k, 0.0]]), aligned.matrix)


def paste_region(aligned: AlignedFace, photo_shape: tuple[int, ...], crop_side: int | None = None,
                 config: PasteConfig | None = None) -> tuple[int, int, int, int]:
    """The photo rectangle (x0, y0, x1, y1), end-exclusive, that :func:`paste_back` may change."""
    cfg = config or PasteConfig()
    side = crop_side or aligned.resolution
    inv = invert_affine(_crop_matrix(aligned, side))
    (cx, cy), (rx, ry) = cfg.center, cfg.radii
    corners = np.array([[cx - rx, cy - ry], [cx + rx, cy - ry], [cx - rx, cy + ry], [cx + rx, cy + ry]]) * side
    pts = apply_affine(inv, corners)
    h, w = photo_shape[:2]
    x0, y0 = np.floor(pts.min(0)).astype(int) - 1
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 2
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)


def _mask(to_crop: np.ndarray, size: tuple[int, int], side: int, cfg: PasteConfig) -> tuple[np.ndarray, np.ndarray]:
    """Feathered alpha (h, w) and the normalised ellipse radius per rectangle pixel."""
    w, h = size
    # Normalised ellipse coordinates are affine in (u, v): build them from a row and a column (float32).
    m = to_crop / side
    m = m - np.array([[0, 0, cfg.center[0]], [0, 0, cfg.center[1]]])
    m = m / np.array([[cfg.radii[0]], [cfg.radii[1]]])
    u = np.arange(w, dtype=np.float32)[None, :]
    v = np.arange(h, dtype=np.float32)[:, None]
    ex = np.float32(m[0, 0]) * u + (np.float32(m[0, 1]) * v + np.float32(m[0, 2]))
    ey = np.float32(m[1, 0]) * u + (np.float32(m[1, 1]) * v + np.float32(m[1, 2]))
    d = np.sqrt(ex * ex + ey * ey)
    t = np.clip((1.0 - d) * np.float32(1.0 / max(cfg.feather, 1e-6)), 0.0, 1.0)
    return t * t * (3 - 2 * t), d


def _color_transfer(src: np.ndarray, ref: np.ndarray, ring: np.ndarray, max_gain: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel gain and offset making ``src``'s mean/std on ``ring`` equal to ``ref``'s there.

    Statistics come from a sparse grid of the rectangle's pixels (about 20k, the ring a part of them): plenty
    for a mean and a std.
    """
    step = max(1, int(np.sqrt(ring.size / 20_000)))  # ring.size: the whole rectangle; the ring is a part
    sub = ring[::step, ::step]
    if sub.sum() < 16:
        return np.ones(3, np.float32), np.zeros(3, np.float32)
    s = src[::step, ::step][sub].astype(np.float64)
    r = ref[::step, ::step][sub].astype(np.float64)
    gain = np.clip(r.std(0) / np.maximum(s.std(0), 1e-3), 1 / max_gain, max_gain)
    return gain.astype(np.float32), (r.mean(0) - s.mean(0) * gain).astype(np.float32)


def paste_back(photo: np.ndarray, edited_crop: np.ndarray, aligned: AlignedFace, feather: float | None = None,
               config: PasteConfig | None = None) -> np.ndarray:
    """The photo (same size, uint8) with ``edited_crop`` blended in where ``aligned`` came from."""
    cfg = config or PasteConfig()
    if feather is not None:
        cfg = replace(cfg, feather=float(feather))
    photo = np.asarray(photo)
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"paste_back expects an RGB uint8 photo (H, W, 3), got {photo.dtype} {photo.shape}")
    edited = np.asarray(edited_crop)
    if edited.dtype != np.uint8 or edited.ndim != 3 or edited.shape[2] != 3 or edited.shape[0] != edited.shape[1]:
        raise ValueError(f"paste_back expects a square RGB uint8 crop, got {edited.dtype} {edited.shape}")
    side = edited.shape[0]
    out = photo.copy()
    x0, y0, x1, y1 = paste_region(aligned, photo.shape, side, cfg)
    if x1 <= x0 or y1 <= y0:
        return out
    size = (x1 - x0, y1 - y0)
    rect_to_crop = compose(_crop_matrix(aligned, side), np.array([[1.0, 0, x0], [0, 1.0, y0]]))
    resample = Image.Resampling.BILINEAR if cfg.fast else Image.Resampling.BICUBIC
    warped = warp(edited, invert_affine(rect_to_crop), size, resample)
    alpha, d = _mask(rect_to_crop, size, side, cfg)
    original = photo[y0:y1, x0:x1]
    gain, offset = np.ones(3, np.float32), np.zeros(3, np.float32)
    if cfg.color_match:
        gain, offset = _color_transfer(warped, original, (d >= 1.0 - cfg.feather) & (d < 1.0), cfg.max_gain)
    region = original.astype(np.float32)
    blended = warped.astype(np.float32)  # region + (warped·gain + offset − region)·alpha, in place (speed)
    blended *= gain
    blended += offset
    blended -= region
    blended *= alpha[..., None]
    blended += region
    blended += 0.5
    np.clip(blended, 0, 255, out=blended)
    # Where alpha is 0 this is exactly the original byte: region holds integers, and (x − region)·0 + region + 0.5
    # truncates back to region.
    out[y0:y1, x0:x1] = blended.astype(np.uint8)
    return out
