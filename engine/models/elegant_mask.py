"""Masked ELEGANT: ELEGANT's latent-block exchange with a decoder that says *where* to edit.

The decoder of :mod:`engine.models.elegant` adds a dense residual to the whole crop, so every edit
mottles cheeks and background too. Here the decoder predicts, next to its residual (the content), a
soft attention mask ``m`` (GANimation, Pumarola et al. 2018; SaGAN, Zhang et al. 2018):

    edited = x + m · r     (= m · (x + r) + (1 − m) · x: content inside the mask, the input outside)

``m`` is exactly 0 below :data:`MASK_FLOOR` (a straight-through threshold, so training sees the same
hard zeros as inference): outside the mask the photo keeps its own pixels bit for bit, at any resolution,
because the paste-back adds ``m · r`` upsampled and ``0 · r`` is nothing.

A lean design for a CPU budget: 4x4 stride-2 convolutions down, nearest-neighbour upsampling + 3x3
convolutions up (no checkerboard), U-Net skips from the input's own features, one latent block of
``block_channels`` per attribute on an ``S x S`` grid. The discriminator is a plain conv stack with a
projection head for the labels (Miyato & Koyama 2018), cheaper and steadier than label maps.

Images are (B, 3, R, R) in [-1, 1] with R a multiple of 16 (any such size, 128 by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_network

#: Mask values below this are exactly 0 (0.5 / 127.5: a change under half a grey level even at full strength).
MASK_FLOOR = 0.02


#: What fills a decoder's mask (``MaskDecoder.Config.content``).
CONTENTS = ("model", "exemplar")
#: The prior logit where no attribute changes: sigmoid(-12) is far below any floor, so the mask is exactly 0.
CLOSED = -12.0
#: The Gaussian that splits a face into low frequencies (colour, light) and detail, as a fraction of its side.
BAND_SIGMA = 0.04


def gaussian_lowpass(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` (B, C, H, W) blurred by a separable Gaussian of ``sigma`` pixels (reflected borders)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)
    g = torch.exp(-0.5 * (t / max(sigma, 1e-3)) ** 2)
    g = (g / g.sum()).to(x.dtype)
    c = x.shape[1]
    h = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(h, (0, 0, radius, radius), mode="reflect"), g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def exemplar_edit(x: torch.Tensor, exemplar: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor,
                  sigma: float = BAND_SIGMA) -> torch.Tensor:
    """``x`` with, inside ``mask``, the exemplar's bands mixed in: ``x + m·(α·Δlow + β·Δdetail)``.

    Δlow / Δdetail are the exemplar's low frequencies / detail minus the face's (Gaussian of ``sigma`` × side):
    α = 1 takes its colour under the face's own texture (hair colour), β = 1 its texture in the face's light
    (a frame, a moustache, real pixels at the crop's full resolution). ``mask`` and ``weights`` (B, 1|2, r, r)
    are resized to ``x``'s side (bilinear; the mask's zeros stay zeros, so outside it ``x`` is returned as is);
    ``exemplar`` is resized too.
    """
    side = x.shape[-1]
    if exemplar.shape[-1] != side:
        exemplar = F.interpolate(exemplar, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    if mask.shape[-1] != side:
        mask = F.interpolate(mask, size=(side, side), mode="bilinear", align_corners=False).clamp(0, 1)
        weights = F.interpolate(weights, size=(side, side), mode="bilinear", align_corners=False)
    s = sigma * side
    low_x, low_e = gaussian_lowpass(x, s), gaussian_lowpass(exemplar, s)
    change = weights[:, :1] * (low_e - low_x) + weights[:, 1:2] * ((exemplar - low_e) - (x - low_x))
    return x + mask * change


def _check(x: torch.Tensor, shape: tuple[int, ...], who: str, what: str) -> None:
    ok = x.ndim == len(shape) and all(s in (-1, d) for s, d in zip(shape, x.shape, strict=True))
    if not ok:
        want = ", ".join("B" if s == -1 else str(s) for s in shape)
        raise ValueError(f"{who} expects {what} ({want}), got {tuple(x.shape)}")


def _levels(resolution: int, latent_size: int) -> int:
    if resolution % latent_size or resolution < 16:
        raise ValueError(f"latent_size {latent_size} must divide resolution {resolution}")
    ratio = resolution // latent_size
    levels = int(round(math.log2(ratio)))
    if 2**levels != ratio or levels < 3:
        raise ValueError(f"resolution / latent_size must be a power of two >= 8, got {resolution}/{latent_size}")
    return levels


def _widths(base: int, cap: int, levels: int) -> list[int]:
    """Feature widths at resolutions R, R/2, ..., R/2^(levels-1) (finest first)."""
    return [min(cap, base * 2**k) for k in range(levels)]


@dataclass
class _Shared:
    resolution: int = 128
    n_attrs: int = 6
    block_channels: int = 32
    base_channels: int = 24
    max_channels: int = 256
    latent_size: int = 8


def hard_mask(soft: torch.Tensor, floor: float = MASK_FLOOR) -> torch.Tensor:
    """``soft`` with values below ``floor`` set to exactly 0; gradients pass as if untouched (straight-through),
    so a region can still grow out of the dead zone during training."""
    hard = torch.where(soft < floor, torch.zeros_like(soft), soft)
    return soft + (hard - soft).detach() if soft.requires_grad else hard


@register_network("elegant_mask.Encoder")
class MaskEncoder(nn.Module):
    """A 3x3 stem at full resolution, then 4x4 stride-2 convolutions; the last one is the attribute latent."""

    @dataclass
    class Config(_Shared):
        pass

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        levels = _levels(c.resolution, c.latent_size)
        widths = _widths(c.base_channels, c.max_channels, levels)
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1), nn.LeakyReLU(0.2, True))
        self.downs = nn.ModuleList()
        for k in range(1, levels):
            self.downs.append(nn.Sequential(nn.Conv2d(widths[k - 1], widths[k], 4, 2, 1),
                                            nn.GroupNorm(min(8, widths[k]), widths[k]), nn.LeakyReLU(0.2, True)))
        self.to_latent = nn.Conv2d(widths[-1], c.n_attrs * c.block_channels, 4, 2, 1)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        c = self.config
        return (c.n_attrs * c.block_channels, c.latent_size, c.latent_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(latent (B, n·k, S, S), skip features finest first: R, R/2, ..., 2S)."""
        r = self.config.resolution
        _check(x, (-1, 3, r, r), "MaskEncoder", "images")
        h = self.stem(x)
        feats = [h]
        for down in self.downs:
            h = down(h)
            feats.append(h)
        latent = self.to_latent(h)
        _check(latent, (x.shape[0], *self.latent_shape), "MaskEncoder", "its latent")
        return latent, feats


