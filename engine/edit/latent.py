"""Edits that are arithmetic on codes (milliseconds): render, attribute dials, attribute vectors, interpolation.

- Dials set y, the conditional input of G: continuous values in [-1, 1], several at once. Domain
  translation (IcGAN) is the same thing: encode with the image's own labels, decode with other ones.
- Attribute vectors (Larsen et al. / White 2016): v_a = mean E_z(x | a) − mean E_z(x | not a) over
  real images; they live in the bundle as the extra tensor ``attribute_vectors`` (n_attrs, z_dim).
- Interpolation of z is linear or spherical (slerp keeps the norm typical of N(0, I)); y is linear.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from engine.bundle import Bundle, store_tensors
from engine.errors import BundleError, FacetError
from engine.invert.core import LatentCode, code_tensors, tensor_to_image

VECTORS = "attribute_vectors"


@torch.no_grad()
@torch.inference_mode()
def render(bundle: Bundle, code: LatentCode) -> np.ndarray:
    """G(z, y) as uint8 (R, R, 3); the slider path, so no autograd bookkeeping."""
    G = bundle.network("generator").eval()
    z, y = code_tensors(code, bundle.device)
    return tensor_to_image(G(z, y))


def add_change(face: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``face`` (uint8) changed by what the generator changed from ``before`` to ``after`` (same size).

    G(inverted code) is not the person (a 64 px generator's reconstruction is about 19 dB from the face), so
    showing G(edited code) replaces the person with the generator's look-alike. Adding only the change,
    G(edited) − G(inverted), keeps the real face and its detail and moves what the edit moved.
    """
    shapes = {np.shape(face), np.shape(before), np.shape(after)}
    if len(shapes) != 1:
        raise FacetError(f"add_change needs three images of one size, got {sorted(shapes)}")
    change = np.asarray(after, np.int16) - np.asarray(before, np.int16)
    return np.clip(np.asarray(face, np.int16) + change, 0, 255).astype(np.uint8)


def _attribute_index(bundle: Bundle, name: str) -> int:
    try:
        return bundle.attributes.index(name)
    except ValueError:
        raise FacetError(
            f"{bundle.path or bundle.name}: unknown attribute {name!r}; this model knows {', '.join(bundle.attributes)}"
        ) from None


def attribute_limit(bundle: Bundle, name: str) -> float:
    """How far attribute ``name``'s dial reaches: ±1 (the training labels) unless the manifest's
    ``attribute_limits`` says more. A label of 1 is what the generator saw on the training faces that have the
    attribute, and dialled to only that, a real face's edit is often too faint to see (bench/slider_edits.py: half
    of the edits flipped); measured per attribute, a larger y flips more while the person stays the same
    (tools/calibrate_attribute_limits.py)."""
    return float((bundle.manifest.get("attribute_limits") or {}).get(name, 1.0))


def set_attributes(code: LatentCode, bundle: Bundle, values: Mapping[str, float]) -> LatentCode:
    """A copy of ``code`` with the named y entries set (clipped to ± :func:`attribute_limit`)."""
    out = code.copy()
    for name, value in values.items():
        if not np.isfinite(value):
            raise FacetError(f"attribute {name!r}: value {value!r} is not a finite number")
        limit = attribute_limit(bundle, name)
        out.y[_attribute_index(bundle, name)] = float(np.clip(value, -limit, limit))
    return out


def _dataset_attribute_columns(bundle: Bundle, dataset_attrs: list[str]) -> list[int | None]:
    return [dataset_attrs.index(a) if a in dataset_attrs else None for a in bundle.attributes]


