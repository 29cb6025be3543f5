"""ELEGANT (Xiao, Hong, Ma, ECCV 2018): exemplar-based transfer of several face attributes at once.

- :class:`ElegantEncoder` image → latent (B, n_attrs·block_channels, S, S), read as one channel block per
  attribute (block i = channels ``[i·k, (i+1)·k)``), plus the intermediate features the decoder reuses.
- :class:`ElegantDecoder` (new latent, own latent, own features) → a *residual* added to the input image.
  Feeding the own latent twice asks for "no change"; swapping block i for an exemplar's block asks for
  the exemplar's value of attribute i. U-Net skips come from the input image's own encoder features, so
  identity and background detail never have to pass through the small latent.
- :class:`ElegantDiscriminator` image + attribute labels → patch logits (and, optionally, attribute logits
  from a label-blind auxiliary classifier); the recipe uses two, on the full- and the half-resolution image.

Images are (B, 3, R, R) in [-1, 1], R in {32 (tests), 64, 128, 256}; labels (B, n_attrs) in [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_network

RESOLUTIONS = (32, 64, 128, 256)
NORMS = ("batch", "instance", "none")


def _levels(resolution: int, latent_size: int) -> int:
    """Number of stride-2 steps between the image and the latent grid."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
    if latent_size < 2 or resolution % latent_size or resolution // latent_size < 4:
        raise ValueError(f"latent_size {latent_size} must divide resolution {resolution} at least 4x")
    levels = int(math.log2(resolution // latent_size))
    if 2**levels != resolution // latent_size:
        raise ValueError(f"resolution / latent_size must be a power of two, got {resolution}/{latent_size}")
    return levels


def _widths(base: int, cap: int, levels: int) -> list[int]:
    """Channel widths of the encoder's intermediate levels, finest first (the last level is the latent)."""
    return [min(cap, base * 2**k) for k in range(levels - 1)]


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def _up(kind: str, cin: int, cout: int) -> nn.Module:
    """A 2x upsampling convolution."""
    if kind == "transpose":
        return nn.ConvTranspose2d(cin, cout, 4, 2, 1)
    if kind == "resize":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1))
    raise ValueError(f"upsample must be 'transpose' or 'resize', got {kind!r}")


def _check(x: torch.Tensor, shape: tuple[int, ...], who: str, what: str) -> None:
    """Shape check at a module boundary; -1 in ``shape`` matches any size."""
    ok = x.ndim == len(shape) and all(s in (-1, d) for s, d in zip(shape, x.shape, strict=True))
    if not ok:
        want = ", ".join("B" if s == -1 else str(s) for s in shape)
        raise ValueError(f"{who} expects {what} ({want}), got {tuple(x.shape)}")


@dataclass
class _Shared:
    """Fields the encoder and decoder must agree on (both configs carry them)."""

    resolution: int = 128
    n_attrs: int = 5
    block_channels: int = 64
    base_channels: int = 64
    max_channels: int = 512
    latent_size: int = 8
    norm: str = "batch"


