"""Recipe ``elegant-mask``: ELEGANT's block exchange with an attention-masked decoder, lean for a CPU.

Pairs and latent exchange are ELEGANT's (see :mod:`.elegant`): for attribute ``i`` of the step, A has it,
B lacks it; C = A with B's block i (attribute removed), D = B with A's block i (attribute added). The decoder
(:class:`engine.models.elegant_mask.MaskDecoder`) outputs a mask ``m`` and a residual ``r``; the edit is
``x + m·r``, so what the mask leaves out is the input, exactly.

Losses, and why each:

- **adversarial**: non-saturating, one discriminator step per generator step, a projection discriminator on
  DiffAugment'ed images (:mod:`engine.train.augment`: a small data set), real faces with the flipped label
  count as fake (matching-aware), lazy R1 every ``r1_every`` steps (StyleGAN2) instead of a heavier penalty;
- **attributes**: the discriminator's label-blind head, trained on real faces only, asks C and D to show
  their new label i (at full weight) and to keep the others (their mean). Moderate (``cls_weight``): a
  classifier alone is satisfied by dark blobs, realism and the mask's locality are what keep the edit honest;
- **reconstruction**: the own latent must change nothing (L1 of the output and the mask's mean);
- **the mask**: sparse (mean), smooth (total variation), and mostly inside the attribute's region
  (:mod:`engine.face.regions`; global attributes such as Male are free), with hinges on its area that guard
  against the design's known failure, a mask that collapses to all 0 (no edit) or all 1 (a new face).
  :class:`MaskGuard` watches the area and stops a run whose masks collapsed anyway, with a clear message.

Runs in bf16 on CPU with channels-last tensors (faster convolutions in oneDNN).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.bundle import load_bundle, make_manifest, save_bundle
from engine.errors import FacetError, NumericalError
from engine.models.elegant import exchange
from engine.models.elegant_mask import MaskDecoder, MaskEncoder, ProjectionDiscriminator, exemplar_edit
from engine.train.augment import diff_augment, parse_policy
from engine.train.recipe import Recipe, image_grid, unwrap
from engine.train.recipes.elegant import ElegantRecipe, SampleMemory, attribute_cycle
from engine.train.recipes.elegant_pairs import PairPool, top_up
from engine.transfer import FAMILY, compute_prototypes

#: Sub-folder of an exported bundle that keeps what training on needs but the app does not (discriminator).
TRAINING_FOLDER = "training"
REGION_PRIORS = ("head", "face", "synthetic", "none")


class MaskGuard:
    """Detects a collapsed attention mask from the running mean of the exchanged edits' mask area.

    ``update`` returns None while the area is healthy and a message once it has stayed below ``low`` (every
    edit is the identity: all 0) or above ``high`` (every edit repaints the face: all 1) — the running mean
    (decay ``decay``) makes one odd batch harmless; nothing is judged in the first ``after`` steps.
    """

    def __init__(self, low: float = 1e-4, high: float = 0.9, after: int = 500, decay: float = 0.98):
        self.low, self.high, self.after, self.decay = low, high, after, decay
        self.area: float | None = None

    def update(self, area: float, step: int) -> str | None:
        if not math.isfinite(area):
            return f"the mask became {area} at step {step}"
        self.area = area if self.area is None else self.decay * self.area + (1 - self.decay) * area
        if step <= self.after:
            return None
        if self.area < self.low:
            return (f"the attention mask collapsed to all 0 (mean area {self.area:.2e} at step {step}): the "
                    "exchanged edits change nothing; lower mask_weight/region_weight or raise min_area")
        if self.area > self.high:
            return (f"the attention mask collapsed to all 1 (mean area {self.area:.2f} at step {step}): every edit "
                    "repaints the whole face; raise mask_weight or lower max_area")
        return None


def region_penalty(attributes: list[str], resolution: int, prior: str, grow: float = 6.0) -> torch.Tensor:
    """(n_attrs, 1, R, R): 1 where attribute i's mask is penalised (outside its region grown by ``grow`` canvas
    px), else 0."""
    from engine.face.regions import attribute_region, synthetic_region

    maps = []
    for name in attributes:
        if prior == "none":
            region = None
        elif prior == "synthetic":
            region = synthetic_region(name, resolution)
        else:
            region = attribute_region(name, resolution, prior, grow=grow)
        maps.append(np.zeros((resolution, resolution), np.float32) if region is None else 1.0 - region)
    return torch.from_numpy(np.stack(maps))[:, None]


def prior_logits(penalty: torch.Tensor, inside: float, outside: float, keep: torch.Tensor | None = None,
                 keep_logit: float = -8.0) -> torch.Tensor:
    """(n_attrs, 1, R, R) mask logits from the region penalty maps (1 outside the region): ``inside`` in the
    region, ``outside`` beyond it; 0 everywhere for an attribute without a region (Male, Young: global). ``keep``
    (same shape, in [0, 1]) adds ``keep_logit`` where the face should stay as it is (its eyes for Eyeglasses)."""
    region = 1.0 - penalty
    maps = outside + (inside - outside) * region
    is_global = penalty.flatten(1).amax(1) <= 0
    maps[is_global] = 0.0
    if keep is not None:
        maps = maps + keep_logit * keep
    return maps


def keep_maps(attributes: list[str], resolution: int, prior: str) -> torch.Tensor:
    """(n_attrs, 1, R, R): :func:`engine.face.regions.keep_map` of each attribute (0 without one or off the head
    and face layouts)."""
    from engine.face.regions import keep_map

    maps = [keep_map(n, resolution, prior) if prior in ("head", "face") else None for n in attributes]
    zero = np.zeros((resolution, resolution), np.float32)
    return torch.from_numpy(np.stack([zero if m is None else m for m in maps]))[:, None]


def min_areas(penalty: torch.Tensor, floor: float, region_fraction: float, cap: float = 0.15) -> torch.Tensor:
    """(n_attrs,): each attribute's smallest allowed mean mask area: ``floor``, or ``region_fraction`` of its
    region (1 − the penalty map's mean) when that is larger, at most ``cap`` unless ``floor`` is larger."""
    region = 1.0 - penalty.flatten(1).mean(1)
    return torch.clamp(region_fraction * region, max=cap).clamp(min=floor)


class MaskElegantRecipe(Recipe):
    name = "elegant-mask"

    @dataclass
    class Config:
        resolution: int = 128
        block_channels: int = 32  # latent channels per attribute
        base_channels: int = 24  # encoder/decoder width at full resolution (doubles per level)
        max_channels: int = 256
        latent_size: int = 8
        disc_channels: int = 32
        region_prior: str = "head"  # where attributes live: head | face (CelebA template) | synthetic | none
        lr: float = 2e-4
        disc_lr: float = 4e-4  # two time-scale update rule: the discriminator learns faster than the generator
        beta1: float = 0.5
        rec_weight: float = 10.0
        adv_weight: float = 1.0
        cls_weight: float = 2.0
        # the attribute head learns from every real face of the batch, not only the step's pairs (on real faces
        # it learns slowly: 0.53 BCE after 2,500 steps of pairs alone)
        cls_all: bool = True
        # steps (counted from the run's start) in which only the discriminator trains, its attribute head on every
        # real face: a generator asked to show attributes by a head that cannot see them learns nothing
        cls_pretrain: int = 0
        # the mask head's starting logit: 0 opens every mask half-way, so the content gets gradients everywhere
        # from the start (-3: nearly closed, where a diffuse faint mask that changes nothing is a trap on real faces)
        mask_init: float = -3.0
        mask_floor: float = 0.02  # the decoder's hard zero (engine.models.elegant_mask.MaskDecoder.Config)
        # what fills the mask: "model" (the decoder's residual) or "exemplar" (the exemplar's own pixels, colour and
        # detail bands mixed by predicted weights; the mask then starts as the attribute's region, see prior_*)
        content: str = "model"
        prior_inside: float = 3.0  # with content "exemplar": the mask logit added inside the attribute's region
        prior_outside: float = -4.0  # ... and outside it (global attributes: 0 everywhere)
        # ... and where the face should stay itself though the region covers it (the eyes behind glasses, the lips
        # under a moustache: engine.face.regions.KEEP_SHAPES); 0 turns it off
        # (-4: the learned logit can still open it where it must, e.g. to take off sunglasses: with -8 their dark
        # lenses stayed behind as two floating patches)
        prior_keep: float = -4.0
        # ... and on the identity features (eyes and brows, nose, lips: engine.face.regions.IDENTITY_SHAPES) for
        # the global attributes (Male, Young), whose prior is otherwise 0 everywhere: taken whole from another face
        # they are a face swap (3 % and 13 % same person at step 8,500); 0 turns it off
        prior_identity: float = 0.0
        # ... and for hair colours, the region is only the head's part of "all but the inner face" (regions "hair"
        # and "head"): the rest of the crop is background, and a hair mask that reached it pasted the exemplar's
        # background above the source's head
        prior_head: bool = False
        # a frozen attribute classifier bundle (same attributes, resolution and layout) that asks the exchanged
        # edits for their labels instead of the discriminator's own head, which on real faces learns the attributes
        # too slowly to lead the generator (it stayed near chance for thousands of steps, and its realism training
        # kept undoing what it learned). Judge models with another classifier than this one.
        teacher: str = ""
        # DiffAugment policy of the teacher's input. Not "translation": the teacher never saw shifted faces and
        # through a 1/8 shift it judges Smiling, Male and Young at chance (held-out accuracy 0.89 → 0.50, 0.98 → 0.54,
        # 0.86 → 0.46) — v3 trained against that noise; colour and cutout cost it at most 0.03.
        teacher_augment: str = "color,cutout"
        mismatch_weight: float = 0.5
        mask_weight: float = 0.1  # mean mask of the exchanged edits (sparsity)
        tv_weight: float = 0.5  # total variation of the mask (smoothness)
        region_weight: float = 3.0  # mask outside the attribute's region
        area_weight: float = 10.0  # hinges on the mask's mean area: the guard against collapse
        min_area: float = 0.01  # 1 % of the crop: the content can only learn where the mask is open
        # ... and at least this fraction of the attribute's own region (capped at 15 % of the crop for the hair and
        # global attributes): with the crop-wide 1 % alone the v3 run's masks sat on that floor, a few pixels wide,
        # and the teacher's gradient through them was too weak to open them (no visible edit in 1,700 steps)
        min_region_area: float = 0.0
        max_area: float = 0.6
        disc_clip: float = 10.0  # the discriminator's gradient norm cap (a v2 run spiked once at step 600 without it)
        r1_gamma: float = 1.0
        r1_every: int = 16
        augment: str = "color,translation,cutout"
        hflip: bool = True
        max_pairs: int = 8
        min_pairs: int = 6  # rare attributes' steps are topped up to this many pairs from a pool of recent faces
        pool_size: int = 48
        attribute_weights: dict[str, int] = field(default_factory=dict)
        guard_after: int = 500  # steps before MaskGuard judges the mask
        channels_last: bool = True  # NHWC tensors: oneDNN's bf16 convolutions run ~1.4x faster (bench/elegant_mask_speed.py)
        prototype_images: int = 300
        sample_rows: int = 6

    def __init__(self, config: Config, attributes: list[str], base: Any = None):
        super().__init__(config, attributes, base)
        c = config
        if not attributes:
            raise FacetError("ELEGANT needs at least one attribute to transfer")
        if c.region_prior not in REGION_PRIORS:
            raise FacetError(f"region_prior must be one of {', '.join(REGION_PRIORS)}, not {c.region_prior!r}")
        try:
            self.policy = parse_policy(c.augment)
        except ValueError as exc:
            raise FacetError(f"elegant-mask: {exc}") from None
        self.cycle = attribute_cycle(attributes, c.attribute_weights)
        n = len(attributes)
        shared = dict(resolution=c.resolution, n_attrs=n, block_channels=c.block_channels,
                      base_channels=c.base_channels, max_channels=c.max_channels, latent_size=c.latent_size)
        try:
            self.nets = {
                "encoder": MaskEncoder(MaskEncoder.Config(**shared)),
                "decoder": MaskDecoder(MaskDecoder.Config(**shared, mask_bias=c.mask_init, mask_floor=c.mask_floor,
                                                          content=c.content, region_prior=c.content == "exemplar")),
                "disc": ProjectionDiscriminator(ProjectionDiscriminator.Config(c.resolution, n, c.disc_channels,
                                                                               c.max_channels)),
                "memory": SampleMemory(max(c.prototype_images, 1), c.resolution, n),
            }
            if c.min_pairs > 0:
                self.nets["pairs"] = PairPool(max(c.pool_size, 1), c.resolution, n)
        except ValueError as exc:
            raise FacetError(f"elegant-mask: {exc}") from None
        self.penalty = self._penalty()
        self.min_areas = min_areas(self.penalty, c.min_area, c.min_region_area)
        self._set_prior()
        self.teacher = self._load_teacher(c.teacher) if c.teacher else None
        try:
            self.teacher_policy = parse_policy(c.teacher_augment)
        except ValueError as exc:
            raise FacetError(f"elegant-mask teacher_augment: {exc}") from None
        self.guard = MaskGuard(after=c.guard_after)
        #: CPU seconds spent training, over every resume (the model card reports CPU-hours)
        self._cpu_before, self._cpu_start = 0.0, time.process_time()
        betas = (c.beta1, 0.99)
        gen = [p for r in ("encoder", "decoder") for p in self.nets[r].parameters()]
        self._opts = {"gen": torch.optim.Adam(gen, c.lr, betas),
                      "disc": torch.optim.Adam(self.nets["disc"].parameters(), c.disc_lr, betas)}

    @property
    def _format(self) -> torch.memory_format:
        return torch.channels_last if self.config.channels_last else torch.contiguous_format

    def _load_teacher(self, path: str) -> torch.nn.Module:
        teacher = load_bundle(path, family="classifier")
        if teacher.attributes != self.attributes or teacher.resolution != self.resolution:
            raise FacetError(f"teacher {path}: it classifies {', '.join(teacher.attributes)} at {teacher.resolution} px, "
                             f"this run edits {', '.join(self.attributes)} at {self.resolution} px")
        self.teacher_name = teacher.name
        return teacher.network("classifier").eval().requires_grad_(False)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._opts

    def _penalty(self, **grow: float) -> torch.Tensor:
        """:func:`region_penalty` of this run's attributes; with ``prior_head``, a hair colour's region ends
        where the head does (regions "hair" and "head")."""
        c = self.config
        penalty = region_penalty(self.attributes, c.resolution, c.region_prior, **grow)
        if c.prior_head and c.region_prior in ("head", "face"):
            from engine.face.regions import ATTRIBUTE_REGIONS, region_map

            head = torch.from_numpy(region_map("head", c.resolution, c.region_prior))
            for i, name in enumerate(self.attributes):
                if ATTRIBUTE_REGIONS.get(name) == "hair":
                    penalty[i, 0] = 1.0 - (1.0 - penalty[i, 0]) * head
        return penalty

    def _set_prior(self) -> None:
        """The decoder's region prior from this run's settings (again after a resume or a warm start, whose saved
        prior may predate a change of the settings or of the regions)."""
        c = self.config
        if c.content != "exemplar":
            return
        keep = keep_maps(self.attributes, c.resolution, c.region_prior) if c.prior_keep else None
        # the region itself, not the penalty's grown one: grown, the forehead reached the eyes and a Bangs
        # transfer brought the exemplar's sunglasses along
        exact = self._penalty(grow=0.0)
        prior = prior_logits(exact, c.prior_inside, c.prior_outside, keep, c.prior_keep)
        if c.prior_identity and c.region_prior in ("head", "face"):
            from engine.face.regions import identity_map

            is_global = exact.flatten(1).amax(1) <= 0
            identity = torch.from_numpy(identity_map(c.resolution, c.region_prior))
            prior[is_global] = prior[is_global] + c.prior_identity * identity
        dec = unwrap(self.nets["decoder"])
        with torch.no_grad():
            dec.prior.copy_(prior)

    def to(self, device: torch.device, precision: str) -> MaskElegantRecipe:
        super().to(device, precision)
        for role in ("encoder", "decoder", "disc"):
            self.nets[role].to(memory_format=self._format)
        self.penalty = self.penalty.to(device)
        if self.teacher is not None:
            self.teacher.to(device)
        return self

    # -- one step ---------------------------------------------------------------------------------
    def _pairs(self, x: torch.Tensor, y: torch.Tensor, step: int):
        i, pos, neg = ElegantRecipe.pick_pairs(y, step, self.config.max_pairs, self.cycle)
        a, b, ya, yb = x[pos], x[neg], y[pos], y[neg]
        pool = self.nets.get("pairs")
        if pool is not None:
            want = min(self.config.min_pairs, self.config.max_pairs or self.config.min_pairs)
            if len(pos) < want and all(pool.size(i, s) for s in (0, 1)):
                a, b, ya, yb = top_up(pool, x, y, i, want)
            pool.add(x, y)
        return i, a, b, ya, yb

    def edit_pairs(self, a: torch.Tensor, b: torch.Tensor, i: int, reconstruct: int = 0):
        """C (A without attribute i), D (B with it), their masks, and the own-latent reconstructions and masks
        of the first ``reconstruct`` faces of A and of B (one encoder and one decoder pass)."""
        k, h = len(a), reconstruct
        x = torch.cat([a, b]).contiguous(memory_format=self._format)
        with self.autocast():
            z, skips = self.nets["encoder"](x)
            za, zb = z.chunk(2)
            bc = self.config.block_channels
            sel = torch.cat([torch.arange(h), k + torch.arange(h)]).to(x.device)
            new = torch.cat([exchange(za, zb, [i], bc), exchange(zb, za, [i], bc), z[sel]])
            own = torch.cat([za, zb, z[sel]])
            mask, res = self.nets["decoder"].edit(new, own, [torch.cat([s, s[sel]]) for s in skips])
        inputs = torch.cat([x, x[sel]]).float()
        if self.config.content == "exemplar":  # C takes B's pixels, D A's; a reconstruction its own (no change)
            exemplars = torch.cat([b, a, x[sel]]).float()
            out = exemplar_edit(inputs, exemplars, mask, res.float())
        else:
            out = inputs + mask * res
        return out[: 2 * k], mask[: 2 * k], out[2 * k :], mask[2 * k :], x[sel].float()

    def _disc(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = diff_augment(x, self.policy).contiguous(memory_format=self._format)
        with self.autocast():
            logits, attrs = self.nets["disc"](x, y)
        return logits.float(), attrs.float()

    @staticmethod
    def _cls(attrs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(attrs, (labels > 0).float())

    def _r1(self, reals: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """R1 (the gradient norm of D on real faces), in fp32: double backward under bf16 is noisy."""
        r = reals.detach().float().requires_grad_(True)
        logits, _ = self.nets["disc"](diff_augment(r, self.policy).contiguous(memory_format=self._format), labels)
        (grad,) = torch.autograd.grad(logits.sum(), r, create_graph=True)
        return grad.pow(2).sum(dim=(1, 2, 3)).mean()

    def _pretrain_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Only the discriminator's attribute head (and trunk) learns, on the batch's real faces."""
        _, attrs = self._disc(x, y)
        d_cls = self._cls(attrs, y)
        self.step("disc", d_cls, clip=self.config.disc_clip)
        return {**self._empty_stats(), "d_cls": float(d_cls.detach())}

    def _empty_stats(self) -> dict[str, float]:
        return {**dict.fromkeys(("rec", "adv_g", "g_cls", "d_real", "d_fake", "d_cls", "r1", "area", "leak",
                                 "pairs"), 0.0), "cpu_hours": self.cpu_seconds() / 3600}

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        x, y = batch
        c = self.config
        if c.hflip:  # the template is symmetric: a mirrored face is as real and keeps its labels
            flip = torch.rand(x.shape[0], device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        self.nets["memory"].add(x, y)
        if step <= c.cls_pretrain:
            return self._pretrain_step(x, y)
        i, a, b, ya, yb = self._pairs(x, y, step)
        k = len(a)
        if not k:
            return self._empty_stats()
        yc, yd = ya.clone(), yb.clone()
        yc[:, i], yd[:, i] = -1.0, 1.0
        swapped, m_swap, rec, m_rec, rec_target = self.edit_pairs(a, b, i, reconstruct=max(1, k // 2))

        # -- discriminator: real | fake | real with label i flipped -------------------------------------
        reals, y_real = torch.cat([a, b]), torch.cat([ya, yb])
        y_fake = torch.cat([yc, yd])
        mism = c.mismatch_weight > 0
        inputs = [reals, swapped.detach()] + ([reals] if mism else []) + ([x] if c.cls_all else [])
        labels = [y_real, y_fake] + ([y_fake] if mism else []) + ([y] if c.cls_all else [])
        logits, attrs = self._disc(torch.cat(inputs), torch.cat(labels))
        parts = logits[: (3 if mism else 2) * 2 * k].split(2 * k)
        d_real, d_fake = F.softplus(-parts[0]).mean(), F.softplus(parts[1]).mean()
        d_cls = self._cls(attrs[-len(x):], y) if c.cls_all else self._cls(attrs[: 2 * k], y_real)
        d_loss = d_real + d_fake + d_cls + (c.mismatch_weight * F.softplus(parts[2]).mean() if mism else 0.0)
        r1 = torch.zeros((), device=x.device)
        if c.r1_gamma > 0 and c.r1_every > 0 and step % c.r1_every == 0:
            r1 = self._r1(reals, y_real)
            d_loss = d_loss + 0.5 * c.r1_gamma * c.r1_every * r1
        self.step("disc", d_loss, clip=c.disc_clip)

        # -- generator -----------------------------------------------------------------------------
        logits, attrs = self._disc(swapped, y_fake)
        adv = F.softplus(-logits).mean()
        if self.teacher is not None:  # the teacher sees the edits augmented (teacher_augment): no single-view blob fools it
            with self.autocast():
                attrs = self.teacher(diff_augment(swapped, self.teacher_policy)).float()
        # the exchanged attribute at full weight (averaged with the others it would get 1/n of the signal), the
        # others at their mean: they must stay as they were
        others = [j for j in range(attrs.shape[1]) if j != i]
        g_cls = self._cls(attrs[:, i], y_fake[:, i]) + (self._cls(attrs[:, others], y_fake[:, others]) if others else 0.0)
        # the own latent changes nothing; its mask's mean is pushed down too, but gently: a strong push teaches the
        # young decoder to close every mask before it can tell its own latent from an exchanged one
        rec_loss = (rec - rec_target).abs().mean() + 0.1 * m_rec.mean()
        area = m_swap.mean(dim=(1, 2, 3))  # per edit
        tv = ((m_swap[..., 1:, :] - m_swap[..., :-1, :]).abs().mean()
              + (m_swap[..., :, 1:] - m_swap[..., :, :-1]).abs().mean())
        leak = (m_swap * self.penalty[i]).mean()
        hinge = F.relu(float(self.min_areas[i]) - area).mean() + F.relu(area - c.max_area).mean()
        g_loss = (c.adv_weight * adv + c.cls_weight * g_cls + c.rec_weight * rec_loss + c.mask_weight * area.mean()
                  + c.tv_weight * tv + c.region_weight * leak + c.area_weight * hinge)
        self.step("gen", g_loss)

        mean_area = float(area.detach().mean())
        problem = self.guard.update(mean_area, step)
        if problem is not None:
            raise NumericalError(f"elegant-mask: {problem}")
        stats = {"rec": rec_loss, "adv_g": adv, "g_cls": g_cls, "d_real": d_real, "d_fake": d_fake, "d_cls": d_cls,
                 "r1": r1, "leak": leak}
        return {**{n: float(v.detach()) for n, v in stats.items()}, "area": mean_area, "pairs": float(k),
                "cpu_hours": self.cpu_seconds() / 3600}

    def cpu_seconds(self) -> float:
        return self._cpu_before + time.process_time() - self._cpu_start

    # -- resume ----------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {"guard_area": self.guard.area, "cpu_seconds": self.cpu_seconds()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.guard.area = state.get("guard_area")
        self._set_prior()
        self._cpu_before, self._cpu_start = float(state.get("cpu_seconds", 0.0)), time.process_time()

    def warm_start(self, bundle: Any) -> list[str]:
        """As :meth:`Recipe.warm_start`, plus the discriminator from the bundle's ``training/`` folder (exports
        keep it there, so a new machine trains on from the shipped bundle without a cold discriminator)."""
        roles = super().warm_start(bundle)
        dec = bundle.network("decoder") if bundle.has("decoder") else None
        if self.config.content == "exemplar" and dec is not None and dec.config.content != "exemplar":
            with torch.no_grad():  # its residual's channels mean nothing as band weights: start those afresh
                head = unwrap(self.nets["decoder"]).head
                head.weight[1:].normal_(std=1e-3)
                head.bias[1], head.bias[2], head.bias[3] = -2.0, 2.0, 0.0
        self._set_prior()
        folder = Path(bundle.path) / TRAINING_FOLDER if bundle.path is not None else None
        if folder is not None and folder.is_dir():
            disc = load_bundle(folder).network("disc")
            unwrap(self.nets["disc"]).load_state_dict({k: v.float() for k, v in disc.state_dict().items()})
            roles.append("disc")
            self.warm_started["networks"] = roles
        return roles

    # -- pictures and export -------------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self, step: int) -> np.ndarray:
        """One row per attribute: A, B, C (A minus i), D (B plus i), C's mask, D's mask (white = edited)."""
        images, labels = self.nets["memory"].get()
        r = self.resolution
        nets = [unwrap(self.nets[k]) for k in ("encoder", "decoder")]
        modes = [n.training for n in nets]
        for n in nets:
            n.eval()
        rows = []
        for i in range(min(len(self.attributes), self.config.sample_rows)):
            pos, neg = torch.nonzero(labels[:, i] > 0).flatten(), torch.nonzero(labels[:, i] <= 0).flatten()
            if not len(pos) or not len(neg):
                continue
            a, b = images[pos[:1]].to(self.device), images[neg[:1]].to(self.device)
            swapped, masks, *_ = self.edit_pairs(a, b, i)
            m = masks.expand(-1, 3, -1, -1) * 2 - 1
            rows.append(torch.cat([a, b, swapped, m]).float())
        for n, mode in zip(nets, modes, strict=True):
            n.train(mode)
        if not rows:
            return image_grid(torch.zeros(1, 3, r, r))
        return image_grid(torch.cat(rows), columns=6)

    def export_bundle(self, path: Path, steps: int, extra_manifest: dict[str, Any]) -> Path:
        networks = {r: unwrap(self.nets[r]).to(memory_format=torch.contiguous_format) for r in ("encoder", "decoder")}
        images, labels = self.nets["memory"].get()
        if not len(images):
            raise FacetError("elegant-mask: no training faces were seen, so there are no prototypes to export")
        tensors = compute_prototypes(networks["encoder"], images, labels)
        fields = self.manifest_fields(extra_manifest)
        fields["prototypes"] = {"images": len(images), "positive": tensors["prototypes.counts"][:, 0].int().tolist(),
                                "negative": tensors["prototypes.counts"][:, 1].int().tolist()}
        fields.setdefault("name", f"elegant-mask-{self.resolution}")
        for info in fields.get("training", {}).values():
            if isinstance(info, dict):
                info.setdefault("cpu_hours", round(self.cpu_seconds() / 3600, 2))
        if self.teacher is not None:
            fields.setdefault("training", {}).setdefault(self.name, {})["teacher"] = self.teacher_name
        if self.config.region_prior in ("head", "face"):
            fields["layout"] = self.config.region_prior
        fields["edit"] = "masked"
        fields["content"] = self.config.content
        manifest = make_manifest(FAMILY, self.resolution, self.attributes, networks, **fields)
        saved = save_bundle(path, networks, manifest, tensors)
        disc = {"disc": unwrap(self.nets["disc"]).to(memory_format=torch.contiguous_format)}
        save_bundle(Path(path) / TRAINING_FOLDER, disc, make_manifest(
            FAMILY + "-training", self.resolution, self.attributes, disc,
            name=f"{fields['name']} (discriminator, for training on)"))
        for role in ("encoder", "decoder", "disc"):
            self.nets[role].to(memory_format=self._format)
        return saved
