"""A render's arguments checked against its model and made canonical.

A render's cache key and a recipe both name one picture, so what they hold is what gets drawn:
z rounded to ``Z_DECIMALS`` as a recipe rounds it, and only the options that change pixels,
minus those equal to the checkpoint's own config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from studio.errors import StudioError
from studio.models import GenerativeModel
from studio.models.base import config_from_dict
from studio.recipe import MAX_SIZE, Z_DECIMALS

NOTE_OPTIONS = ("seed",)  # where z came from: kept in recipes, never changes a pixel
MAX_BATCH = 1024
MAX_POINTS = 100_000


@dataclass(frozen=True)
class DrawOptions:
    """Render options after checking: what changes the pixels, in a hashable form."""

    knobs: tuple[tuple[str, Any], ...] = ()  # art knobs that differ from the card
    weight_seed: int | None = None
    drawing: tuple[tuple[str, Any], ...] = ()  # draw knobs that differ from the card

    @property
    def derived(self) -> bool:
        """Drawn by another network than the checkpoint's: one its art knobs describe."""
        return bool(self.knobs) or self.weight_seed is not None


class Request(NamedTuple):
    """A render's arguments, checked for one model (a tuple: made on every render, cache hits
    included, and 0.5 us quicker to make than a frozen dataclass)."""

    options: DrawOptions
    rows: np.ndarray  # N x latent_dim float32, rounded like a recipe
    single: bool  # one z was given, not a batch of them
    size: int


def _whole_number(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise StudioError(
            f"option '{name}' must be a whole number from 0 to 2**63 - 1, got {value!r}"
        )
    return value


def check_options(model: GenerativeModel, options: dict[str, Any] | None) -> DrawOptions:
    """Refuse unknown keys and bad values; drop what equals the checkpoint's own config."""
    if options is None:
        return DrawOptions()
    if not isinstance(options, dict):
        raise StudioError(f"render options must be a dict, got {type(options).__name__}")
    art = ("weight_seed", *model.ART_KNOBS) if model.ART_KNOBS else ()
    allowed = (*NOTE_OPTIONS, *model.DRAW_KNOBS, *art)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise StudioError(
            f"unknown render option(s) {', '.join(map(str, unknown))} for a {model.arch} model; "
            f"it takes {', '.join(allowed)}"
        )
    for name in NOTE_OPTIONS:
        if name in options:
            _whole_number(name, options[name])
    weight_seed = options.get("weight_seed")
    if weight_seed is not None:
        _whole_number("weight_seed", weight_seed)
    base = dataclasses.asdict(model.config)
    asked = {k: options[k] for k in (*model.ART_KNOBS, *model.DRAW_KNOBS) if k in options}
    config = dataclasses.asdict(config_from_dict(type(model.config), base | asked))

    def changed(names: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
        return tuple((k, config[k]) for k in names if config[k] != base[k])

    return DrawOptions(changed(model.ART_KNOBS), weight_seed, changed(model.DRAW_KNOBS))


def canonical_z(z: Any, latent_dim: int, *, max_rows: int = MAX_BATCH) -> tuple[np.ndarray, bool]:
    """z as float32 N x latent_dim, rounded like a recipe rounds it; and whether it was one z."""
    if isinstance(z, torch.Tensor):
        z = z.detach().to("cpu", torch.float64).numpy()
    try:
        array = np.asarray(z, dtype=np.float64)
    except (TypeError, ValueError):
        raise StudioError("z must be a list of numbers or an array of them") from None
    single = array.ndim == 1
    if single:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != latent_dim or not 0 < array.shape[0] <= max_rows:
        raise StudioError(
            f"z must hold {latent_dim} numbers, or be a batch of 1 to {max_rows} rows of "
            f"{latent_dim}; got shape {tuple(np.shape(z))}"
        )
    if not np.isfinite(array).all():
        raise StudioError("z holds NaN or infinite values")
    return np.round(array, Z_DECIMALS).astype(np.float32), single


def check_size(size: Any) -> int:
    """A picture's side in pixels, from 8 to ``MAX_SIZE``."""
    if (
        isinstance(size, bool)
        or not isinstance(size, int | np.integer)
        or not 8 <= size <= MAX_SIZE
    ):
        raise StudioError(
            f"size must be a whole number of pixels from 8 to {MAX_SIZE}, got {size!r}"
        )
    return int(size)


def check_request(
    model: GenerativeModel, z: Any, size: int | None, options: dict[str, Any] | None
) -> Request:
    """Options, z and size checked for ``model``; ``size`` defaults to the model's own. A cloud
    model's z may hold ``MAX_POINTS`` codes, each one point of its picture."""
    drawn = check_options(model, options)
    rows, single = canonical_z(
        z, model.latent_dim, max_rows=MAX_POINTS if model.cloud else MAX_BATCH
    )
    return Request(drawn, rows, single, model.native_size if size is None else check_size(size))
