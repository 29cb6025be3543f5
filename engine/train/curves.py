"""Loss curves as a PNG drawn with Pillow (no matplotlib): one small panel per metric, steps on x."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

PANEL_W, PANEL_H, MARGIN = 360, 150, 36
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]


def _panel(draw: ImageDraw.ImageDraw, x0: int, y0: int, name: str, xs: list[float], ys: list[float], colour) -> None:
    draw.rectangle([x0, y0, x0 + PANEL_W - 1, y0 + PANEL_H - 1], outline=(200, 200, 200))
    pts = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
    lo, hi = (min(p[1] for p in pts), max(p[1] for p in pts)) if pts else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    sx0, sx1 = (min(xs), max(xs)) if xs else (0, 1)
    sx1 = sx1 if sx1 > sx0 else sx0 + 1
    left, top, w, h = x0 + MARGIN, y0 + 18, PANEL_W - MARGIN - 8, PANEL_H - 34
    draw.text((x0 + 4, y0 + 3), f"{name}  (last {ys[-1]:.4g})" if ys else name, fill=(0, 0, 0))
    draw.text((x0 + 2, top - 4), f"{hi:.3g}", fill=(90, 90, 90))
    draw.text((x0 + 2, top + h - 8), f"{lo:.3g}", fill=(90, 90, 90))
    draw.text((left, top + h + 3), f"step {int(sx0)}", fill=(90, 90, 90))
    draw.text((left + w - 60, top + h + 3), f"{int(sx1)}", fill=(90, 90, 90))
    scaled = [(left + (x - sx0) / (sx1 - sx0) * w, top + h - (y - lo) / (hi - lo) * h) for x, y in pts]
    if len(scaled) > 1:
        draw.line(scaled, fill=colour, width=2)
    elif scaled:
        draw.ellipse([scaled[0][0] - 2, scaled[0][1] - 2, scaled[0][0] + 2, scaled[0][1] + 2], fill=colour)


def draw_curves(records: list[dict[str, float]], path: Path, skip: tuple[str, ...] = ("step", "img_per_s")) -> Path:
    """Write one panel per metric found in ``records`` (dicts with a ``step`` key) to ``path``."""
    names = [k for k in dict.fromkeys(k for r in records for k in r) if k not in skip]
    cols = 2 if len(names) > 1 else 1
    rows = max(1, (len(names) + cols - 1) // cols)
    img = Image.new("RGB", (cols * PANEL_W, rows * PANEL_H), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, name in enumerate(names):
        data = [(r["step"], float(r[name])) for r in records if name in r]
        xs, ys = [d[0] for d in data], [d[1] for d in data]
        _panel(draw, (i % cols) * PANEL_W, (i // cols) * PANEL_H, name, xs, ys, COLOURS[i % len(COLOURS)])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
