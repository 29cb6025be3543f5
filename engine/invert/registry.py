"""The inversion-method registry: adding a method is one module with a ``@register_method`` function."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import torch

from engine.invert.core import OptimOutcome
from engine.progress import Step

MethodJob = Generator[Step, None, OptimOutcome]
MethodFn = Callable[..., MethodJob]
"""fn(bundle, x (1, 3, R, R) in [-1, 1], steps, seed, restarts, lr) → job returning an OptimOutcome."""


@dataclass(frozen=True)
class Method:
    name: str
    fn: MethodFn
    default_steps: int
    default_restarts: int = 1
    needs: tuple[str, ...] = ("generator",)
    summary: str = ""


METHODS: dict[str, Method] = {}


def register_method(name: str, default_steps: int, default_restarts: int = 1,
                    needs: tuple[str, ...] = ("generator",), summary: str = "") -> Callable[[MethodFn], MethodFn]:
    def deco(fn: MethodFn) -> MethodFn:
        if name in METHODS:
            raise ValueError(f"inversion method {name!r} registered twice")
        METHODS[name] = Method(name, fn, default_steps, default_restarts, needs, summary)
        return fn

    return deco


def no_steps(z: torch.Tensor, y: torch.Tensor, image: torch.Tensor) -> MethodJob:
    """A job that is already done (the encoder method): it yields nothing."""
    return OptimOutcome(z, y, image, [], 0)
    yield  # pragma: no cover  (makes this a generator)
