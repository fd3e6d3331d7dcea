"""Every direction a model offers, by name: its principal ones, those named by the factors its
data knows and those a person taught it (``studio.directions.taught``), and pictures moved
along them.

Factor directions take a minute to find and measure, so they are found once per weights and
kept: the shipped zoo's in ``pretrained/directions/<id>.safetensors``, anyone else's in
``<studio home>/cache/directions/<sha256>.safetensors``. A kept file that cannot be used (corrupt,
for other weights or another latent size, hostile) is named in ``problems`` and found again;
nothing else is lost.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.directions.judges import knows_factors
from studio.directions.store import Direction, directions_bytes, read_directions
from studio.directions.taught import taught_directions
from studio.errors import StudioError
from studio.latent import slider_axes
from studio.models.base import SliderAxes
from studio.paths import PRETRAINED_DIR, atomic_write_bytes, studio_home

PRINCIPAL = 8  # principal directions offered by name
MAX_MOVE = 100.0  # units of the prior's standard deviation
SHIPPED_DIR = PRETRAINED_DIR / "directions"


@dataclass(frozen=True)
class ModelDirections:
    directions: tuple[Direction, ...]
    problems: tuple[str, ...] = ()  # one line per kept file that could not be used

    def of_kind(self, kind: str) -> tuple[Direction, ...]:
        return tuple(d for d in self.directions if d.kind == kind)

    def named(self, name: str) -> Direction:
        for direction in self.directions:
            if direction.name == name:
                return direction
        names = ", ".join(d.name for d in self.directions) or "none"
        raise StudioError(f"no direction '{name[:40]}'; this model has: {names}")

    def moved(self, z: np.ndarray, moves: list[tuple[str, float]]) -> np.ndarray:
        """z moved ``amount`` units along each named direction in turn (a cloud: every code)."""
        z = np.asarray(z, dtype=np.float64)
        for name, amount in moves:
            if not np.isfinite(amount) or abs(amount) > MAX_MOVE:
                raise StudioError(f"a move of {amount} is out of range (-{MAX_MOVE} to {MAX_MOVE})")
            z = z + amount * self.named(name).vector
        return z


def model_directions(loaded: Any, *, find: bool = True) -> ModelDirections:
    """A ``LoadedModel``'s directions: principal first, then those named by its data's factors,
    then those taught to its weights. Without ``find``, factor directions not found yet (a
    minute's work) are left out."""
    factors, problems = factor_directions(loaded) if find else kept_factor_directions(loaded)
    factors = factors or ()
    taught, taught_problems = taught_directions(loaded)
    return ModelDirections(
        principal_directions(loaded) + factors + taught, problems + taught_problems
    )


def direction_axes(directions: Sequence[Direction], kind: str = "Named directions") -> SliderAxes:
    """Directions as sliders: each one's name for a label, its help line for help."""
    return SliderAxes(
        kind=kind,
        vectors=np.stack([d.vector for d in directions]),
        labels=tuple(d.name for d in directions),
        helps=tuple(d.help() for d in directions),
    )


def principal_directions(loaded: Any) -> tuple[Direction, ...]:
    """The model's first principal sliders, named as ``--move`` takes them (``PC1``, ``z3``)."""
    axes = slider_axes(loaded, limit=min(PRINCIPAL, loaded.model.latent_dim))
    return tuple(
        Direction(label.replace("[", "").replace("]", ""), "principal", vector, help_text)
        for label, vector, help_text in zip(axes.labels, axes.vectors, axes.helps, strict=True)
    )


Found = tuple[tuple[Direction, ...], tuple[str, ...]]  # directions, problems of kept files
_memo: dict[str, Found] = {}  # per weights' sha256
_memo_lock = threading.Lock()


def factor_directions(loaded: Any) -> Found:
    """``kept_factor_directions``, found (a minute) and kept where they were not."""
    kept, problems = kept_factor_directions(loaded)
    if kept is not None:
        return kept, problems
    from studio.directions.factors import find_factor_directions
    from studio.directions.judges import judge_for

    dataset = loaded.card.dataset
    judge = judge_for(dataset["name"], dataset.get("options", {}))
    kept = find_factor_directions(loaded.model, judge)
    with contextlib.suppress(OSError):  # a full or read-only disk: found again next time
        atomic_write_bytes(_cache_path(loaded), directions_bytes(kept, loaded.sha256))
    return _remember(loaded, (kept, problems))


def kept_factor_directions(loaded: Any) -> tuple[tuple[Direction, ...] | None, tuple[str, ...]]:
    """The directions named by the factors of the model's data, where they are kept (none for
    data whose factors no one knows; None where they are not found yet), and the problems of
    kept files passed over."""
    with _memo_lock:
        if loaded.sha256 in _memo:
            return _memo[loaded.sha256]
    if not knows_factors(loaded.card.dataset.get("name", "")):
        return (), ()
    kept, problems = _kept(loaded)
    if kept is not None:
        _remember(loaded, (kept, problems))
    return kept, problems


def _remember(loaded: Any, found: Found) -> Found:
    with _memo_lock:
        _memo[loaded.sha256] = found
    return found


def _cache_path(loaded: Any) -> Path:
    return studio_home() / "cache" / "directions" / f"{loaded.sha256}.safetensors"


def _kept(loaded: Any) -> tuple[tuple[Direction, ...] | None, tuple[str, ...]]:
    """The kept directions, shipped or cached, and a line for each kept file that failed. A
    shipped file for other weights is a user's model of a shipped id: passed over quietly."""
    problems = []
    for path in (SHIPPED_DIR / f"{loaded.card.id}.safetensors", _cache_path(loaded)):
        if not path.exists():
            continue
        try:
            return read_directions(path, loaded.model.latent_dim, loaded.sha256), tuple(problems)
        except StudioError as err:
            if path.parent != SHIPPED_DIR or "other weights" not in str(err):
                problems.append(f"{err}; they are found again")
    return None, tuple(problems)
