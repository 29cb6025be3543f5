"""Contact sheet of an ELEGANT model's edits: look at it after every model change (issue 20).

    python tools/contact_sheet.py --bundle resources/models/elegant_mask128 -o docs/img/elegant_mask128_sheet.png

Rows: NASA's public-domain astronaut portrait (the photo path of the app: detect, align, edit, paste back at
the photo's resolution; the tile is the photo's head region afterwards) and faces the project's cGAN
generates (no CelebA image, ever). Under each face, a row of *where it changed*: the absolute change, grey
levels x4, so that any change outside the attribute's region shows. Columns: the face, then every attribute
added (+1) and removed (-1) with the prototype dials, then transfers from two exemplars (the gallery's
generated faces, columns headed by the exemplar's attribute). A model that takes the exemplar's own pixels has
no dial: its "added" and "removed" columns are transfers from the gallery's face with and without the attribute
(``--exemplar-dir``: files named like ``Eyeglasses (yes).png``; attributes without such a pair are left out).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHOTO = ROOT / "resources" / "samples" / "astronaut_512.jpg"
GALLERY = ROOT / "resources" / "exemplars"
EXEMPLARS = [(GALLERY / "Eyeglasses (yes).png", ("Eyeglasses",)), (GALLERY / "Mustache (yes).png", ("Mustache",))]
TILE = 128


def _tile(image: np.ndarray, side: int = TILE) -> np.ndarray:
    im = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(im.resize((side, side), Image.Resampling.LANCZOS if im.size[0] > side else Image.Resampling.BICUBIC))


def _change_tile(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    d = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=2)
    grey = np.clip(d * 4, 0, 255).astype(np.uint8)
    return _tile(np.stack([grey] * 3, axis=2))


def generated_faces(cgan_path: Path, count: int, seed: int = 5) -> list[np.ndarray]:
    """Faces the cGAN draws (face layout, 128 px), random attributes."""
    from engine import edit
    from engine.bundle import load_bundle
    from engine.images import resize
    from engine.invert import LatentCode

    cgan = load_bundle(cgan_path)
    rng = np.random.default_rng(seed)
    z_dim = int(cgan.network("generator").config.z_dim)
    out = []
    for _ in range(count):
        y = rng.choice([-1.0, 1.0], size=len(cgan.attributes)).astype(np.float32)
        face = edit.render(cgan, LatentCode(rng.standard_normal(z_dim).astype(np.float32), y))
        out.append(np.asarray(resize(face, (128, 128))))
    return out


def gallery_file(folder: Path, name: str, present: bool) -> Path | None:
    """The gallery's face with (``present``) or without attribute ``name``: ``Blond hair (yes).png``."""
    label = name.replace("_", " ")
    for cand in (label, label.capitalize()):
        path = folder / f"{cand} ({'yes' if present else 'no'}).png"
        if path.exists():
            return path
    return None


def photo_edits(bundle, photo: np.ndarray, edits: list) -> tuple[np.ndarray, list[np.ndarray]]:
    """(the photo's head region before, after each edit): each edit is a list of ops-makers on a fresh stack."""
    from engine.face.align import warp
    from engine.session import EditSession

    s = EditSession(photo, elegant=bundle)
    view = s.view_slot(0)
    side = 2 * TILE
    k = side / s.resolution
    region = np.vstack([view.transform * k, [0, 0, 1]])[:2]

    def head(image: np.ndarray) -> np.ndarray:
        return warp(image, region, (side, side))

    refs = _Loaded(lambda path: s.add_exemplar(np.asarray(Image.open(path).convert("RGB")), align=False))
    outs = []
    for make in edits:
        s.cursor = 0
        s.ops.clear()
        for op in make(refs):
            s.apply(op)
        outs.append(head(s.render_photo()))
    return head(photo), outs


class _Loaded(dict):
    """path → what ``load`` makes of it, made on first use."""

    def __init__(self, load):
        super().__init__()
        self.load = load

    def __missing__(self, path):
        self[path] = value = self.load(path)
        return value


