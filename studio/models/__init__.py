"""The model zoo: one file per family, looked up by name.

>>> model = build_model("vae", {"latent_dim": 16})
"""

from __future__ import annotations

from typing import Any

import torch

from studio.errors import StudioError
from studio.models.base import GenerativeModel, LossTerm, Objective, config_from_dict

_REGISTRY: dict[str, type[GenerativeModel]] = {}


def register(cls: type[GenerativeModel]) -> type[GenerativeModel]:
    _REGISTRY[cls.arch] = cls
    return cls


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_class(arch: str) -> type[GenerativeModel]:
    try:
        return _REGISTRY[arch]
    except KeyError:
        raise StudioError(
            f"unknown model '{arch}'; choose one of {', '.join(list_models())}"
        ) from None


def build_model(
    arch: str, config: dict[str, Any] | None = None, *, seed: int | None = None
) -> GenerativeModel:
    """A fresh model; with a seed its initial weights are reproducible (global RNG untouched)."""
    cls = model_class(arch)
    config = config_from_dict(cls.Config, config or {})
    if seed is None:
        return cls(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config)


FAMILIES = ("mlp", "gan", "vae")


def arch_for(family: str, *, points: bool) -> str:
    """The architecture a family uses for a kind of data: 2-D points get the MLP variants."""
    if family not in FAMILIES:
        raise StudioError(f"unknown model family '{family}'; choose one of {', '.join(FAMILIES)}")
    if family == "mlp":
        if points:
            raise StudioError("the MLP (CPPN) draws images; train it on 'image', not on 2-D points")
        return "cppn"
    if family == "vae":
        if points:
            raise StudioError("the VAE draws images; train it on glyphs, shapes or a folder")
        return "vae"
    return "gan2d" if points else "dcgan"


# Importing the family modules registers them.
from studio.models import gan, mlp, vae  # noqa: E402,F401

__all__ = [
    "FAMILIES",
    "GenerativeModel",
    "LossTerm",
    "Objective",
    "arch_for",
    "build_model",
    "list_models",
    "model_class",
    "register",
]
