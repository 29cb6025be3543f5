"""What every inversion method shares: the code/result types, image ↔ tensor, and the latent optimiser.

The optimiser runs Adam on a batch of codes (the random restarts are one batch, not a loop), never on
network weights (the networks are eval-mode and ``requires_grad_(False)``), yields one
:class:`~engine.progress.Step` per iteration (so cancel lands within one step) with a preview every few
steps, and stops with :class:`~engine.errors.NumericalError` as soon as a loss or code is NaN/Inf.
Constrained edits (strokes, completion, super-resolution) reuse it with their own objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine.bundle import Bundle
from engine.device import autocast
from engine.errors import FacetError, NumericalError
from engine.images import center_square
from engine.models.cgan import labels_to_y
from engine.progress import Job, Step


@dataclass
class LatentCode:
    """A point in the cGAN's latent space: z (z_dim,) and the attribute vector y (n_attrs,) in [-1, 1]."""

    z: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        self.z = np.asarray(self.z, dtype=np.float32).reshape(-1)
        self.y = np.asarray(self.y, dtype=np.float32).reshape(-1)

    def copy(self) -> LatentCode:
        return LatentCode(self.z.copy(), self.y.copy())

    def to_dict(self) -> dict[str, list[float]]:
        return {"z": [float(v) for v in self.z], "y": [float(v) for v in self.y]}

    @classmethod
    def from_dict(cls, data: dict) -> LatentCode:
        return cls(np.asarray(data["z"], np.float32), np.asarray(data["y"], np.float32))


@dataclass
class InversionResult:
    code: LatentCode
    reconstruction: np.ndarray  # uint8 (R, R, 3)
    losses: list[float] = field(default_factory=list)  # best objective value after each step
    seconds: float = 0.0
    method: str = ""
    steps: int = 0
    target: np.ndarray | None = None  # uint8 (R, R, 3): the image as the model saw it (centre square, resized to R)
    tuned: Any = None  # engine.invert.pivotal.TunedWeights: the face's own generator change (pivotal tuning)
    note: str = ""  # what the user should know about the result (a tuning that was stopped and why)


# -- image <-> tensor ----------------------------------------------------------------------------
def image_to_tensor(image: np.ndarray, resolution: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (H, W, 3) → float (1, 3, R, R) in [-1, 1]; other sizes are centre-square-resized to R."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {arr.dtype} {arr.shape}")
    if arr.shape[:2] != (resolution, resolution):
        arr = center_square(arr, resolution)
    t = torch.from_numpy(np.array(arr, dtype=np.float32)).to(device)
    return (t.permute(2, 0, 1)[None] / 127.5 - 1.0).contiguous()


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """float (3, R, R) or (1, 3, R, R) in [-1, 1] → uint8 (R, R, 3)."""
    if x.ndim == 4:
        x = x[0]
    arr = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return arr.permute(1, 2, 0).cpu().numpy()


