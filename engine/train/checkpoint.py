"""Training checkpoints without pickle: every tensor in safetensors, everything else in JSON.

A checkpoint is two files, ``checkpoints/step_NNNNNN.safetensors`` (module states, optimiser state
tensors, RNG states) and ``step_NNNNNN.json`` (step, recipe config, optimiser hyper-parameters, grad
scalers, Python RNG, recipe extra state). The JSON is written last, so its presence marks a complete
checkpoint; a crash mid-write leaves at most an orphan tensor file that is ignored.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.errors import FacetError
from engine.fileio import commit
from engine.train.recipe import Recipe

FORMAT = "facet-train-checkpoint"
VERSION = 1


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step_{step:06d}.json"


def latest_checkpoint(folder: Path) -> Path | None:
    """The complete checkpoint (JSON with its tensors) with the highest step, or ``None``."""
    done = [p for p in folder.glob("step_*.json") if p.with_suffix(".safetensors").exists()]
    return max(done, key=lambda p: int(p.stem.split("_")[1]), default=None)


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, pystate, pygauss = random.getstate()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)], "python": [version, list(pystate), pygauss]}
    return tensors, meta


def _set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.split(".")[2]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, pystate, pygauss = meta["python"]
    random.setstate((version, tuple(pystate), pygauss))


def _optimizer_state(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _load_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(idx), {})[field] = value
    for idx, entry in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(entry)
    groups = []
    for group in meta["param_groups"]:
        groups.append({k: tuple(v) if k == "betas" else v for k, v in group.items()})
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(folder: Path, step: int, recipe: Recipe, info: dict[str, Any], keep: int = 2) -> Path:
    """Write the complete training state at ``step``; keep only the newest ``keep`` checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for role, module in recipe.modules().items():
        for key, value in module.state_dict().items():
            tensors[f"module.{role}.{key}"] = value
    optim_meta = {}
    for name, opt in recipe.optimizers().items():
        t, m = _optimizer_state(name, opt)
        tensors.update(t)
        optim_meta[name] = m
    rng_tensors, rng_meta = _rng_state()
    tensors.update(rng_tensors)
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        "recipe": recipe.name,
        "recipe_config": recipe.config_dict(),
        "attributes": recipe.attributes,
        "optimizers": optim_meta,
        "scalers": {name: s.state_dict() for name, s in recipe.scalers.items()},
        "rng": rng_meta,
        "extra": recipe.extra_state(),
        "info": info,
    }
    jpath = checkpoint_path(folder, step)
    wpath = jpath.with_suffix(".safetensors")
    save_file(tensors, str(wpath) + ".tmp", metadata={"format": FORMAT})
    commit(str(wpath) + ".tmp", wpath)
    tmp = jpath.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta) + "\n", encoding="utf-8")
    commit(tmp, jpath)
    older = sorted(folder.glob("step_*.json"), key=lambda p: int(p.stem.split("_")[1]))[:-keep] if keep > 0 else []
    for old in older:
        old.unlink(missing_ok=True)
        old.with_suffix(".safetensors").unlink(missing_ok=True)
    return jpath


def saved_config(meta: dict[str, Any], recipe: Recipe) -> dict[str, Any]:
    """The checkpoint's recipe settings, with the default of every setting added since it was written (a run
    from before a setting existed ran with its default), as JSON sees them."""
    saved = dict(meta["recipe_config"])
    for f in dataclasses.fields(recipe.config):
        if f.name not in saved and f.default is not dataclasses.MISSING:
            saved[f.name] = f.default
        elif f.name not in saved and f.default_factory is not dataclasses.MISSING:
            saved[f.name] = f.default_factory()
    return json.loads(json.dumps(saved))


def load_checkpoint(path: Path, recipe: Recipe) -> dict[str, Any]:
    """Restore modules, optimisers, scalers, RNGs and extra state into ``recipe``; returns the JSON metadata."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        tensors = load_file(str(path.with_suffix(".safetensors")), device="cpu")
    except (OSError, ValueError, SafetensorError) as exc:
        raise FacetError(f"{path}: unreadable checkpoint ({exc})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise FacetError(f"{path}: not a version {VERSION} training checkpoint")
    config = json.loads(json.dumps(recipe.config_dict()))  # as JSON sees it (tuples become lists)
    if meta["recipe"] != recipe.name or saved_config(meta, recipe) != config or meta["attributes"] != recipe.attributes:
        raise FacetError(
            f"{path}: this checkpoint is for recipe {meta['recipe']!r} with config {meta['recipe_config']} and "
            f"attributes {meta['attributes']}; it cannot resume a different setup (use a new --out folder)"
        )
    for role, module in recipe.modules().items():
        prefix = f"module.{role}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise FacetError(f"{path}: network {role!r} does not match: {exc}") from None
    for name, opt in recipe.optimizers().items():
        _load_optimizer(name, opt, tensors, meta["optimizers"][name])
    for name, scaler in recipe.scalers.items():
        if name in meta["scalers"]:
            scaler.load_state_dict(meta["scalers"][name])
    _set_rng_state(tensors, meta["rng"])
    recipe.load_extra_state(meta["extra"])
    return meta
