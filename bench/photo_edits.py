"""ELEGANT transfers on real, unaligned photos as the app makes them: detect, align, edit, paste back.

    python bench/photo_edits.py [--n 100] [--models resources/models/elegant64 resources/models/elegant_mask128]

bench/edit_quality.py measures edits on aligned crops. A user's photo goes further: the edit is pasted back
into the photo at its own resolution, and the paste can change pixels the crop's edit left alone (blending the
crop into an ellipse colour-matches the whole face). Here each of the first ``--n`` unaligned CelebA photos
(``shared/datasets/celeba/raw``) takes each attribute from another raw photo that has it (or, if the source has
it, from one that lacks it) through :class:`engine.session.EditSession`, and the photo is measured:

- *outside*: photo pixels in the face's whole-head square (where any edit could reach) but outside the
  attribute's region, mapped from the template: mean |Δ| (grey levels) and % changed by more than 8;
  Male and Young are global (–);
- *present*: the judge (classifier64, balanced decisions) on the face re-aligned from the edited photo;
- *same person*: dlib's face descriptor of that face before and after (optional ``eval`` extra).

Each model is measured with the session's paste and, for a model that edits the classic face crop
(``elegant64``), with ``blend``, its paste before session 13 (the crop blended and colour-matched into the face's
ellipse), for comparison. Nothing of CelebA is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import markdown_table, run_and_write  # noqa: E402

CELEBA = ROOT.parent / "shared" / "datasets" / "celeba"
RAW = CELEBA / "raw"
MODELS = ROOT / "resources" / "models"
ATTRIBUTES = ["Smiling", "Eyeglasses", "Bangs", "Blond_Hair", "Mustache", "Male"]
CHANGED_LEVELS = 8


def raw_photos(n: int) -> tuple[list[Path], dict[str, dict[str, bool]]]:
    """The raw photos (sorted) and their CelebA labels for :data:`ATTRIBUTES`."""
    lines = (CELEBA / "list_attr_celeba.txt").read_text().splitlines()
    names = lines[1].split()
    labels = {}
    for line in lines[2:]:
        parts = line.split()
        labels[parts[0]] = {a: parts[1 + names.index(a)] == "1" for a in ATTRIBUTES}
    photos = sorted(p for p in RAW.glob("*.jpg") if p.name in labels)
    return photos[:n], labels


def run(args: argparse.Namespace) -> str:
    import torch

    from engine.bundle import load_bundle
    from engine.edit_quality import IdentityJudge
    from engine.errors import FacetError
    from engine.face.align import crop_matrix, invert_affine, warp
    from engine.face.detect import detect_faces
    from engine.face.paste import warp_float
    from engine.face.regions import attribute_region
    from engine.images import load_image
    from engine.metrics import attribute_decisions
    from engine.ops import TransferFromExemplar
    from engine.session import EditSession
    from engine.transfer import face_swapping, is_masked

    torch.set_num_threads(args.threads)
    sources, labels = raw_photos(args.n)
    pool, _ = raw_photos(10_000)
    judge = load_bundle(MODELS / "classifier64")
    reason = IdentityJudge.unavailable_reason()
    ident = None if reason else IdentityJudge("head")
    images = {p: load_image(p) for p in pool}
    faces = {p: (detect_faces(images[p]) or [None])[0] for p in pool}

    def exemplar_for(name: str, wanted: bool, k: int, source: Path) -> Path:
        candidates = [p for p in pool if p != source and faces[p] is not None and labels[p.name][name] == wanted]
        return candidates[k % len(candidates)]

    lines = [f"{len(sources)} unaligned CelebA photos (`shared/datasets/celeba/raw`, about 200 px), each attribute "
             "taken from another raw photo with it (or, when the source has it, without it); "
             f"judge {judge.name} (balanced decisions) on the face re-aligned "
             "from the edited photo. Outside: photo pixels in the face's whole-head square but outside the "
             "attribute's region (mean |Δ| grey levels / % > 8).", reason or ""]
    for path, paste in [(m, p) for m in args.models for p in args.pastes]:
        bundle = load_bundle(path)
        if paste == "blend" and is_masked(bundle):
            continue  # the session always added a masked model's change (its view is the whole head)
        swaps = set(face_swapping(bundle))
        names = [n for n in ATTRIBUTES if n in bundle.attributes and n in judge.attributes]
        col = [judge.attributes.index(n) for n in names]
        rows, t0 = [], time.perf_counter()
        for j, name in enumerate(names):
            outside_abs, outside_pct, present, dist = [], [], [], []
            for k, src in enumerate(sources):
                if faces[src] is None:
                    continue
                photo = images[src]
                session = EditSession(photo, elegant=bundle)
                if paste != "session":
                    session._paste_mode = lambda mode=paste: mode  # noqa: SLF001 (the measured variant)
                has = labels[src.name][name]
                ex = exemplar_for(name, not has, k, src)
                try:
                    ref = session.add_exemplar(images[ex])
                    session.apply(TransferFromExemplar(0, ref, (name,), 1.0))
                    edited = session.render_photo()
                except FacetError:
                    continue
                face = faces[src]
                head = crop_matrix(face, 128, "head")
                region = attribute_region(name, 128, "head")
                if region is not None:
                    to_photo = invert_affine(head)
                    square = warp_float(np.ones((128, 128), np.float32), to_photo, photo.shape[1::-1]) > 0.99
                    inside = warp_float(region, to_photo, photo.shape[1::-1]) > 0
                    outside = square & ~inside
                    diff = np.abs(edited.astype(np.int16) - photo.astype(np.int16))[outside]  # (pixels, 3)
                    outside_abs.append(float(diff.mean()))
                    outside_pct.append(float((diff.max(axis=1) > CHANGED_LEVELS).mean()))
                view = warp(edited, crop_matrix(face, judge.resolution, judge.manifest.get("layout")),
                            (judge.resolution,) * 2)
                decided = bool(attribute_decisions(judge, view[None], balanced=True)[0, col[j]])
                present.append(decided != has)
                if ident is not None and k < args.identity_pairs:
                    before = warp(photo, head, (128, 128))
                    after = warp(edited, head, (128, 128))
                    dist.append(ident.distance(before, after))
            rows.append([name + (" (not offered)" if name in swaps else ""), str(len(present)),
                         f"{np.mean(present):.2f}" if present else "–",
                         f"{np.mean(outside_abs):.1f} / {100 * np.mean(outside_pct):.1f}" if outside_abs else "– / –",
                         f"{100 * np.mean(np.array(dist) < 0.6):.0f}" if dist else "–",
                         f"{np.mean(dist):.2f}" if dist else "–"])
        took = time.perf_counter() - t0
        how = "as the session pastes" if paste == "session" else f"pasted by {paste} (the paste before session 13)"
        lines += [f"### {bundle.name} — transfer, {how} (measured in {took:.0f} s)",
                  "", markdown_table(["attribute", "edits", "present afterwards", "outside: mean |Δ| / % > 8",
                                      "same person (%)", "identity distance"], rows), ""]
        print(lines[-2], flush=True)
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=[str(MODELS / "elegant64"), str(MODELS / "elegant_mask128")])
    p.add_argument("--n", type=int, default=100, help="raw photos edited")
    p.add_argument("--pastes", nargs="+", choices=["session", "blend", "change"], default=["session", "blend"],
                   help="paste modes measured: the session's own, or one forced")
    p.add_argument("--identity-pairs", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    run_and_write("photo_edits", "ELEGANT transfers on real unaligned photos (detect, align, edit, paste back)", run,
                  p.parse_args())


if __name__ == "__main__":
    main()
