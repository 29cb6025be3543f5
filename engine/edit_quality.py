"""Measures of an edit that see what a user sees, not only what a classifier decides.

A small attribute classifier is fooled by a dark blob where glasses belong, so "present afterwards" alone
rewards smudges. Every edit model is therefore reported with three more numbers (issue 20):

- **locality** (:func:`locality`): how much changed *outside* the region the attribute lives in
  (:mod:`engine.face.regions`), as mean absolute change in grey levels and as the fraction of pixels changed
  by more than 8 levels. Global attributes (Male, Young) have no outside and are not measured;
- **realism** (:func:`frechet`): the Frechet distance between edited faces and real held-out faces that have
  the attribute, in the classifier's feature space reduced to its leading principal components
  (:class:`FeatureSpace`: a few hundred faces cannot estimate a 512-d covariance), next to the floor of two
  disjoint sets of real faces;
- **identity** (:class:`IdentityJudge`): the distance between source and edit in dlib's public-domain
  face-recognition ResNet (same person below 0.6). dlib is an optional ``eval`` extra the app never needs;
  without it the measure is skipped with the reason.

Faces are uint8 square crops in a crop layout (:mod:`engine.face.layout`); measures that need the
classifier's layout convert them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.face.layout import CropLayout, convert_crop, get_layout
from engine.face.regions import attribute_region

#: A pixel counts as changed when one of its channels moved by more than this many grey levels.
CHANGED_LEVELS = 8
#: dlib's threshold: two faces closer than this are the same person.
SAME_PERSON = 0.6


@dataclass
class Locality:
    """Change outside the attribute's region: mean |Δ| in grey levels and the fraction of pixels with |Δ| > 8."""

    mean_abs: float
    changed: float


def outside_mask(name: str, resolution: int, layout: str | CropLayout | None) -> np.ndarray | None:
    """bool (R, R): pixels wholly outside attribute ``name``'s region (its soft edge included); None if global."""
    region = attribute_region(name, resolution, layout)
    return None if region is None else region <= 0.0


def locality(before: np.ndarray, after: np.ndarray, name: str,
             layout: str | CropLayout | None = "head") -> Locality | None:
    """How much ``after`` differs from ``before`` outside ``name``'s region (None for a global attribute)."""
    before, after = np.asarray(before), np.asarray(after)
    if before.shape != after.shape or before.ndim != 3 or before.shape[0] != before.shape[1]:
        raise ValueError(f"locality needs two square crops of one size, got {before.shape} and {after.shape}")
    outside = outside_mask(name, before.shape[0], layout)
    if outside is None:
        return None
    diff = np.abs(after.astype(np.int16) - before.astype(np.int16))[outside]
    return Locality(mean_abs=float(diff.mean()), changed=float((diff.max(axis=1) > CHANGED_LEVELS).mean()))


def mean_locality(pairs: Sequence[tuple[np.ndarray, np.ndarray]], name: str,
                  layout: str | CropLayout | None = "head") -> Locality | None:
    """:func:`locality` averaged over (before, after) pairs."""
    found = [locality(b, a, name, layout) for b, a in pairs]
    found = [f for f in found if f is not None]
    if not found:
        return None
    return Locality(float(np.mean([f.mean_abs for f in found])), float(np.mean([f.changed for f in found])))


# -- realism -----------------------------------------------------------------------------------------
def to_classifier_view(faces: Sequence[np.ndarray], layout: str | CropLayout | None, classifier) -> np.ndarray:
    """Crops in ``layout`` re-cut to the classifier's layout and resolution (its manifest's ``layout``)."""
    target = get_layout(classifier.manifest.get("layout"))
    source = get_layout(layout)
    r = classifier.resolution
    return np.stack([convert_crop(np.asarray(f), source, target, r) for f in faces])


class FeatureSpace:
    """The classifier's penultimate features, projected on the leading principal components of real faces."""

    def __init__(self, classifier, reference: Sequence[np.ndarray], layout: str | CropLayout | None = "head",
                 components: int = 64):
        from engine.metrics import classifier_outputs

        self.classifier, self.layout = classifier, layout
        feats = classifier_outputs(classifier, to_classifier_view(reference, layout, classifier), features=True)
        self.mean = feats.mean(0)
        _, _, vt = np.linalg.svd(feats - self.mean, full_matrices=False)
        self.basis = vt[: min(components, len(vt))].T

    def __call__(self, faces: Sequence[np.ndarray], layout: str | CropLayout | None = None) -> np.ndarray:
        from engine.metrics import classifier_outputs

        view = to_classifier_view(faces, self.layout if layout is None else layout, self.classifier)
        return (classifier_outputs(self.classifier, view, features=True) - self.mean) @ self.basis


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance of two projected feature sets (:class:`FeatureSpace` output)."""
    from engine.metrics import frechet_distance

    return frechet_distance(a, b)


# -- identity ----------------------------------------------------------------------------------------
#: The face's box on the CelebA canvas (brows to chin, cheek to cheek): what dlib's 5-point model is given.
_CANVAS_FACE_BOX = (45.0, 68.0, 134.0, 188.0)


class IdentityJudge:
    """dlib's face-recognition ResNet (public domain; ``pip install 'facet-studio[eval]'``) on aligned crops.

    :meth:`available` says whether it can run and, if not, why. The model files come from the
    ``face-recognition-models`` package, read by path: its module imports ``pkg_resources``, which current
    setuptools no longer ships.
    """

    def __init__(self, layout: str | CropLayout | None = "head"):
        reason = self.unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        import dlib

        models = Path(importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]) / "models"
        self.shapes = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        self.layout = get_layout(layout)
        self._dlib = dlib

    @staticmethod
    def unavailable_reason() -> str | None:
        """None when dlib and its models are installed, else a sentence saying what is missing."""
        if importlib.util.find_spec("dlib") is None:
            return "identity not measured: dlib is not installed (pip install 'facet-studio[eval]')"
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            return ("identity not measured: dlib's face-recognition model (the face-recognition-models package) "
                    "is not installed (pip install 'facet-studio[eval]')")
        models = Path(spec.submodule_search_locations[0]) / "models"
        for name in ("shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"):
            if not (models / name).is_file():
                return f"identity not measured: {models / name} is missing"
        return None

    def descriptor(self, crop: np.ndarray) -> np.ndarray:
        """dlib's 128-d face descriptor of an aligned crop."""
        crop = np.ascontiguousarray(crop, dtype=np.uint8)
        side = crop.shape[0]
        x0, y0 = self.layout.fraction(*_CANVAS_FACE_BOX[:2])
        x1, y1 = self.layout.fraction(*_CANVAS_FACE_BOX[2:])
        rect = self._dlib.rectangle(round(x0 * side), round(y0 * side), round(x1 * side), round(y1 * side))
        chip = self._dlib.get_face_chip(crop, self.shapes(crop, rect), size=150, padding=0.25)
        return np.asarray(self.net.compute_face_descriptor(chip), np.float64)

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(self.descriptor(a) - self.descriptor(b)))


@dataclass
class Identity:
    """Source-to-edit identity over a set of edits: mean distance and the fraction judged the same person."""

    mean_distance: float
    same_person: float


def identity(judge: IdentityJudge, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> Identity:
    d = np.array([judge.distance(a, b) for a, b in pairs])
    return Identity(float(d.mean()), float((d < SAME_PERSON).mean()))
