"""Pivotal tuning (Roich et al. 2021, "Pivotal Tuning for Latent-based Editing of Real Images", PTI).

Hybrid inversion finds a *pivot* code; then the generator itself is fine-tuned on that one face for a bounded
number of steps, so that G'(pivot) is the person (a 64 px G reconstructs a held-out face at ~19 dB; G' at ~30)
while edits of the pivot keep their meaning. Two choices keep the edits semantic and the weights small:

- only the generator's **last two transposed convolutions** (and the BatchNorm between them) are tuned. Tuning
  deeper layers reconstructs better still, but the tuned G then draws the person whatever the code says: an
  attribute's change shrank to 60 % (three layers) and 20 % (four) of the untuned G's (6-8 held-out faces);
- PTI's **locality term**: random codes of the prior, far from the pivot, must render as the untuned G drew
  them (their outputs are computed once), so G' stays G away from this face.

The big layer's change is a rank-``rank`` product (LoRA-like; with rank 32 it also reconstructed better than a
full delta in the same steps), the small ones are full deltas. What is kept per face (:class:`TunedWeights`) is
only those deltas in float16, ~80 KB for the 64 px cGAN, next to the fingerprint of the generator they belong
to: a face's tuned weights are refused for any other generator. Tuning runs in bf16 on CPUs (autocast), from
the untuned layers' cached input: the frozen front of G is evaluated once.

The locality term alone leaves random codes ~15 grey levels (RMS) from what the untuned G drew: a linear change
of two late layers cannot tell this face's features from every other's. So, beyond PTI, the change is applied
with a strength that depends on the code's distance from the pivot in z (:meth:`TunedWeights.strength`): all of
it within ``radius`` (attribute dials change y only; attribute vectors move z by ~1.3 per unit), fading as a
Gaussian beyond, none for a different face (~19 away; 0.4 and 0.3 x sqrt(z_dim) for radius and fall-off).

A tuning that diverges (NaN, or the loss climbing well above where it started) stops with a message and the
face keeps its untuned hybrid code (:attr:`OptimOutcome.note`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.bundle import Bundle
from engine.device import autocast
from engine.errors import FacetError, NumericalError
from engine.invert.core import OptimOutcome, code_tensors, tensor_to_image
from engine.invert.hybrid import hybrid_method
from engine.invert.registry import METHODS, MethodJob, register_method
from engine.progress import Job, Step

#: Tuning steps (Adam, each one forward + backward of the tuned layers for the pivot and half the locality codes).
TUNE_STEPS = 200
#: Adam's step on the deltas: 1e-2 reconstructed worse on 8 held-out faces (26.5 dB vs 32 dB in 200 steps).
TUNE_LR = 3e-3
#: Rank of the big layer's change: 32 gives 31.8 dB / SSIM 0.93 in 200 steps (16: 28.6 dB; 64: 32.5 dB).
RANK = 32
#: Weight of the locality term against the pixel loss (0.1 leaves random codes at 22 dB from the untuned G, 1 at 25).
LOCALITY = 1.0
#: Random codes in the locality pool; half of them are used at each step.
LOCALITY_CODES = 8
#: How many of the generator's last transposed convolutions are tuned.
TUNED_CONVS = 2
#: Layer types the tuned part of the generator may hold (besides parameter-free activations).
_LAYERS = (nn.ConvTranspose2d, nn.BatchNorm2d)
#: The loss must stay below this multiple of where it started; above it the tuning is taken to diverge.
RISE = 2.0
PREVIEW_EVERY = 50


# -- what is kept per face -----------------------------------------------------------------------
#: The change's full-strength radius and its Gaussian fall-off beyond, in units of sqrt(z_dim).
RADIUS, FALLOFF = 0.4, 0.3


@dataclass
class TunedWeights:
    """A face's change to its generator: per tuned parameter, a full delta or a factor pair (float16).

    ``deltas[name]`` is ``{"full": Δ}`` or ``{"a": A (rows, r), "b": B (r, cols)}`` with Δ = (A @ B) reshaped to
    the parameter's shape; ``base`` is the fingerprint of the generator the deltas apply to; ``centre`` is the
    pivot's z, around which the change applies in full (``radius``) and fades (``falloff``).
    """

    base: str
    centre: np.ndarray
    radius: float
    falloff: float
    deltas: dict[str, dict[str, np.ndarray]]
    _deltas: dict = field(default_factory=dict, repr=False, compare=False)  # generator id → delta tensors

    @property
    def nbytes(self) -> int:
        return self.centre.nbytes + sum(a.nbytes for parts in self.deltas.values() for a in parts.values())

    def delta(self, name: str) -> np.ndarray:
        """The parameter's change as float32, flat for a factor pair (reshaped by the caller)."""
        parts = self.deltas[name]
        if "full" in parts:
            return parts["full"].astype(np.float32)
        return parts["a"].astype(np.float32) @ parts["b"].astype(np.float32)

    def strength(self, z: torch.Tensor) -> torch.Tensor:
        """(B,) in [0, 1]: how much of the change codes ``z`` (B, z_dim) get (1 near the pivot, 0 far from it)."""
        d = (z.float() - torch.as_tensor(self.centre, device=z.device)).norm(dim=1)
        return torch.exp(-(d - self.radius).clamp_min(0).pow(2) / (2 * self.falloff**2))

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "centre": self.centre, "radius": self.radius, "falloff": self.falloff,
                "deltas": {n: dict(p) for n, p in self.deltas.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "tuned weights") -> TunedWeights:
        check_tuned_dict(data, where)
        deltas = {n: {k: np.asarray(v, np.float16) for k, v in p.items()} for n, p in data["deltas"].items()}
        return cls(str(data["base"]), np.asarray(data["centre"], np.float32), float(data["radius"]),
                   float(data["falloff"]), deltas)


