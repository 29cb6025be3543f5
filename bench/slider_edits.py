"""cGAN slider edits of real faces as the session shows them: hybrid vs pivotal tuning; success, locality, identity.

For each held-out face (64 px, the shipped cGAN) every attribute the classifier knows is dialled to the opposite
of the face's label at its slider's end (+1 adds it, -1 removes it; further where the manifest's
``attribute_limits``, measured by tools/calibrate_attribute_limits.py, lets the slider reach further), through
:class:`~engine.session.EditSession` — the app's path, so a cGAN change is confined to the edited attribute's
region (``engine.session_view.cgan_confinement``). Modes:

- *hybrid, kept face*: the app's default before pivotal tuning — the face + G(edited) − G(inverted), confined;
- *pivotal, kept face*: the same through the face's tuned generator G' (the Best preset);
- *pivotal, generated*: G'(edited) itself (Edit > Keep the Photo's Own Face off): the tuned G draws the person.

Measured (``engine.edit_quality``, ``engine.metrics``): *flipped* and *others unchanged* by the classifier's
balanced decisions (as ``bench/cgan_edits.py``); *locality*: mean |Δ| outside the attribute's region (grey
levels) and % of those pixels changed by more than 8 (global attributes have no outside: –); *identity*: dlib's
distance between the face and its edit, % of edits judged the same person (< 0.6).

    python bench/slider_edits.py [--n 200] [--inversions runs/pivotal_bench.npz] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inversion import held_out_parser, load_faces  # noqa: E402
from bench.report import markdown_table, run_and_write  # noqa: E402

MODES = ("hybrid, kept face", "pivotal, kept face", "pivotal, generated")
TARGET_FLIPPED, TARGET_OTHERS, TARGET_SAME = 0.80, 0.90, 0.95


def sessions(face: np.ndarray, cgan, code, tuned) -> dict:
    """One session per mode, each holding the face's code (and, for pivotal, its tuned weights)."""
    from engine.session import EditSession

    out = {}
    for mode in MODES:
        s = EditSession(face, cgan, detect=False, keep_face=mode.endswith("kept face"))
        slot = s.faces[0]
        slot.code, slot.tuned = code, tuned if mode.startswith("pivotal") else None
        slot.method = "pivotal" if slot.tuned is not None else "hybrid"
        slot.code_version += 1
        out[mode] = s
    return out


