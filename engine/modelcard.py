"""Model cards: a short markdown page next to a bundle saying what it is, what it was trained on and how good it is.

The card is rendered from the bundle manifest (the single source of truth) plus a metrics mapping, so it
can be regenerated at any time. A metric whose prerequisite does not exist yet (e.g. the attribute
classifier that Frechet distances need) is given as a string and shown as such, never as a made-up number.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CARD_NAME = "MODEL_CARD.md"
NOT_MEASURED = "not measured yet"
CELEBA_LICENCE = "CelebA: non-commercial research only (the images may not be redistributed)"


def not_measured(why: str) -> str:
    """The value to record for a metric that could not be computed yet, with the reason."""
    return f"{NOT_MEASURED} ({why})"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} ({_fmt(v)})" if isinstance(v, Mapping) else f"{k} {_fmt(v)}" for k, v in value.items())
    return str(value)


def _training_rows(training: Mapping[str, Any]) -> list[str]:
    rows = []
    for stage, info in training.items():
        if not isinstance(info, Mapping):
            rows.append(f"| {stage} | {_fmt(info)} |")
            continue
        keep = {k: v for k, v in info.items() if k not in ("config", "command")}
        rows.append(f"| {stage} | {_fmt(keep)} |")
    return rows


def _extra_tensors(manifest: Mapping[str, Any]) -> list[str]:
    """One line per extra tensor set the manifest records (attribute vectors, latent metric, prototypes)."""
    lines = []
    if isinstance(manifest.get("attribute_vectors"), Mapping):
        lines.append(f"- Attribute vectors (mean E_z with minus without, `facet edit --vector`): "
                     f"{manifest['attribute_vectors'].get('images', '?')} training faces")
    metric = manifest.get("latent_metric")
    if isinstance(metric, Mapping):
        lines.append(f"- Latent metric (the inversion objective's mean curvature in z; hybrid and optimize "
                     f"inversion precondition with it): {metric.get('images', '?')} training faces, condition number "
                     f"{_fmt(metric.get('condition'))}")
    if isinstance(manifest.get("prototypes"), Mapping):
        lines.append(f"- Attribute prototypes (mean blocks, dials without an exemplar): "
                     f"{manifest['prototypes'].get('images', '?')} training faces")
    limits = manifest.get("attribute_limits")
    if isinstance(limits, Mapping) and limits:
        reach = ", ".join(f"{name} ±{value:g}" for name, value in limits.items())
        how = manifest.get("attribute_limits_protocol") or "not recorded"
        lines.append(f"- How far each dial reaches (`attribute_limits`; ±1 = the training labels): {reach}. "
                     f"Measured by {how}")
    return lines


#: The edit-quality columns (engine.edit_eval.report_dict keys) and their headings.
EDIT_COLUMNS = {"present": "present afterwards", "others_unchanged": "others unchanged",
                "outside_mean_abs": "outside: mean abs change", "outside_changed_pct": "outside: % > 8 levels",
                "frechet": "Frechet", "frechet_floor": "floor (real vs real)", "same_person_pct": "same person %",
                "identity_distance": "identity distance"}


def _edit_quality(quality: Mapping[str, Any]) -> list[str]:
    """Tables of success, locality, realism and identity per edit mode (``engine.edit_eval``)."""
    lines = ["", "## Edit quality (engine.edit_eval; bench/edit_quality.py)", "",
             "Success judged by the attribute classifier; locality outside the attribute's region (Male and Young "
             "are global); realism as the Frechet distance to real held-out faces with the attribute, next to the "
             "floor of two real sets; identity by dlib's face-recognition network (same person below 0.6).", ""]
    for mode, rows in quality.items():
        if not isinstance(rows, Mapping) or not rows:
            continue
        lines += [f"**{mode}**", "", "| attribute | " + " | ".join(EDIT_COLUMNS.values()) + " |",
                  "|---|" + "---|" * len(EDIT_COLUMNS)]
        for name, row in rows.items():
            if isinstance(row, Mapping):
                cells = ["–" if row.get(k) is None else _fmt(row.get(k)) for k in EDIT_COLUMNS]
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def render_model_card(manifest: Mapping[str, Any], metrics: Mapping[str, Any] | None = None) -> str:
    """Markdown model card for a bundle manifest; ``metrics`` defaults to ``manifest["metrics"]``."""
    metrics = dict(manifest.get("metrics", {}) if metrics is None else metrics)
    name = manifest.get("name", manifest.get("family", "model"))
    data = manifest.get("data", {}) or {}
    lines = [f"# {name}", ""]
    if manifest.get("status"):
        lines += [f"**Status:** {manifest['status']}", ""]
    if manifest.get("description"):
        lines += [str(manifest["description"]), ""]
    nets = ", ".join(f"{k} ({v.get('class', '?')})" for k, v in manifest.get("networks", {}).items())
    lines += [
        "| | |", "|---|---|",
        f"| family | {manifest.get('family')} |",
        f"| resolution | {manifest.get('resolution')} px |",
        f"| attributes | {', '.join(manifest.get('attributes', []))} |",
        f"| networks | {nets} |",
        f"| weights | {manifest.get('weights_dtype', 'float32')} |",
        "",
        "## Data and licence", "",
        f"- Data: {data.get('description', 'unknown')} ({data.get('images', '?')} training images)",
        f"- Licence: **{manifest.get('licence') or data.get('licence') or 'unknown'}**",
    ]
    val = data.get("validation")
    if isinstance(val, Mapping):
        lines.append(f"- Held out for validation (never trained on): {val.get('count', '?')} faces listed in "
                     f"`{val.get('list', 'the manifest')}` and in the manifest (file names only)")
    extras = _extra_tensors(manifest)
    if extras:
        lines += ["", "## Stored with the weights", "", *extras]
    lines += ["", "## Training", "", "| stage | details |", "|---|---|", *_training_rows(manifest.get("training", {}))]
    commands = [info["command"] for info in (manifest.get("training") or {}).values()
                if isinstance(info, Mapping) and info.get("command")]
    if commands:
        lines += ["", "Commands:", "", "```", *commands, "```"]
    quality = metrics.pop("edit_quality", None)
    lines += ["", "## Metrics (on the held-out validation faces)", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()] or [f"| (none) | {NOT_MEASURED} |"]
    if isinstance(quality, Mapping):
        lines += _edit_quality(quality)
    lines += ["", "Frechet distances use the project's own classifier features, so they compare our models with "
              "each other, not with published FID values.", ""]
    return "\n".join(lines)


def write_model_card(bundle_dir: str | os.PathLike, metrics: Mapping[str, Any] | None = None) -> Path:
    """Render the card of the bundle in ``bundle_dir`` into ``bundle_dir/MODEL_CARD.md``."""
    bundle_dir = Path(bundle_dir)
    manifest = json.loads((bundle_dir / "manifest.json").read_text(encoding="utf-8"))
    path = bundle_dir / CARD_NAME
    path.write_text(render_model_card(manifest, metrics), encoding="utf-8")
    return path
