"""How well ELEGANT transfers attributes, judged by the project's attribute classifier (issue 4's protocol).

For each attribute i of the bundle that the classifier knows, held-out faces are paired: a source *without*
i gets the block of an exemplar *with* it ("add"), and the reverse ("remove"). A transfer succeeded when
the classifier then decides the source has (or lacks) i. A transfer should also leave the source's other
attributes alone: "others unchanged" is the fraction of (transfer, other attribute) decisions that are the
same on the output as on the source itself. Used by ``bench/elegant.py`` and the model card export.

The judge has its own errors: ``exemplars_judged`` is how often it sees attribute i on the exemplars as
their labels say. A transfer that copied the exemplar's attribute perfectly would score about that, so it
is the ceiling of ``present_afterwards`` under this protocol. Since the pairs hold as many faces with i as
without, that ceiling is the judge's balanced accuracy, so the judge decides with ``balanced=True``
(``engine.metrics.attribute_decisions``) unless told otherwise: with plain decisions classifier64 saw only
half of the labelled moustaches, which capped the mean at 0.88 (balanced: 0.93).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.bundle import Bundle


@dataclass
class AttributeTransfer:
    """Transfer success of one attribute over ``pairs`` source/exemplar pairs (each way)."""

    name: str
    pairs: int
    added: float  # fraction of "add" transfers the classifier calls present
    removed: float  # fraction of "remove" transfers the classifier calls absent
    others_unchanged: float  # fraction of the other attributes' decisions left as on the source
    exemplars_judged: float = 1.0  # fraction of the exemplars the classifier judges as labelled (the ceiling)
    # per pair, did it succeed: the k "add" transfers, then the k "remove" ones (pair i of each uses the same faces)
    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)

    @property
    def present_afterwards(self) -> float:
        """Both directions together: the transferred attribute is as the exemplar has it."""
        return (self.added + self.removed) / 2


def transfer_success(bundle: Bundle, classifier: Bundle, faces: Sequence[np.ndarray], labels: np.ndarray,
                     pairs: int = 50, strength: float = 1.0, confirmed: bool = False,
                     balanced: bool = True) -> list[AttributeTransfer]:
    """Per attribute: add / remove success and others unchanged over up to ``pairs`` pairs each way.

    ``faces`` are uint8 images, ``labels`` (N, len(bundle.attributes)) their true attributes (> 0 = present),
    which pick the pairs; the judgements are the classifier's. ``confirmed``: pair only faces on which the
    classifier agrees with the label of that attribute, so that ``exemplars_judged`` is 1 and a miss is the
    transfer's, not the judge's. ``balanced``: the judge's balanced decisions (False: logit > 0).
    """
    from engine import transfer as T
    from engine.metrics import attribute_decisions

    labels = np.asarray(labels)
    known = [n for n in bundle.attributes if n in classifier.attributes]
    cols = [classifier.attributes.index(n) for n in known]
    decide = lambda images: attribute_decisions(classifier, images, balanced)[:, cols]  # noqa: E731
    codes: dict[int, T.ElegantCode] = {}

    def code(i: int) -> T.ElegantCode:
        if i not in codes:
            codes[i] = T.encode(bundle, faces[i])
        return codes[i]

    out = []
    judged = decide(faces)  # the judge's view of the untouched faces (sources' before, exemplars' ceiling)
    for j, name in enumerate(known):
        b = bundle.attributes.index(name)
        has = labels[:, b] > 0
        usable = judged[:, j] == has if confirmed else np.ones(len(has), bool)
        with_i, without = np.flatnonzero(has & usable)[:pairs], np.flatnonzero(~has & usable)[:pairs]
        k = min(len(with_i), len(without))
        if not k:
            continue
        sources = np.concatenate([without[:k], with_i[:k]])
        exemplars = np.concatenate([with_i[:k], without[:k]])
        results = [T.transfer_codes(bundle, code(s), code(e), [name], strength)
                   for s, e in zip(sources, exemplars, strict=True)]
        after, before, seen = decide(results), judged[sources], judged[exemplars, j]
        others = np.arange(len(known)) != j
        out.append(AttributeTransfer(
            name=name, pairs=int(k), added=float(after[:k, j].mean()), removed=float((~after[k:, j]).mean()),
            others_unchanged=float((after[:, others] == before[:, others]).mean()) if others.any() else 1.0,
            exemplars_judged=float((seen[:k].sum() + (~seen[k:]).sum()) / (2 * k)),
            hits=np.concatenate([after[:k, j], ~after[k:, j]])))
    return out


def present_interval(results: Sequence[AttributeTransfer], level: float = 0.95, draws: int = 4000,
                     seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of the mean ``present_afterwards`` over attributes.

    The held-out faces are a sample: each attribute's pairs are drawn again with replacement (a pair's "add"
    and "remove" transfers together, since they use the same two faces). Two models whose scores differ by
    much less than the interval's width cannot be told apart on these faces.
    """
    rng = np.random.default_rng(seed)
    means = np.zeros(draws)
    for r in results:
        if len(r.hits) != 2 * r.pairs:
            raise ValueError(f"{r.name}: no per-pair outcomes to resample (hits holds {len(r.hits)} of {2 * r.pairs})")
        idx = rng.integers(0, r.pairs, (draws, r.pairs))
        means += (r.hits[: r.pairs][idx].mean(1) + r.hits[r.pairs :][idx].mean(1)) / 2
    means /= max(len(results), 1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
