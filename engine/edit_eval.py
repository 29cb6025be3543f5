"""The edit-quality protocol: success, locality, realism and identity of one ELEGANT model's edits.

Used by ``bench/edit_quality.py`` and the model cards, so every number of every model is measured the same
way. Held-out faces come as uint8 crops in one layout (``faces_layout``, ``head`` for the packs of
``tools/train_defaults.py``); a model working in another layout gets them re-cut to its own.

Per attribute i of the model (and of the judge):

- *add*: each source without i takes i — from an exemplar with i (``mode="transfer"``, exemplars cycle
  through the pool) or from the positive prototype (``mode="dial"``, +strength); *remove* the reverse;
- success: the judge (the attribute classifier, balanced decisions) calls i present after an add and absent
  after a remove; others unchanged: the judge's other decisions are as on the source;
- locality (:func:`engine.edit_quality.locality`) over every edit; realism: Frechet distance of the added
  faces to real pool faces with i, and of the removed ones to pool faces without i, with the floor of two
  disjoint real sets of the same size; identity on a subset (dlib is slow on a CPU).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.edit_quality import (
    FeatureSpace,
    Identity,
    IdentityJudge,
    Locality,
    frechet,
    identity,
    mean_locality,
    to_classifier_view,
)
from engine.face.layout import convert_crop, get_layout

#: transfer-exemplar: a transfer that takes the exemplar's own pixels inside the mask (masked models);
#: transfer-recolour: a model that takes the exemplar's pixels, recolouring the source's hair for hair colours
MODES = ("transfer", "dial", "transfer-exemplar", "transfer-recolour")


@dataclass
class AttributeReport:
    name: str
    mode: str
    n_add: int
    n_remove: int
    added: float
    removed: float
    others_unchanged: float
    locality: Locality | None
    realism: float | None = None  # mean of the add and remove Frechet distances
    realism_floor: float | None = None
    identity: Identity | None = None
    extra: dict = field(default_factory=dict)

    @property
    def present(self) -> float:
        return (self.added * self.n_add + self.removed * self.n_remove) / max(self.n_add + self.n_remove, 1)


def model_layout(bundle) -> str:
    return get_layout(bundle.manifest.get("layout")).name


class _Edits:
    """A model's view of the faces (its layout and crop side) and its cached encodings."""

    def __init__(self, bundle, faces: np.ndarray, faces_layout: str):
        from engine import transfer as T

        self.bundle, self.T = bundle, T
        self.layout = model_layout(bundle)
        side = bundle.crop_resolution
        self.faces = [convert_crop(f, faces_layout, self.layout, side) for f in faces]
        self._codes: dict[int, object] = {}

    def code(self, i: int):
        if i not in self._codes:
            self._codes[i] = self.T.encode(self.bundle, self.faces[i])
        return self._codes[i]

    def edit(self, mode: str, name: str, source: int, target: int | None, value: float) -> np.ndarray:
        if mode.startswith("transfer"):
            content = "exemplar" if mode == "transfer-exemplar" else None  # None: the model's own
            hair = "recolour" if mode == "transfer-recolour" else "pixels"
            return self.T.transfer_codes(self.bundle, self.code(source), self.code(target), [name], abs(value),
                                         content=content, hair_colour=hair)
        return self.T.dial_codes(self.bundle, self.code(source), {name: value})


