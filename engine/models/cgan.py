"""Conditional DCGAN in the IcGAN / AC-GAN style, plus the convolutional encoders used around it.

- :class:`Generator` G(z, y): y is concatenated with z at the input (IcGAN's best conditioning for G).
- :class:`Discriminator` D(x, y): y is injected as constant feature maps right after the first
  convolution (IcGAN's best position for D); an optional auxiliary head classifies attributes from x
  alone (AC-GAN) — it must not see y, or it could copy it.
- :class:`ConvEncoder`: image → vector; E_z, E_y, the in-domain encoder and the attribute classifier.
- :class:`LatentDiscriminator`: code → logit, keeps inverted codes inside p_z (force-in-domain).

All take images in [-1, 1] of shape (B, 3, R, R), R in {32, 64, 128, 256}; y in [-1, 1] of shape (B, n_attrs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from engine.models.registry import register_network

RESOLUTIONS = (32, 64, 128, 256)


def _levels(resolution: int) -> int:
    """Number of 2x up/down-sampling steps between 4x4 and ``resolution``."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution}")
    return int(math.log2(resolution)) - 2


def _width(base: int, level: int, levels: int, cap: int = 8) -> int:
    """Channel width at ``level`` (0 = 4x4 end): wide near 4x4, narrow near full resolution."""
    return base * min(cap, 2 ** max(0, levels - 1 - level))


def _check_image(x: torch.Tensor, resolution: int, who: str) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != resolution or x.shape[3] != resolution:
        raise ValueError(f"{who} expects images (B, 3, {resolution}, {resolution}), got {tuple(x.shape)}")


@register_network("cgan.Generator")
class Generator(nn.Module):
    @dataclass
    class Config:
        resolution: int = 64
        z_dim: int = 100
        n_attrs: int = 5
        base_channels: int = 64

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        levels = _levels(config.resolution)
        c0 = _width(config.base_channels, 0, levels)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.z_dim + config.n_attrs, c0, 4, 1, 0, bias=False),
            nn.BatchNorm2d(c0),
            nn.ReLU(True),
        ]
        for level in range(1, levels):
            cin, cout = _width(config.base_channels, level - 1, levels), _width(config.base_channels, level, levels)
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(_width(config.base_channels, levels - 1, levels), 3, 4, 2, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        c = self.config
        if z.shape[-1] != c.z_dim or y.shape[-1] != c.n_attrs or z.shape[0] != y.shape[0]:
            raise ValueError(f"G expects z (B, {c.z_dim}) and y (B, {c.n_attrs}), got {tuple(z.shape)} and {tuple(y.shape)}")
        h = torch.cat([z, y.to(z.dtype)], dim=1)[:, :, None, None]
        return self.main(h)


@register_network("cgan.Discriminator")
class Discriminator(nn.Module):
    @dataclass
    class Config:
        resolution: int = 64
        n_attrs: int = 5
        base_channels: int = 64
        aux_classifier: bool = True

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        levels = _levels(config.resolution)
        base = config.base_channels
        w = [_width(base, levels - 1 - i, levels) for i in range(levels)]  # full-res → 4x4
        self.first = nn.Sequential(nn.Conv2d(3, w[0], 4, 2, 1), nn.LeakyReLU(0.2, True))
        self.trunk = self._stack(w[0] + config.n_attrs, w)
        self.adv_head = nn.Conv2d(w[-1], 1, 4, 1, 0)
        if config.aux_classifier:
            self.aux_trunk = self._stack(w[0], w)
            self.aux_head = nn.Conv2d(w[-1], config.n_attrs, 4, 1, 0)

    @staticmethod
    def _stack(cin: int, widths: list[int]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for cout in widths[1:]:
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
            cin = cout
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns (real/fake logit (B,), attribute logits (B, n_attrs) or None)."""
        _check_image(x, self.config.resolution, "D")
        f = self.first(x)
        ymap = y.to(f.dtype)[:, :, None, None].expand(-1, -1, f.shape[2], f.shape[3])
        adv = self.adv_head(self.trunk(torch.cat([f, ymap], dim=1))).flatten()
        aux = self.aux_head(self.aux_trunk(f)).flatten(1) if self.config.aux_classifier else None
        return adv, aux


@register_network("cgan.ConvEncoder")
class ConvEncoder(nn.Module):
    """Image → vector (E_z, E_y, in-domain encoder, attribute classifier); ``features`` exposes the penultimate layer."""

    @dataclass
    class Config:
        resolution: int = 64
        out_dim: int = 100
        base_channels: int = 32
        feature_dim: int = 512

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        levels = _levels(config.resolution)
        w = [_width(config.base_channels, levels - 1 - i, levels) for i in range(levels)]
        layers: list[nn.Module] = [nn.Conv2d(3, w[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(w[:-1], w[1:], strict=True):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(w[-1] * 16, config.feature_dim), nn.LeakyReLU(0.2, True))
        self.out = nn.Linear(config.feature_dim, config.out_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x, self.config.resolution, type(self).__name__)
        return self.fc(self.conv(x))

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Intermediate activations (after each block): the project's own 'perceptual' features."""
        _check_image(x, self.config.resolution, type(self).__name__)
        maps, h = [], x
        for layer in self.conv:
            h = layer(h)
            if isinstance(layer, nn.LeakyReLU):
                maps.append(h)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


@register_network("cgan.LatentDiscriminator")
class LatentDiscriminator(nn.Module):
    """Tells samples of p_z = N(0, I) from encoded codes; its logit is a penalty that keeps codes in-domain."""

    @dataclass
    class Config:
        z_dim: int = 100
        hidden: int = 512

    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        h = config.hidden
        self.main = nn.Sequential(
            nn.Linear(config.z_dim, h), nn.LeakyReLU(0.2, True),
            nn.Linear(h, h), nn.LeakyReLU(0.2, True),
            nn.Linear(h, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z).flatten()


def labels_to_y(logits: torch.Tensor) -> torch.Tensor:
    """Attribute logits → y in [-1, 1] (2·sigmoid − 1), the scale G is conditioned on."""
    return torch.tanh(logits / 2)