@register_network("elegant.Encoder")
class ElegantEncoder(nn.Module):
    """Strided 4x4 convolutions with normalisation; the last one outputs the attribute-block latent."""

    @dataclass
    class Config(_Shared):
        pass

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        levels = _levels(c.resolution, c.latent_size)
        widths = _widths(c.base_channels, c.max_channels, levels) + [c.n_attrs * c.block_channels]
        self.blocks = nn.ModuleList()
        cin = 3
        for k, cout in enumerate(widths):
            norm = nn.Identity() if k == 0 else _norm(c.norm, cout)  # no norm on raw pixels (DCGAN habit)
            self.blocks.append(nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), norm, nn.LeakyReLU(0.2, True)))
            cin = cout

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        c = self.config
        return (c.n_attrs * c.block_channels, c.latent_size, c.latent_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Returns (latent, skip features finest first) for the decoder."""
        r = self.config.resolution
        _check(x, (-1, 3, r, r), "ElegantEncoder", "images")
        feats, h = [], x
        for block in self.blocks:
            h = block(h)
            feats.append(h)
        latent = feats.pop()
        _check(latent, (x.shape[0], *self.latent_shape), "ElegantEncoder", "its latent")
        return latent, feats


@register_network("elegant.Decoder")
class ElegantDecoder(nn.Module):
    """Transposed convolutions from cat(new latent, own latent) to a residual, with U-Net skips.

    With ``zero_init`` the last layer starts at zero, so an untrained decoder is the identity map.
    """

    @dataclass
    class Config(_Shared):
        skips: bool = True
        zero_init: bool = True
        upsample: str = "transpose"  # transpose (4x4 stride-2, the paper's) | resize (nearest 2x + 3x3 conv: no checkerboard)

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        levels = _levels(c.resolution, c.latent_size)
        widths = _widths(c.base_channels, c.max_channels, levels)  # encoder feature widths, finest first
        latent = c.n_attrs * c.block_channels
        self.ups = nn.ModuleList()
        cin = 2 * latent
        for k in reversed(range(levels - 1)):  # upsample to the resolution of encoder feature k
            cout = widths[k]
            self.ups.append(nn.Sequential(_up(c.upsample, cin, cout), _norm(c.norm, cout), nn.ReLU(True)))
            cin = cout * 2 if c.skips else cout
        self.out = _up(c.upsample, cin, 3)
        last = self.out if isinstance(self.out, nn.ConvTranspose2d) else self.out[1]
        if c.zero_init:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def residual(self, z_new: torch.Tensor, z_own: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """The residual image (B, 3, R, R) that turns the encoded image into the one ``z_new`` describes."""
        c = self.config
        shape = (-1, c.n_attrs * c.block_channels, c.latent_size, c.latent_size)
        _check(z_new, shape, "ElegantDecoder", "a new latent")
        _check(z_own, (z_new.shape[0], *shape[1:]), "ElegantDecoder", "an own latent")
        if c.skips and len(skips) != len(self.ups):
            raise ValueError(f"ElegantDecoder expects {len(self.ups)} skip features, got {len(skips)}")
        h = torch.cat([z_new, z_own], dim=1)
        for up, skip in zip(self.ups, reversed(skips) if c.skips else [None] * len(self.ups), strict=True):
            h = up(h)
            if skip is not None:
                _check(skip, (h.shape[0], h.shape[1], h.shape[2], h.shape[3]), "ElegantDecoder", "a skip feature")
                h = torch.cat([h, skip], dim=1)
        res = self.out(h)
        _check(res, (z_new.shape[0], 3, c.resolution, c.resolution), "ElegantDecoder", "its residual")
        return res

    def forward(
        self, x: torch.Tensor, z_new: torch.Tensor, z_own: torch.Tensor, skips: list[torch.Tensor]
    ) -> torch.Tensor:
        """The edited image ``x + residual`` (not clamped: callers clamp when converting to pixels)."""
        r = self.config.resolution
        _check(x, (z_new.shape[0], 3, r, r), "ElegantDecoder", "the input images")
        return x + self.residual(z_new, z_own, skips)


@register_network("elegant.Discriminator")
class ElegantDiscriminator(nn.Module):
    """Conditional patch discriminator: labels enter as constant maps after the first convolution.

    With ``aux_classifier`` a second trunk on the first layer's features (before the labels enter, so it
    cannot read them) predicts the attributes, as in AC-GAN and AttGAN: trained on real faces, it gives
    the decoder a direct signal that an exchanged block must make the attribute visible.
    """

    @dataclass
    class Config:
        resolution: int = 128  # of the images this one sees (R for disc_full, R/2 for disc_half)
        n_attrs: int = 5
        base_channels: int = 64
        max_channels: int = 512
        patch_size: int = 4  # side of the output logit grid
        aux_classifier: bool = False

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        if c.resolution < 16 or c.resolution & (c.resolution - 1):
            raise ValueError(f"discriminator resolution must be a power of two >= 16, got {c.resolution}")
        levels = int(math.log2(c.resolution // c.patch_size))
        if 2**levels * c.patch_size != c.resolution or levels < 2:
            raise ValueError(f"patch_size {c.patch_size} does not fit resolution {c.resolution}")
        w = [min(c.max_channels, c.base_channels * 2**k) for k in range(levels)]
        self.first = nn.Sequential(nn.Conv2d(3, w[0], 4, 2, 1), nn.LeakyReLU(0.2, True))
        self.trunk = self._stack(w[0] + c.n_attrs, w[1:])
        self.head = nn.Conv2d(w[-1], 1, 3, 1, 1)
        if c.aux_classifier:
            self.aux_trunk = self._stack(w[0], w[1:])
            self.aux_head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w[-1], c.n_attrs))

    @staticmethod
    def _stack(cin: int, widths: list[int]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for cout in widths:
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            cin = cout
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(patch logits (B, patch_size²), attribute logits (B, n_attrs) or None without ``aux_classifier``).

        One call gives both, so that under DDP each backward marks the parameters once.
        """
        c = self.config
        _check(x, (-1, 3, c.resolution, c.resolution), "ElegantDiscriminator", "images")
        _check(y, (x.shape[0], c.n_attrs), "ElegantDiscriminator", "labels")
        f = self.first(x)
        ymap = y.to(f.dtype)[:, :, None, None].expand(-1, -1, f.shape[2], f.shape[3])
        out = self.head(self.trunk(torch.cat([f, ymap], dim=1))).flatten(1)
        _check(out, (x.shape[0], c.patch_size**2), "ElegantDiscriminator", "its logits")
        aux = self.aux_head(self.aux_trunk(f)) if c.aux_classifier else None
        return out, aux


def half(x: torch.Tensor) -> torch.Tensor:
    """The half-resolution view the second discriminator judges."""
    return F.avg_pool2d(x, 2)


def block_slice(index: int, block_channels: int) -> slice:
    """Channels of attribute block ``index`` in a latent."""
    return slice(index * block_channels, (index + 1) * block_channels)


def exchange(z_own: torch.Tensor, z_other: torch.Tensor, indices: list[int], block_channels: int,
             strength: float | torch.Tensor = 1.0) -> torch.Tensor:
    """``z_own`` with blocks ``indices`` moved towards ``z_other``'s: (1-s)·own + s·other (s=1: swap).

    ``strength`` is a scalar or a per-index tensor (len(indices),); values beyond 1 extrapolate.
    """
    if z_own.shape != z_other.shape:
        raise ValueError(f"exchange needs latents of one shape, got {tuple(z_own.shape)} and {tuple(z_other.shape)}")
    out = z_own.clone()
    s = torch.as_tensor(strength, dtype=z_own.dtype, device=z_own.device).expand(len(indices))
    for j, i in enumerate(indices):
        sl = block_slice(i, block_channels)
        out[:, sl] = torch.lerp(z_own[:, sl], z_other[:, sl], s[j])  # exact swap at s = 1
    return out
