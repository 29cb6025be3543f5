"""Reconstruction losses measured with the project's own networks (no ImageNet weights, no downloads).

The "perceptual" distance uses the activations of the bundle's discriminator (first block + the
attribute trunk, which does not see y) and, optionally, of an encoder's ``feature_maps``. Each layer's
squared error is divided by the target's mean square activation, so layers of different scale weigh alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from engine.bundle import Bundle

FeatureFn = Callable[[torch.Tensor], list[torch.Tensor]]


def _sequential_maps(x: torch.Tensor, layers: nn.Sequential) -> list[torch.Tensor]:
    """Outputs of every LeakyReLU/ReLU in ``layers`` (one per block)."""
    out, h = [], x
    for layer in layers:
        h = layer(h)
        if isinstance(layer, nn.LeakyReLU | nn.ReLU):
            out.append(h)
    return out


def discriminator_features(disc: nn.Module) -> FeatureFn:
    """Activations of D that depend on the image only (first block, then the aux trunk when there is one)."""

    def fn(x: torch.Tensor) -> list[torch.Tensor]:
        f = disc.first(x)
        maps = [f]
        if getattr(disc, "aux_trunk", None) is not None:
            maps += _sequential_maps(f, disc.aux_trunk)
        return maps

    return fn


def encoder_features(encoder: nn.Module) -> FeatureFn:
    return encoder.feature_maps


@dataclass
class ReconstructionLoss:
    """pixel MSE + ``feature_weight`` · normalised feature distance, per sample (B,), to a fixed target."""

    feature_fns: list[FeatureFn]
    feature_weight: float = 1.0
    pixel_weight: float = 1.0

    def __post_init__(self) -> None:
        self._target: torch.Tensor | None = None
        self._target_maps: list[torch.Tensor] = []
        self._scales: list[torch.Tensor] = []
        self._mask: torch.Tensor | None = None

    def set_target(self, target: torch.Tensor, mask: torch.Tensor | None = None) -> ReconstructionLoss:
        """``target`` (1 or B, 3, R, R) in [-1, 1]; ``mask`` (1, 1, R, R) in [0, 1] selects the pixels that count."""
        self._target = target.detach()
        self._mask = None if mask is None else mask.detach()
        with torch.no_grad():
            masked = self._target if self._mask is None else self._target * self._mask
            self._target_maps = [m for fn in self.feature_fns for m in fn(masked)] if self.feature_weight else []
            self._scales = [m.pow(2).mean().clamp_min(1e-6) for m in self._target_maps]
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._target is None:
            raise RuntimeError("ReconstructionLoss.set_target must be called first")
        diff = (x - self._target).pow(2)
        if self._mask is not None:
            diff = diff * self._mask
            loss = diff.flatten(1).sum(1) / (3 * self._mask.sum().clamp_min(1.0))
            x = x * self._mask
        else:
            loss = diff.flatten(1).mean(1)
        loss = self.pixel_weight * loss
        if self.feature_weight and self._target_maps:
            maps = [m for fn in self.feature_fns for m in fn(x)]
            feat = sum(
                (m - t).pow(2).flatten(1).mean(1) / s for m, t, s in zip(maps, self._target_maps, self._scales, strict=True)
            )
            loss = loss + self.feature_weight * feat / len(maps)
        return loss


def bundle_feature_fns(bundle: Bundle, sources: tuple[str, ...] = ("discriminator",)) -> list[FeatureFn]:
    """Feature extractors from the bundle's networks that exist (``discriminator``, ``encoder_z``, ...)."""
    fns: list[FeatureFn] = []
    for role in sources:
        if not bundle.has(role):
            continue
        net = bundle.network(role)
        fns.append(discriminator_features(net) if role == "discriminator" else encoder_features(net))
    return fns


def reconstruction_loss(bundle: Bundle, feature_weight: float = 1.0,
                        sources: tuple[str, ...] = ("discriminator",)) -> ReconstructionLoss:
    """The default inversion objective for a bundle (pixels only when it has no feature network)."""
    fns = bundle_feature_fns(bundle, sources)
    return ReconstructionLoss(fns, feature_weight=feature_weight if fns else 0.0)
