"""Paste an edited crop back into the full-resolution photo, touching only the face's region.

The edited crop is warped back with the inverse of the alignment transform, but only into the bounding
rectangle of a feathered ellipse around the face (a 12 MP photo is never resampled as a whole). Before
blending, the crop's colours are matched to the unedited crop on the ellipse's feather ring, which hides
the generator's colour drift. Pixels where the mask is exactly 0 — everything outside the ellipse — keep
their original bytes.

The crop is small (128 px) and a face in a photo often is not (600 px in a 12 MP portrait), so pasting the
crop itself would blur the whole face as soon as anything was edited. What is pasted is the *change*: the
photo keeps its own detail, the part a crop cannot hold (photo − the unedited crop warped back), wherever
the edit left the face alike, and the detail fades out where the edit changed it strongly (glasses drawn
in, a region filled), so no ghost of the old face shows through. An unedited crop leaves the photo as it was.
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
    keep_detail: bool = True  # keep the photo's own detail where the edit changed little (module docstring)
    detail_fade: tuple[float, float] = (24.0, 72.0)  # grey levels of change: the detail is all kept below, gone above
    #: "blend": the edited crop is blended into the ellipse (colour-matched, detail kept as above); "change": the
    #: crop's change (edited − unedited, a local edit's own mask already confines it) is added to the photo as it
    #: is, bilinearly warped: wherever the change is 0 the photo keeps its bytes, whatever the ellipse
    mode: str = "blend"
    border: float = 0.04  # "change": fraction of the crop over which a change fades out at the crop's edge


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


@dataclass(eq=False)
class PastePlan:
    """What pasting one face into photos of one size needs that no edit changes (the blend mask, the unedited
    crop warped back): made once per face by :func:`plan_paste`, reused while a slider moves."""

    rect: tuple[int, int, int, int]  # (x0, y0, x1, y1), end-exclusive: the pixels a paste may change
    photo_shape: tuple[int, int]
    side: int  # the edited crops' side
    to_rect: np.ndarray  # crop pixel → rectangle pixel (2x3)
    alpha: np.ndarray  # (h, w, 1) float32 feathered mask
    ring: np.ndarray  # (h, w) bool: the feather ring, where colours are matched
    base: np.ndarray | None  # (h, w, 3) uint8: the unedited crop warped into the rectangle (keep_detail)
    config: PasteConfig
    unedited: np.ndarray | None = None  # (side, side, 3) uint8: the unedited crop (mode "change")

    def apply(self, photo: np.ndarray, edited_crop: np.ndarray) -> np.ndarray:
        """``photo`` (the size planned for, uint8) with ``edited_crop`` blended in; other pixels keep their bytes."""
        photo, edited = _check_photo(photo), _check_crop(edited_crop)
        if photo.shape[:2] != self.photo_shape or edited.shape[0] != self.side:
            raise ValueError(f"this paste was planned for a {self.photo_shape} photo and {self.side} px crops, "
                             f"got {photo.shape[:2]} and {edited.shape[0]} px")
        out = photo.copy()
        x0, y0, x1, y1 = self.rect
        if x1 <= x0 or y1 <= y0:
            return out
        cfg = self.config
        if cfg.mode == "change":
            return self._add_change(out, edited)
        resample = Image.Resampling.BILINEAR if cfg.fast else Image.Resampling.BICUBIC
        warped = warp(edited, invert_affine(self.to_rect), (x1 - x0, y1 - y0), resample)
        original = photo[y0:y1, x0:x1]
        gain, offset = np.ones(3, np.float32), np.zeros(3, np.float32)
        if cfg.color_match:
            gain, offset = _color_transfer(warped, original if self.base is None else self.base, self.ring, cfg.max_gain)
        region = original.astype(np.float32)
        blended = warped.astype(np.float32)  # region + (edit − region)·alpha, in place (speed)
        blended *= gain
        blended += offset
        if self.base is not None:  # edit = colour-matched crop + the photo's detail, faded by the size of the change
            keep, gone = cfg.detail_fade
            detail = region - self.base
            change = np.abs(blended - self.base).max(axis=2, keepdims=True)
            change -= gone
            change *= -1.0 / max(gone - keep, 1e-6)  # 1 at `keep` grey levels of change, 0 at `gone`
            np.clip(change, 0.0, 1.0, out=change)
            detail *= change
            blended += detail
        blended -= region
        blended *= self.alpha
        blended += region
        blended += 0.5
        np.clip(blended, 0, 255, out=blended)
        # Where alpha is 0 this is exactly the original byte: region holds integers, and (x − region)·0 + region + 0.5
        # truncates back to region.
        out[y0:y1, x0:x1] = blended.astype(np.uint8)
        return out


    def _add_change(self, out: np.ndarray, edited: np.ndarray) -> np.ndarray:
        """``out`` + the edit's change warped back (mode ``change``); pixels whose change is 0 keep their bytes."""
        x0, y0, x1, y1 = self.rect
        change = edited.astype(np.float32) - self.unedited.astype(np.float32)
        if not change.any():
            return out
        change *= _border_fade(self.side, self.config.border)[..., None]
        size = (x1 - x0, y1 - y0)
        to_crop = self.to_rect
        warped = np.stack([warp_float(change[..., c], invert_affine(to_crop), size) for c in range(3)], axis=2)
        region = out[y0:y1, x0:x1].astype(np.float32)
        region += warped
        region += 0.5  # round; where the change is exactly 0 this truncates back to the original byte
        np.clip(region, 0, 255, out=region)
        out[y0:y1, x0:x1] = region.astype(np.uint8)
        return out