def _shown(path: str) -> str:
    """``path`` relative to the repository when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


def fmt(v, pattern: str = "{:.2f}") -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else pattern.format(v)


def run(args: argparse.Namespace) -> str:
    from bench.pivotal import load_inversions
    from engine.bundle import load_bundle
    from engine.edit import attribute_limit
    from engine.edit_quality import IdentityJudge, locality
    from engine.invert import invert
    from engine.metrics import attribute_decisions
    from engine.ops import SetAttribute

    torch.set_num_threads(args.threads)
    cgan, judge = load_bundle(args.bundle), load_bundle(args.classifier)
    faces, labels, attrs, source = load_faces(cgan, args.n, Path(args.celeba), None)
    cached = load_inversions(Path(args.inversions)) if args.inversions and Path(args.inversions).exists() else []
    names = [a for a in attrs if a in judge.attributes]
    cols = [judge.attributes.index(a) for a in names]
    decide = lambda images: attribute_decisions(judge, images, balanced=True)[:, cols]  # noqa: E731
    reason = IdentityJudge.unavailable_reason()
    identity = None if reason else IdentityJudge("face")
    edits = {(m, a): [] for m in MODES for a in names}  # (face index, edited render)
    stopped = 0
    for i, face in enumerate(faces):
        if i < len(cached):
            code, tuned = cached[i]
        else:
            r = invert(face, cgan, "pivotal", seed=i)
            code, tuned = r.code, r.tuned
        stopped += tuned is None
        for mode, s in sessions(face, cgan, code, tuned).items():
            for name in names:
                want = labels[i, attrs.index(name)] <= 0
                end = attribute_limit(cgan, name)  # the slider's end: ±1 unless the manifest measured more
                s.apply(SetAttribute(0, name, end if want else -end))
                edits[(mode, name)].append(s.render_face(0))
                s.undo()
        if i % 20 == 0:
            print(f"{i} faces rendered", flush=True)
    before = decide(faces)
    own = [identity.descriptor(f) for f in faces] if identity else []
    rows, means = [], {m: [] for m in MODES}
    for j, name in enumerate(names):
        want = labels[:, attrs.index(name)] <= 0
        others = np.arange(len(names)) != j
        row = [f"{name} (±{attribute_limit(cgan, name):g})"]
        for mode in MODES:
            images = edits[(mode, name)]
            d = decide(images)
            flipped = float((d[:, j] == want).mean())
            unchanged = float((d[:, others] == before[:, others]).mean())
            loc = [locality(f, e, name, "face") for f, e in zip(faces, images, strict=True)]
            loc = [x for x in loc if x is not None]
            outside = statistics.mean(x.mean_abs for x in loc) if loc else None
            changed = 100 * statistics.mean(x.changed for x in loc) if loc else None
            same = None
            if identity:
                dist = [float(np.linalg.norm(own[k] - identity.descriptor(e))) for k, e in enumerate(images)]
                same = 100 * float(np.mean(np.array(dist) < 0.6))
            means[mode].append((flipped, unchanged, outside, changed, same))
            row += [f"{flipped:.2f}", f"{unchanged:.2f}", f"{fmt(outside, '{:.1f}')} / {fmt(changed, '{:.1f}')}",
                    fmt(same, "{:.0f}")]
        rows.append(row)
        print(row, flush=True)

    def avg(mode: str, k: int) -> float | None:
        vals = [t[k] for t in means[mode] if t[k] is not None]
        return statistics.mean(vals) if vals else None

    mean_row = ["**mean**"]
    for mode in MODES:
        mean_row += [f"**{avg(mode, 0):.2f}**", f"**{avg(mode, 1):.2f}**",
                     f"**{fmt(avg(mode, 2), '{:.1f}')} / {fmt(avg(mode, 3), '{:.1f}')}**", f"**{fmt(avg(mode, 4), '{:.0f}')}**"]
    rows.append(mean_row)
    header = ["attribute (slider's end: ±limit)"]
    for mode in MODES:
        header += [f"{mode}: flipped", "others unchanged", "outside: mean |Δ| / % > 8", "same person %"]
    p = "pivotal, generated"
    verdict = (f"Targets for dial edits through the tuned G (flipped ≥ {TARGET_FLIPPED}, others unchanged ≥ "
               f"{TARGET_OTHERS}, same person ≥ {TARGET_SAME:.0%}): generated {avg(p, 0):.2f} / {avg(p, 1):.2f} / "
               f"{fmt(avg(p, 4), '{:.0f}')} %; kept face {avg('pivotal, kept face', 0):.2f} / "
               f"{avg('pivotal, kept face', 1):.2f} / {fmt(avg('pivotal, kept face', 4), '{:.0f}')} %.")
    return "\n".join([
        f"Model: `{Path(args.bundle).name}`, judged by `{Path(args.classifier).name}` (balanced decisions); "
        f"{len(faces)} {source}, {cgan.resolution} px; codes and tuned weights "
        f"{'from ' + _shown(args.inversions) if cached else 'inverted here'} (hybrid's code is the pivot"
        + (f"; {stopped} tunings stopped, those faces use hybrid" if stopped else "") + "). "
        "Each edit goes through `EditSession` (confined to the attribute's region in the kept-face modes).",
        reason or "", "",
        markdown_table(header, rows), "",
        verdict,
        "Read *flipped* against the judge's own balanced accuracy on untouched faces (0.86-0.90, docs/models.md) and "
        "against the untuned generator's own faces (bench/cgan_edits.py: 0.67 flipped when G draws the face).",
        "In *pivotal, generated* every pixel is G'(edited), so its outside change includes the tuned generator's own "
        "difference to the photo (G'(pivot) is 5.7 grey levels mean |Δ| from the face at 30.7 dB, bench/pivotal.py), "
        "not only the edit's spread; the kept-face modes add only the confined change to the photo.",
    ])


def main(argv: list[str] | None = None) -> None:
    p = held_out_parser(__doc__, n=200)
    p.set_defaults(threads=1)
    p.add_argument("--classifier", default=str(ROOT / "resources" / "models" / "classifier64"))
    p.add_argument("--inversions", default=str(ROOT / "runs" / "pivotal_bench.npz"),
                   help="codes and tuned weights saved by bench/pivotal.py --save (faces beyond them are inverted here)")
    run_and_write("slider_edits", "cGAN slider edits as the session shows them: hybrid vs pivotal tuning", run,
                  p.parse_args(argv))


if __name__ == "__main__":
    main()
