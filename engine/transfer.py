"""ELEGANT attribute transfer: exchange latent blocks between a source face and exemplars, or dial prototypes.

Each image is encoded once into an :class:`ElegantCode` (its latent, the encoder features the decoder's
skips need, and the image itself); every edit after that is one decoder pass, so a slider move re-renders
without re-encoding (:func:`transfer_codes`, :func:`dial_codes`, :func:`render`). Attribute block ``i`` of
the latent carries attribute ``bundle.attributes[i]``:

- transfer: block i of the source moves towards the exemplar's — ``(1-s)·own + s·exemplar``. Adding an
  attribute takes the block of an exemplar that has it; removing it takes the block of one that lacks it.
- dial: the same with the bundle's *prototypes* (mean block over positive / negative training faces):
  ``+v`` moves towards the positive prototype by ``v``, ``-v`` towards the negative one.

Images go in as uint8 (H, W, 3). The networks run at the bundle's resolution R, but the residual is added
to the face at its own size: a square face of side >= R (a 128 px crop with a 64 px model) is kept as it
is, its downscaled copy is encoded and the decoder's residual is upsampled onto it, so the untouched detail
of the larger crop survives and the output has the input's side. Other images are centre-squared and
resized to R. Strength 0 is the identity; values up to :data:`MAX_STRENGTH` extrapolate.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from engine.bundle import Bundle
from engine.device import fast_inference
from engine.errors import BundleError, FacetError, NumericalError
from engine.images import center_square
from engine.models.elegant import block_slice

FAMILY = "elegant"
MAX_STRENGTH = 1.5
PROTO_POS, PROTO_NEG, PROTO_COUNTS = "prototypes.positive", "prototypes.negative", "prototypes.counts"

Strength = float | Mapping[str, float]


@dataclass
class ElegantCode:
    """One encoded face. Tensors live on the bundle's device; treat them as opaque outside the engine."""

    latent: torch.Tensor  # (1, n_attrs·k, S, S)
    skips: list[torch.Tensor]  # the encoder's intermediate features (U-Net skips), finest first
    image: torch.Tensor  # (1, 3, R', R') in [-1, 1], R' >= R: what the (upsampled) residual is added to
    block_channels: int  # channels per attribute block

    def block(self, index: int) -> torch.Tensor:
        """Attribute block ``index`` (k, S, S)."""
        return self.latent[0, block_slice(index, self.block_channels)]


@dataclass
class Rendering:
    """A decoded face and the change that made it (float32 (R, R, 3), pixel units in [-255, 255]); a masked
    model also gives its mask (float32 (R, R) in [0, 1], exactly 0 where nothing changed)."""

    image: np.ndarray
    residual: np.ndarray
    mask: np.ndarray | None = None


# -- helpers ----------------------------------------------------------------------------------------
def _check_bundle(bundle: Bundle) -> None:
    if bundle.family != FAMILY:
        raise BundleError(f"{bundle.path or bundle.name}: an {FAMILY!r} bundle is needed, this one is {bundle.family!r}")


def _block_channels(bundle: Bundle) -> int:
    return int(bundle.network("encoder").config.block_channels)


def _index(bundle: Bundle, names: Sequence[str]) -> list[int]:
    known = bundle.attributes
    unknown = [n for n in names if n not in known]
    if unknown:
        raise FacetError(f"attribute(s) {', '.join(unknown)} are not in this model; it knows {', '.join(known)}")
    if not names:
        raise FacetError("no attribute given to transfer")
    if len(set(names)) != len(names):
        raise FacetError(f"an attribute is given twice: {', '.join(names)}")
    return [known.index(n) for n in names]


