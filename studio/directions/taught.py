"""Directions a person teaches: from pictures they mark as "more" and "less" of something only
they can name, the normal of a linear classifier that tells the two apart in z.

The fit is a logistic regression on the marked codes with a little L2 (a handful of picks in
dozens of dimensions always separate; the L2 keeps the normal near the difference of the two
groups' means instead of chasing the one pick that sits closest to the other side). Where the
model's data has a judge (``studio.directions.judges``), the direction is measured as the
factor directions are, on the factor it moves most.

Taught directions are the user's own: kept per model id and weights (a retrained model does
not silently take directions fitted on older weights) in
``<studio home>/directions/<model id>/<sha256>.safetensors``, the same file format as the factor
directions', read as untrusted input and written atomically under a lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.directions.judges import judge_for, knows_factors
from studio.directions.store import (
    MAX_DIRECTIONS,
    NAME,
    Direction,
    check_direction,
    directions_bytes,
    read_directions,
)
from studio.errors import StudioError
from studio.paths import rewrite_held, studio_dir
from studio.recipe import Recipe

MIN_PICKS = 3  # of each side
MAX_PICKS = 512  # of both together
L2 = 1.0  # on the weights, against a loss summed over the picks
NEWTON_STEPS = 50
FAR = 1e3  # a code coordinate beyond this (the prior is N(0, 1)) is no picture to learn from


# ---------------------------------------------------------------- the fit


def fit_direction(more: np.ndarray, less: np.ndarray) -> np.ndarray:
    """The unit normal (latent_dim) of an L2-regularised logistic regression that tells the
    codes ``more`` (M x latent_dim) from ``less`` (L x latent_dim), pointing towards "more".

    Newton's method on the weights and an unregularised bias; the loss is convex, so a few
    steps reach its minimum. Rounded through float32, as the file keeps it, so a kept direction
    moves a picture exactly as the fitted one did.
    """
    x = np.concatenate([more, less]).astype(np.float64)
    y = np.concatenate([np.ones(len(more)), np.zeros(len(less))])
    x1 = np.concatenate([x, np.ones((len(x), 1))], 1)  # the last weight is the bias
    penalty = np.full(x1.shape[1], L2)
    penalty[-1] = 0.0
    w = np.zeros(x1.shape[1])
    for _ in range(NEWTON_STEPS):
        p = 0.5 * (1 + np.tanh(0.5 * (x1 @ w)))  # the logistic function, without overflow
        gradient = x1.T @ (p - y) + penalty * w
        hessian = (x1 * (p * (1 - p))[:, None]).T @ x1 + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    normal = w[:-1]
    length = float(np.linalg.norm(normal))
    if not np.isfinite(length) or length < 1e-12:
        raise StudioError("the marked pictures cannot be told apart in z: mark clearer ones")
    return (normal / length).astype(np.float32).astype(np.float64)


def picked_codes(loaded: Any, picks: Sequence[Recipe], side: str) -> np.ndarray:
    """The codes (N x latent_dim) of the pictures marked ``side``; a StudioError for a picture
    of another model or other weights, or one that is not a single code."""
    codes = []
    for recipe in picks:
        if recipe.model != loaded.card.id or recipe.sha256 != loaded.sha256:
            weights = "other weights of it" if recipe.model == loaded.card.id else recipe.model
            raise StudioError(
                f"a picture marked '{side}' was made with {weights}; teach {loaded.card.id} "
                "with its own pictures"
            )
        if len(recipe.z) != loaded.model.latent_dim:
            raise StudioError(f"a picture marked '{side}' is not one code of this model")
        if not np.all(np.abs(recipe.z) <= FAR):  # also refuses NaN
            raise StudioError(f"a picture marked '{side}' has a code far outside the prior")
        codes.append(recipe.z)
    return np.asarray(codes, dtype=np.float64).reshape(-1, loaded.model.latent_dim)


def check_picks(more: np.ndarray, less: np.ndarray) -> None:
    """At least ``MIN_PICKS`` on each side, not too many, and no picture on both."""
    total = len(more) + len(less)
    if total > MAX_PICKS:
        raise StudioError(f"mark at most {MAX_PICKS} pictures")
    for side, codes, other in (("more", more, "less"), ("less", less, "more")):
        if len(codes) < MIN_PICKS:
            one_sided = (
                f"all {total} marked pictures are '{other}': " if total and not len(codes) else ""
            )
            raise StudioError(
                f"{one_sided}mark at least {MIN_PICKS} pictures as '{side}' ({len(codes)} so far)"
            )
    if {tuple(z) for z in more} & {tuple(z) for z in less}:
        raise StudioError("a picture is marked both 'more' and 'less'")


# ---------------------------------------------------------------- teaching


def teach(loaded: Any, name: str, more: Sequence[Recipe], less: Sequence[Recipe]) -> Direction:
    """A direction named ``name`` fitted to the marked pictures (recipes: from a grid, the
    Gallery, PNGs) and, where the model's data has a judge, measured. Not kept yet."""
    check_teachable(loaded)
    name = name.strip()
    more_z, less_z = picked_codes(loaded, more, "more"), picked_codes(loaded, less, "less")
    check_picks(more_z, less_z)
    check_name(loaded, name)
    vector = fit_direction(more_z, less_z)
    found = f"taught from {len(more_z)} 'more' and {len(less_z)} 'less' pictures"
    cleanliness = None
    dataset = loaded.card.dataset
    if knows_factors(dataset.get("name", "")):
        from studio.directions.factors import measure_on

        with contextlib.suppress(StudioError):  # no judge for these options: not measured
            judge = judge_for(dataset["name"], dataset.get("options", {}))
            ((column, cleanliness),) = measure_on(loaded.model, judge, vector[None], [None])
            found += f", read as {column.name}"
    direction = Direction(name, "taught", vector, found, cleanliness)
    check_direction(direction, loaded.model.latent_dim)
    return direction


