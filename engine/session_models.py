"""What an edit session renders with: its models, the inversion quality presets, synthetic exemplars.

Importing it loads no torch (the window maps slider moves to operations with :func:`slider_op`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import FacetError
from engine.ops import Dial, Op, SetAttribute

if TYPE_CHECKING:
    from engine.bundle import Bundle

#: Crop size while no model is loaded (the photo can be opened and its faces found; edits say what is missing).
NO_MODEL_RESOLUTION = 128
#: Quality/speed presets → inversion methods, best first within each preset. ``best`` is pivotal tuning (PTI):
#: hybrid's code, then the generator tuned on the face — a reconstruction that looks like the person (~30 dB
#: at 64 px against hybrid's ~19), a few seconds per face and ~80 KB of weights per face in a project.
PRESETS: dict[str, tuple[str, ...]] = {
    "fast": ("encoder", "hybrid", "optimize"),
    "balanced": ("hybrid", "encoder", "optimize"),
    "best": ("pivotal", "force-in-domain", "in-domain", "hybrid", "optimize"),
}


@dataclass
class SessionModels:
    """The bundles a session renders with: a cGAN (dials, strokes) and/or ELEGANT (exemplar transfer)."""

    cgan: Bundle | None = None
    elegant: Bundle | None = None

    @property
    def resolution(self) -> int:
        """The face-crop side: the largest any model edits at (:attr:`Bundle.crop_resolution`), so an ELEGANT
        edit is never fed an upsampled smaller crop (a smaller model's renders are resized to it; inversion
        resizes its input; ELEGANT adds its upsampled residual to the crop)."""
        sides = [b.crop_resolution for b in (self.cgan, self.elegant) if b is not None]
        return max(sides) if sides else NO_MODEL_RESOLUTION

    def slider_routes(self) -> dict[str, str]:
        """Which model each attribute's slider edits (name → ``cgan`` or ``elegant``), in slider order.

        An attribute only one model knows goes to that model. One both know goes where its edits measured best
        (``engine.edit_eval``): the ELEGANT manifest's ``sliders`` field says so per attribute; without it a
        masked ELEGANT model (local edits) takes them, an older one leaves them to the cGAN. A model that takes an
        exemplar's own pixels has no dial, so it takes no slider.
        """
        routes: dict[str, str] = {}
        measured = (self.elegant.manifest.get("sliders") or {}) if self.elegant is not None else {}
        masked = self.elegant is not None and self.elegant.manifest.get("edit") == "masked"
        dials = self.elegant is not None and self.elegant.manifest.get("content", "model") != "exemplar"
        for name in self.cgan.attributes if self.cgan is not None else []:
            routes[name] = "cgan"
        for name in self.elegant.attributes if dials else []:
            if name not in routes:
                routes[name] = "elegant"
            elif measured.get(name) in ("cgan", "elegant"):
                routes[name] = measured[name]
            elif masked:
                routes[name] = "elegant"
        return routes

    def describe(self) -> dict[str, Any]:
        out = {}
        for role, b in (("cgan", self.cgan), ("elegant", self.elegant)):
            if b is not None:
                out[role] = {"name": b.name, "path": str(b.path) if b.path else None, "attributes": b.attributes}
        return out


def slider_op(routes: Mapping[str, str], face: int, name: str, value: float, gesture: int = 0) -> Op:
    """The operation a slider move makes, by the model its attribute is routed to (:meth:`SessionModels.slider_routes`):
    an ELEGANT dial (no inversion needed) or a cGAN attribute of the face's code. The one rule for the session and
    the window (which has only the routes)."""
    model = routes.get(name)
    if model is None:
        raise FacetError(f"no loaded model edits {name}")
    return (Dial if model == "elegant" else SetAttribute)(face, name, float(value), int(gesture))


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


def generate_exemplars(cgan: Bundle, per_attribute: int = 2, seed: int = 0, judge: Bundle | None = None,
                       candidates: int = 8) -> list[tuple[str, np.ndarray]]:
    """Synthetic exemplar faces from the cGAN: for each attribute, faces with it on (+1) and off (-1).

    The gallery's bundled samples are made this way (never CelebA photos). Returns (name, image) pairs,
    e.g. ("Smiling+1_0", uint8 (R, R, 3)); the other attributes are random in {-1, +1}. With a ``judge``
    (a classifier bundle) ``candidates`` faces are drawn per wanted one: a weak generator does not always
    show what it was asked for, and an exemplar that lacks its attribute transfers nothing. Among the
    candidates the judge agrees with, the ones the cGAN's discriminator finds most realistic are kept (the
    judge's most extreme scores tend to go to the strangest images); the others follow by the judge's score.
    """
    from engine import edit
    from engine.invert import LatentCode
    from engine.metrics import classifier_outputs

    rng = np.random.default_rng(seed)
    z_dim = int(cgan.network("generator").config.z_dim)
    draws = per_attribute * (max(candidates, 1) if judge is not None else 1)
    out = []
    for k, name in enumerate(cgan.attributes):
        for sign in (1, -1):
            faces, labels = [], []
            for _ in range(draws):
                y = rng.choice([-1.0, 1.0], size=len(cgan.attributes)).astype(np.float32)
                y[k] = sign
                faces.append(edit.render(cgan, LatentCode(rng.standard_normal(z_dim).astype(np.float32), y)))
                labels.append(y)
            if judge is not None and name in judge.attributes:
                agrees = sign * classifier_outputs(judge, np.stack(faces))[:, judge.attributes.index(name)]
                realism = _realism(cgan, faces, np.stack(labels))
                # agreeing first, the most realistic of them first; then the rest, the judge's best first
                order = np.lexsort((np.where(agrees > 0, -realism, -agrees), agrees <= 0))
                faces = [faces[j] for j in order]
            out += [(f"{name}{sign:+d}_{j}", faces[j]) for j in range(per_attribute)]
    return out


def _realism(cgan: Bundle, faces: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """The cGAN discriminator's real/fake logit per face (0 for every face when the bundle has no D)."""
    import torch

    from engine.invert.core import image_to_tensor

    if not cgan.has("discriminator"):
        return np.zeros(len(faces))
    x = torch.cat([image_to_tensor(f, cgan.resolution, cgan.device) for f in faces])
    with torch.inference_mode():
        adv, _ = cgan.network("discriminator")(x, torch.from_numpy(labels).to(cgan.device))
    return adv.float().flatten().cpu().numpy()
