"""Encoders around a trained cGAN (IcGAN's E_z and E_y) and the project's own attribute classifier.

- ``encoder-z``: E_z learns x → z on generated pairs (z ~ N(0, I), y ~ the data's label distribution,
  x = G(z, y)) with latent MSE; needs a ``cgan`` base bundle, exports it plus ``encoder_z``.
- ``encoder-y``: E_y learns x → attribute logits on real labelled images (BCE); exports base + ``encoder_y``.
- ``classifier``: the same network and loss trained from scratch, exported as its own ``classifier``
  bundle; its features are the project's stand-in for Inception features in Frechet distances.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.bundle import make_manifest, save_bundle
from engine.errors import FacetError
from engine.models.cgan import ConvEncoder
from engine.train.recipe import Recipe, image_grid, unwrap
from engine.train.recipes.cgan import attribute_error, bce_pm1


@dataclass
class EncoderConfig:
    resolution: int = 64
    base_channels: int = 32
    feature_dim: int = 512
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    sample_seed: int = 1234
    # attribute recipes only: mirror a random half of each batch. All 12 default attributes are left-right
    # symmetric, so this doubles the data without touching the labels. Off by default: the shipped
    # classifier64 trained without it, and 6000 steps with it gained only 0.001 accuracy (docs/models.md)
    hflip: bool = False


class _EncoderRecipe(Recipe):
    """One ConvEncoder under role ``role`` with one Adam optimiser ``opt``."""

    Config = EncoderConfig
    role = "encoder"

    def __init__(self, config: EncoderConfig, attributes: list[str], base: Any = None):
        super().__init__(config, attributes, base)
        if base is not None:
            if base.resolution != config.resolution:
                raise FacetError(f"the base bundle is {base.resolution} px, the recipe is set to {config.resolution} px")
            if base.attributes != self.attributes:
                raise FacetError(f"the base bundle's attributes {base.attributes} differ from the data's {self.attributes}")
        net = ConvEncoder(ConvEncoder.Config(config.resolution, self.out_dim(), config.base_channels, config.feature_dim))
        self.nets[self.role] = net
        self._opts = {"opt": torch.optim.Adam(net.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))}
        self._last: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def out_dim(self) -> int:
        return len(self.attributes)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._opts

    def export_bundle(self, path: Path, steps: int, extra_manifest: dict[str, Any]) -> Path:
        nets = dict(self.base.networks) if self.base is not None else {}
        nets[self.role] = unwrap(self.nets[self.role])
        family = self.base.family if self.base is not None else self.role
        fields = self.manifest_fields(extra_manifest)
        fields.setdefault("name", f"{family}-{self.resolution}")
        manifest = make_manifest(family, self.resolution, self.attributes, nets, **fields)
        return save_bundle(path, nets, manifest, tensors=self.base.tensors if self.base is not None else None)


def random_hflip(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) with each image mirrored left-right with probability 1/2 (torch's global RNG: seeded runs repeat)."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


class _AttributeRecipe(_EncoderRecipe):
    """Attribute logits from real images: BCE-with-logits against (y + 1) / 2."""

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        x, y = batch
        if self.config.hflip:
            x = random_hflip(x)
        with self.autocast():
            logits = self.nets[self.role](x)
            loss = bce_pm1(logits, y)
        self.step("opt", loss)
        self._last = (x[:16].detach(), logits[:16].detach().float(), y[:16].detach())
        return {"loss": loss.item(), "error": attribute_error(logits, y)}

    def sample_grid(self, step: int) -> np.ndarray:
        """The latest images, each with a strip of attribute cells: green = predicted right, red = wrong."""
        if self._last is None:
            return np.full((8, 8, 3), 255, np.uint8)
        x, logits, y = (t.cpu() for t in self._last)
        grid = image_grid(x, columns=len(x), pad=2)
        r, n = x.shape[-1], y.shape[1]
        strip = np.full((max(4, r // 8), grid.shape[1], 3), 255, np.uint8)
        for i in range(len(x)):
            left = 2 + i * (r + 2)
            for a in range(n):
                ok = (logits[i, a] > 0) == (y[i, a] > 0)
                x0, x1 = left + a * r // n, left + (a + 1) * r // n
                strip[:, x0 : max(x1 - 1, x0 + 1)] = (40, 170, 60) if ok else (210, 40, 40)
        return np.concatenate([grid, strip], axis=0)


class EncoderYRecipe(_AttributeRecipe):
    name = "encoder-y"
    role = "encoder_y"
    base_family = "cgan"


class ClassifierRecipe(_AttributeRecipe):
    name = "classifier"
    role = "classifier"


class EncoderZRecipe(_EncoderRecipe):
    name = "encoder-z"
    role = "encoder_z"
    base_family = "cgan"

    def out_dim(self) -> int:
        return int(self.base.network("generator").config.z_dim)

    def _generated(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z, y, G(z, y)) with z ~ N(0, I) and y the batch's real labels shuffled."""
        y = y[torch.randperm(len(y), device=self.device)]
        z = torch.randn(len(y), self.out_dim(), device=self.device)
        with torch.no_grad(), self.autocast():
            x = self.base.network("generator")(z, y)
        return z, y, x.float()

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        z, y, x = self._generated(batch[1])
        with self.autocast():
            z_hat = self.nets[self.role](x)
            loss = F.mse_loss(z_hat.float(), z)
        self.step("opt", loss)
        self._last = (z[:8].detach(), y[:8].detach(), x[:8].detach())
        return {"loss_z": loss.item()}

    @torch.no_grad()
    def sample_grid(self, step: int) -> np.ndarray:
        """Top row: generated images; bottom row: G(E_z(x), y), their reconstructions."""
        if self._last is None:
            return np.full((8, 8, 3), 255, np.uint8)
        _, y, x = self._last
        E, G = unwrap(self.nets[self.role]), self.base.network("generator")
        was_training = E.training
        E.eval()
        with self.autocast():
            rec = G(E(x), y).float()
        E.train(was_training)
        return image_grid(torch.cat([x, rec]), columns=len(x))
