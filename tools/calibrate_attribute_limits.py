"""How far each cGAN slider reaches: the manifest's ``attribute_limits``, measured on held-out faces.

    .venv/bin/python tools/calibrate_attribute_limits.py [--bundle resources/models/cgan64] [--n 60] [--dry-run]

A cGAN dial sets the attribute's entry of y; the generator was trained on labels of ±1, and dialled to only that a
real face's edit is often too faint for anyone to see (bench/slider_edits.py: about half of the edits flipped).
Beyond ±1 the generator extrapolates: edits get stronger and, at some point, stop keeping the person. For each
attribute this tool dials held-out faces to the opposite of their label at each candidate limit, through the
app's path (``EditSession``, pivotal tuning, the photo's own face kept: the strictest for identity), and keeps the
largest limit up to which dlib still sees the same person in at least 95 % of the edits and the classifier sees
the other attributes unchanged in at least 90 % (issue 21's bars). The faces are validation faces 200 onwards, not the
first 200 that bench/slider_edits.py reports on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inversion import load_faces  # noqa: E402
from bench.slider_edits import sessions  # noqa: E402
from engine.bundle_checks import MAX_ATTRIBUTE_LIMIT  # noqa: E402

CANDIDATES = (1.0, 1.5, 2.0, 2.5, 3.0)
MIN_SAME, MIN_OTHERS = 0.95, 0.90
FIRST = 200  # bench/slider_edits.py measures the first 200 validation faces
MODE = "pivotal, kept face"


def calibrate(bundle_path: Path, classifier: Path, celeba: Path, n: int) -> tuple[dict[str, float], dict]:
    """(the chosen limit of each attribute the judge knows, the measurements behind it)."""
    from engine.bundle import load_bundle
    from engine.edit_quality import IdentityJudge
    from engine.invert import invert
    from engine.metrics import attribute_decisions
    from engine.ops import SetAttribute

    reason = IdentityJudge.unavailable_reason()
    if reason:
        raise SystemExit(f"the limits are chosen by identity: {reason}")
    cgan, judge = load_bundle(bundle_path), load_bundle(classifier)
    cgan.manifest["attribute_limits"] = {a: MAX_ATTRIBUTE_LIMIT for a in cgan.attributes}  # measure beyond ±1
    faces, labels, attrs, _ = load_faces(cgan, FIRST + n, celeba, None)
    faces, labels = faces[FIRST:], labels[FIRST:]
    names = [a for a in attrs if a in judge.attributes]
    cols = [judge.attributes.index(a) for a in names]
    identity = IdentityJudge("face")
    edits = {(a, lim): [] for a in names for lim in CANDIDATES}
    for i, face in enumerate(faces):
        r = invert(face, cgan, "pivotal", seed=FIRST + i)
        s = sessions(face, cgan, r.code, r.tuned)[MODE]
        for name in names:
            sign = 1.0 if labels[i, attrs.index(name)] <= 0 else -1.0
            for lim in CANDIDATES:
                s.apply(SetAttribute(0, name, sign * lim))
                edits[(name, lim)].append(s.render_face(0))
                s.undo()
        print(f"{i + 1}/{len(faces)} faces", flush=True)
    before = attribute_decisions(judge, faces, balanced=True)[:, cols]
    own = [identity.descriptor(f) for f in faces]
    table, limits = {}, {}
    for j, name in enumerate(names):
        want = labels[:, attrs.index(name)] <= 0
        others = np.arange(len(names)) != j
        limits[name] = 1.0
        for lim in CANDIDATES:
            images = edits[(name, lim)]
            d = attribute_decisions(judge, images, balanced=True)[:, cols]
            same = float(np.mean([np.linalg.norm(own[k] - identity.descriptor(e)) < 0.6 for k, e in enumerate(images)]))
            row = {"flipped": float((d[:, j] == want).mean()), "others": float((d[:, others] == before[:, others]).mean()),
                   "same": same}
            table[f"{name} {lim:g}"] = row
        for lim in CANDIDATES:  # the largest limit up to which every candidate keeps the person
            row = table[f"{name} {lim:g}"]
            if row["same"] < MIN_SAME or row["others"] < MIN_OTHERS:
                break
            limits[name] = lim
        print(name, limits[name], {k: v for k, v in table.items() if k.startswith(name + " ")}, flush=True)
    return limits, table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", type=Path, default=ROOT / "resources" / "models" / "cgan64")
    p.add_argument("--classifier", type=Path, default=ROOT / "resources" / "models" / "classifier64")
    p.add_argument("--celeba", type=Path, default=ROOT.parent / "shared" / "datasets" / "celeba")
    p.add_argument("--n", type=int, default=60, help="held-out faces (validation faces 200 onwards)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dry-run", action="store_true", help="print the limits, leave the manifest as it is")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    limits, table = calibrate(args.bundle, args.classifier, args.celeba, args.n)
    print(json.dumps(limits))
    if not args.dry_run:
        write_limits(args.bundle, limits, args.n)


def write_limits(bundle: Path, limits: dict[str, float], n: int) -> None:
    """The limits into the bundle's manifest and card, with how they were measured."""
    from tools.train_defaults import update_shipped

    update_shipped(bundle, attribute_limits=limits, attribute_limits_protocol=(
        f"tools/calibrate_attribute_limits.py: {n} validation faces from #{FIRST}, each dialled to the opposite of "
        f"its label at {', '.join(f'{c:g}' for c in CANDIDATES)} (pivotal tuning, the photo's face kept); the "
        f"largest up to which every candidate keeps ≥ {MIN_SAME:.0%} same person (dlib) and ≥ {MIN_OTHERS:.0%} "
        "other attributes unchanged (classifier64)"))


if __name__ == "__main__":
    main()
