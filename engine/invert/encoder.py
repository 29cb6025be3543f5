"""IcGAN inversion: one forward pass of the encoders, z = E_z(x), y = tanh(E_y(x) / 2)."""

from __future__ import annotations

import torch

from engine.bundle import Bundle
from engine.invert.core import encode
from engine.invert.registry import MethodJob, no_steps, register_method


@register_method("encoder", default_steps=0, needs=("generator", "encoder_z", "encoder_y"),
                 summary="encoders only (IcGAN): milliseconds, approximate")
def encoder_method(bundle: Bundle, x: torch.Tensor, steps: int, seed: int, restarts: int, lr: float | None,
                   **_: object) -> MethodJob:
    bundle.network("encoder_z")  # a clear BundleError when missing
    z, y = encode(bundle, x)
    with torch.no_grad():
        image = bundle.network("generator")(z, y)
    return (yield from no_steps(z, y, image))
