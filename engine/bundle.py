"""Model bundles: a folder with ``manifest.json`` (what the networks are) and ``weights.safetensors``.

The manifest holds the format version, every network's registered class and constructor config,
resolution, attribute names in order, pixel normalisation, training data with its licence note,
training steps and measured metrics. Loading validates all of it and refuses with a :class:`BundleError`
that names the file and the problem. Weights are never unpickled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from engine.bundle_checks import (
    EXTRA_PREFIX,
    FORMAT,
    FORMAT_VERSION,
    MAX_MANIFEST_BYTES,
    REQUIRED_KEYS,
    check_extra_values,
    check_manifest,
    check_weights,
    expected_extras,
    meta_networks,
    read_safetensors_header,
)
from engine.errors import BundleError
from engine.fileio import commit, load_json_bounded
from engine.models.registry import build_network, network_spec

__all__ = ["EXTRA_PREFIX", "FORMAT", "FORMAT_VERSION", "MANIFEST", "REQUIRED_KEYS", "WEIGHTS", "Bundle",
           "load_bundle", "make_manifest", "read_manifest", "save_bundle", "store_tensors"]

MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
#: Pixels are stored as (x / 255 - 0.5) / 0.5, i.e. in [-1, 1].
DEFAULT_NORMALIZATION = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


@dataclass
class Bundle:
    """Loaded networks (eval mode) plus the manifest and extra tensors (attribute vectors, prototypes)."""

    manifest: dict[str, Any]
    networks: dict[str, nn.Module]
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    path: Path | None = None

    @property
    def family(self) -> str:
        return self.manifest["family"]

    @property
    def resolution(self) -> int:
        return int(self.manifest["resolution"])

    @property
    def crop_resolution(self) -> int:
        """The face-crop side the bundle edits at: its resolution unless the manifest's ``crop_resolution`` is
        larger (an ELEGANT model trained at 64 px whose upsampled residual is added to a 128 px crop)."""
        return max(self.resolution, int(self.manifest.get("crop_resolution", self.resolution)))

    @property
    def attributes(self) -> list[str]:
        return list(self.manifest["attributes"])

    @property
    def name(self) -> str:
        return self.manifest.get("name") or (self.path.name if self.path else self.family)

    def has(self, network: str) -> bool:
        return network in self.networks

    def network(self, name: str) -> nn.Module:
        """A network by role name; a clear error says which bundle lacks it."""
        try:
            return self.networks[name]
        except KeyError:
            where = self.path or self.name
            raise BundleError(
                f"{where}: this bundle has no {name!r} network (it has {', '.join(sorted(self.networks)) or 'none'})"
            ) from None

    def to(self, device: torch.device | str) -> Bundle:
        for net in self.networks.values():
            net.to(device)
        self.tensors = {k: v.to(device) for k, v in self.tensors.items()}
        return self

    @property
    def device(self) -> torch.device:
        for net in self.networks.values():
            for p in net.parameters():
                return p.device
        return torch.device("cpu")


def make_manifest(
    family: str,
    resolution: int,
    attributes: list[str],
    networks: dict[str, nn.Module],
    **fields: Any,
) -> dict[str, Any]:
    """A complete manifest for ``networks``; extra fields (name, data, training, metrics, ...) are kept as given."""
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "family": family,
        "resolution": int(resolution),
        "attributes": list(attributes),
        "normalization": DEFAULT_NORMALIZATION,
        "networks": {name: network_spec(net) for name, net in networks.items()},
    }
    manifest.update(fields)
    return manifest


def save_bundle(
    path: str | os.PathLike,
    networks: dict[str, nn.Module],
    manifest: dict[str, Any],
    tensors: dict[str, torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a bundle folder atomically enough for users: weights first, manifest last (its presence = complete)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    manifest = dict(manifest)
    manifest["networks"] = {name: network_spec(net) for name, net in networks.items()}
    manifest["weights_dtype"] = str(dtype).removeprefix("torch.")
    flat: dict[str, torch.Tensor] = {}
    for name, net in networks.items():
        for key, value in net.state_dict().items():
            t = value.detach().cpu()
            flat[f"{name}.{key}"] = t.to(dtype) if t.is_floating_point() else t
    for key, value in (tensors or {}).items():
        flat[EXTRA_PREFIX + key] = value.detach().cpu().float().contiguous()
    flat = {k: v.contiguous() for k, v in flat.items()}
    tmp_w, tmp_m = path / (WEIGHTS + ".tmp"), path / (MANIFEST + ".tmp")
    save_file(flat, str(tmp_w), metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})
    tmp_m.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    commit(tmp_w, path / WEIGHTS)
    commit(tmp_m, path / MANIFEST)
    return path


def store_tensors(bundle: Bundle, tensors: dict[str, torch.Tensor], fields: dict[str, Any],
                  path: str | os.PathLike | None = None, what: str = "store_tensors") -> Path:
    """Add extra tensors and manifest ``fields`` to a bundle, in memory and in its folder (or ``path``).

    The weights keep the dtype they were saved in (an fp16 bundle stays fp16 and its size), and the
    networks' weights are written back unchanged.
    """
    target = Path(path) if path is not None else bundle.path
    if target is None:
        raise BundleError(f"{what}: this bundle was not loaded from a folder; give a path")
    bundle.tensors.update({k: v.to(bundle.device) for k, v in tensors.items()})
    manifest = {**bundle.manifest, **fields}
    dtype = getattr(torch, str(manifest.get("weights_dtype", "float32")), torch.float32)
    saved = save_bundle(target, bundle.networks, manifest, bundle.tensors, dtype=dtype)
    bundle.manifest = manifest
    return saved


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a bundle's manifest without touching the weights (for listings and dialogs).

    Only a regular file of at most :data:`~engine.bundle_checks.MAX_MANIFEST_BYTES` is read; every field the
    engine uses is checked (:func:`~engine.bundle_checks.check_manifest`), so names and labels are plain text.
    """
    path = Path(path)
    mpath = path / MANIFEST if path.is_dir() else path
    if not os.path.lexists(mpath):
        raise BundleError(f"{path}: not a model bundle (no {MANIFEST} in it)")
    manifest = load_json_bounded(mpath, MAX_MANIFEST_BYTES, "manifest", BundleError)
    return check_manifest(manifest, mpath)