@torch.no_grad()
def compute_attribute_vectors(bundle: Bundle, dataset: Sequence, n: int = 2000, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Mean E_z code with each attribute minus without it, over the first ``n`` images of ``dataset``.

    ``dataset`` yields (image (3, R, R) in [-1, 1], labels in {-1, 1}) and names its labels in
    ``.attributes`` (matched to the bundle's by name; a bundle attribute the data lacks gets a zero vector).
    Returns ``{"attribute_vectors": (n_attrs, z_dim), "attribute_vector_counts": (n_attrs, 2)}``.
    """
    enc = bundle.network("encoder_z").eval()
    attrs = list(getattr(dataset, "attributes", bundle.attributes))
    cols = _dataset_attribute_columns(bundle, attrs)
    k, zd = len(bundle.attributes), int(enc.config.out_dim)
    pos_sum, neg_sum = torch.zeros(k, zd), torch.zeros(k, zd)
    pos_n, neg_n = torch.zeros(k), torch.zeros(k)
    seen, images, labels = 0, [], []

    def flush() -> None:
        if not images:
            return
        z = enc(torch.stack(images).to(bundle.device)).float().cpu()
        lab = torch.stack(labels)
        for i, c in enumerate(cols):
            if c is None:
                continue
            pos = lab[:, c] > 0
            pos_sum[i] += z[pos].sum(0)
            neg_sum[i] += z[~pos].sum(0)
            pos_n[i] += pos.sum()
            neg_n[i] += (~pos).sum()
        images.clear()
        labels.clear()

    for index in range(min(int(n), len(dataset))):
        img, lab = dataset[index]
        images.append(torch.as_tensor(img, dtype=torch.float32))
        labels.append(torch.as_tensor(lab, dtype=torch.float32))
        seen += 1
        if len(images) == batch_size:
            flush()
    flush()
    if seen == 0:
        raise FacetError("compute_attribute_vectors: the dataset is empty")
    ok = (pos_n > 0) & (neg_n > 0)
    vectors = torch.where(ok[:, None], pos_sum / pos_n.clamp_min(1)[:, None] - neg_sum / neg_n.clamp_min(1)[:, None], 0.0)
    return {VECTORS: vectors, "attribute_vector_counts": torch.stack([pos_n, neg_n], 1)}


def store_attribute_vectors(bundle: Bundle, tensors: Mapping[str, torch.Tensor],
                            path: str | os.PathLike | None = None) -> Path:
    """Write the vectors into the bundle folder (``path`` or the bundle's own) and into ``bundle.tensors``."""
    counts = tensors.get("attribute_vector_counts")
    fields = {"attribute_vectors": {"images": int(counts[0].sum().item()) if counts is not None else None}}
    return store_tensors(bundle, dict(tensors), fields, path, what="store_attribute_vectors")


def attribute_vector(bundle: Bundle, name: str) -> np.ndarray:
    vectors = bundle.tensors.get(VECTORS)
    if vectors is None:
        raise BundleError(
            f"{bundle.path or bundle.name}: this bundle has no attribute vectors; "
            "compute them with `facet attribute-vectors --bundle ...`"
        )
    return vectors[_attribute_index(bundle, name)].detach().float().cpu().numpy()


def apply_vector(code: LatentCode, bundle: Bundle, name: str, strength: float) -> LatentCode:
    """z + strength · v_name (y unchanged)."""
    out = code.copy()
    out.z = (out.z + float(strength) * attribute_vector(bundle, name)).astype(np.float32)
    return out


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation (Shoemake); falls back to linear for (anti)parallel or zero vectors."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-8 or nb < 1e-8:
        return (1 - t) * a + t * b
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolate(a: LatentCode, b: LatentCode, t: float, mode: str = "linear") -> LatentCode:
    """The code a fraction ``t`` of the way from ``a`` to ``b`` (t = 0 → a, t = 1 → b)."""
    if mode not in ("linear", "slerp"):
        raise FacetError(f"interpolation mode must be 'linear' or 'slerp', not {mode!r}")
    z = slerp(a.z, b.z, t) if mode == "slerp" else (1 - t) * a.z + t * b.z
    return LatentCode(z.astype(np.float32), ((1 - t) * a.y + t * b.y).astype(np.float32))


def translate(image: np.ndarray, bundle: Bundle, values: Mapping[str, float], method: str = "encoder",
              **invert_options: object) -> np.ndarray:
    """IcGAN domain translation: invert ``image`` (its own labels come from E_y), decode with ``values`` set."""
    from engine.invert import invert

    code = invert(image, bundle, method, **invert_options).code
    return render(bundle, set_attributes(code, bundle, values))
