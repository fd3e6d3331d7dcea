"""The ``Dataset`` every set returns, and the option checks the sets share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from numbers import Integral
from typing import Any

import torch

from studio.errors import StudioError


# eq=False: a field-by-field == on tensors has no single truth value, so compare by identity.
@dataclass(frozen=True, eq=False)
class Dataset:
    """A whole dataset in memory. Treat the tensors as read-only; loaders may share them."""

    name: str  # "glyphs", "shapes", "toy2d", "folder", "image"
    x: torch.Tensor  # float32; images N x C x H x W in [0, 1], or points N x 2 for toy2d
    labels: torch.Tensor | None = None  # int64 N class index; None where none means anything
    class_names: tuple[str, ...] = ()
    factors: dict[str, torch.Tensor] = field(default_factory=dict)  # each of length N
    options: dict = field(default_factory=dict)  # what it was built with (JSON), for model cards
    skipped: int = 0  # folder: files that could not be used
    problems: tuple[str, ...] = ()  # folder: one plain line per skipped file, saying why

    @property
    def is_image(self) -> bool:
        return self.x.dim() == 4

    def __len__(self) -> int:
        return self.x.shape[0]

    def split(self, held_out: float = 0.1, seed: int = 0) -> tuple[Dataset, Dataset]:
        """A deterministic (train, held-out) split; the same seed always picks the same rows."""
        if not 0 < held_out < 1:
            raise StudioError(f"held_out must be a fraction between 0 and 1, not {held_out!r}")
        n = len(self)
        if n < 2:
            raise StudioError(f"{self.name} has {n} item(s); at least 2 are needed to split it")
        n_held = min(n - 1, max(1, round(n * held_out)))
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        return self._take(order[n_held:]), self._take(order[:n_held])

    def _take(self, index: torch.Tensor) -> Dataset:
        return replace(
            self,
            x=self.x[index],
            labels=None if self.labels is None else self.labels[index],
            factors={k: v[index] for k, v in self.factors.items()},
        )


# ---------------------------------------------------------------- option checks


def choice(option: str, value: Any, allowed: Sequence[Any]) -> Any:
    """``value`` if it is one of ``allowed``, else a StudioError that lists them."""
    if isinstance(value, bool) or value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise StudioError(f"{option} must be one of {listed}, not {value!r}")
    return value


def to_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round to steps of 1/255, as any stored picture is, so the cache can keep one byte a value."""
    return x.mul(255).round_().div_(255)


def count(option: str, value: Any, low: int, high: int) -> int:
    """A whole number in ``[low, high]``; bools and floats are refused, not rounded."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= value <= high:
        raise StudioError(f"{option} must be a whole number from {low} to {high}, not {value!r}")
    return int(value)
