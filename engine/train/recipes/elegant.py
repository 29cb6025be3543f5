"""Recipe ``elegant``: train ELEGANT's encoder, residual decoder and two conditional discriminators.

Iterative strategy (one attribute per step). The trainer hands over ordinary shuffled batches; the
recipe pairs them itself, so it needs no sampler of its own and works unchanged with DDP and resume:

1. attribute ``i`` cycles with the step (``attribute_weights`` gives lagging attributes more steps of the
   cycle); if the batch holds no face with *and* none without it, the next attribute that does is used
   (``pairs`` in the log is how many pairs the step had);
2. A = the batch's faces with attribute i, B = as many faces without it (``k = min(#with, #without)``);
3. C = A with B's block i (attribute removed), D = B with A's block i (attribute added); A' and B'
   decode the own latents (reconstruction);
4. the generator (encoder + decoder) minimises ``rec_weight · L1(A', A) + L1(B', B)`` plus the
   adversarial terms of C (labels of A with i = -1) and D (labels of B with i = +1) at full and half
   resolution; each discriminator sees real A, B with their labels against the detached C, D and — an
   addition to the paper that makes D learn the label condition from the first step (the matching-aware
   discriminator of Reed et al. 2016) — real A, B with label i flipped (``mismatch_weight``);
5. with ``cls_weight`` > 0 (an addition from AC-GAN / AttGAN) the full-resolution discriminator also
   carries a label-blind attribute classifier, trained on the real A, B; the generator is asked to make
   C and D classify as their new labels, so an exchanged block must make its attribute visible, not
   merely plausible to a discriminator that may ignore the condition;
6. with ``latent_weight`` > 0 C and D are encoded again and must give back the latents they were decoded
   from (MSE; a latent cycle as in StarGAN v2's style reconstruction): what the exchanged block says has
   to be in the pixels, where the encoder can read it.

Rare attributes get few pairs per batch (k is bounded by the faces that have them): use large batches,
and ``min_pairs`` to top their steps up from a pool of recent faces (:mod:`.elegant_pairs`).
A batch in which no attribute splits (all faces alike) trains reconstruction only; under DDP that must
not happen on one rank alone, which real data makes practically impossible.

A small reservoir of the faces seen in training (``memory``, checkpointed like a network) supplies the
sample grids (one row per attribute; columns A, B, C, D, A', B') and, at export, the few hundred faces
whose mean latent blocks become the bundle's attribute prototypes (see :mod:`engine.transfer`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.bundle import make_manifest, save_bundle
from engine.errors import FacetError
from engine.models.elegant import ElegantDecoder, ElegantDiscriminator, ElegantEncoder, exchange, half
from engine.train.recipe import Recipe, image_grid, unwrap
from engine.train.recipes.elegant_pairs import PairPool, from_stored, to_stored, top_up
from engine.transfer import FAMILY, compute_prototypes

GANS = ("lsgan", "hinge")


class SampleMemory(nn.Module):
    """Reservoir sample (uniform over all faces seen) of training images as uint8, with their labels."""

    def __init__(self, capacity: int, resolution: int, n_attrs: int):
        super().__init__()
        self.register_buffer("images", torch.zeros(capacity, 3, resolution, resolution, dtype=torch.uint8))
        self.register_buffer("labels", torch.zeros(capacity, n_attrs, dtype=torch.int8))
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))

    @property
    def size(self) -> int:
        return int(min(int(self.seen), self.images.shape[0]))

    @torch.no_grad()
    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        cap, seen = self.images.shape[0], int(self.seen)  # one device sync per batch
        pixels, labels = to_stored(x, y)
        for j in range(x.shape[0]):
            n = seen + j
            slot = n if n < cap else int(torch.randint(0, n + 1, ()).item())  # global RNG: resume-exact
            if slot < cap:
                self.images[slot] = pixels[j]
                self.labels[slot] = labels[j]
        self.seen += x.shape[0]

    def get(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(images in [-1, 1], labels in {-1, 1}) of the faces held so far."""
        n = self.size
        return from_stored(self.images[:n], self.labels[:n])


def attribute_cycle(attributes: list[str], weights: dict[str, int]) -> list[int]:
    """The order in which steps visit the attributes: pass r of the cycle holds those with weight > r.

    ``{"Male": 3, "Bangs": 2}`` over (Smiling, Bangs, Male) gives Smiling, Bangs, Male, Bangs, Male, Male:
    the extra steps are spread over the cycle rather than run back to back.
    """
    unknown = sorted(set(weights) - set(attributes))
    if unknown:
        raise FacetError(f"attribute_weights: {', '.join(unknown)} not among the attributes ({', '.join(attributes)})")
    w = [weights.get(a, 1) for a in attributes]
    if any(not isinstance(v, int) or v < 0 for v in w) or not any(w):
        raise FacetError(f"attribute_weights must be whole numbers >= 0, not all 0; got {weights}")
    return [i for r in range(max(w)) for i, v in enumerate(w) if v > r]