def _strengths(names: Sequence[str], strength: Strength) -> list[float]:
    if isinstance(strength, Mapping):
        missing = [n for n in names if n not in strength]
        if missing:
            raise FacetError(f"no strength given for {', '.join(missing)}")
        values = [float(strength[n]) for n in names]
    else:
        values = [float(strength)] * len(names)
    for n, s in zip(names, values, strict=True):
        if not np.isfinite(s) or abs(s) > MAX_STRENGTH:
            raise FacetError(f"strength {s} for {n} is outside [-{MAX_STRENGTH}, {MAX_STRENGTH}]")
    return values


def check_request(bundle: Bundle, attributes: Sequence[str], strength: Strength = 1.0) -> list[int]:
    """Validate attribute names and strengths against ``bundle``; returns the block indices."""
    _check_bundle(bundle)
    _strengths(attributes, strength)
    return _index(bundle, attributes)


def to_tensor(bundle: Bundle, image: np.ndarray, keep_size: bool = False) -> torch.Tensor:
    """uint8 (H, W, 3) → (1, 3, R, R) in [-1, 1] on the bundle's device (centre square, resized to R).

    ``keep_size``: a square image of side >= R keeps its side (see the module docstring)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise FacetError(f"expected an RGB uint8 image (H, W, 3), got {arr.dtype} {arr.shape}")
    r = bundle.resolution
    square_and_larger = arr.shape[0] == arr.shape[1] >= r
    if arr.shape[:2] != (r, r) and not (keep_size and square_and_larger):
        arr = center_square(arr, r)
    x = torch.from_numpy(np.array(arr, dtype=np.uint8)).to(bundle.device)  # a writable copy
    return x.permute(2, 0, 1)[None].float().div(127.5).sub(1.0)


def _model_size(x: torch.Tensor, r: int) -> torch.Tensor:
    """A (1, 3, R', R') image at the networks' resolution R (area average: no aliasing)."""
    return x if x.shape[-1] == r else torch.nn.functional.interpolate(x, size=(r, r), mode="area")


def upsample_residual(res: torch.Tensor, side: int) -> torch.Tensor:
    """The decoder's residual (1, 3, R, R) at the crop's ``side``, so that the crop seen at R has it all.

    The encoder sees a larger crop averaged down to R (:func:`_model_size`), so the edit is what the decoder
    meant only if the upsampled residual averages back to it. Plain bilinear upsampling does not: averaged
    back it is blurred ([1/8, 3/4, 1/8] per axis at 2x), and a quarter of a removed glasses frame or
    moustache stayed (elegant64 at the app's 128 px crops: up to 37 grey levels; transfer success 0.844 →
    0.868 with this). So the residual is first sharpened by the inverse of that blur — exactly: bilinear
    upsampling and block averaging both act on rows and columns separately, so the blur is an R x R matrix M
    per axis and the sharpened residual is M⁻¹ · res · M⁻ᵀ (what iterative back-projection, Irani & Peleg 1991,
    converges to) — then upsampled bilinearly, so it stays as smooth as before.

    Averaging back is a clean block average only at whole multiples of R (there M⁻¹ at most doubles any
    pattern; between them it can grow sevenfold), so this goes to the largest multiple of R and a plain
    bilinear resize covers the rest of the way.
    """
    r = res.shape[-1]
    exact = side // r * r
    out = res
    if exact > r:
        inv = _blur_inverse(r, exact).to(device=res.device, dtype=res.dtype)
        out = _bilinear(inv @ res @ inv.T, exact)
    return out if exact == side else _bilinear(out, side)


def _bilinear(x: torch.Tensor, side: int) -> torch.Tensor:
    return torch.nn.functional.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)