def _border_fade(side: int, border: float) -> np.ndarray:
    """(side, side) weights: 1 inside, falling smoothly to 0 at the crop's edge over ``border`` of its side."""
    width = max(border * side, 1.0)
    c = np.arange(side, dtype=np.float32) + 0.5
    ramp = np.clip(np.minimum(c, side - c) / width, 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)
    return np.minimum(ramp[:, None], ramp[None, :])


def warp_float(channel: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One float32 channel resampled (bilinear) into ``size`` (w, h) where out = matrix(in); outside is 0.

    Bilinear, not bicubic: a zero region stays exactly zero up to one pixel from its edge (no ringing)."""
    inv = invert_affine(matrix)
    a = inv[:, :2]
    c = inv[:, 2] + a @ np.array([-0.5, -0.5]) + 0.5
    pil = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32), mode="F")
    out = pil.transform(size, Image.Transform.AFFINE, (a[0, 0], a[0, 1], c[0], a[1, 0], a[1, 1], c[1]),
                        resample=Image.Resampling.BILINEAR, fillcolor=0.0)
    return np.asarray(out, dtype=np.float32)


def _check_photo(photo: np.ndarray) -> np.ndarray:
    photo = np.asarray(photo)
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"paste_back expects an RGB uint8 photo (H, W, 3), got {photo.dtype} {photo.shape}")
    return photo


def _check_crop(crop: np.ndarray) -> np.ndarray:
    crop = np.asarray(crop)
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] != crop.shape[1]:
        raise ValueError(f"paste_back expects a square RGB uint8 crop, got {crop.dtype} {crop.shape}")
    return crop


def plan_paste(aligned: AlignedFace, photo_shape: tuple[int, ...], side: int,
               config: PasteConfig | None = None) -> PastePlan:
    """The edit-independent part of :func:`paste_back` for ``side`` px crops of this face."""
    cfg = config or PasteConfig()
    if cfg.mode not in ("blend", "change"):
        raise ValueError(f"paste mode must be 'blend' or 'change', not {cfg.mode!r}")
    if cfg.mode == "change":
        return _plan_change(aligned, photo_shape, side, cfg)
    x0, y0, x1, y1 = paste_region(aligned, photo_shape, side, cfg)
    rect_to_crop = compose(_crop_matrix(aligned, side), np.array([[1.0, 0, x0], [0, 1.0, y0]]))
    size = (max(x1 - x0, 0), max(y1 - y0, 0))
    alpha = ring = base = None
    if size[0] and size[1]:
        a, d = _mask(rect_to_crop, size, side, cfg)
        alpha, ring = a[..., None], (d >= 1.0 - cfg.feather) & (d < 1.0)
        crop = _unedited_crop(aligned, side) if cfg.keep_detail else None
        if crop is not None:
            resample = Image.Resampling.BILINEAR if cfg.fast else Image.Resampling.BICUBIC
            base = warp(crop, invert_affine(rect_to_crop), size, resample)
    return PastePlan(rect=(x0, y0, x1, y1), photo_shape=tuple(photo_shape[:2]), side=side, to_rect=rect_to_crop,
                     alpha=alpha, ring=ring, base=base, config=cfg)


def _plan_change(aligned: AlignedFace, photo_shape: tuple[int, ...], side: int, cfg: PasteConfig) -> PastePlan:
    """Mode ``change``: the rectangle is the whole crop's footprint on the photo; no mask, no colour matching."""
    inv = invert_affine(_crop_matrix(aligned, side))
    corners = apply_affine(inv, np.array([[-0.5, -0.5], [side - 0.5, -0.5], [-0.5, side - 0.5], [side - 0.5, side - 0.5]]))
    h, w = photo_shape[:2]
    x0, y0 = np.floor(corners.min(0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)
    rect_to_crop = compose(_crop_matrix(aligned, side), np.array([[1.0, 0, x0], [0, 1.0, y0]]))
    unedited = _unedited_crop(aligned, side)
    if unedited is None:
        raise ValueError("paste mode 'change' needs the aligned face's own square crop")
    return PastePlan(rect=(x0, y0, x1, y1), photo_shape=tuple(photo_shape[:2]), side=side, to_rect=rect_to_crop,
                     alpha=None, ring=None, base=None, config=cfg, unedited=unedited)


def paste_back(photo: np.ndarray, edited_crop: np.ndarray, aligned: AlignedFace, feather: float | None = None,
               config: PasteConfig | None = None) -> np.ndarray:
    """The photo (same size, uint8) with ``edited_crop`` blended in where ``aligned`` came from."""
    cfg = config or PasteConfig()
    if feather is not None:
        cfg = replace(cfg, feather=float(feather))
    photo, edited = _check_photo(photo), _check_crop(edited_crop)
    return plan_paste(aligned, photo.shape, edited.shape[0], cfg).apply(photo, edited)


def _unedited_crop(aligned: AlignedFace, side: int) -> np.ndarray | None:
    """The aligned crop at the edited crop's side (what the photo's detail is measured against); None when
    the alignment is not a square crop (then the edited crop is pasted as it is)."""
    crop = np.asarray(aligned.crop)
    if crop.ndim != 3 or crop.shape[0] != crop.shape[1] or crop.shape[2] != 3 or crop.dtype != np.uint8:
        return None
    if crop.shape[0] == side:
        return crop
    return np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((side, side), Image.Resampling.LANCZOS))
