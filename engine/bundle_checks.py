"""What a bundle must be before anything is allocated for it: checks on the manifest, the networks' configs
and the weights file's header, each refusing with a :class:`BundleError` naming the file and the field.

A bundle is data a user can be handed. Its manifest is read bounded (:mod:`engine.fileio`); every field the
engine uses is checked for type and range; each network is first built on the ``meta`` device (shapes, no
memory) and its parameter shapes compared with the shapes the safetensors header declares, so a config that
would allocate gigabytes or weights of another architecture is refused before a real tensor exists.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import stat
import struct
from pathlib import Path
from typing import Any

import torch
from torch import nn

import engine.models  # noqa: F401  (registers every network class a manifest may name)
from engine.errors import BundleError
from engine.fileio import check_regular_file
from engine.models.registry import NETWORKS

FORMAT = "facet-bundle"
FORMAT_VERSION = 1
EXTRA_PREFIX = "extra."
REQUIRED_KEYS = ("format", "format_version", "family", "resolution", "attributes", "networks")

#: Caps on what a bundle may hold (the shipped ones: manifests under 20 KB, weights under 40 MB).
MAX_MANIFEST_BYTES = 4 * 2**20
MAX_WEIGHTS_BYTES = 2 * 2**30
MAX_HEADER_BYTES = 16 * 2**20
#: Image sides (px) a bundle may declare, and the largest integer a network config may hold.
MIN_SIDE, MAX_SIDE = 8, 1024
MAX_CONFIG_INT = 2**16
MAX_ATTRIBUTES, MAX_NETWORKS, MAX_NAME, MAX_NOTE = 256, 32, 200, 20_000

#: The classes each role name the engine looks up may have, in whatever bundle it appears.
ROLE_CLASSES: dict[str, tuple[str, ...]] = {
    "generator": ("cgan.Generator",), "discriminator": ("cgan.Discriminator",),
    "encoder_z": ("cgan.ConvEncoder",), "encoder_y": ("cgan.ConvEncoder",), "encoder_domain": ("cgan.ConvEncoder",),
    "classifier": ("cgan.ConvEncoder",), "latent_discriminator": ("cgan.LatentDiscriminator",),
    "encoder": ("elegant.Encoder", "elegant_mask.Encoder"), "decoder": ("elegant.Decoder", "elegant_mask.Decoder"),
    "disc_full": ("elegant.Discriminator",), "disc_half": ("elegant.Discriminator",),
    "pnet": ("mtcnn.PNet",), "rnet": ("mtcnn.RNet",), "onet": ("mtcnn.ONet",),
}
#: The roles a bundle of each family needs (of the classes above); other families (an encoder trained alone) are free.
FAMILY_NETWORKS: dict[str, tuple[str, ...]] = {
    "cgan": ("generator",),
    "elegant": ("encoder", "decoder"),
    "classifier": ("classifier",),
    "mtcnn": ("pnet", "rnet", "onet"),
}
#: Roles whose images have the bundle's resolution.
FULL_RESOLUTION_ROLES = ("generator", "discriminator", "encoder_z", "encoder_y", "encoder_domain", "classifier",
                         "encoder", "decoder", "disc_full")
#: Roles whose output is one value per attribute (``out_dim``), and roles whose input or output is z.
PER_ATTRIBUTE_ROLES = ("encoder_y", "classifier")
Z_ROLES = {"encoder_z": "out_dim", "encoder_domain": "out_dim", "latent_discriminator": "z_dim"}

#: safetensors dtypes → bytes per element (float ones may hold float parameters, int ones int buffers).
FLOAT_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}
INT_DTYPES = {"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1}
#: Extra tensors the engine uses (see engine.edit.latent, engine.invert.metric, engine.transfer).
COUNT_TENSORS = ("attribute_vector_counts", "prototypes.counts")


def _fail(where: Path, message: str) -> BundleError:
    return BundleError(f"{where}: {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_side(manifest: dict[str, Any], key: str, where: Path) -> None:
    value = manifest.get(key)
    if not _is_int(value) or not MIN_SIDE <= value <= MAX_SIDE:
        raise _fail(where, f"{key!r} must be a whole number of pixels from {MIN_SIDE} to {MAX_SIDE}, got {value!r:.40}")


def _check_text(value: Any, what: str, where: Path, limit: int = MAX_NAME, empty: bool = False) -> None:
    """A name or label shown to the user: a plain string of bounded length without control characters."""
    ok = isinstance(value, str) and (empty or value) and len(value) <= limit and value.isprintable()
    if not ok:
        raise _fail(where, f"{what} must be a line of text of at most {limit} characters, got {value!r:.60}")


def check_manifest(manifest: Any, where: Path) -> dict[str, Any]:
    """Every manifest field the engine reads, checked for type and range (``where``: the manifest file)."""
    if not isinstance(manifest, dict):
        raise _fail(where, "the manifest must be a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise _fail(where, f"the manifest lacks {', '.join(missing)}")
    if manifest["format"] != FORMAT:
        raise _fail(where, f"format {manifest['format']!r:.60} is not {FORMAT!r}")
    if not _is_int(manifest["format_version"]) or manifest["format_version"] != FORMAT_VERSION:
        raise _fail(where, f"format version {manifest['format_version']!r:.40} is not supported by this Facet Studio "
                           f"(it reads version {FORMAT_VERSION}); update Facet Studio or re-export the model")
    _check_text(manifest["family"], "'family'", where, limit=64)
    if manifest.get("name") is not None:
        _check_text(manifest["name"], "'name'", where)
    for key in ("status", "description", "licence", "license"):  # shown to the user as they are: plain text
        if manifest.get(key) is not None and (not isinstance(manifest[key], str) or len(manifest[key]) > MAX_NOTE):
            raise _fail(where, f"{key!r} must be a text of at most {MAX_NOTE} characters")
    _check_side(manifest, "resolution", where)
    if "crop_resolution" in manifest:
        _check_side(manifest, "crop_resolution", where)
    _check_attributes(manifest["attributes"], where)
    _check_network_specs(manifest["networks"], where)
    family = manifest["family"]
    for role in FAMILY_NETWORKS.get(family, ()):
        if role not in manifest["networks"]:
            raise _fail(where, f"a {family!r} bundle needs a {role!r} network ({' or '.join(ROLE_CLASSES[role])}); "
                               f"it has {', '.join(sorted(manifest['networks']))}")
    if "attribute_limits" in manifest:
        _check_attribute_limits(manifest["attribute_limits"], manifest["attributes"], where)
    dtype = manifest.get("weights_dtype", "float32")
    if dtype not in ("float32", "float16", "bfloat16", "float64"):
        raise _fail(where, f"'weights_dtype' {dtype!r:.40} is not a float type")
    return manifest


#: The largest slider end a manifest may give an attribute (``attribute_limits``): a cGAN's y beyond a few times its
#: training labels (±1) stops meaning anything.
MAX_ATTRIBUTE_LIMIT = 4.0


def _check_attribute_limits(limits: Any, attributes: list[str], where: Path) -> None:
    """``attribute_limits``: {attribute: how far its slider reaches}, each a number in [1, MAX_ATTRIBUTE_LIMIT]."""
    if not isinstance(limits, dict):
        raise _fail(where, "'attribute_limits' must be an object of attribute names and numbers")
    for name, value in limits.items():
        if name not in attributes:
            raise _fail(where, f"'attribute_limits' names {name!r:.64}, which is not one of the model's attributes")
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not 1.0 <= value <= MAX_ATTRIBUTE_LIMIT:
            raise _fail(where, f"'attribute_limits' of {name}: {value!r:.40} is not a number from 1 to "
                               f"{MAX_ATTRIBUTE_LIMIT:g}")


def _check_attributes(attributes: Any, where: Path) -> None:
    if not isinstance(attributes, list) or len(attributes) > MAX_ATTRIBUTES:
        raise _fail(where, f"'attributes' must be a list of at most {MAX_ATTRIBUTES} names")
    for a in attributes:
        _check_text(a, "each of 'attributes'", where, limit=64)
    if len(set(attributes)) != len(attributes):
        dup = sorted({a for a in attributes if attributes.count(a) > 1})
        raise _fail(where, f"'attributes' names {', '.join(dup)} more than once")


def _check_network_specs(networks: Any, where: Path) -> None:
    if not isinstance(networks, dict) or not networks or len(networks) > MAX_NETWORKS:
        raise _fail(where, f"'networks' must name from 1 to {MAX_NETWORKS} networks")
    for name, spec in networks.items():
        _check_text(name, "a network's name", where, limit=64)
        if "." in name:
            raise _fail(where, f"network name {name!r} must not contain '.'")
        if not isinstance(spec, dict) or not isinstance(spec.get("class"), str):
            raise _fail(where, f"network {name!r} cannot be built: it needs a 'class' name")
        if not isinstance(spec.get("config", {}), dict):
            raise _fail(where, f"network {name!r} cannot be built: its 'config' must be an object")
        if spec["class"] not in NETWORKS:
            raise _fail(where, f"network {name!r} cannot be built: unknown network class {spec['class']!r:.60}")
        if name in ROLE_CLASSES and spec["class"] not in ROLE_CLASSES[name]:
            raise _fail(where, f"network {name!r} must be a {' or '.join(ROLE_CLASSES[name])}, "
                               f"not a {spec['class']:.60}")


def _check_config_value(value: Any, default: Any, field: str) -> str | None:
    """Why ``value`` cannot be a config field whose default is ``default`` (None when it can)."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "must be true or false"
    if _is_int(default) or isinstance(default, tuple):
        values = value if isinstance(default, tuple) else [value]
        if isinstance(default, tuple) and (not isinstance(value, list) or len(value) != len(default)):
            return f"must be a list of {len(default)} whole numbers"
        if not all(_is_int(v) and 0 <= v <= MAX_CONFIG_INT for v in values):
            return f"must be whole numbers from 0 to {MAX_CONFIG_INT}"
        return None
    if isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "must be a finite number"
    if isinstance(default, str):
        return None if isinstance(value, str) and len(value) <= 64 else "must be a short text"
    return None


