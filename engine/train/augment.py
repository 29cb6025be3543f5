"""Differentiable augmentation for GAN discriminators (DiffAugment, Zhao et al., NeurIPS 2020).

With a few ten thousand faces a discriminator memorises the training set and its gradients stop meaning
"looks real". Augmenting *both* real and generated images, differentiably so the generator's gradient
passes through, keeps it honest without letting augmentations leak into what the generator learns.
Policies: ``color`` (brightness ±0.25, saturation x0.5-1.5, contrast x0.75-1.25: milder than the paper's,
because hair colour is an attribute here and must stay visible), ``translation`` (shift by up to 1/8 of the side,
zero-filled), ``cutout`` (a zeroed square of a quarter of the side). Random numbers come from the global
torch RNG, which the trainer checkpoints, so a resumed run augments exactly as the uninterrupted one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def _color(x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) * (hi - lo) + lo

    x = x + u(-0.25, 0.25)  # images are in [-1, 1]: ±0.25 is ±32 grey levels
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * u(0.5, 1.5) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * u(0.75, 1.25) + mean


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy[None] + ty + 1, 0, h + 1)
    gx = torch.clamp(gx[None] + tx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    idx = (gy * (w + 2) + gx).flatten(1)  # (b, h*w) into the padded image's flattened pixels
    flat = padded.flatten(2)
    return flat.gather(2, idx[:, None, :].expand(-1, x.shape[1], -1)).view_as(x)


def _cutout(x: torch.Tensor, ratio: float = 0.25) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    gy = torch.arange(h, device=x.device)[None, :, None]
    gx = torch.arange(w, device=x.device)[None, None, :]
    inside = ((gy - oy).abs() <= ch // 2) & ((gx - ox).abs() <= cw // 2)
    return x * (~inside)[:, None].to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` → ("color", "translation"); "" or "none" → (); unknown names raise ValueError."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip() and p.strip() != "none")
    unknown = [n for n in names if n not in _OPS]
    if unknown:
        raise ValueError(f"unknown augmentation(s) {', '.join(unknown)}; known: {', '.join(POLICIES)}")
    return names


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    """``x`` (B, C, H, W) with every augmentation of ``policy`` applied, independently per image."""
    for name in policy:
        x = _OPS[name](x)
    return x