@functools.lru_cache(maxsize=8)
def _blur_inverse(r: int, side: int) -> torch.Tensor:
    """M⁻¹ for one axis, M = area-average(bilinear-upsample(·, side), r) as an r x r matrix (float32, CPU)."""
    eye = torch.eye(r, dtype=torch.float64)[:, None, :]  # r impulses, each a 1-D signal of length r
    up = torch.nn.functional.interpolate(eye, size=side, mode="linear", align_corners=False)
    blur = torch.nn.functional.adaptive_avg_pool1d(up, r)[:, 0, :].T  # column j: the blurred impulse j
    return torch.linalg.inv(blur).float()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 3, R, R) in [-1, 1] → uint8 (R, R, 3)."""
    x = x[0].float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()


# -- public API -------------------------------------------------------------------------------------
def _fast(bundle: Bundle) -> contextlib.AbstractContextManager:
    """A masked model runs channels-last in the hardware's fast precision (bf16: 34 → 8 ms per decode on this
    project's CPUs); the older ELEGANT model as it always ran."""
    if not is_masked(bundle):
        return contextlib.nullcontext()
    for role in ("encoder", "decoder"):
        net = bundle.network(role)
        if not getattr(net, "_channels_last", False):
            net.to(memory_format=torch.channels_last)
            net._channels_last = True
    return fast_inference(bundle.device)


@torch.inference_mode()
def encode(bundle: Bundle, image: np.ndarray) -> ElegantCode:
    """Encode one face (any size; centre square) for later cheap re-rendering."""
    _check_bundle(bundle)
    x = to_tensor(bundle, image, keep_size=True)
    with _fast(bundle):
        latent, skips = bundle.network("encoder")(_model_size(x, bundle.resolution))
    return ElegantCode(latent=latent, skips=skips, image=x, block_channels=_block_channels(bundle))


def is_masked(bundle: Bundle) -> bool:
    """True for a masked ELEGANT bundle (its decoder says where it edits: :mod:`engine.models.elegant_mask`)."""
    return hasattr(bundle.network("decoder"), "edit")


def takes_exemplar_pixels(bundle: Bundle) -> bool:
    """True for a bundle whose decoder fills its mask with the exemplar's own pixels (``content`` "exemplar"):
    it transfers, but has no dial (a prototype block has no pixels to take)."""
    return is_masked(bundle) and getattr(bundle.network("decoder").config, "content", "model") == "exemplar"


def face_swapping(bundle: Bundle) -> list[str]:
    """The attributes ``bundle`` could transfer only by pasting the other person's face: a model that takes the
    exemplar's own pixels (:func:`takes_exemplar_pixels`) and an attribute that lives everywhere on the face
    (Male, Young: no region in :mod:`engine.face.regions`). Measured on 200 held-out faces, a few percent of
    elegant_mask128's Male and Young transfers kept the person for dlib; shutting the eyes, nose and lips out of
    its mask, at inference or in training, left a chimera that still was not the person (docs/models.md). The app and the CLI
    do not offer these; the engine still renders them (old projects, the bench)."""
    from engine.face.regions import ATTRIBUTE_REGIONS

    if not takes_exemplar_pixels(bundle):
        return []
    return [name for name in bundle.attributes if name not in ATTRIBUTE_REGIONS]


def check_no_face_swap(bundle: Bundle, attributes: Sequence[str]) -> None:
    """Refuse, with what to do instead, a transfer of :func:`face_swapping` attributes."""
    swaps = [name for name in attributes if name in face_swapping(bundle)]
    if swaps:
        names = ", ".join(swaps)
        raise FacetError(f"{bundle.path or bundle.name} takes what it adds from the exemplar's own pixels, so {names} "
                         "would paste the other person's face onto this one; edit it with a slider or dial instead "
                         "(the cGAN: facet edit --set NAME=VALUE; or an ELEGANT model that synthesises its edit, "
                         "e.g. resources/models/elegant64)")


def check_dial(bundle: Bundle) -> None:
    """Raise the clear error a dial gets from a model that has none (:func:`takes_exemplar_pixels`), or from a
    bundle that is no ELEGANT model at all."""
    _check_bundle(bundle)
    if takes_exemplar_pixels(bundle):
        raise _no_dial(bundle)


def _no_dial(bundle: Bundle) -> FacetError:
    return FacetError(f"{bundle.path or bundle.name} takes what it adds from an exemplar's own pixels: it has no "
                      "exemplar-free dial; take the attribute from an example face, or dial it with another model")