#: Bounds on stored tuned weights (a 256 px generator's last layers hold a few million values).
MAX_TUNED_PARAMETERS = 64
MAX_TUNED_VALUES = 16 * 2**20
MAX_TUNED_MAGNITUDE = 1e4


def check_tuned_dict(data: Any, where: str) -> None:
    """A stored :class:`TunedWeights` dict (a project's), checked field by field: FacetError naming ``where``."""

    def fail(problem: str) -> FacetError:
        return FacetError(f"corrupt session: {where} {problem}")

    if not isinstance(data, dict) or set(data) != {"base", "centre", "radius", "falloff", "deltas"}:
        raise fail("must hold exactly 'base', 'centre', 'radius', 'falloff' and 'deltas'")
    if not isinstance(data["base"], str) or not 1 <= len(data["base"]) <= 64:
        raise fail("base must be a generator fingerprint (text of 1 to 64 characters)")
    for key in ("radius", "falloff"):
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and 0 < v <= 1e4):
            raise fail(f"{key} must be a positive number, got {str(v)[:40]}")
    _check_array(data["centre"], "centre", 1, fail)
    deltas = data["deltas"]
    if not isinstance(deltas, dict) or not 1 <= len(deltas) <= MAX_TUNED_PARAMETERS:
        raise fail(f"deltas must be a dictionary of 1 to {MAX_TUNED_PARAMETERS} parameters")
    total = 0
    for name, parts in deltas.items():
        here = f"deltas[{name[:60]!r}]"
        if not isinstance(name, str) or len(name) > 200:
            raise fail("deltas must be named by parameter names")
        if not isinstance(parts, dict) or set(parts) not in ({"full"}, {"a", "b"}):
            raise fail(f"{here} must hold 'full', or 'a' and 'b'")
        for key, arr in parts.items():
            _check_array(arr, f"{here}.{key}", None if key == "full" else 2, fail)
            total += arr.size
            if total > MAX_TUNED_VALUES:
                raise fail(f"hold more than {MAX_TUNED_VALUES} values")
        if "a" in parts and parts["a"].shape[1] != parts["b"].shape[0]:
            raise fail(f"{here}: its factors have shapes {parts['a'].shape} and {parts['b'].shape}, which do not multiply")


