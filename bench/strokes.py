"""Colour strokes and completion as the session shows them, on held-out faces with pivotal tuning.

Each held-out face (64 px, the shipped cGAN, codes and tuned weights from ``bench/pivotal.py --save`` or
inverted here) is opened in an :class:`~engine.session.EditSession` (cGAN only: the ``face`` layout at 64 px) and

- **stroked**: one of four strokes in turn — golden and black lines across the hair, red over the lips, pink
  on a cheek. Measured on the face the session renders: how far the stroked pixels' mean colour moved toward
  the stroke colour (projection of the move on the way there; 1 = all of it), and the mean change (grey
  levels, mean over channels) of the face's other pixels (the face oval minus the stroked pixels); also the
  move the generator's change alone made (before the colour layer);
- **completed**: a random square of 20 % of the face's box is masked and completed. Measured: PSNR inside the
  hole against the original face, next to filling it with the face's mean colour; the seam (mean absolute
  difference of neighbouring pixels across the mask's border, over the same in the untouched face: 1 = no
  seam); the largest change outside the mask.

Time is CPU and wall seconds of the whole job (``EditSession.stroke_job`` / ``complete_job``) at the app's
default steps (40 / 60), one torch thread.

    python bench/strokes.py [--n 200] [--inversions runs/pivotal_bench.npz] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.inversion import held_out_parser, load_faces  # noqa: E402
from bench.report import markdown_table, run_and_write  # noqa: E402
from bench.slider_edits import _shown  # noqa: E402

STROKE_STEPS, COMPLETE_STEPS = 40, 60  # the app's (app/requests.py)
TARGET_MOVE, TARGET_OUTSIDE, TARGET_DB, TARGET_SEAM, TARGET_SECONDS = 0.70, 4.0, 3.0, 1.5, 3.0


def _line(mask: np.ndarray, y0: float, y1: float, x0: float, x1: float, width: int) -> None:
    """Draw a straight line (fractions of the side) of ``width`` pixels into ``mask``."""
    side = mask.shape[0]
    for t in np.linspace(0, 1, 4 * side):
        y, x = (y0 + (y1 - y0) * t) * side, (x0 + (x1 - x0) * t) * side
        mask[max(0, int(y - width / 2)) : int(y + width / 2) + 1, max(0, int(x - width / 2)) : int(x + width / 2) + 1] = 1


def stroke(kind: str, side: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    """(mask float32 (S, S), colours uint8 (S, S, 3), the colour) of one of the four strokes."""
    m = np.zeros((side, side), np.float32)
    w = max(2, side // 24)
    if kind in ("gold hair", "black hair"):
        _line(m, 0.05, 0.09, 0.28, 0.72, w)
        _line(m, 0.11, 0.07, 0.30, 0.68, w)
        colour = (218, 165, 32) if kind == "gold hair" else (25, 20, 20)
    elif kind == "red lips":
        _line(m, 0.80, 0.80, 0.40, 0.60, w + 1)
        colour = (200, 30, 40)
    else:  # pink cheek
        yy, xx = np.mgrid[0:side, 0:side] / side
        m[((yy - 0.66) ** 2 + (xx - 0.30) ** 2) < 0.07**2] = 1
        colour = (235, 120, 140)
    colors = np.zeros((side, side, 3), np.uint8)
    colors[:] = colour
    return m, colors, colour


KINDS = ("gold hair", "black hair", "red lips", "pink cheek")


def move_toward(before: np.ndarray, after: np.ndarray, mask: np.ndarray, colour) -> float:
    """How far the masked pixels' mean colour moved toward ``colour`` (1 = all the way)."""
    sel = mask > 0.5
    a, b = before[sel].astype(float).mean(0), after[sel].astype(float).mean(0)
    way = np.asarray(colour, float) - a
    return float(np.dot(b - a, way) / max(np.dot(way, way), 1e-6))


def outside_change(before: np.ndarray, after: np.ndarray, mask: np.ndarray, oval: np.ndarray) -> float:
    sel = (oval > 0.5) & (mask <= 0.5)
    return float(np.abs(after.astype(float) - before.astype(float)).mean(2)[sel].mean())


def hole_square(rng: np.random.Generator, side: int) -> np.ndarray:
    """A random square of 20 % of the face's box (the oval's bounding box: 80 % x 94 % of the crop)."""
    from engine.face.regions import FACE_OVAL

    (cx, cy), (rx, ry) = FACE_OVAL
    box = (cx - rx, cy - ry, cx + rx, min(1.0, cy + ry))
    s = int(round(np.sqrt(0.2 * (box[2] - box[0]) * (box[3] - box[1])) * side))
    x0 = rng.integers(int(box[0] * side), int(box[2] * side) - s + 1)
    y0 = rng.integers(int(box[1] * side), int(box[3] * side) - s + 1)
    m = np.zeros((side, side), np.float32)
    m[y0 : y0 + s, x0 : x0 + s] = 1
    return m