def check_config(name: str, spec: dict[str, Any], where: Path) -> None:
    """The network's class exists and every config field has its default's type and a bounded value."""
    fields = {f.name: f for f in dataclasses.fields(NETWORKS[spec["class"]].Config)}
    for key, value in spec.get("config", {}).items():
        if key not in fields:
            raise _fail(where, f"network {name!r} cannot be built: unknown config field {key!r:.60}")
        f = fields[key]
        default = f.default if f.default is not dataclasses.MISSING else None
        why = _check_config_value(value, default, key)
        if why:
            raise _fail(where, f"network {name!r}: config field {key!r} {why}, got {value!r:.40}")


def meta_networks(manifest: dict[str, Any], where: Path) -> dict[str, nn.Module]:
    """Every network built on the ``meta`` device: its config is valid and its shapes known, no memory used."""
    from engine.models.registry import build_network

    nets = {}
    for name, spec in manifest["networks"].items():
        check_config(name, spec, where)
        try:
            with torch.device("meta"):
                nets[name] = build_network(spec["class"], spec.get("config", {}))
        except Exception as exc:  # noqa: BLE001 - any failure to construct from file data is a bad config
            raise _fail(where, f"network {name!r} cannot be built: {exc}") from None
    _check_family(manifest, nets, where)
    return nets