class _Up(nn.Module):
    """Nearest 2x, then 3x3 conv + norm + ReLU, then the skip joins by concatenation and a 3x3 conv merges."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1),
                                nn.GroupNorm(min(8, cout), cout), nn.ReLU(True))
        self.merge = nn.Sequential(nn.Conv2d(cout + cskip, cout, 3, 1, 1), nn.ReLU(True))

    def forward(self, h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([self.up(h), skip], dim=1))


@register_network("elegant_mask.Decoder")
class MaskDecoder(nn.Module):
    """(new latent, own latent, own skips) → (mask (B, 1, R, R) in [0, 1], residual (B, 3, R, R)).

    The decoder reads the latent as (new − own, own): a request for no change is all zeros in its first half.

    The mask starts small (sigmoid(-3) ≈ 0.05) and the residual near 0, so an untrained decoder is close to
    the identity map; the mask is alive from the first step (a mask that starts below the floor gets no
    gradient from the edits' losses, only from the guard's hinge).
    """

    @dataclass
    class Config(_Shared):
        mask_bias: float = -3.0
        # mask values below this are exactly 0; above the default, a faint mask spread over the face (the closed
        # mask's sigmoid(-3) ≈ 0.05 is such a mask) cannot tint the cheeks: 0.05 · a full residual is 6 grey levels
        mask_floor: float = MASK_FLOOR
        # what fills the mask: "model" — the decoder's residual (x + m·r); "exemplar" — the exemplar's own pixels,
        # mixed per pixel by two predicted weights: its low frequencies (colour: hair) and its detail (texture:
        # frames, moustache), each on top of the other band of the face (:func:`exemplar_edit`)
        content: str = "model"
        # with content "exemplar": a fixed logit map per attribute (buffer ``prior``, filled by the recipe from the
        # attribute regions) added to the mask's, the largest over the attributes being changed; with none
        # changed the mask is closed outright. The mask starts as the region and learns what to take inside it.
        region_prior: bool = False

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        levels = _levels(c.resolution, c.latent_size)
        widths = _widths(c.base_channels, c.max_channels, levels)
        latent = c.n_attrs * c.block_channels
        self.ups = nn.ModuleList()
        cin = 2 * latent
        for k in reversed(range(levels)):
            self.ups.append(_Up(cin, widths[k], widths[k]))
            cin = widths[k]
        if c.content not in CONTENTS:
            raise ValueError(f"content must be one of {', '.join(CONTENTS)}, not {c.content!r}")
        self.head = nn.Conv2d(cin, 4, 3, 1, 1)
        nn.init.normal_(self.head.weight, std=1e-3)
        with torch.no_grad():
            self.head.bias.zero_()
            self.head.bias[0] = c.mask_bias
            if c.content == "exemplar":  # start by taking the exemplar's detail, not its colour
                self.head.bias[1], self.head.bias[2] = -2.0, 2.0
        if c.region_prior:
            self.register_buffer("prior", torch.zeros(c.n_attrs, 1, c.resolution, c.resolution))

    def edit(self, z_new: torch.Tensor, z_own: torch.Tensor,
             skips: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(hard mask, residual) that turn the encoded image into the one ``z_new`` describes."""
        c = self.config
        shape = (-1, c.n_attrs * c.block_channels, c.latent_size, c.latent_size)
        _check(z_new, shape, "MaskDecoder", "a new latent")
        _check(z_own, (z_new.shape[0], *shape[1:]), "MaskDecoder", "an own latent")
        if len(skips) != len(self.ups):
            raise ValueError(f"MaskDecoder expects {len(self.ups)} skip features, got {len(skips)}")
        # the change asked for, and the face's own latent: with its own latent (no change) the first channels
        # are exactly 0, which makes "leave the face alone" the easy, default answer
        h = torch.cat([z_new - z_own, z_own], dim=1)
        for up, skip in zip(self.ups, reversed(skips), strict=True):
            h = up(h, skip)
        out = self.head(h).float()
        logit = out[:, :1]
        if c.region_prior:
            logit = logit + self._prior(z_new, z_own)
        mask = hard_mask(torch.sigmoid(logit), c.mask_floor)
        if c.content == "exemplar":  # (colour weight, detail weight) in [0, 1]
            return mask, torch.sigmoid(out[:, 1:3])
        residual = 2.0 * torch.tanh(out[:, 1:] * 0.5)  # within [-2, 2]: any colour from any colour
        _check(residual, (z_new.shape[0], 3, c.resolution, c.resolution), "MaskDecoder", "its residual")
        return mask, residual

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        # a decoder saved without a region prior (content "model") warm-starts one that has it: keep ours
        key = prefix + "prior"
        if self.config.region_prior and key not in state_dict:
            state_dict = {**state_dict, key: self.prior}
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _prior(self, z_new: torch.Tensor, z_own: torch.Tensor) -> torch.Tensor:
        """(B, 1, R, R): the largest prior logit over the attributes whose block changes; CLOSED where none does."""
        c = self.config
        delta = (z_new - z_own).float().unflatten(1, (c.n_attrs, c.block_channels)).abs().amax(dim=(2, 3, 4))
        changed = (delta > 1e-6)[:, :, None, None, None]  # (B, n, 1, 1, 1)
        prior = self.prior.float()[None]  # (1, n, 1, R, R)
        return torch.where(changed, prior, torch.full_like(prior, CLOSED)).amax(dim=1)

    def forward(self, x: torch.Tensor, z_new: torch.Tensor, z_own: torch.Tensor,
                skips: list[torch.Tensor]) -> torch.Tensor:
        """The edited image ``x + m · r`` (not clamped); models with exemplar content need :func:`exemplar_edit`."""
        if self.config.content != "model":
            raise ValueError("this decoder takes the exemplar's pixels: use exemplar_edit(x, exemplar, *edit(...))")
        mask, residual = self.edit(z_new, z_own, skips)
        return x + mask * residual


