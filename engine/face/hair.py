"""Hair colour as a colour transform of the face's own hair (no segmentation network, no synthesis).

Taking an exemplar's hair *pixels* puts its hair where the source has background, and its background where the
source has hair: the hair region of an aligned crop is "everything but the inner face". This module's hair
colour edit recolours the source's own pixels instead — sharp at any resolution, the hair keeps its shape — and
only those that look like its hair:

1. :func:`hair_colour` estimates a face's hair colour: a seed patch on the crown (canvas region ``crown``,
   almost always hair in an aligned crop), then one refinement over the whole hair region weighted by
   :func:`hair_likeness` to the seed;
2. :func:`recolour` moves every pixel from the source's hair statistics to the exemplar's (mean and spread per
   channel in an opponent colour space, as in Reinhard et al., "Color Transfer between Images", 2001);
3. :func:`hair_colour_edit` applies that change where the model's mask and the likeness to the source's hair
   both say so, so a background or a face that does not look like the hair stays as it is.

Images are float tensors (B, 3, H, W) in any linear range ([-1, 1] in the engine). Measured against taking the
pixels (docs/models.md), it keeps the background but the attribute judge sees the new colour less often, so a
transfer uses it only when asked (``engine.transfer.transfer_codes(hair_colour="recolour")``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.face.layout import CropLayout
from engine.face.regions import region_map
from engine.models.elegant_mask import gaussian_lowpass

#: Attributes that are a colour of the hair: what ``hair_colour="recolour"`` recolours instead of taking pixels.
HAIR_COLOURS = frozenset({"Blond_Hair", "Black_Hair", "Brown_Hair", "Gray_Hair"})

# Opponent colour space: luminance, red-green, yellow-blue (orthonormal rows, so distances are RGB distances).
_OPP = torch.tensor([[1 / 3**0.5, 1 / 3**0.5, 1 / 3**0.5],
                     [1 / 2**0.5, -1 / 2**0.5, 0.0],
                     [1 / 6**0.5, 1 / 6**0.5, -2 / 6**0.5]])
#: Spread ratios (luminance, then the two colour channels) are clamped to these ranges: dark hair has little
#: spread, and scaling it by 10 would turn its noise into streaks (in colour: into confetti).
SPREAD_RANGES = ((0.5, 2.5), (0.5, 1.5), (0.5, 1.5))
#: Mahalanobis distances (to the hair colour) at which a pixel is fully hair, and at which it is not hair at all.
LIKENESS_DISTANCES = (2.0, 3.5)
#: Floor of each channel's standard deviation (engine units, 2 / 255 per grey level): a flat patch is not a
#: colour so exact that its own JPEG noise falls outside it.
MIN_SPREAD = 0.04


@dataclass(frozen=True)
class HairColour:
    """Mean (B, 3) and covariance (B, 3, 3) of a face's hair in the opponent space."""

    mean: torch.Tensor
    cov: torch.Tensor

    @property
    def spread(self) -> torch.Tensor:
        return self.cov.diagonal(dim1=-2, dim2=-1).clamp_min(0).sqrt()