def _finite(t: torch.Tensor, what: str, bundle: Bundle) -> torch.Tensor:
    if not bool(torch.isfinite(t).all()):
        raise NumericalError(f"{bundle.path or bundle.name}: the decoder's {what} holds NaN or Inf; the face is left "
                             "as it was (a damaged model, or an exemplar it cannot read)")
    return t


@torch.inference_mode()
def render(bundle: Bundle, code: ElegantCode, latent: torch.Tensor | None = None,
           names: Sequence[str] = ()) -> Rendering:
    """Decode ``latent`` (default: the code's own, i.e. reconstruction) on top of the code's image.

    A masked model's mask and residual are upsampled separately (bilinear) onto a larger crop: the mask's
    zeros stay zeros, so pixels outside it keep their bytes. A model with a dense residual (``elegant64``)
    changes every pixel a little; with the edited attributes' ``names`` its residual is confined to where they
    live (:func:`engine.face.regions.edit_confinement`: their regions, the face's oval for Male and Young), so
    its mottling never reaches the cheeks, the hair or the background. A non-finite output raises instead of
    showing a black face."""
    _check_bundle(bundle)
    latent = code.latent if latent is None else latent
    decoder = bundle.network("decoder")
    side = code.image.shape[-1]
    mask = None
    if takes_exemplar_pixels(bundle):
        if not torch.equal(latent, code.latent):
            raise _no_dial(bundle)
        image = to_uint8(code.image)
        return Rendering(image=image, residual=np.zeros(image.shape, np.float32),
                         mask=np.zeros(image.shape[:2], np.float32))
    if is_masked(bundle):
        with _fast(bundle):
            m, res = decoder.edit(latent, code.latent, code.skips)
        m, res = _finite(m.float(), "mask", bundle), _finite(res.float(), "residual", bundle)
        if m.shape[-1] != side:
            m, res = _bilinear(m, side).clamp_(0, 1), _bilinear(res, side)
        res = m * res
        mask = m[0, 0].cpu().numpy()
    else:
        res = _finite(decoder.residual(latent, code.latent, code.skips).float(), "residual", bundle)
        if res.shape[-1] != side:
            res = upsample_residual(res, side)
        if names:
            res = res * _confinement(bundle, names, side).to(res)
    out = to_uint8(code.image + res)
    residual = (res[0].float().permute(1, 2, 0) * 127.5).cpu().numpy()
    return Rendering(image=out, residual=residual, mask=mask)


def _confinement(bundle: Bundle, names: Sequence[str], side: int) -> torch.Tensor:
    """(1, 1, side, side): where a dense-residual model's edit of ``names`` may change the crop."""
    from engine.face.layout import get_layout

    return _confinement_map(get_layout(bundle.manifest.get("layout")).name, tuple(sorted(set(names))), side)


@functools.lru_cache(maxsize=32)
def _confinement_map(layout: str, names: tuple[str, ...], side: int) -> torch.Tensor:
    from engine.face.regions import edit_confinement

    return torch.from_numpy(edit_confinement(names, side, layout))[None, None]


def exchanged_latent(
    bundle: Bundle, source: ElegantCode, targets: Sequence[torch.Tensor], names: Sequence[str], strength: Strength
) -> torch.Tensor:
    """The source latent with block of ``names[j]`` moved towards ``targets[j]`` (a block) by its strength."""
    k = _block_channels(bundle)
    values = _strengths(names, strength)
    z = source.latent.clone()
    for i, target, s in zip(_index(bundle, names), targets, values, strict=True):
        sl = block_slice(i, k)
        z[:, sl] = torch.lerp(z[:, sl], target.to(z.dtype)[None].expand_as(z[:, sl]), s)  # exact at s = 1
    return z


CONTENTS = ("model", "exemplar")


