"""What an edit session renders with: its models, the inversion quality presets, synthetic exemplars."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.bundle import Bundle
from engine.errors import FacetError

#: Crop size while no model is loaded (the photo can be opened and its faces found; edits say what is missing).
NO_MODEL_RESOLUTION = 128
#: Quality/speed presets → inversion methods, best first within each preset.
PRESETS: dict[str, tuple[str, ...]] = {
    "fast": ("encoder", "hybrid", "optimize"),
    "balanced": ("hybrid", "encoder", "optimize"),
    "best": ("force-in-domain", "in-domain", "hybrid", "optimize"),
}


@dataclass
class SessionModels:
    """The bundles a session renders with: a cGAN (dials, strokes) and/or ELEGANT (exemplar transfer)."""

    cgan: Bundle | None = None
    elegant: Bundle | None = None

    @property
    def resolution(self) -> int:
        if self.cgan is not None:
            return self.cgan.resolution
        if self.elegant is not None:
            return self.elegant.resolution
        return NO_MODEL_RESOLUTION

    def describe(self) -> dict[str, Any]:
        out = {}
        for role, b in (("cgan", self.cgan), ("elegant", self.elegant)):
            if b is not None:
                out[role] = {"name": b.name, "path": str(b.path) if b.path else None, "attributes": b.attributes}
        return out


def method_for_preset(preset: str, cgan: Bundle) -> str:
    """The best inversion method of ``preset`` that ``cgan`` has the networks for."""
    from engine.invert import METHODS

    if preset in METHODS:
        return preset
    for name in PRESETS.get(preset, ()):
        spec = METHODS.get(name)
        if spec is not None and all(cgan.has(role) for role in spec.needs):
            return name
    raise FacetError(f"no inversion method of preset {preset!r} works with {cgan.name} (its networks: {sorted(cgan.networks)})")


def generate_exemplars(cgan: Bundle, per_attribute: int = 2, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Synthetic exemplar faces from the cGAN: for each attribute, faces with it on (+1) and off (-1).

    The gallery's bundled samples are made this way (never CelebA photos). Returns (name, image) pairs,
    e.g. ("Smiling+1_0", uint8 (R, R, 3)); the other attributes are random in {-1, +1}.
    """
    from engine import edit
    from engine.invert import LatentCode

    rng = np.random.default_rng(seed)
    z_dim = int(cgan.network("generator").config.z_dim)
    out = []
    for k, name in enumerate(cgan.attributes):
        for sign in (1, -1):
            for j in range(per_attribute):
                y = rng.choice([-1.0, 1.0], size=len(cgan.attributes)).astype(np.float32)
                y[k] = sign
                code = LatentCode(rng.standard_normal(z_dim).astype(np.float32), y)
                out.append((f"{name}{sign:+d}_{j}", edit.render(cgan, code)))
    return out
