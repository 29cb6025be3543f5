"""One registry for every network class, so a bundle manifest can name a class and its constructor config.

A network class registers under a stable name and has a ``Config`` dataclass; ``cls(config)`` builds it.
Manifests store ``{"class": name, "config": asdict(config)}`` — data, never code.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from torch import nn

NETWORKS: dict[str, type[nn.Module]] = {}
N = TypeVar("N", bound=type[nn.Module])


def register_network(name: str):
    """Class decorator: make a network constructible from a manifest entry."""

    def deco(cls: N) -> N:
        if name in NETWORKS and NETWORKS[name] is not cls:
            raise ValueError(f"network name {name!r} registered twice")
        if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
            raise TypeError(f"{cls.__name__} needs a dataclass attribute 'Config'")
        cls.registry_name = name
        NETWORKS[name] = cls
        return cls

    return deco


def network_spec(net: nn.Module) -> dict[str, Any]:
    """The manifest entry of a registered network: its class name and constructor config."""
    name = getattr(type(net), "registry_name", None)
    if name is None:
        raise TypeError(f"{type(net).__name__} is not a registered network")
    return {"class": name, "config": dataclasses.asdict(net.config)}


def build_network(name: str, config: dict[str, Any]) -> nn.Module:
    """Construct a registered network from its config dict; unknown names/fields raise ``KeyError``/``TypeError``."""
    import engine.models  # noqa: F401  (registers every family)

    if name not in NETWORKS:
        raise KeyError(f"unknown network class {name!r}; known: {', '.join(sorted(NETWORKS))}")
    cls = NETWORKS[name]
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = set(config) - fields
    if unknown:
        raise TypeError(f"{name}: unknown config field(s) {sorted(unknown)}")
    cfg = cls.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    return cls(cfg)