def code_tensors(code: LatentCode, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.as_tensor(code.z, dtype=torch.float32, device=device)[None]
    y = torch.as_tensor(code.y, dtype=torch.float32, device=device)[None]
    return z, y


def z_dim(bundle: Bundle) -> int:
    return int(bundle.network("generator").config.z_dim)


def n_attrs(bundle: Bundle) -> int:
    return int(bundle.network("generator").config.n_attrs)


def check_code(bundle: Bundle, z, y, what: str) -> None:
    """A code (z, y) must fit ``bundle``'s generator and be finite; a FacetError naming ``what`` otherwise."""
    z, y = np.asarray(z, np.float64).reshape(-1), np.asarray(y, np.float64).reshape(-1)
    want = (z_dim(bundle), n_attrs(bundle))
    if (z.size, y.size) != want:
        raise FacetError(f"{what}: the code has z of {z.size} and y of {y.size} values; {bundle.name} expects "
                         f"{want[0]} and {want[1]} (a code made with another cGAN)")
    if not (np.isfinite(z).all() and np.isfinite(y).all()):
        raise FacetError(f"{what}: the code holds NaN or infinite values")


@torch.no_grad()
def encode(bundle: Bundle, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IcGAN encoders: z = E_z(x), y = tanh(E_y(x) / 2); zeros for a missing encoder."""
    z = bundle.network("encoder_z")(x).float() if bundle.has("encoder_z") else x.new_zeros(x.shape[0], z_dim(bundle))
    return z, encode_y(bundle, x)


@torch.no_grad()
def encode_y(bundle: Bundle, x: torch.Tensor) -> torch.Tensor:
    """y = tanh(E_y(x) / 2); zeros without E_y."""
    if not bundle.has("encoder_y"):
        return x.new_zeros(x.shape[0], n_attrs(bundle))
    return labels_to_y(bundle.network("encoder_y")(x).float())


def random_z(n: int, dim: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, dim, generator=g).to(device)


# -- the latent optimiser --------------------------------------------------------------------------
Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""(z (B, z_dim), y (B, n_attrs), G(z, y) (B, 3, R, R)) → loss per sample (B,)."""


@dataclass
class OptimConfig:
    steps: int = 100
    lr: float = 0.05
    optimize_y: bool = False  # y is optimised through an unconstrained parameter w, y = tanh(w)
    preview_every: int = 10
    # cosine decay to 10%. Off for inversion: within 50-200 steps the code still has far to go and a decayed
    # step stops it early (held-out faces, cgan64 at step 2000: hybrid 50 steps 0.653 vs 0.666 with decay on 8
    # faces; optimize 200 steps 0.543 vs 0.554, in-domain 0.674 vs 0.679 on 5); the best code seen is kept.
    lr_decay: bool = False
    precision: str = "fp32"  # "bf16": autocast the forward passes (faster on CPUs with AVX-512-bf16)
    # "lbfgs": quasi-Newton with a strong-Wolfe line search (lr 1 is its natural step). On an encoder's
    # start it reaches a lower objective in far fewer evaluations of G than Adam (bench/hybrid_reach.py)
    optimizer: str = "adam"
    # (z_dim, z_dim) P: optimise u with z = z0 + P·u instead of z itself (a fixed preconditioner, e.g. the inverse
    # square root of the objective's average Hessian in z); None: plain z
    precondition: torch.Tensor | None = None


OPTIMIZERS = ("adam", "lbfgs")
LBFGS_CHUNK = 10  # L-BFGS iterations between progress reports: cancel lands within one chunk (~0.2 s at 64 px)
LBFGS_HISTORY = 50  # curvature pairs kept; z has ~100 dimensions


class _BudgetSpent(Exception):
    """Raised inside the L-BFGS closure when the evaluation budget is used up."""


@dataclass
class OptimOutcome:
    z: torch.Tensor  # (1, z_dim) best restart
    y: torch.Tensor  # (1, n_attrs)
    image: torch.Tensor  # (1, 3, R, R) G(z, y)
    losses: list[float]  # best loss after each step
    steps: int
    tuned: Any = None  # pivotal tuning's TunedWeights (``image`` is then rendered through them)
    note: str = ""


#: |z| entries beyond this are not a diverging-but-finite code any more (prior samples stay within ~5).
Z_LIMIT = 1e4


def _check_finite(step: int, loss: torch.Tensor, z: torch.Tensor, lr: float, what: str) -> None:
    if not torch.isfinite(loss).all() or not torch.isfinite(z).all():
        bad = "loss" if not torch.isfinite(loss).all() else "latent code"
        raise NumericalError(
            f"{what}: the {bad} became NaN/Inf at step {step} (learning rate {lr:g}); "
            "the settings are unusable — lower the learning rate or the loss weights"
        )
    if float(z.detach().abs().max()) > Z_LIMIT:
        raise NumericalError(
            f"{what}: the latent code diverged at step {step} (|z| up to {float(z.detach().abs().max()):.3g}, "
            f"learning rate {lr:g}); lower the learning rate"
        )


def optimize_latent_job(
    bundle: Bundle,
    objective: Objective,
    z0: torch.Tensor,
    y0: torch.Tensor,
    config: OptimConfig,
    what: str = "inversion",
    generator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> Job[OptimOutcome]:
    """Adam or L-BFGS on z (and optionally y) for a batch of starting points; returns the best one.

    ``config.steps`` counts evaluations of G (forward + backward): one per Adam step; L-BFGS spends one per
    line-search trial and reports progress after every iteration bundle of at most :data:`LBFGS_CHUNK`.
    ``generator`` renders instead of the bundle's own (a face's tuned generator, :mod:`engine.invert.pivotal`).
    """
    G = generator if generator is not None else bundle.network("generator")
    if config.optimizer not in OPTIMIZERS:
        raise FacetError(f"{what}: unknown optimizer {config.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if not (math.isfinite(config.lr) and config.lr > 0):
        raise NumericalError(f"{what}: the learning rate must be a finite positive number, not {config.lr!r}")
    P = config.precondition
    z_base = z0.detach().clone()
    u = (torch.zeros_like(z_base) if P is not None else z_base.clone()).requires_grad_(True)
    params = [u]
    if config.optimize_y:
        w = torch.atanh(y0.detach().clamp(-0.95, 0.95)).clone().requires_grad_(True)
        params.append(w)
    steps = max(0, int(config.steps))
    best_loss = torch.full((u.shape[0],), math.inf, device=u.device)
    best_z, best_y = z_base.clone(), y0.detach().clone()
    losses: list[float] = []
    last_img = u.new_zeros(0)  # G's output at the latest evaluation (for previews)

    def current_y() -> torch.Tensor:
        return torch.tanh(params[1]) if config.optimize_y else y0

    def current_z() -> torch.Tensor:
        return z_base + u @ P.T if P is not None else u

    def evaluate() -> torch.Tensor:
        """Objective per sample at the current code (graph kept), recorded as a candidate for the best."""
        nonlocal best_loss, last_img
        y, z = current_y(), current_z()
        with autocast(z.device, config.precision):
            img = G(z, y)
            loss = objective(z, y, img).float()
        _check_finite(len(losses), loss, z, config.lr, what)
        with torch.no_grad():  # record the code that produced this loss (before the update)
            better = loss < best_loss
            best_loss = torch.where(better, loss.detach(), best_loss)
            best_z[better] = z.detach()[better]
            best_y[better] = y.detach()[better]
        losses.append(float(best_loss.min()))
        last_img = img.detach()
        return loss

    def progress(before: int) -> Step:
        """The step after evaluations ``before``..len(losses); a preview when it crossed a multiple of preview_every."""
        preview = None
        n = len(losses)
        if config.preview_every and (n // config.preview_every > before // config.preview_every or n >= steps):
            with torch.no_grad():
                k = int(best_loss.argmin())
                preview = tensor_to_image(last_img[k])
        return Step(min(n, steps), steps, what, {"loss": losses[-1]}, preview)

    if config.optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            params, lr=config.lr, max_iter=LBFGS_CHUNK, history_size=LBFGS_HISTORY, line_search_fn="strong_wolfe",
            tolerance_grad=0.0, tolerance_change=0.0)

        def closure() -> torch.Tensor:
            if len(losses) >= steps:  # a line search wants more than the budget: stop (the best code is kept)
                raise _BudgetSpent
            opt.zero_grad(set_to_none=True)
            loss = evaluate().sum()
            loss.backward()
            return loss

        while len(losses) < steps:
            before = len(losses)
            try:
                opt.step(closure)
            except _BudgetSpent:
                pass
            except RuntimeError as exc:
                raise NumericalError(f"{what}: L-BFGS failed after {len(losses)} evaluations: {exc}") from None
            yield progress(before)
    else:
        opt = torch.optim.Adam(params, lr=config.lr)
        for i in range(steps):
            loss = evaluate()
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            if config.lr_decay and steps > 1:
                for group in opt.param_groups:
                    group["lr"] = config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * i / steps)))
            try:
                opt.step()
            except RuntimeError as exc:  # an lr beyond float32 range overflows inside Adam
                raise NumericalError(f"{what}: the update overflowed at step {i} (learning rate {config.lr:g}): {exc}") from None
            yield progress(i)
    # the final update has not been evaluated yet: one more forward decides
    with torch.no_grad():
        y, z = current_y(), current_z()
        img = G(z, y)
        loss = objective(z, y, img)
        _check_finite(len(losses), loss, z, config.lr, what)
        better = loss < best_loss
        best_loss = torch.where(better, loss, best_loss)
        best_z[better] = z[better]
        best_y[better] = y[better]
        k = int(best_loss.argmin())
        bz, by = best_z[k : k + 1], best_y[k : k + 1]
        out = G(bz, by)
    if losses:
        losses[-1] = min(losses[-1], float(best_loss.min()))
    return OptimOutcome(bz, by, out, losses, len(losses))