def check_teachable(loaded: Any) -> None:
    if loaded.model.cloud:
        raise StudioError(
            f"{loaded.card.id} draws a cloud of points in each picture; a direction is taught "
            "from pictures of one code each"
        )


def check_name(loaded: Any, name: str) -> None:
    """A short plain word (``--move NAME=AMOUNT`` takes it), not another direction's."""
    if not NAME.match(name):
        raise StudioError(
            f"name it with a short word of letters, digits and _.+- (up to 40), not {name[:40]!r}"
        )
    if name in _offered_names(loaded):
        raise StudioError(f"'{name}' is the name of one of this model's own directions")


def _offered_names(loaded: Any) -> set[str]:
    """The names of the model's principal directions and those its data's factors name."""
    from studio.directions import kept_factor_directions, principal_directions
    from studio.directions.factors import columns

    names = {d.name for d in principal_directions(loaded)}
    factors, _ = kept_factor_directions(loaded)
    if factors is not None:
        return names | {d.name for d in factors}
    dataset = loaded.card.dataset
    with contextlib.suppress(StudioError):  # data whose factors no one can read
        judge = judge_for(dataset.get("name", ""), dataset.get("options", {}))
        names |= {c.name for c in columns(judge)}
    return names


# ---------------------------------------------------------------- the user's file

_memo: dict[Path, tuple[tuple[int, int], tuple[Direction, ...]]] = {}  # path: (mtime, size)


def taught_path(loaded: Any) -> Path:
    return studio_dir("directions") / loaded.card.id / f"{loaded.sha256}.safetensors"


def taught_directions(loaded: Any) -> tuple[tuple[Direction, ...], tuple[str, ...]]:
    """The directions taught to these weights, and a line where their file cannot be used."""
    path = taught_path(loaded)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (), ()
    stamp = (stat.st_mtime_ns, stat.st_size)
    if path in _memo and _memo[path][0] == stamp:
        return _memo[path][1], ()
    try:
        found = read_directions(path, loaded.model.latent_dim, loaded.sha256)
        if any(d.kind != "taught" for d in found):
            raise StudioError(f"direction file {path.name} holds directions no one taught")
    except StudioError as err:
        return (), (f"your taught directions cannot be used: {err}",)
    _memo[path] = (stamp, found)
    return found, ()


def keep_taught(loaded: Any, direction: Direction) -> None:
    """Add ``direction`` to the model's taught ones (a name already taught is refused). A file
    that cannot be read is set aside beside it (``.unreadable``), not written over."""
    check_direction(direction, loaded.model.latent_dim)
    check_name(loaded, direction.name)

    def kept(found: tuple[Direction, ...]) -> tuple[Direction, ...]:
        if any(d.name == direction.name for d in found):
            raise StudioError(f"a direction named '{direction.name}' is taught already")
        if len(found) >= MAX_DIRECTIONS:
            raise StudioError(f"this model has {MAX_DIRECTIONS} taught directions already")
        return (*found, direction)

    _rewrite(loaded, kept)


def delete_taught(loaded: Any, name: str) -> None:
    def kept(found: tuple[Direction, ...]) -> tuple[Direction, ...]:
        if all(d.name != name for d in found):
            raise StudioError(f"no taught direction '{name[:40]}' to delete")
        return tuple(d for d in found if d.name != name)

    _rewrite(loaded, kept)


def _rewrite(loaded: Any, change: Any) -> None:
    """Read the taught file, ``change`` its directions, write it back, all under its lock."""
    rewrite_held(
        taught_path(loaded),
        lambda: taught_directions(loaded),
        change,
        # a file of no directions has no latent size to check: none at all
        lambda kept: directions_bytes(kept, loaded.sha256) if kept else None,
        "another change to this model's taught directions is under way",
    )