def transfer_codes(
    bundle: Bundle, source: ElegantCode, exemplar: ElegantCode, attributes: Sequence[str], strength: Strength = 1.0,
    content: str | None = None, hair_colour: str = "pixels",
) -> np.ndarray:
    """:func:`transfer` on already encoded faces (one decoder pass).

    ``content`` (default: the model's own) — a bundle whose decoder takes the exemplar's pixels always does.

    ``content="exemplar"`` (masked models only): inside the mask the exemplar's own aligned pixels, not the
    decoder's synthesis — its detail on the source's colours (:func:`exemplar_content`), so a frame or a
    moustache is real texture at the crop's full resolution rather than a 128 px guess.

    ``hair_colour`` (models that take the exemplar's pixels): ``"pixels"`` takes the exemplar's hair inside the
    mask like any attribute; ``"recolour"`` recolours the source's own hair (:mod:`engine.face.hair`). Measured
    on 200 held-out faces, recolouring keeps the hair's shape and the background (Blond_Hair: outside its region
    0.7 grey levels, not 3.7) but the judge sees the colour less often (present 0.42, not 0.72), so pixels stay
    the default (docs/models.md)."""
    if hair_colour not in HAIR_MODES:
        raise FacetError(f"hair_colour must be one of {', '.join(HAIR_MODES)}, not {hair_colour!r}")
    idx = _index(bundle, attributes)
    if takes_exemplar_pixels(bundle):
        if content not in (None, "exemplar"):
            raise FacetError(f"{bundle.path or bundle.name} always takes the exemplar's own pixels (content "
                             f"{content!r} is for models that synthesise their edit)")
        return _exemplar_pixels(bundle, source, exemplar, attributes, strength, hair_colour)
    content = content or "model"
    z = exchanged_latent(bundle, source, [exemplar.block(i) for i in idx], attributes, strength)
    rendering = render(bundle, source, z, attributes)
    if content == "model":
        return rendering.image
    if content != "exemplar":
        raise FacetError(f"content must be one of {', '.join(CONTENTS)}, not {content!r}")
    if rendering.mask is None:
        raise FacetError("taking the exemplar's own pixels needs a masked ELEGANT model (it says where to take them)")
    src = to_uint8(source.image).astype(np.float32)
    ex = exemplar_content(src, to_uint8(exemplar.image))
    out = src + rendering.mask[..., None] * (ex - src)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


#: How a model that takes the exemplar's pixels edits a hair colour (``transfer_codes(hair_colour=...)``).
HAIR_MODES = ("pixels", "recolour")


@torch.inference_mode()
def _exemplar_pixels(bundle: Bundle, source: ElegantCode, exemplar: ElegantCode, attributes: Sequence[str],
                     strength: Strength, hair_colour: str = "pixels") -> np.ndarray:
    """A ``content="exemplar"`` model's transfer: the mask (which the exchanged blocks open) and the band weights
    at the model's resolution, then the exemplar's pixels mixed in at the source crop's own side
    (:func:`engine.models.elegant_mask.exemplar_edit`). Strength scales the change (the largest requested).

    With ``hair_colour="recolour"``, hair colours are not pixels to take (the exemplar's hair is elsewhere, its
    background where the source has hair): inside their mask the source's own hair is recoloured to the
    exemplar's hair colour (:func:`engine.face.hair.hair_colour_edit`), after the other attributes, with a mask
    of their own."""
    from engine.face.hair import HAIR_COLOURS, hair_colour_edit
    from engine.face.layout import get_layout
    from engine.models.elegant_mask import exemplar_edit

    values = dict(zip(attributes, _strengths(attributes, strength), strict=True))  # names checked by the caller
    recoloured = HAIR_COLOURS if hair_colour == "recolour" else frozenset()
    out = source.image
    for group in ([a for a in attributes if a not in recoloured], [a for a in attributes if a in recoloured]):
        scale = max((values[a] for a in group), default=0.0)
        if scale == 0:
            continue
        idx = _index(bundle, group)
        z = exchanged_latent(bundle, source, [exemplar.block(i) for i in idx], group, 1.0)
        with _fast(bundle):
            mask, weights = bundle.network("decoder").edit(z, source.latent, source.skips)
        mask, weights = _finite(mask.float(), "mask", bundle), _finite(weights.float(), "band weights", bundle)
        image = exemplar.image.to(out.dtype)
        if group[0] in recoloured:
            out = hair_colour_edit(out, image, mask * scale, get_layout(bundle.manifest.get("layout")))
        else:
            out = exemplar_edit(out, image, mask * scale, weights)
    return to_uint8(_finite(out, "output", bundle))