class ElegantRecipe(Recipe):
    name = "elegant"

    @dataclass
    class Config:
        resolution: int = 128
        block_channels: int = 64  # latent channels per attribute
        base_channels: int = 64  # encoder/decoder width at the first level
        max_channels: int = 512
        latent_size: int = 8  # side of the latent grid
        norm: str = "batch"
        upsample: str = "transpose"  # decoder upsampling: transpose (as in the paper) | resize (no checkerboard)
        disc_channels: int = 64
        lr: float = 2e-4
        gen_lr: float = 0.0  # the encoder/decoder's own learning rate (0: lr); lower to fine-tune a trained pair gently
        beta1: float = 0.5
        gan: str = "lsgan"  # lsgan | hinge
        rec_weight: float = 10.0
        rec_loss: str = "l1"  # l1 | mse: mse does not pull small residuals to exactly zero (the paper uses it)
        adv_weight: float = 1.0
        mismatch_weight: float = 1.0  # real faces with a flipped label i count as fake for D (matching-aware D)
        max_pairs: int = 0  # at most this many pairs per step (0: no cap); bounds the cost of common attributes
        # > 0: steps of rare attributes are topped up to this many pairs from a pool of recent faces
        # (elegant_pairs.PairPool; pool_size faces per attribute and side)
        min_pairs: int = 0
        pool_size: int = 64
        # the first N steps train only the discriminators: after a warm start (--init) from a bundle, which has
        # no discriminators, fresh ones would otherwise push the trained encoder/decoder with random gradients
        disc_warmup: int = 0
        cls_weight: float = 0.0  # > 0: auxiliary attribute classifier in disc_full; its loss on C, D for the generator
        # > 0: C and D, encoded again, must give back the latents they were decoded from (a latent cycle, as in
        # StarGAN v2's style reconstruction): the decoder has to put the exchanged block's attribute into pixels
        latent_weight: float = 0.0
        # steps per cycle for an attribute (default 1 each), e.g. {"Male": 3}: more of the steps go to the
        # attributes whose transfers lag (attribute_cycle gives the order)
        attribute_weights: dict[str, int] = field(default_factory=dict)
        prototype_images: int = 300  # faces remembered for sample grids and export prototypes
        sample_rows: int = 6

    def __init__(self, config: Config, attributes: list[str], base: Any = None):
        super().__init__(config, attributes, base)
        c = config
        if not attributes:
            raise FacetError("ELEGANT needs at least one attribute to transfer")
        if c.rec_loss not in ("l1", "mse"):
            raise FacetError(f"rec_loss must be l1 or mse, not {c.rec_loss!r}")
        if c.gan not in GANS:
            raise FacetError(f"gan must be one of {', '.join(GANS)}, not {c.gan!r}")
        self.cycle = attribute_cycle(attributes, c.attribute_weights)
        n = len(attributes)
        shared = dict(resolution=c.resolution, n_attrs=n, block_channels=c.block_channels,
                      base_channels=c.base_channels, max_channels=c.max_channels, latent_size=c.latent_size, norm=c.norm)
        try:
            self.nets = {
                "encoder": ElegantEncoder(ElegantEncoder.Config(**shared)),
                "decoder": ElegantDecoder(ElegantDecoder.Config(**shared, upsample=c.upsample)),
                "disc_full": ElegantDiscriminator(ElegantDiscriminator.Config(
                    c.resolution, n, c.disc_channels, c.max_channels, aux_classifier=c.cls_weight > 0)),
                "disc_half": ElegantDiscriminator(
                    ElegantDiscriminator.Config(c.resolution // 2, n, c.disc_channels, c.max_channels)
                ),
                "memory": SampleMemory(max(c.prototype_images, 1), c.resolution, n),
            }
            if c.min_pairs > 0:
                self.nets["pairs"] = PairPool(max(c.pool_size, 1), c.resolution, n)
        except ValueError as exc:
            raise FacetError(f"elegant: {exc}") from None
        betas = (c.beta1, 0.999)
        gen = [p for r in ("encoder", "decoder") for p in self.nets[r].parameters()]
        disc = [p for r in ("disc_full", "disc_half") for p in self.nets[r].parameters()]
        self._opts = {"gen": torch.optim.Adam(gen, c.gen_lr or c.lr, betas), "disc": torch.optim.Adam(disc, c.lr, betas)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._opts

    # -- one step ---------------------------------------------------------------------------------
    @staticmethod
    def pick_pairs(y: torch.Tensor, step: int, max_pairs: int = 0,
                   cycle: list[int] | None = None) -> tuple[int, torch.Tensor, torch.Tensor]:
        """(attribute i, indices with it, as many without it) for this step; k = 0 when no attribute splits.

        The step's attribute is ``cycle[(step - 1) % len(cycle)]`` (default: each attribute in turn); when the
        batch does not split on it, the next attributes are tried in order. ``max_pairs`` > 0 caps k: a large
        batch then finds pairs for rare attributes (eyeglasses, moustache) without making the steps of common
        ones (smiling, male) proportionally more expensive.
        """
        n = y.shape[1]
        first = cycle[(step - 1) % len(cycle)] if cycle else (step - 1) % n
        for offset in range(n):
            i = (first + offset) % n
            pos = torch.nonzero(y[:, i] > 0).flatten()
            neg = torch.nonzero(y[:, i] <= 0).flatten()
            k = min(len(pos), len(neg), max_pairs or len(pos))
            if k:
                return i, pos[:k], neg[:k]
        empty = torch.zeros(0, dtype=torch.long, device=y.device)
        return (step - 1) % n, empty, empty

    def _rec(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out, target) if self.config.rec_loss == "mse" else F.l1_loss(out, target)

    def _adv(self, logits: torch.Tensor, real: bool, for_disc: bool) -> torch.Tensor:
        if self.config.gan == "lsgan":
            return F.mse_loss(logits, torch.full_like(logits, 1.0 if real else 0.0))
        if for_disc:
            return F.relu(1 - logits).mean() if real else F.relu(1 + logits).mean()
        return -logits.mean()

    def _disc_logits(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """(patch logits of both discriminators, disc_full's attribute logits or None); one call each per
        backward (DDP marks parameters once)."""
        full, attrs = self.nets["disc_full"](x, y)
        return [full, self.nets["disc_half"](half(x), y)[0]], attrs

    def _no_cls(self) -> dict[str, float]:
        """The optional losses' log entries before they are measured: every step logs the same keys."""
        return ({"d_cls": 0.0, "g_cls": 0.0} if self.config.cls_weight > 0 else {}) | (
            {"lat": 0.0} if self.config.latent_weight > 0 else {})

    @staticmethod
    def _cls(attrs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of attribute logits against labels in {-1, 1}."""
        return F.binary_cross_entropy_with_logits(attrs.float(), (labels > 0).float())

    def forward_pairs(
        self, a: torch.Tensor, b: torch.Tensor, i: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(A', B', C, D) for pairs (A, B) and attribute block ``i`` (one encoder and one decoder pass)."""
        return self._forward_pairs(a, b, i)[0]

    def _forward_pairs(self, a: torch.Tensor, b: torch.Tensor, i: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """((A', B', C, D), the latents C and D were decoded from, stacked)."""
        z, skips = self.nets["encoder"](torch.cat([a, b]))
        za, zb = z.chunk(2)
        zc = exchange(za, zb, [i], self.config.block_channels)
        zd = exchange(zb, za, [i], self.config.block_channels)
        out = self.nets["decoder"](
            torch.cat([a, b, a, b]), torch.cat([za, zb, zc, zd]), torch.cat([za, zb, za, zb]),
            [torch.cat([s, s]) for s in skips],
        )
        return out.chunk(4), torch.cat([zc, zd])

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        x, y = batch
        self.nets["memory"].add(x, y)
        i, pos, neg = self.pick_pairs(y, step, self.config.max_pairs, self.cycle)
        a, b, ya, yb = x[pos], x[neg], y[pos], y[neg]
        pool = self.nets.get("pairs")
        if pool is not None:
            want = min(self.config.min_pairs, self.config.max_pairs or self.config.min_pairs)
            if 0 < len(pos) < want:
                a, b, ya, yb = top_up(pool, x, y, i, want)
            pool.add(x, y)
        if not len(pos):  # no attribute splits this batch: reconstruction only
            with self.autocast():
                z, skips = self.nets["encoder"](x)
                rec = self._rec(self.nets["decoder"](x, z, z, skips).float(), x)
            if step > self.config.disc_warmup:
                self.step("gen", self.config.rec_weight * rec)
            return {"rec": rec.item(), "adv_g": 0.0, "d_real": 0.0, "d_fake": 0.0, "pairs": 0.0, **self._no_cls()}
        yc, yd = ya.clone(), yb.clone()
        yc[:, i], yd[:, i] = -1.0, 1.0
        k = len(a)
        warmup = step <= self.config.disc_warmup
        with self.autocast():
            with torch.no_grad() if warmup else contextlib.nullcontext():
                (a2, b2, c, d), z_cd = self._forward_pairs(a, b, i)
            # real (A, B) | fake (C, D) | real with label i flipped (matching-aware D), in one call per D
            mism = self.config.mismatch_weight > 0
            xs = [a, b, c.detach(), d.detach()] + ([a, b] if mism else [])
            ys = [ya, yb, yc, yd] + ([yc, yd] if mism else [])
            d_real = d_fake = d_cls = torch.zeros((), device=x.device)
            patch_logits, attrs = self._disc_logits(torch.cat(xs), torch.cat(ys))
            for logits in patch_logits:
                parts = logits.float().split(2 * k)
                d_real = d_real + self._adv(parts[0], True, True)
                d_fake = d_fake + self._adv(parts[1], False, True)
                if mism:
                    d_fake = d_fake + self.config.mismatch_weight * self._adv(parts[2], False, True)
            if attrs is not None:  # the classifier learns from real faces only
                d_cls = self._cls(attrs[: 2 * k], torch.cat([ya, yb]))
        self.step("disc", d_real + d_fake + d_cls)
        stats = {"d_real": d_real.item(), "d_fake": d_fake.item(), "pairs": float(k), **self._no_cls()}
        if attrs is not None:
            stats["d_cls"] = d_cls.item()
        if warmup:  # the encoder/decoder stay as they are
            rec = self._rec(a2.float(), a) + self._rec(b2.float(), b)
            return {"rec": rec.item(), "adv_g": 0.0, **stats}
        with self.autocast():
            patch_logits, attrs = self._disc_logits(torch.cat([c, d]), torch.cat([yc, yd]))
            adv = sum(self._adv(lg.float(), True, False) for lg in patch_logits)
            rec = self._rec(a2.float(), a) + self._rec(b2.float(), b)
            loss = self.config.rec_weight * rec + self.config.adv_weight * adv
            if attrs is not None:
                g_cls = self._cls(attrs, torch.cat([yc, yd]))
                loss = loss + self.config.cls_weight * g_cls
                stats["g_cls"] = g_cls.item()
            if self.config.latent_weight > 0:
                lat = F.mse_loss(self.nets["encoder"](torch.cat([c, d]))[0].float(), z_cd.detach().float())
                loss = loss + self.config.latent_weight * lat
                stats["lat"] = lat.item()
        self.step("gen", loss)
        return {"rec": rec.item(), "adv_g": adv.item(), **stats}

    # -- pictures and export -------------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self, step: int) -> np.ndarray:
        """One row per attribute (first ``sample_rows``) with columns A, B, C (A minus i), D (B plus i), A', B'."""
        images, labels = self.nets["memory"].get()
        r = self.resolution
        rows = []
        nets = [unwrap(self.nets[k]) for k in ("encoder", "decoder")]
        modes = [n.training for n in nets]
        for n in nets:
            n.eval()
        for i in range(min(len(self.attributes), self.config.sample_rows)):
            pos, neg = torch.nonzero(labels[:, i] > 0).flatten(), torch.nonzero(labels[:, i] <= 0).flatten()
            if not len(pos) or not len(neg):
                continue
            a, b = images[pos[:1]].to(self.device), images[neg[:1]].to(self.device)
            a2, b2, c, d = self.forward_pairs(a, b, i)
            rows.append(torch.cat([a, b, c, d, a2, b2]))
        for n, mode in zip(nets, modes, strict=True):
            n.train(mode)
        if not rows:
            return image_grid(torch.zeros(1, 3, r, r))
        return image_grid(torch.cat(rows), columns=6)

    def export_bundle(self, path: Path, steps: int, extra_manifest: dict[str, Any]) -> Path:
        roles = ("encoder", "decoder", "disc_full", "disc_half")
        networks = {r: unwrap(self.nets[r]) for r in roles}
        images, labels = self.nets["memory"].get()
        if not len(images):
            raise FacetError("elegant: no training faces were seen, so there are no prototypes to export")
        tensors = compute_prototypes(networks["encoder"], images, labels)
        fields = self.manifest_fields(extra_manifest)
        fields["prototypes"] = {"images": len(images), "positive": tensors["prototypes.counts"][:, 0].int().tolist(),
                                "negative": tensors["prototypes.counts"][:, 1].int().tolist()}
        fields.setdefault("name", f"elegant-{self.resolution}")
        manifest = make_manifest(FAMILY, self.resolution, self.attributes, networks, **fields)
        return save_bundle(path, networks, manifest, tensors)