@register_network("elegant_mask.Discriminator")
class ProjectionDiscriminator(nn.Module):
    """Strided conv stack → a fully connected feature → (realism logit + ⟨embed(y), feature⟩, attribute logits).

    The feature layer reads the whole spatial map, not its average: attributes are *where* something is (dark
    pixels at eye height are glasses, at the top of the head hair). With global pooling the label-blind attribute
    head learned synthetic glasses to 0.70 accuracy in 300 steps, with this layer to 0.91 (DiffAugment on both).
    The attribute head never sees the labels; it is trained on real faces only, and asks an exchanged block to
    make its attribute visible.
    """

    @dataclass
    class Config:
        resolution: int = 128
        n_attrs: int = 6
        base_channels: int = 32
        max_channels: int = 256
        feature_dim: int = 256

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.resolution % 16 or c.resolution < 32:
            raise ValueError(f"discriminator resolution must be a multiple of 16 >= 32, got {c.resolution}")
        levels = int(math.log2(c.resolution // 4))
        layers: list[nn.Module] = []
        cin = 3
        for k in range(levels):
            cout = min(c.max_channels, c.base_channels * 2**k)
            layers += [nn.Conv2d(cin, cout, 4 if k else 3, 2 if k else 1, 1), nn.LeakyReLU(0.2, True)]
            cin = cout
        self.trunk = nn.Sequential(*layers)
        for m in self.trunk:
            if isinstance(m, nn.Conv2d):  # He init for LeakyReLU: PyTorch's default shrinks the signal per layer
                nn.init.kaiming_normal_(m.weight, a=0.2)
                nn.init.zeros_(m.bias)
        side = c.resolution // 2 ** (levels - 1)
        self.feature = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, c.feature_dim), nn.LeakyReLU(0.2, True))
        self.realism = nn.Linear(c.feature_dim, 1)
        self.embed = nn.Linear(c.n_attrs, c.feature_dim, bias=False)
        self.attrs = nn.Linear(c.feature_dim, c.n_attrs)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B,), attribute logits (B, n_attrs)); labels ``y`` (B, n_attrs) in [-1, 1]."""
        c = self.config
        _check(x, (-1, 3, c.resolution, c.resolution), "ProjectionDiscriminator", "images")
        _check(y, (x.shape[0], c.n_attrs), "ProjectionDiscriminator", "labels")
        f = self.feature(self.trunk(x)).float()
        logit = self.realism(f).squeeze(1) + (self.embed(y.float()) * f).sum(1)
        return logit, self.attrs(f)