def _opponent(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", _OPP.to(x), x)


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ji,bjhw->bihw", _OPP.to(x), x)


def _weighted_stats(o: torch.Tensor, w: torch.Tensor) -> HairColour:
    """Weighted mean and covariance of opponent images ``o`` (B, 3, H, W) under weights ``w`` (B, 1, H, W)."""
    total = w.sum(dim=(2, 3)).clamp_min(1e-6)  # (B, 1)
    mean = (o * w).sum(dim=(2, 3)) / total
    d = (o - mean[..., None, None]) * w.sqrt()
    flat = d.flatten(2)
    cov = flat @ flat.transpose(1, 2) / total[..., None]
    cov = cov + torch.eye(3, dtype=o.dtype, device=o.device) * MIN_SPREAD**2
    return HairColour(mean, cov)


def hair_likeness(x: torch.Tensor, colour: HairColour) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: how much each pixel's colour looks like ``colour`` (1 within
    :data:`LIKENESS_DISTANCES`[0] standard deviations, 0 beyond [1])."""
    o = _opponent(x) - colour.mean[..., None, None]
    inv = torch.linalg.inv(colour.cov)
    d2 = torch.einsum("bihw,bij,bjhw->bhw", o, inv, o).clamp_min(0)
    near, far = LIKENESS_DISTANCES
    return ((far - d2.sqrt()) / (far - near)).clamp(0, 1).unsqueeze(1)


def _map(region: str, x: torch.Tensor, layout: str | CropLayout | None) -> torch.Tensor:
    m = torch.from_numpy(region_map(region, x.shape[-1], layout)).to(x)
    return m.expand(x.shape[0], 1, *m.shape)


def _robust_stats(o: torch.Tensor, where: torch.Tensor) -> HairColour:
    """Median and median-absolute-deviation spread (a diagonal covariance) of ``o``'s pixels where ``where``
    (B, 1, H, W) is over 0.5: a patch that is partly background or skin still gives the colour of its majority."""
    means, covs = [], []
    for ob, wb in zip(o, where, strict=True):
        pixels = ob.flatten(1)[:, wb.flatten() > 0.5]  # (3, N)
        med = pixels.median(dim=1).values
        mad = (pixels - med[:, None]).abs().median(dim=1).values * 1.4826
        means.append(med)
        covs.append(torch.diag(mad.clamp_min(MIN_SPREAD) ** 2))
    return HairColour(torch.stack(means), torch.stack(covs))


def hair_colour(x: torch.Tensor, layout: str | CropLayout | None = "head") -> HairColour:
    """The hair colour of aligned crops ``x`` (B, 3, S, S): the crown patch's majority colour, refined once over
    the hair region by likeness to it (so a background in the region does not count)."""
    o = _opponent(x)
    seed = _robust_stats(o, _map("crown", x, layout))
    weights = _map("hair", x, layout) * hair_likeness(x, seed)
    refined = _weighted_stats(o, weights)
    # a crown that is not hair-like anywhere else (a hat, a bald head) keeps the seed
    enough = weights.sum(dim=(1, 2, 3)) > 0.02 * x.shape[-1] ** 2
    mean = torch.where(enough[:, None], refined.mean, seed.mean)
    cov = torch.where(enough[:, None, None], refined.cov, seed.cov)
    return HairColour(mean, cov)


def skin_colour(x: torch.Tensor, layout: str | CropLayout | None = "head") -> HairColour:
    """The skin colour of aligned crops ``x``: the cheeks' majority colour."""
    return _robust_stats(_opponent(x), _map("cheeks", x, layout))


def recolour(x: torch.Tensor, source: HairColour, target: HairColour) -> torch.Tensor:
    """``x`` with colours moved from ``source``'s statistics to ``target``'s: per opponent channel,
    ``(v - μs) · clamp(σt / σs) + μt``."""
    o = _opponent(x)
    low, high = (torch.tensor(r, dtype=x.dtype, device=x.device) for r in zip(*SPREAD_RANGES, strict=True))
    scale = torch.minimum(torch.maximum(target.spread / source.spread, low), high)
    out = (o - source.mean[..., None, None]) * scale[..., None, None] + target.mean[..., None, None]
    return _rgb(out)


def hair_colour_edit(x: torch.Tensor, exemplar: torch.Tensor, mask: torch.Tensor,
                     layout: str | CropLayout | None = "head") -> torch.Tensor:
    """``x`` (B, 3, S, S) with its hair in the exemplar's hair colour wherever ``mask`` (B, 1, r, r, resized
    to S) is open and the pixel looks like the source's hair. Outside the mask ``x`` is returned as is."""
    side = x.shape[-1]
    if mask.shape[-1] != side:
        mask = torch.nn.functional.interpolate(mask, size=(side, side), mode="bilinear",
                                               align_corners=False).clamp(0, 1)
    if exemplar.shape[-1] != side:
        exemplar = torch.nn.functional.interpolate(exemplar, size=(side, side), mode="bilinear",
                                                   align_corners=False, antialias=True)
    own, theirs = hair_colour(x, layout), hair_colour(exemplar, layout)
    # likeness on a slightly smoothed face, so single hairs and JPEG noise do not make a speckled mask; a pixel
    # that looks like the face's skin is not hair (a bald crown, a forehead the colour of blond hair)
    smooth = gaussian_lowpass(x, 0.006 * side)
    likeness = hair_likeness(smooth, own) * (1 - hair_likeness(smooth, skin_colour(x, layout)))
    likeness = gaussian_lowpass(likeness, 0.006 * side)
    return x + mask * likeness * (recolour(x, own, theirs) - x)