def load_bundle(path: str | os.PathLike, device: torch.device | str = "cpu", family: str | None = None) -> Bundle:
    """Load and validate a bundle folder; every inconsistency raises :class:`BundleError` naming the file.

    Nothing is allocated before it is known to fit: the networks are built on the ``meta`` device and their
    shapes compared with the weights file's header first. ``family``: refuse a bundle of another family.
    """
    path = Path(path)
    if path.name == MANIFEST and path.is_file():  # the bundle's manifest was given: the bundle is its folder
        path = path.parent
    manifest = read_manifest(path)
    if family is not None and manifest["family"] != family:
        raise BundleError(f"{path}: this is a {manifest['family']!r} bundle, not a {family!r} one")
    mpath, wpath = path / MANIFEST, path / WEIGHTS
    if not os.path.lexists(wpath):
        raise BundleError(f"{path}: the weights file {WEIGHTS} is missing")
    shapes = meta_networks(manifest, mpath)
    check_weights(shapes, read_safetensors_header(wpath), expected_extras(manifest, shapes), wpath)
    try:
        flat = load_file(str(wpath), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise BundleError(f"{wpath}: unreadable weights (truncated or not safetensors): {exc}") from None
    networks = {name: _load_network(name, manifest["networks"][name], flat, wpath) for name in manifest["networks"]}
    tensors = {k[len(EXTRA_PREFIX) :]: v.float() for k, v in flat.items() if k.startswith(EXTRA_PREFIX)}
    check_extra_values(tensors, wpath)
    return Bundle(manifest=manifest, networks=networks, tensors=tensors, path=path).to(device)


def _load_network(name: str, spec: dict[str, Any], flat: dict[str, torch.Tensor], wpath: Path) -> nn.Module:
    """Build one network for real (its shapes were checked against the weights) and load finite weights."""
    prefix = name + "."
    given = {k[len(prefix) :]: v for k, v in flat.items() if k.startswith(prefix)}
    for key, tensor in given.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise BundleError(f"{wpath}: tensor {prefix + key} contains NaN or Inf")
    net = build_network(spec["class"], spec.get("config", {}))
    expected = net.state_dict()
    net.load_state_dict({k: v.to(expected[k].dtype) for k, v in given.items()})
    return net.eval().requires_grad_(False)
