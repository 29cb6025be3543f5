"""Device and precision choice in one place: CUDA when present (or asked for), else CPU."""

from __future__ import annotations

import contextlib
import os

import torch


def pick_device(preference: str | None = "auto") -> torch.device:
    """``auto`` → CUDA if available else CPU; ``cpu``/``cuda``/``cuda:N`` are honoured or refused clearly."""
    pref = (preference or os.environ.get("FACET_DEVICE") or "auto").lower()
    if pref == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {preference!r} was asked for, but this PyTorch build sees no CUDA GPU")
    return torch.device(pref)


def autocast(device: torch.device, precision: str = "auto") -> contextlib.AbstractContextManager:
    """Mixed precision: bf16 autocast on CPU (about 1.7x faster on AVX-512-bf16), fp16 AMP on CUDA.

    ``precision`` is ``auto``/``bf16``/``fp16``/``fp32``; ``fp32`` (or an unsupported combination) disables it.
    """
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type == "cuda":
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    if device.type == "cpu" and precision in ("auto", "bf16"):
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/CPU allocation failures, so callers can fall back instead of crashing."""
    return isinstance(exc, torch.OutOfMemoryError | MemoryError) or "out of memory" in str(exc).lower()
