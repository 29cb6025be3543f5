"""Domain-guided encoder for in-domain inversion (Zhu et al. 2020), optionally with a latent discriminator.

Trains a :class:`ConvEncoder` E for a frozen, trained cGAN (G, D from the base bundle) so that
- G(E(x), y) reconstructs real images x: pixel MSE + distance in D's own feature space + an adversarial
  term from the frozen D (−log σ(D(G(E(x)), y))): the reconstruction must look real to D, not only match;
- E(G(z, y)) ≈ z on generated samples: E is a (semantic) inverse of G on G's own domain.
With ``latent_adversarial`` a :class:`LatentDiscriminator` learns to tell samples of p_z = N(0, I) from
E's codes and E is pushed to fool it (force-in-domain). The exported bundle is the base bundle plus
``encoder_domain`` (and ``latent_discriminator``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.bundle import make_manifest, save_bundle
from engine.losses import discriminator_features
from engine.models.cgan import ConvEncoder, LatentDiscriminator
from engine.train.recipe import Recipe, image_grid, unwrap


class DomainEncoderRecipe(Recipe):
    name = "encoder-domain"
    base_family = "cgan"

    @dataclass
    class Config:
        resolution: int = 64
        channels: int = 32
        feature_dim: int = 512
        pixel_weight: float = 1.0
        feature_weight: float = 1.0
        adv_weight: float = 0.05
        latent_weight: float = 1.0  # E(G(z)) ≈ z
        latent_adversarial: bool = False  # also train a latent discriminator (force-in-domain)
        ld_weight: float = 0.05
        ld_hidden: int = 256
        lr: float = 1e-4
        beta1: float = 0.9
        beta2: float = 0.999
        sample_seed: int = 1234
        samples: int = 8

    def __init__(self, config: Config, attributes: list[str], base: Any = None):
        super().__init__(config, attributes, base)
        G = base.network("generator")
        if base.resolution != config.resolution:
            raise ValueError(f"encoder-domain: the base bundle is {base.resolution} px, the config says {config.resolution}")
        self.z_dim = int(G.config.z_dim)
        self.nets["encoder_domain"] = ConvEncoder(
            ConvEncoder.Config(config.resolution, self.z_dim, config.channels, config.feature_dim)
        )
        betas = (config.beta1, config.beta2)
        self._opts = {"e": torch.optim.Adam(self.nets["encoder_domain"].parameters(), lr=config.lr, betas=betas)}
        if config.latent_adversarial:
            self.nets["latent_discriminator"] = LatentDiscriminator(LatentDiscriminator.Config(self.z_dim, config.ld_hidden))
            self._opts["ld"] = torch.optim.Adam(self.nets["latent_discriminator"].parameters(), lr=config.lr, betas=(0.5, 0.999))
        for net in base.networks.values():
            net.eval().requires_grad_(False)
        g = torch.Generator().manual_seed(config.sample_seed)
        self.sample_z = torch.randn(config.samples, self.z_dim, generator=g)
        self.sample_y = torch.randint(0, 2, (config.samples, len(self.attributes)), generator=g).float() * 2 - 1
        self._last_x: torch.Tensor | None = None
        self._last_y: torch.Tensor | None = None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._opts

    def _feature_distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        feats = discriminator_features(self.base.network("discriminator"))
        with torch.no_grad():
            tb = feats(b)
        ta = feats(a)
        return sum((x.float() - t.float()).pow(2).mean() / t.float().pow(2).mean().clamp_min(1e-6)
                   for x, t in zip(ta, tb, strict=True)) / len(ta)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        x, y = batch
        self._last_x, self._last_y = x[:8].detach(), y[:8].detach()
        c = self.config
        G, D = self.base.network("generator"), self.base.network("discriminator")
        E = self.nets["encoder_domain"]
        z = torch.randn(len(x), self.z_dim, device=self.device)
        y_fake = y[torch.randperm(len(y), device=self.device)]
        with self.autocast():
            with torch.no_grad():
                x_fake = G(z, y_fake)
            z_enc = E(x).float()
            rec = G(z_enc, y)
            loss_pix = (rec.float() - x).pow(2).mean()
            loss_feat = self._feature_distance(rec, x) if c.feature_weight else rec.new_zeros(())
            loss_adv = F.softplus(-D(rec, y)[0].float()).mean()
            loss_lat = (E(x_fake).float() - z).pow(2).mean()
            loss = c.pixel_weight * loss_pix + c.feature_weight * loss_feat + c.adv_weight * loss_adv + c.latent_weight * loss_lat
            if c.latent_adversarial:
                loss_code = F.softplus(-self.nets["latent_discriminator"](z_enc).float()).mean()
                loss = loss + c.ld_weight * loss_code
        self.step("e", loss)
        metrics = {"pixel": loss_pix.item(), "feature": float(loss_feat.detach()), "adv": loss_adv.item(), "latent": loss_lat.item()}
        if c.latent_adversarial:
            LD = self.nets["latent_discriminator"]
            with self.autocast():
                prior = torch.randn(len(x), self.z_dim, device=self.device)
                loss_ld = F.softplus(-LD(prior).float()).mean() + F.softplus(LD(z_enc.detach()).float()).mean()
            self.step("ld", loss_ld)
            metrics["ld"] = loss_ld.item()
        return metrics

    @torch.no_grad()
    def sample_grid(self, step: int) -> np.ndarray:
        """Rows: real images, their reconstructions G(E(x)); samples G(z), and G(E(G(z)))."""
        G, E = self.base.network("generator"), unwrap(self.nets["encoder_domain"])
        was = E.training
        E.eval()
        z, y = self.sample_z.to(self.device), self.sample_y.to(self.device)
        rows = []
        with self.autocast():
            if self._last_x is not None:
                x, yl = self._last_x, self._last_y
                rows += [x.float(), G(E(x).float(), yl).float()]
            fake = G(z, y).float()
            rows += [fake, G(E(fake).float(), y).float()]
        E.train(was)
        n = min(r.shape[0] for r in rows)
        return image_grid(torch.cat([r[:n] for r in rows]), columns=n)

    def export_bundle(self, path: Path, steps: int, extra_manifest: dict[str, Any]) -> Path:
        nets = dict(self.base.networks)
        nets.update({k: unwrap(v) for k, v in self.nets.items()})
        fields = self.manifest_fields(extra_manifest)
        fields["name"] = f"{self.base.name}-in-domain".replace("-in-domain-in-domain", "-in-domain")
        manifest = make_manifest("cgan", self.resolution, self.attributes, nets, **fields)
        return save_bundle(path, nets, manifest, tensors=dict(self.base.tensors))