def _check_family(manifest: dict[str, Any], nets: dict[str, nn.Module], where: Path) -> None:
    """The networks agree with the manifest (attributes, resolution) and with each other (z, latent blocks)."""
    n_attrs, resolution = len(manifest["attributes"]), manifest["resolution"]
    for role, net in nets.items():
        cfg = net.config
        if getattr(cfg, "n_attrs", n_attrs) != n_attrs or (role in PER_ATTRIBUTE_ROLES and cfg.out_dim != n_attrs):
            raise _fail(where, f"network {role!r} is made for a different number of attributes than the "
                               f"{n_attrs} 'attributes' listed")
        if role in FULL_RESOLUTION_ROLES and getattr(cfg, "resolution", resolution) != resolution:
            raise _fail(where, f"network {role!r} works at {cfg.resolution} px, the manifest's 'resolution' is "
                               f"{resolution}")
    if "generator" in nets:
        z_dim = nets["generator"].config.z_dim
        for role, key in Z_ROLES.items():
            if role in nets and getattr(nets[role].config, key) != z_dim:
                raise _fail(where, f"network {role!r} does not fit the generator's z of {z_dim} values")
    if "encoder" in nets and "decoder" in nets:
        classes = {manifest["networks"][r]["class"].split(".")[0] for r in ("encoder", "decoder")}
        if len(classes) > 1:
            raise _fail(where, "the encoder and the decoder are of different kinds of model")
        enc, dec = nets["encoder"].config, nets["decoder"].config
        differ = [f.name for f in dataclasses.fields(enc) if getattr(enc, f.name) != getattr(dec, f.name, None)]
        if differ:
            raise _fail(where, f"the encoder and the decoder disagree on {', '.join(differ)}")