def _check_array(arr: Any, field_name: str, ndim: int | None, fail: Callable[[str], FacetError]) -> None:
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f" or arr.size == 0 or arr.size > MAX_TUNED_VALUES:
        raise fail(f"{field_name} must be a floating-point array")
    if ndim is not None and arr.ndim != ndim:
        raise fail(f"{field_name} must have {ndim} dimension(s), got shape {arr.shape}")
    a = arr.astype(np.float32)
    if not np.isfinite(a).all() or np.abs(a).max() > MAX_TUNED_MAGNITUDE:
        raise fail(f"{field_name} holds values that are not finite or far out of range")


# -- the generator they apply to ----------------------------------------------------------------
def fingerprint(G: nn.Module) -> str:
    """16 hex digits naming ``G``'s weights (parameters and buffers, by name): tuned deltas fit only these."""
    cached = getattr(G, "_facet_fingerprint", None)
    if cached is not None:
        return cached
    h = hashlib.blake2b(digest_size=8)
    for name, t in sorted(G.state_dict().items()):
        h.update(f"{name}{tuple(t.shape)}".encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    G._facet_fingerprint = h.hexdigest()
    return G._facet_fingerprint


def tuned_start(G: nn.Module, what: str = "pivotal tuning") -> int:
    """Index in ``G.main`` of the first tuned layer (the :data:`TUNED_CONVS`-th transposed convolution from the end)."""
    from engine.models.cgan import Generator

    main = getattr(G, "main", None)
    convs = [i for i, m in enumerate(main) if isinstance(m, nn.ConvTranspose2d)] if isinstance(G, Generator) else []
    if len(convs) < TUNED_CONVS + 1:
        raise FacetError(f"{what}: the generator ({type(G).__name__}) is not the cGAN's stack of transposed "
                         f"convolutions with at least {TUNED_CONVS + 1} of them; it cannot be tuned")
    start = convs[-TUNED_CONVS]
    odd = [type(m).__name__ for m in main[start:] if not isinstance(m, _LAYERS) and any(True for _ in m.parameters())]
    if odd:
        raise FacetError(f"{what}: the generator's last layers hold {', '.join(odd)}, which cannot be tuned")
    return start


def _generator_input(G: nn.Module, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """What ``G.main`` receives for codes (z, y): :meth:`engine.models.cgan.Generator.forward`'s first step."""
    c = G.config
    if z.shape[-1] != c.z_dim or y.shape[-1] != c.n_attrs or z.shape[0] != y.shape[0]:
        raise ValueError(f"G expects z (B, {c.z_dim}) and y (B, {c.n_attrs}), got {tuple(z.shape)} and {tuple(y.shape)}")
    return torch.cat([z, y.to(z.dtype)], dim=1)[:, :, None, None]


def _run_tail(G: nn.Module, start: int, h: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """``G.main[start:]`` on ``h`` with its parameters taken from ``params`` (names as in ``G``), written out
    functionally: the shared generator is never modified, so another thread may use it meanwhile (the app
    refines an inversion beside the edits)."""
    for i in range(start, len(G.main)):
        m, name = G.main[i], f"main.{i}."
        if isinstance(m, nn.ConvTranspose2d):
            bias = params.get(name + "bias", m.bias)
            h = F.conv_transpose2d(h, params.get(name + "weight", m.weight), bias, m.stride, m.padding,
                                   m.output_padding, m.groups, m.dilation)
        elif isinstance(m, nn.BatchNorm2d):  # eval mode: the running statistics
            h = F.batch_norm(h, m.running_mean, m.running_var, params.get(name + "weight", m.weight),
                             params.get(name + "bias", m.bias), False, 0.0, m.eps)
        else:
            h = m(h)
    return h


def check_tuned(bundle: Bundle, tuned: TunedWeights, what: str) -> None:
    """``tuned`` must fit ``bundle``'s generator (same parameters, shapes and base weights); a FacetError saying
    what does not otherwise."""
    G = bundle.network("generator")
    params = dict(G.named_parameters())
    for name, parts in tuned.deltas.items():
        if name not in params:
            raise FacetError(f"{what}: its tuned weights change {name!r}, which {bundle.name}'s generator does not "
                             "have (they were made with another model)")
        shape = tuple(params[name].shape)
        got = parts["full"].shape if "full" in parts else (parts["a"].shape[0], parts["b"].shape[1])
        want = shape if "full" in parts else (shape[0], math.prod(shape[1:]))
        if tuple(got) != want:
            raise FacetError(f"{what}: its tuned change of {name} has shape {tuple(got)}; {bundle.name}'s generator "
                             f"needs {want} (they were made with another model)")
    z_dim = int(G.config.z_dim)
    if tuned.centre.shape != (z_dim,):
        raise FacetError(f"{what}: its tuned weights are centred on a code of {tuned.centre.size} values; "
                         f"{bundle.name} has {z_dim} (they were made with another model)")
    mine = fingerprint(G)
    if tuned.base != mine:
        raise FacetError(f"{what}: its tuned weights were made for a generator with fingerprint {tuned.base}, "
                         f"{bundle.name}'s is {mine}; load the model the project was made with, or invert the face again")


def delta_tensors(bundle: Bundle, tuned: TunedWeights) -> dict[str, torch.Tensor]:
    """The tuned parameters' changes (float32, the parameters' shapes, on the bundle's device), cached."""
    G = bundle.network("generator")
    key = id(G)
    if key not in tuned._deltas:
        params = dict(G.named_parameters())
        tuned._deltas.clear()
        tuned._deltas[key] = {n: torch.from_numpy(tuned.delta(n)).to(params[n].device).reshape(params[n].shape)
                              for n in tuned.deltas}
    return tuned._deltas[key]


def tuned_generator(bundle: Bundle, tuned: TunedWeights | None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """G'(z, y): the bundle's generator with ``tuned`` applied at each code's strength (the generator itself when
    ``tuned`` is None). Differentiable in z and y, so the latent optimisers (strokes) can use it; it never
    modifies the shared generator (:func:`_run_tail`)."""
    G = bundle.network("generator")
    if tuned is None:
        return G
    start = tuned_start(G)
    deltas = delta_tensors(bundle, tuned)
    params = dict(G.named_parameters())

    def at(s: float) -> dict[str, torch.Tensor]:
        return {n: params[n].detach() + s * d for n, d in deltas.items()}

    def forward(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        s = tuned.strength(z.detach()).cpu().numpy()
        h = G.main[:start](_generator_input(G, z, y))
        if np.all(s == s[0]):
            return _run_tail(G, start, h, at(float(s[0])))
        return torch.cat([_run_tail(G, start, h[k : k + 1], at(float(v))) for k, v in enumerate(s)])

    return forward


@torch.inference_mode()
def render(bundle: Bundle, code, tuned: TunedWeights | None) -> np.ndarray:
    """G'(z, y) as uint8 (R, R, 3): :func:`engine.edit.render` through a face's tuned generator."""
    bundle.network("generator").eval()
    z, y = code_tensors(code, bundle.device)
    return tensor_to_image(tuned_generator(bundle, tuned)(z, y))


# -- tuning ---------------------------------------------------------------------------------------
@dataclass
class TuneOutcome:
    tuned: TunedWeights | None  # None: the tuning was stopped (``note`` says why)
    image: torch.Tensor  # (1, 3, R, R) G'(pivot), or G(pivot) when stopped
    losses: list[float]
    steps: int
    note: str = ""


class _Deltas(nn.Module):
    """The trainable change of the tuned layers: factor pairs for big weights, full deltas for the rest."""

    def __init__(self, params: dict[str, torch.Tensor], rank: int, seed: int):
        super().__init__()
        self.shapes = {n: tuple(p.shape) for n, p in params.items()}
        self.names = list(params)
        g = torch.Generator().manual_seed(seed)
        self.full, self.a, self.b = nn.ParameterDict(), nn.ParameterDict(), nn.ParameterDict()
        for i, p in enumerate(params.values()):
            rows, cols = p.shape[0], p[0].numel() if p.ndim > 1 else 1
            if p.ndim >= 2 and rank * (rows + cols) < p.numel():
                self.a[str(i)] = nn.Parameter(torch.randn(rows, rank, generator=g).to(p.device) * 0.01)
                self.b[str(i)] = nn.Parameter(p.new_zeros(rank, cols))
            else:
                self.full[str(i)] = nn.Parameter(torch.zeros_like(p))

    def delta(self, i: int) -> torch.Tensor:
        k, shape = str(i), self.shapes[self.names[i]]
        return self.full[k] if k in self.full else (self.a[k] @ self.b[k]).reshape(shape)

    def frozen(self, rank: int) -> dict[str, dict[str, np.ndarray]]:
        """float16 deltas; a factor pair re-balanced by an SVD of its product (both factors of one scale)."""
        out = {}
        with torch.no_grad():
            for i, n in enumerate(self.names):
                k = str(i)
                if k in self.full:
                    out[n] = {"full": self.full[k].float().cpu().numpy().astype(np.float16)}
                    continue
                u, s, vh = torch.linalg.svd((self.a[k] @ self.b[k]).float().cpu(), full_matrices=False)
                root = s[:rank].sqrt()
                out[n] = {"a": (u[:, :rank] * root).numpy().astype(np.float16),
                          "b": (root[:, None] * vh[:rank]).numpy().astype(np.float16)}
        return out


def tune_job(bundle: Bundle, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor, steps: int = TUNE_STEPS,
             lr: float = TUNE_LR, rank: int = RANK, locality: float = LOCALITY, locality_codes: int = LOCALITY_CODES,
             seed: int = 0, precision: str = "auto", offset: int = 0, total: int | None = None) -> Job[TuneOutcome]:
    """Fine-tune the generator's last layers so that G'(z, y) ≈ ``x`` (1, 3, R, R) in [-1, 1], G' ≈ G elsewhere.

    Yields one Step per tuning step (numbered from ``offset`` of ``total``); returns a :class:`TuneOutcome`.
    """
    if not (math.isfinite(lr) and lr > 0):
        raise NumericalError(f"pivotal tuning: the learning rate must be a finite positive number, not {lr!r}")
    G = bundle.network("generator")
    start = tuned_start(G)
    base = {f"main.{n}": p.detach() for n, p in G.main[start:].named_parameters()}
    deltas = _Deltas(base, max(1, int(rank)), seed)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    k = max(0, int(locality_codes)) if locality else 0
    zr = torch.randn(k, z.shape[1], generator=gen).to(z.device)
    yr = (torch.randint(0, 2, (k, y.shape[1]), generator=gen).float() * 2 - 1).to(y.device)
    with torch.no_grad():  # the frozen front of G, evaluated once
        h = G.main[:start](_generator_input(G, z, y))
        hr = G.main[:start](_generator_input(G, zr, yr)) if k else None
        untuned = _run_tail(G, start, h, base)
        target_r = _run_tail(G, start, hr, base) if k else None
    opt = torch.optim.Adam(deltas.parameters(), lr=lr)
    total = offset + steps if total is None else total
    losses: list[float] = []
    initial = float((untuned - x).pow(2).mean())

    def stopped(note: str) -> TuneOutcome:
        return TuneOutcome(None, untuned, losses, len(losses), f"pivotal tuning stopped: {note}; the face keeps its "
                           "untuned inversion")

    def params() -> dict[str, torch.Tensor]:
        return {n: base[n] + deltas.delta(i) for i, n in enumerate(base)}

    for step in range(max(0, int(steps))):
        with autocast(x.device, precision):
            p = params()
            out = _run_tail(G, start, h, p)
            loss = (out.float() - x).pow(2).mean()
            recon = loss.detach()
            if k:
                half = slice(0, k // 2 or 1) if step % 2 == 0 else slice(k // 2, k)
                o = _run_tail(G, start, hr[half], p)
                loss = loss + locality * (o.float() - target_r[half]).pow(2).mean()
        value = float(recon)
        if not (math.isfinite(value) and math.isfinite(float(loss.detach()))):
            return stopped(f"the loss became NaN or infinite at step {step + 1} (learning rate {lr:g})")
        if step >= 10 and value > RISE * max(initial, 1e-8):
            return stopped(f"the loss rose from {initial:.4g} to {value:.4g} by step {step + 1} (learning rate {lr:g})")
        losses.append(value)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        preview = None
        if (step + 1) % PREVIEW_EVERY == 0 or step + 1 == steps:
            preview = tensor_to_image(out.detach().float())
        yield Step(offset + step + 1, total, "pivotal tuning", {"loss": value}, preview)
    if not all(torch.isfinite(t).all() for t in deltas.parameters()):
        return stopped(f"the tuned weights became NaN or infinite (learning rate {lr:g})")
    root = math.sqrt(z.shape[1])
    tuned = TunedWeights(fingerprint(G), z[0].detach().float().cpu().numpy().copy(), RADIUS * root, FALLOFF * root,
                         deltas.frozen(rank))
    with torch.no_grad():
        image = tuned_generator(bundle, tuned)(z, y).float()
    final = float((image - x).pow(2).mean())
    if not math.isfinite(final) or final > RISE * max(initial, 1e-8):
        return stopped(f"the tuned generator reconstructs worse than the untuned one ({final:.4g} vs {initial:.4g})")
    return TuneOutcome(tuned, image, losses, len(losses))


def _renumbered(job: Job, total: int) -> Generator[Step, None, Any]:
    """``job``'s steps with ``total`` as their total (the pivot's steps are the first part of the whole job)."""
    try:
        while True:
            try:
                step = next(job)
            except StopIteration as stop:
                return stop.value
            yield replace(step, total=total)
    finally:
        job.close()


@register_method("pivotal", default_steps=TUNE_STEPS, needs=("generator", "encoder_z", "encoder_y"),
                 summary="hybrid's code, then G's last layers tuned on the face (PTI; best quality, seconds)")
def pivotal_method(bundle: Bundle, x: torch.Tensor, steps: int, seed: int, restarts: int, lr: float | None,
                   pivot_steps: int | None = None, rank: int = RANK, locality: float = LOCALITY,
                   precision: str = "auto", **options: object) -> MethodJob:
    """``steps`` counts tuning steps; the pivot takes hybrid's own (``pivot_steps``, default hybrid's 50)."""
    n_pivot = METHODS["hybrid"].default_steps if pivot_steps is None else int(pivot_steps)
    total = n_pivot + max(0, int(steps))
    pivot = yield from _renumbered(hybrid_method(bundle, x, n_pivot, seed, restarts, None, **options), total)
    done = yield from tune_job(bundle, x, pivot.z, pivot.y, steps, TUNE_LR if lr is None else float(lr), rank,
                               locality, seed=seed, precision=precision, offset=pivot.steps, total=total)
    return OptimOutcome(pivot.z, pivot.y, done.image, pivot.losses + done.losses, pivot.steps + done.steps,
                        tuned=done.tuned, note=done.note)
