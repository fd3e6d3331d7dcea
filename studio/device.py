"""Which device to run on: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import os

import torch

from studio.errors import StudioError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def pick_device(name: str | None = None) -> torch.device:
    """``auto`` (or ``STUDIO_DEVICE`` when no name is given) resolves to the best one present."""
    name = (name or os.environ.get("STUDIO_DEVICE") or "auto").lower()
    if name not in DEVICE_CHOICES:
        raise StudioError(f"unknown device '{name}'; choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise StudioError("CUDA was asked for but no CUDA GPU is available; use --device cpu")
    if name == "mps" and not _mps_available():
        raise StudioError("MPS was asked for but this machine has no Apple GPU; use --device cpu")
    return torch.device(name)