def transfer_several(bundle: Bundle, source: ElegantCode, takes: Sequence[tuple[ElegantCode, Sequence[str]]],
                     strength: Strength = 1.0) -> np.ndarray:
    """Several attributes from several exemplars (each pair: an exemplar and what to take from it) at once: one
    decoder pass for a model that synthesises its edit; one exemplar after the other (each result encoded
    again) for one that takes the exemplar's pixels."""
    names = [n for _, ns in takes for n in ns]
    if takes_exemplar_pixels(bundle):
        out = to_uint8(source.image)
        code = source
        for k, (exemplar, ns) in enumerate(takes):
            out = transfer_codes(bundle, code, exemplar, list(ns), strength)
            if k + 1 < len(takes):
                code = encode(bundle, out)
        return out
    targets = [c.block(bundle.attributes.index(n)) for c, ns in takes for n in ns]
    return render(bundle, source, exchanged_latent(bundle, source, targets, names, strength), names).image


def exemplar_content(source: np.ndarray, exemplar: np.ndarray, sigma: float = 0.04) -> np.ndarray:
    """The exemplar (resized to the source) with its low frequencies replaced by the source's: its detail — the
    edges of a frame, the hairs of a moustache — in the source's light and skin tone. ``sigma`` is the Gaussian
    that separates them, as a fraction of the side. float32 (S, S, 3)."""
    from PIL import Image, ImageFilter

    side = source.shape[0]
    ex = Image.fromarray(np.ascontiguousarray(exemplar))
    if ex.size != (side, side):
        ex = ex.resize((side, side), Image.Resampling.LANCZOS)
    radius = max(sigma * side, 0.5)

    def low(image: Image.Image) -> np.ndarray:
        return np.asarray(image.filter(ImageFilter.GaussianBlur(radius)), np.float32)

    src_img = Image.fromarray(np.clip(source + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(ex, np.float32) - low(ex) + low(src_img)


def transfer(
    bundle: Bundle, source: np.ndarray, exemplar: np.ndarray, attributes: Sequence[str], strength: Strength = 1.0
) -> np.ndarray:
    """Give ``source`` the exemplar's value of every attribute in ``attributes`` (several at once).

    ``strength`` (a number, or one per attribute name) interpolates between the source's own block (0) and
    the exemplar's (1). Removal is transfer from an exemplar that lacks the attribute.
    """
    return transfer_codes(bundle, encode(bundle, source), encode(bundle, exemplar), attributes, strength)


def transfer_many(
    bundle: Bundle,
    source: np.ndarray | ElegantCode,
    exemplars: Sequence[np.ndarray | ElegantCode],
    weights: Sequence[float],
    attributes: Sequence[str],
    strength: Strength = 1.0,
) -> np.ndarray:
    """Transfer towards a weighted mix of several exemplars' blocks (weights are normalised to sum 1)."""
    if len(exemplars) != len(weights) or not exemplars:
        raise FacetError(f"transfer_many needs one weight per exemplar, got {len(exemplars)} and {len(weights)}")
    w = np.asarray(weights, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise FacetError(f"exemplar weights must be non-negative with a positive sum, got {list(weights)}")
    w = w / w.sum()
    src = source if isinstance(source, ElegantCode) else encode(bundle, source)
    codes = [e if isinstance(e, ElegantCode) else encode(bundle, e) for e in exemplars]
    if takes_exemplar_pixels(bundle):  # pixels cannot be averaged without ghosts: the weightiest exemplar's
        return transfer_codes(bundle, src, codes[int(np.argmax(w))], attributes, strength)
    idx = _index(bundle, attributes)
    targets = [sum(float(wk) * c.block(i) for wk, c in zip(w, codes, strict=True)) for i in idx]
    z = exchanged_latent(bundle, src, targets, attributes, strength)
    return render(bundle, src, z, attributes).image


def prototypes(bundle: Bundle) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(positive, negative) mean blocks (n_attrs, k, S, S) and counts (n_attrs, 2) stored in the bundle."""
    _check_bundle(bundle)
    try:
        return bundle.tensors[PROTO_POS], bundle.tensors[PROTO_NEG], bundle.tensors[PROTO_COUNTS]
    except KeyError:
        raise BundleError(f"{bundle.path or bundle.name}: this ELEGANT bundle has no attribute prototypes") from None


def dial_codes(bundle: Bundle, source: ElegantCode, settings: Mapping[str, float]) -> np.ndarray:
    """:func:`dial` on an encoded face."""
    if takes_exemplar_pixels(bundle):
        raise _no_dial(bundle)
    names = list(settings)
    pos, neg, counts = prototypes(bundle)
    targets = []
    for i, n in zip(_index(bundle, names), names, strict=True):
        positive = settings[n] >= 0
        if counts[i, 0 if positive else 1] <= 0:
            side = "with" if positive else "without"
            raise FacetError(f"no prototype for {n}: no training face {side} it was seen when the bundle was made")
        targets.append(pos[i] if positive else neg[i])
    z = exchanged_latent(bundle, source, targets, names, {n: abs(float(v)) for n, v in settings.items()})
    return render(bundle, source, z, names).image


def dial(bundle: Bundle, source: np.ndarray, settings: Mapping[str, float]) -> np.ndarray:
    """Move attributes without an exemplar: ``{"Smiling": +0.7, "Bangs": -1.0}`` (prototype blocks)."""
    return dial_codes(bundle, encode(bundle, source), settings)


def reconstruct(bundle: Bundle, image: np.ndarray) -> np.ndarray:
    """Decode a face with its own latent: should return the input closely (the residual path)."""
    return render(bundle, encode(bundle, image)).image


@torch.inference_mode()
def compute_prototypes(
    encoder: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 64
) -> dict[str, torch.Tensor]:
    """Mean latent block per attribute over faces with (label > 0) and without it: the bundle's extra tensors.

    ``images`` (N, 3, R, R) in [-1, 1] and ``labels`` (N, n_attrs) in [-1, 1]; a side with no face is zero
    with count 0 (``dial`` then refuses that direction with a clear message).
    """
    k = encoder.config.block_channels
    n_attrs = encoder.config.n_attrs
    if labels.ndim != 2 or labels.shape[1] != n_attrs or labels.shape[0] != images.shape[0]:
        raise ValueError(f"labels (N, {n_attrs}) for {images.shape[0]} images expected, got {tuple(labels.shape)}")
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    sums = torch.zeros(2, n_attrs, k, encoder.config.latent_size, encoder.config.latent_size, dtype=torch.float64)
    counts = torch.zeros(n_attrs, 2, dtype=torch.float64)
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device).float()
        y = labels[start : start + batch_size].float().cpu()
        z = encoder(x)[0].double().cpu().unflatten(1, (n_attrs, k))  # (b, n_attrs, k, S, S)
        for side, mask in enumerate((y > 0, y <= 0)):
            m = mask.double()
            sums[side] += torch.einsum("ba,bakhw->akhw", m, z)
            counts[:, side] += m.sum(0)
    encoder.train(was_training)
    means = sums / counts.T.clamp(min=1)[:, :, None, None, None]
    return {PROTO_POS: means[0].float(), PROTO_NEG: means[1].float(), PROTO_COUNTS: counts.float()}
