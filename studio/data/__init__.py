"""Offline datasets: everything a model here trains on, with nothing downloaded.

    from studio.data import load_dataset
    train, held_out = load_dataset("glyphs", n=6000, seed=0).split(0.1)

Each set is one module with ``resolve(**options) -> dict`` (checks the options, fills the
defaults; its keyword-only parameters *are* the list of allowed options) and
``build(options, seed) -> Dataset``. The generated sets (glyphs, shapes, toy2d) are cached
after their first build; see ``cache.py``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from studio.data import cache, folder, glyphs, image, shapes, toy2d
from studio.data.base import Dataset, count
from studio.data.folder import load_images
from studio.errors import StudioError

__all__ = [
    "DATASETS",
    "Dataset",
    "DataClasses",
    "data_classes",
    "linear_factors",
    "load_dataset",
    "load_images",
]

_SETS: dict[str, ModuleType] = {
    "glyphs": glyphs,
    "shapes": shapes,
    "toy2d": toy2d,
    "folder": folder,
    "image": image,
}
_CACHED = frozenset({"glyphs", "shapes", "toy2d"})  # the user's files are read fresh each time

DATASETS: tuple[str, ...] = tuple(_SETS)


@dataclass(frozen=True)
class DataClasses:
    """What a dataset's classes are called, as a set ("kind of shape") and one by one."""

    title: str
    names: tuple[str, ...]


def data_classes(name: str, options: dict) -> DataClasses:
    """The classes of the set ``name`` built with ``options`` (as a model card keeps them),
    without building it; no names for a set without classes."""
    module = _SETS.get(name)
    if not hasattr(module, "class_names"):
        return DataClasses("class", ())
    allowed = inspect.signature(module.resolve).parameters
    resolved = module.resolve(**{k: v for k, v in options.items() if k in allowed})
    return DataClasses(module.CLASS_TITLE, module.class_names(resolved))


def linear_factors(name: str) -> tuple[str, ...]:
    """The factors of the set ``name`` that lie on a line, smaller to larger (not on a circle,
    as a hue does): what a conditional model can be told besides the class."""
    return getattr(_SETS.get(name), "LINEAR_FACTORS", ())


def load_dataset(
    name: str,
    *,
    size: int | None = None,
    channels: int | None = None,
    seed: int = 0,
    path: str | Path | None = None,
    n: int | None = None,
    **options: Any,
) -> Dataset:
    """Build (or fetch from the cache) the dataset ``name`` with these options.

    ``None`` means "this set's default". An unknown name or option, or a bad value, is a
    StudioError that says what is allowed.
    """
    if name not in _SETS:
        raise StudioError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    module = _SETS[name]
    common = {"size": size, "channels": channels, "path": path, "n": n}
    given = {k: v for k, v in common.items() if v is not None} | options
    allowed = list(inspect.signature(module.resolve).parameters)
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise StudioError(
            f"{name} does not take {', '.join(unknown)}; "
            f"its options are {', '.join([*allowed, 'seed'])}"
        )
    resolved = module.resolve(**given)
    seed = count("seed", seed, 0, 2**63 - 1)
    if name in _CACHED:
        return cache.cached(name, resolved, seed, module.build)
    return module.build(resolved, seed)