def crop_edits(bundle, face: np.ndarray, edits_plain: list) -> tuple[np.ndarray, list[np.ndarray]]:
    """(the face in the model's layout, after each edit) on a generated face crop (``face`` layout)."""
    from engine import transfer as T
    from engine.face.layout import convert_crop, get_layout

    layout = get_layout(bundle.manifest.get("layout")).name
    side = bundle.crop_resolution
    src = convert_crop(face, "face", layout, side)
    code = T.encode(bundle, src)
    exemplars = _Loaded(lambda path: T.encode(bundle, convert_crop(np.asarray(Image.open(path).convert("RGB")), "face",
                                                                   layout, side)))
    outs = []
    for kind, arg in edits_plain:
        if kind == "dial":
            outs.append(T.dial_codes(bundle, code, arg))
        else:
            path, names = arg
            outs.append(T.transfer_codes(bundle, code, exemplars[path], list(names)))
    return src, outs


def contact_sheet(bundle_path: Path, cgan_path: Path, out: Path, generated: int = 3, gallery: Path = GALLERY) -> Path:
    from engine.bundle import load_bundle
    from engine.images import load_image
    from engine.ops import Dial, TransferFromExemplar
    from engine.transfer import takes_exemplar_pixels

    bundle = load_bundle(bundle_path)
    names = [n for n in bundle.attributes]
    if takes_exemplar_pixels(bundle):  # no dial: add and remove by taking the gallery's faces' pixels
        takes = [(n, v, gallery_file(gallery, n, v > 0)) for n in names for v in (1.0, -1.0)]
        takes = [(n, v, p) for n, v, p in takes if p is not None]
        plain = [("transfer", (p, (n,))) for n, _, p in takes]
        ops = [(lambda refs, p=p, n=n: [TransferFromExemplar(0, refs[p], (n,), 1.0)]) for n, _, p in takes]
        headers = ["face"] + [f"{n} {'+' if v > 0 else '-'} (take)" for n, v, _ in takes]
    else:
        plain = [("dial", {n: v}) for n in names for v in (1.0, -1.0)]
        ops = [(lambda refs, n=n, v=v: [Dial(0, n, v)]) for n in names for v in (1.0, -1.0)]
        headers = ["face"] + [f"{n} {'+' if v > 0 else '-'}" for n in names for v in (1, -1)]
    exemplars = [(gallery / p.name, a) for p, a in EXEMPLARS]
    plain += [("transfer", (p, a)) for p, a in exemplars]
    ops += [(lambda refs, p=p, a=a: [TransferFromExemplar(0, refs[p], a, 1.0)]) for p, a in exemplars]
    headers += [f"take {', '.join(a)}" for _, a in exemplars]

    rows = [photo_edits(bundle, load_image(PHOTO), ops)]
    rows += [crop_edits(bundle, face, plain) for face in generated_faces(cgan_path, generated)]
    cols = len(headers)
    top = 18
    ex_strip = np.concatenate([_tile(np.asarray(Image.open(p).convert("RGB")), 64) for p, _ in exemplars], axis=1)
    height = top + len(rows) * 2 * TILE + 70
    sheet = Image.new("RGB", (cols * TILE, height), "white")
    draw = ImageDraw.Draw(sheet)
    for c, h in enumerate(headers):
        draw.text((c * TILE + 3, 3), h, fill=(0, 0, 0))
    for r, (before, afters) in enumerate(rows):
        y = top + r * 2 * TILE
        sheet.paste(Image.fromarray(_tile(before)), (0, y))
        for c, after in enumerate(afters, start=1):
            sheet.paste(Image.fromarray(_tile(after)), (c * TILE, y))
            sheet.paste(Image.fromarray(_change_tile(before, after)), (c * TILE, y + TILE))
    y = top + len(rows) * 2 * TILE + 3
    draw.text((3, y), f"{bundle.name}: row 1 the astronaut (NASA, public domain) edited as a photo, then faces the "
                      "project's cGAN generates; under each, |change| x4. Exemplars:", fill=(0, 0, 0))
    sheet.paste(Image.fromarray(ex_strip), (3, y + 16))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, type=Path)
    p.add_argument("--cgan", type=Path, default=ROOT / "resources" / "models" / "cgan64")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--generated", type=int, default=3, help="generated faces (rows after the astronaut)")
    p.add_argument("--exemplar-dir", type=Path, default=GALLERY,
                   help="exemplar faces ('Eyeglasses (yes).png', ...); only the bundled gallery may go in docs/")
    args = p.parse_args()
    print(contact_sheet(args.bundle, args.cgan, args.output, args.generated, args.exemplar_dir))


if __name__ == "__main__":
    main()
