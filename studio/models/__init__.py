"""The model zoo: one file per family, looked up by name.

>>> model = build_model("vae", {"latent_dim": 16})
"""

from __future__ import annotations

from typing import Any

import torch

from studio.errors import StudioError
from studio.models.base import (
    GenerativeModel,
    Knob,
    LossTerm,
    Objective,
    SliderAxes,
    config_from_dict,
)

_REGISTRY: dict[str, type[GenerativeModel]] = {}


def register(cls: type[GenerativeModel]) -> type[GenerativeModel]:
    """Add a model class to the zoo under its ``arch``; a name is taken once."""
    if cls.arch in _REGISTRY:
        raise StudioError(f"a model called '{cls.arch}' is registered already")
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


def families() -> dict[str, type[GenerativeModel]]:
    """Each family by name, as its first registered model (which holds its title and blurb)."""
    found: dict[str, type[GenerativeModel]] = {}
    for cls in _REGISTRY.values():
        found.setdefault(cls.family, cls)
    return found


def datasets_of(family: str) -> tuple[str, ...]:
    """The datasets some model of the family trains on, in registration order."""
    kinds = [cls for cls in _REGISTRY.values() if cls.family == family]
    if not kinds:
        known = ", ".join(families())
        raise StudioError(f"unknown model family '{family}'; choose one of {known}")
    return tuple(dict.fromkeys(d for cls in kinds for d in cls.DATASETS))


def archs_for(family: str, dataset: str) -> tuple[str, ...]:
    """The architectures a family trains on a dataset with, in registration order (the GAN on
    pictures: the DCGAN, then the coordinate GAN; on 2-D points: the MLP GAN)."""
    choices = datasets_of(family)
    if dataset not in choices:
        title = families()[family].FAMILY_TITLE
        raise StudioError(
            f"the {title} does not train on '{dataset}'; it trains on {', '.join(choices)}"
        )
    return tuple(a for a, c in _REGISTRY.items() if c.family == family and dataset in c.DATASETS)


def arch_for(family: str, dataset: str, arch: str = "") -> str:
    """The architecture a family trains on a dataset with: ``arch`` when it is one of
    ``archs_for``, the first of them when none is asked for."""
    choices = archs_for(family, dataset)
    if not arch:
        return choices[0]
    if arch not in choices:
        title = families()[family].FAMILY_TITLE
        raise StudioError(
            f"the {title} trains on '{dataset}' as {', '.join(choices)}, not as '{arch}'"
        )
    return arch


# Importing the family modules registers them, in the order the pages list them.
# isort: off
from studio.models import mlp, gan, vae  # noqa: E402,F401
# isort: on

__all__ = [
    "GenerativeModel",
    "Knob",
    "LossTerm",
    "Objective",
    "SliderAxes",
    "arch_for",
    "archs_for",
    "build_model",
    "datasets_of",
    "families",
    "list_models",
    "model_class",
    "register",
]