def read_safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name → (dtype, shape) from a safetensors file's header, checked against the file's size; nothing else
    of the file is read (regular files of at most :data:`MAX_WEIGHTS_BYTES` only)."""
    size = check_regular_file(path, MAX_WEIGHTS_BYTES, "weights file", BundleError).st_size
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _fail(path, "the weights file is not a regular file")
            head = os.read(fd, 8)
            n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8):
                raise _fail(path, "unreadable weights (truncated or not safetensors): bad header length")
            raw = b""
            while len(raw) < n and (chunk := os.read(fd, n - len(raw))):
                raw += chunk
        finally:
            os.close(fd)
        header = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _fail(path, f"unreadable weights (truncated or not safetensors): {exc}") from None
    if not isinstance(header, dict):
        raise _fail(path, "unreadable weights (truncated or not safetensors): the header is not an object")
    return _header_entries(header, size - 8 - n, path)


def _header_entries(header: dict[str, Any], data_bytes: int, path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    out = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = entry["dtype"], tuple(entry["shape"]), entry["data_offsets"]
            itemsize = {**FLOAT_DTYPES, **INT_DTYPES}[dtype]
        except (KeyError, TypeError, ValueError):
            raise _fail(path, f"tensor {key!r:.80} has an unsupported dtype or a damaged header entry") from None
        if not all(_is_int(d) and d >= 0 for d in (*shape, start, end)) or len(shape) > 8:
            raise _fail(path, f"tensor {key!r:.80} has a damaged header entry")
        if end - start != math.prod(shape) * itemsize or not 0 <= start <= end <= data_bytes:
            raise _fail(path, f"unreadable weights (truncated or not safetensors): tensor {key!r:.80} does not "
                              "fit the file")
        out[key] = (dtype, shape)
    return out


def check_weights(nets: dict[str, nn.Module], header: dict[str, tuple[str, tuple[int, ...]]],
                  extras: dict[str, tuple[int, ...] | None], wpath: Path) -> None:
    """The header declares exactly the tensors of ``nets`` (shape and kind of dtype) and extra tensors of the
    expected shapes (``extras``: name → shape, None for any shape), before any tensor is read."""
    for name, net in nets.items():
        prefix = name + "."
        expected = net.state_dict()
        given = {k[len(prefix):]: v for k, v in header.items() if k.startswith(prefix)}
        missing = sorted(set(expected) - set(given))
        if missing:
            raise _fail(wpath, f"network {name!r} is missing tensor(s) {', '.join(missing[:5])}")
        unexpected = sorted(set(given) - set(expected))
        if unexpected:
            raise _fail(wpath, f"network {name!r} has unexpected tensor(s) {', '.join(unexpected[:5])}")
        for key, (dtype, shape) in given.items():
            want = tuple(expected[key].shape)
            if shape != want:
                raise _fail(wpath, f"tensor {prefix + key} has shape {shape}, the manifest's architecture needs {want}")
            if (dtype in FLOAT_DTYPES) != expected[key].is_floating_point():
                raise _fail(wpath, f"tensor {prefix + key} is stored as {dtype}, not as the network's "
                                   f"{str(expected[key].dtype).removeprefix('torch.')}")
    known = tuple(n + "." for n in nets) + (EXTRA_PREFIX,)
    stray = [k for k in header if not k.startswith(known)]
    if stray:
        raise _fail(wpath, f"tensor(s) {', '.join(stray[:5])} belong to no network in the manifest")
    for key, (dtype, shape) in header.items():
        if not key.startswith(EXTRA_PREFIX):
            continue
        name = key[len(EXTRA_PREFIX):]
        want = extras.get(name)
        if dtype not in FLOAT_DTYPES:
            raise _fail(wpath, f"extra tensor {name!r:.80} is stored as {dtype}, not as floats")
        if want is not None and shape != want:
            raise _fail(wpath, f"extra tensor {name!r} has shape {shape}, this bundle's networks and attributes "
                               f"need {want}")


def expected_extras(manifest: dict[str, Any], nets: dict[str, nn.Module]) -> dict[str, tuple[int, ...] | None]:
    """The shapes of the extra tensors the engine reads (attribute vectors, latent metric, prototypes)."""
    n = len(manifest["attributes"])
    out: dict[str, tuple[int, ...] | None] = {"attribute_vector_counts": (n, 2), "prototypes.counts": (n, 2)}
    if "generator" in nets:
        z = nets["generator"].config.z_dim
        out.update({"attribute_vectors": (n, z), "latent_metric": (z, z)})
    if "encoder" in nets and hasattr(nets["encoder"], "latent_shape"):
        _, s, _ = nets["encoder"].latent_shape
        block = (n, nets["encoder"].config.block_channels, s, s)
        out.update({"prototypes.positive": block, "prototypes.negative": block})
    return out


def check_extra_values(tensors: dict[str, torch.Tensor], wpath: Path) -> None:
    """Extra tensors hold finite numbers (a NaN prototype or vector blanks the face), counts are not negative."""
    for name, t in tensors.items():
        if not torch.isfinite(t).all():
            raise _fail(wpath, f"extra tensor {name!r:.80} contains NaN or Inf")
        if name in COUNT_TENSORS and (t < 0).any():
            raise _fail(wpath, f"extra tensor {name!r} holds negative counts")
