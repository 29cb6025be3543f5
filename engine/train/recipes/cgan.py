"""Conditional DCGAN G(z, y) + D(x, y) with an AC-GAN auxiliary attribute head (IcGAN's generator).

Losses: non-saturating GAN loss; D's auxiliary head (which sees x only) is trained with BCE on real
images against their labels and on fakes against the y they were generated with, and G also gets the
auxiliary loss, so y really controls the attributes. The y of fakes are real labels shuffled within the
batch: attribute combinations stay realistic (no bearded women with lipstick unless the data has them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.bundle import make_manifest, save_bundle
from engine.models.cgan import Discriminator, Generator
from engine.train.recipe import Recipe, image_grid, unwrap


def bce_pm1(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits against labels in {-1, 1} (or [-1, 1]), computed in float32."""
    return F.binary_cross_entropy_with_logits(logits.float(), (y.float() + 1) / 2)


def attribute_error(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of attribute decisions (logit > 0) that disagree with the labels."""
    return ((logits.detach().float() > 0) != (y > 0)).float().mean().item()


class CganRecipe(Recipe):
    name = "cgan"

    @dataclass
    class Config:
        resolution: int = 64
        z_dim: int = 100
        g_channels: int = 64
        d_channels: int = 64
        aux_weight: float = 1.0
        lr: float = 2e-4
        beta1: float = 0.5
        beta2: float = 0.999
        sample_seed: int = 1234
        samples: int = 64

    def __init__(self, config: Config, attributes: list[str], base: Any = None):
        super().__init__(config, attributes, base)
        n = len(self.attributes)
        self.nets["generator"] = Generator(Generator.Config(config.resolution, config.z_dim, n, config.g_channels))
        self.nets["discriminator"] = Discriminator(Discriminator.Config(config.resolution, n, config.d_channels, True))
        betas = (config.beta1, config.beta2)
        self._opts = {
            "g": torch.optim.Adam(self.nets["generator"].parameters(), lr=config.lr, betas=betas),
            "d": torch.optim.Adam(self.nets["discriminator"].parameters(), lr=config.lr, betas=betas),
        }
        g = torch.Generator().manual_seed(config.sample_seed)
        self.sample_z = torch.randn(config.samples, config.z_dim, generator=g)
        self.sample_y: list[list[float]] | None = None  # labels of the first real batch, fixed for the run

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._opts

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        x, y = batch
        if self.sample_y is None:
            reps = -(-self.config.samples // len(y))
            self.sample_y = y.repeat(reps, 1)[: self.config.samples].cpu().tolist()
        G, D, w = self.nets["generator"], self.nets["discriminator"], self.config.aux_weight
        z = torch.randn(len(x), self.config.z_dim, device=self.device)
        y_fake = y[torch.randperm(len(y), device=self.device)]
        with self.autocast():
            fake = G(z, y_fake)
            adv_real, aux_real = D(x, y)
            adv_fake, aux_fake = D(fake.detach(), y_fake)
            loss_d_adv = F.softplus(-adv_real.float()).mean() + F.softplus(adv_fake.float()).mean()
            loss_d_aux = bce_pm1(aux_real, y) + bce_pm1(aux_fake, y_fake)
            loss_d = loss_d_adv + w * loss_d_aux
        self.step("d", loss_d)
        with self.autocast():
            adv_g, aux_g = D(fake, y_fake)
            loss_g_adv = F.softplus(-adv_g.float()).mean()
            loss_g_aux = bce_pm1(aux_g, y_fake)
            loss_g = loss_g_adv + w * loss_g_aux
        self.step("g", loss_g)
        return {
            "loss_d": loss_d_adv.item(),
            "loss_g": loss_g_adv.item(),
            "loss_aux": loss_d_aux.item() / 2,
            "aux_error": attribute_error(aux_real, y),
        }

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        G = unwrap(self.nets["generator"])
        was_training = G.training
        G.eval()
        with self.autocast():
            out = G(z.to(self.device), y.to(self.device)).float()
        G.train(was_training)
        return out

    def sample_grid(self, step: int) -> np.ndarray:
        if self.sample_y is not None:
            y = torch.tensor(self.sample_y)
        else:
            g = torch.Generator().manual_seed(self.config.sample_seed + 1)
            y = torch.randint(0, 2, (self.config.samples, len(self.attributes)), generator=g).float() * 2 - 1
        return image_grid(self.generate(self.sample_z, y))

    def extra_state(self) -> dict[str, Any]:
        return {"sample_y": self.sample_y}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.sample_y = state.get("sample_y")

    def export_bundle(self, path: Path, steps: int, extra_manifest: dict[str, Any]) -> Path:
        nets = {k: unwrap(v) for k, v in self.nets.items()}
        manifest = make_manifest(
            "cgan", self.resolution, self.attributes, nets, name=f"cgan-{self.resolution}", **self.manifest_fields(extra_manifest)
        )
        return save_bundle(path, nets, manifest)
