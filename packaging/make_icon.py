"""Draw the Facet Studio icon with Pillow (no third-party art) → resources/icons/facet-studio.{png,ico,icns}.

A face made of flat facets on a rounded square: drawn once at 1024 px and downsampled, so every size is
antialiased. Re-run after changing the drawing: ``python packaging/make_icon.py``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "icons"
S = 1024
BG_TOP, BG_BOTTOM = (38, 70, 120), (24, 150, 160)
FACETS = [((255, 214, 170), [(512, 170), (300, 330), (512, 470)]),
          ((242, 190, 145), [(512, 170), (724, 330), (512, 470)]),
          ((228, 172, 128), [(300, 330), (330, 620), (512, 470)]),
          ((214, 158, 116), [(724, 330), (694, 620), (512, 470)]),
          ((246, 200, 156), [(330, 620), (512, 860), (512, 470)]),
          ((232, 182, 138), [(694, 620), (512, 860), (512, 470)])]


def draw(size: int = S) -> Image.Image:
    """The icon at ``size`` px (RGBA)."""
    bg = Image.new("RGBA", (S, S))
    px = ImageDraw.Draw(bg)
    for y in range(S):  # vertical gradient
        t = y / (S - 1)
        px.line([(0, y), (S, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(BG_TOP, BG_BOTTOM, strict=True)) + (255,))
    mask = Image.new("L", (S, S), 0)
    ImageDraw.Draw(mask).rounded_rectangle([24, 24, S - 24, S - 24], radius=200, fill=255)
    icon = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    icon.paste(bg, (0, 0), mask)
    d = ImageDraw.Draw(icon)
    for colour, points in FACETS:
        d.polygon(points, fill=colour + (255,), outline=(120, 80, 60, 255), width=6)
    for cx in (420, 604):  # eyes
        d.ellipse([cx - 34, 380, cx + 34, 430], fill=(40, 40, 60, 255))
    d.arc([400, 520, 624, 700], start=20, end=160, fill=(150, 60, 60, 255), width=22)  # smile
    d.line([(760, 180), (860, 280)], fill=(255, 255, 255, 230), width=28)  # a slider "edit" stroke
    d.ellipse([835, 255, 885, 305], fill=(255, 255, 255, 255))
    return icon if size == S else icon.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    big = draw()
    big.resize((256, 256), Image.Resampling.LANCZOS).save(OUT / "facet-studio.png", optimize=True)
    big.save(OUT / "facet-studio.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    big.resize((512, 512), Image.Resampling.LANCZOS).save(OUT / "facet-studio.icns")
    print(f"wrote {OUT}/facet-studio.png, .ico, .icns")


if __name__ == "__main__":
    main()