def evaluate(bundle, judge, faces: np.ndarray, labels: np.ndarray, attributes: list[str], sources: np.ndarray,
             pool: np.ndarray, mode: str = "transfer", faces_layout: str = "head", strength: float = 1.0,
             per_direction: int = 100, features: FeatureSpace | None = None,
             identity_judge: IdentityJudge | None = None, identity_pairs: int = 30) -> list[AttributeReport]:
    """Reports for every attribute of ``attributes`` the model and the judge both know.

    ``labels`` (N, len(attributes)) > 0 = present; ``sources`` and ``pool`` index ``faces`` (disjoint)."""
    from engine.metrics import attribute_decisions

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    view = _Edits(bundle, faces, faces_layout)
    if mode == "dial" and view.T.takes_exemplar_pixels(bundle):
        return []  # a model that takes an exemplar's pixels has no dial
    judged_names = [n for n in attributes if n in bundle.attributes and n in judge.attributes]
    cols = [judge.attributes.index(n) for n in judged_names]

    def decide(images: list[np.ndarray]) -> np.ndarray:
        return attribute_decisions(judge, to_classifier_view(images, view.layout, judge), balanced=True)[:, cols]

    before = decide([view.faces[s] for s in sources])
    row = {int(s): r for r, s in enumerate(sources)}
    judge_id = IdentityJudge(view.layout) if identity_judge is not None else None
    reports = []
    for j, name in enumerate(judged_names):
        col = attributes.index(name)
        has = labels[:, col] > 0
        with_i, without = pool[has[pool]], pool[~has[pool]]
        add_src, rem_src = sources[~has[sources]][:per_direction], sources[has[sources]][:per_direction]
        pairs = []  # (source index, exemplar index or None, value)
        for srcs, exs, value in ((add_src, with_i, strength), (rem_src, without, -strength)):
            for k, s in enumerate(srcs):
                pairs.append((int(s), int(exs[k % len(exs)]) if mode != "dial" and len(exs) else None, value))
        if mode != "dial" and (not len(with_i) or not len(without)):
            continue
        edited = [view.edit(mode, name, s, t, v) for s, t, v in pairs]
        after = decide(edited)
        src_rows = np.array([row[s] for s, _, _ in pairs], dtype=int)
        n_add = len(add_src)
        others = np.arange(len(judged_names)) != j
        report = AttributeReport(
            name=name, mode=mode, n_add=n_add, n_remove=len(rem_src),
            added=float(after[:n_add, j].mean()) if n_add else float("nan"),
            removed=float((~after[n_add:, j]).mean()) if len(rem_src) else float("nan"),
            others_unchanged=float((after[:, others] == before[src_rows][:, others]).mean()) if others.any() else 1.0,
            locality=mean_locality([(view.faces[s], e) for (s, _, _), e in zip(pairs, edited, strict=True)], name,
                                   view.layout))
        if features is not None:
            report.realism, report.realism_floor, report.extra["realism_n"] = _realism(
                features, view.layout, faces, faces_layout, edited[:n_add], edited[n_add:], with_i, without)
        if judge_id is not None:
            chosen = pairs[:identity_pairs] + pairs[n_add : n_add + identity_pairs]
            chosen_edits = edited[:identity_pairs] + edited[n_add : n_add + identity_pairs]
            report.identity = identity(judge_id, [(view.faces[s], e) for (s, _, _), e in
                                                  zip(chosen, chosen_edits, strict=True)])
        reports.append(report)
    return reports


def _realism(features: FeatureSpace, layout: str, faces: np.ndarray, faces_layout: str, added: list, removed: list,
             with_i: np.ndarray, without: np.ndarray) -> tuple[float | None, float | None, int]:
    """(mean Frechet of added→real-with and removed→real-without, the real-vs-real floor, sample size)."""
    scores, floors, sizes = [], [], []
    for edits, real in ((added, with_i), (removed, without)):
        m = min(len(edits), len(real) // 2)
        if m < 8:
            continue
        real_feats = features([faces[k] for k in real[: 2 * m]], faces_layout)
        scores.append(frechet(features(edits[:m], layout), real_feats[:m]))
        floors.append(frechet(real_feats[:m], real_feats[m : 2 * m]))
        sizes.append(m)
    if not scores:
        return None, None, 0
    return float(np.mean(scores)), float(np.mean(floors)), int(min(sizes))


def report_dict(r: AttributeReport) -> dict:
    """One attribute's numbers as plain JSON (manifests, model cards); None where a measure does not apply."""
    def num(v, digits: int = 3):
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), digits)

    loc, ident = r.locality, r.identity
    return {"adds": r.n_add, "removes": r.n_remove, "added": num(r.added), "removed": num(r.removed),
            "present": num(r.present), "others_unchanged": num(r.others_unchanged),
            "outside_mean_abs": num(loc and loc.mean_abs, 2), "outside_changed_pct": num(loc and 100 * loc.changed, 2),
            "frechet": num(r.realism, 1), "frechet_floor": num(r.realism_floor, 1),
            "same_person_pct": num(ident and 100 * ident.same_person, 1),
            "identity_distance": num(ident and ident.mean_distance)}


def summary(rows: dict[str, dict]) -> dict:
    """The mean of every number over attributes (each measure over the attributes it applies to)."""
    keys = [k for k in next(iter(rows.values()), {}) if k not in ("adds", "removes")]
    out = {}
    for k in keys:
        vals = [row[k] for row in rows.values() if row.get(k) is not None]
        out[k] = round(float(np.mean(vals)), 3) if vals else None
    return out