def seam(out: np.ndarray, face: np.ndarray, hole: np.ndarray) -> float:
    """Mean |difference| of neighbouring pixels across the hole's border in ``out`` over the same in ``face``."""
    h = hole > 0.5
    grads = []
    for a in (out, face):
        a = a.astype(float)
        dx, dy = np.abs(a[:, 1:] - a[:, :-1]).mean(2), np.abs(a[1:] - a[:-1]).mean(2)
        grads.append(np.concatenate([dx[h[:, 1:] != h[:, :-1]], dy[h[1:] != h[:-1]]]).mean())
    return float(grads[0] / max(grads[1], 1e-6))


def timed(job):
    from engine.progress import drive

    c, w = time.process_time(), time.perf_counter()
    out = drive(job)
    return out, time.process_time() - c, time.perf_counter() - w


def session_for(face: np.ndarray, cgan, code, tuned):
    from engine.session import EditSession

    s = EditSession(face, cgan, detect=False)
    slot = s.faces[0]
    slot.code, slot.tuned, slot.method = code, tuned, "pivotal" if tuned is not None else "hybrid"
    slot.code_version += 1
    return s


def run(args: argparse.Namespace) -> str:
    from bench.pivotal import load_inversions
    from engine.bundle import load_bundle
    from engine.invert import invert
    from engine.metrics import psnr
    from engine.ops import Complete
    from engine.session_view import cgan_confinement

    torch.set_num_threads(args.threads)
    cgan = load_bundle(args.bundle)
    faces, _, _, source = load_faces(cgan, args.n, Path(args.celeba), None)
    cached = load_inversions(Path(args.inversions)) if args.inversions and Path(args.inversions).exists() else []
    side = cgan.resolution
    oval = cgan_confinement([], side, True)
    strokes: dict[str, list[dict]] = {k: [] for k in KINDS}
    fills: list[dict] = []
    load_before = os.getloadavg()
    for i, face in enumerate(faces):
        if i < len(cached):
            code, tuned = cached[i]
        else:
            r = invert(face, cgan, "pivotal", seed=i)
            code, tuned = r.code, r.tuned
        s = session_for(face, cgan, code, tuned)
        before = s.render_face(0)
        kind = KINDS[i % len(KINDS)]
        mask, colors, colour = stroke(kind, side)
        op, cpu, wall = timed(s.stroke_job(0, mask, colors, steps=STROKE_STEPS))
        s.apply(op)
        after = s.render_face(0)
        gen = _generator_only(s, op)
        strokes[kind].append({"move": move_toward(before, after, mask, colour),
                              "gen": move_toward(before, gen, mask, colour),
                              "outside": outside_change(before, after, mask, oval), "cpu": cpu, "wall": wall})
        s.undo()
        hole = hole_square(np.random.default_rng(i), side)
        op, cpu, wall = timed(s.complete_job(0, hole, steps=COMPLETE_STEPS))
        assert isinstance(op, Complete)
        s.apply(op)
        out = s.render_face(0)
        sel = hole > 0.5
        mean_fill = face.copy()
        mean_fill[sel] = face[(oval > 0.5) & ~sel].mean(0).round().astype(np.uint8)
        fills.append({"psnr": psnr(out[sel], face[sel]), "mean": psnr(mean_fill[sel], face[sel]),
                      "seam": seam(out, face, hole), "outside": int(np.abs(out.astype(int) - face.astype(int))[~sel].max()),
                      "cpu": cpu, "wall": wall})
        if i % 10 == 0:
            print(i, kind, strokes[kind][-1], fills[-1], flush=True)
    load_after = os.getloadavg()

    def m(rows: list[dict], key: str) -> float:
        return statistics.mean(r[key] for r in rows)

    every = [r for rows in strokes.values() for r in rows]
    stroke_rows = [[k, len(v), f"{m(v, 'move'):.2f}", f"{m(v, 'gen'):.2f}", f"{m(v, 'outside'):.2f}",
                    f"{m(v, 'cpu'):.2f} / {m(v, 'wall'):.2f}"] for k, v in strokes.items() if v]
    stroke_rows.append(["**all**", len(every), f"**{m(every, 'move'):.2f}**", f"{m(every, 'gen'):.2f}",
                        f"**{m(every, 'outside'):.2f}**", f"**{m(every, 'cpu'):.2f}** / {m(every, 'wall'):.2f}"])
    n = len(fills)
    lines = [
        f"Model: `{Path(args.bundle).name}`; {n} {source}, {side} px, pivotal tuning "
        f"({'codes and tuned weights from ' + _shown(args.inversions) if cached else 'inverted here'}); {args.threads} torch "
        f"thread(s); load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (a shared CPU: wall seconds "
        "are inflated, CPU seconds are the work).", "",
        "**Strokes** (the session's render: the tuned generator's change near the strokes, then the colour layer):", "",
        markdown_table(["stroke", "faces", "stroked pixels: share of the way to the colour",
                        "of it by the generator alone", "rest of the face: mean change (grey levels)",
                        "job CPU / wall s"], stroke_rows), "",
        f"Targets: ≥ {TARGET_MOVE:.0%} of the way — {'met' if m(every, 'move') >= TARGET_MOVE else 'missed'} "
        f"({sum(r['move'] >= TARGET_MOVE for r in every)}/{len(every)} strokes); outside ≤ {TARGET_OUTSIDE:.0f} grey "
        f"levels — {'met' if m(every, 'outside') <= TARGET_OUTSIDE else 'missed'} "
        f"({sum(r['outside'] <= TARGET_OUTSIDE for r in every)}/{len(every)}); ≤ {TARGET_SECONDS:.0f} s per job — "
        f"{sum(r['cpu'] <= TARGET_SECONDS for r in every)}/{len(every)} in CPU seconds, "
        f"{sum(r['wall'] <= TARGET_SECONDS for r in every)}/{len(every)} in wall seconds.", "",
        "**Completion** of a random square of 20 % of the face's box (the untuned generator, L-BFGS on the known "
        "pixels, shifted by a smooth offset to meet its surroundings; the pixels under the mask are never used):", "",
        markdown_table(["", "PSNR in the hole (dB)", "mean-colour fill (dB)", "gain (dB)", "seam (1 = the photo's)",
                        "largest change outside the mask", "job CPU / wall s"],
                       [["completion", f"**{m(fills, 'psnr'):.2f}**", f"{m(fills, 'mean'):.2f}",
                         f"**{m(fills, 'psnr') - m(fills, 'mean'):+.2f}**", f"**{m(fills, 'seam'):.2f}**",
                         max(r["outside"] for r in fills), f"**{m(fills, 'cpu'):.2f}** / {m(fills, 'wall'):.2f}"]]),
        "",
        f"Targets: ≥ {TARGET_DB:.0f} dB above the mean-colour fill — "
        f"{'met' if m(fills, 'psnr') - m(fills, 'mean') >= TARGET_DB else 'missed'} "
        f"({sum(r['psnr'] - r['mean'] >= TARGET_DB for r in fills)}/{n} faces); seam ≤ {TARGET_SEAM} — "
        f"{'met' if m(fills, 'seam') <= TARGET_SEAM else 'missed'} ({sum(r['seam'] <= TARGET_SEAM for r in fills)}/{n}); "
        f"unmasked pixels unchanged — {'yes' if max(r['outside'] for r in fills) == 0 else 'no'}; ≤ "
        f"{TARGET_SECONDS:.0f} s — {sum(r['cpu'] <= TARGET_SECONDS for r in fills)}/{n} in CPU seconds, "
        f"{sum(r['wall'] <= TARGET_SECONDS for r in fills)}/{n} in wall seconds.",
    ]
    return "\n".join(lines)


def _generator_only(session, op) -> np.ndarray:
    """The face with the stroke's generator change only (no colour layer): what the latent edit did."""
    from engine import edit
    from engine.session_view import embed_change

    i = op.face
    code_image = session._fit(session._render_code(i, session.face_code(i)))
    changed = edit.add_change(session.faces[i].crop, session._base_render(i), code_image)
    crop = session.faces[i].crop
    return embed_change(crop, crop, changed, "face", session._confinement(session.face_ops(i)))


def main(argv: list[str] | None = None) -> None:
    p = held_out_parser(__doc__, n=200)
    p.set_defaults(threads=1)
    p.add_argument("--inversions", default=str(ROOT / "runs" / "pivotal_bench.npz"),
                   help="codes and tuned weights saved by bench/pivotal.py --save (faces beyond them are inverted here)")
    run_and_write("strokes", "Colour strokes and completion through the session", run, p.parse_args(argv))


if __name__ == "__main__":
    main()
