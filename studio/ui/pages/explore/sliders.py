"""Sliders onto z: the model's own axes, its raw dimensions, and directions with names.

The prior is N(0, I), so a slider's value is z's coordinate along its unit direction, in
standard deviations. Named directions (``studio.directions``) are not orthogonal to each other:
moving one moves the others' readings a little, and they follow on the next run. The sliders
are drawn by the instrument (``studio.ui.instrument``); this module says which there are.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from studio.directions import direction_axes, factor_directions, kept_factor_directions
from studio.directions.store import Direction
from studio.directions.taught import taught_directions
from studio.errors import StudioError
from studio.models.base import SliderAxes, unit_axes
from studio.render.loaded import LoadedModel
from studio.ui.instrument import Move, SliderGroup
from studio.ui.pages.explore.state import SPAN, current_z, set_z

STEP = 0.05
RAW_STEP = 0.01
AXES = "axes"  # the group of the model's own sliders, which the pad drives too

Sliders = dict[str, tuple[SliderGroup, SliderAxes]]  # by group key


def slider_value(value: float, step: float) -> float:
    return float(np.clip(round(round(value / step) * step, 2), -SPAN, SPAN))


def sliders(loaded: LoadedModel, axes: SliderAxes, note: str = "") -> Sliders:
    """Every slider group of the model, at z's current coordinates: its own axes, its raw
    dimensions (unless its axes are them), then the directions named by its data's factors and
    those taught to it (once found; ``find_named`` finds them)."""
    model = loaded.model
    found = {AXES: _group(AXES, axes.kind, axes, note=note)}
    if not axes.every_dimension:
        dims = list(range(model.latent_dim))
        raw = unit_axes("Raw dimensions", dims, model.latent_dim, [""] * model.latent_dim)
        title = f"Raw dimensions ({model.latent_dim})"
        found["raw"] = _group("raw", title, raw, fold=True, step=RAW_STEP, columns=2)
    if model.cloud:
        return found
    named, taught = _named_directions(loaded)
    if named:
        title = "Named directions (from the factors the data knows)"
        found["named"] = _directions("named", title, [d for d in named if not d.group])
        groups = list(dict.fromkeys(d.group for d in named if d.group))
        for index, group in enumerate(groups):  # a kind of shape, a character
            members = [d for d in named if d.group == group]
            title = f"{group[:1].upper()}{group[1:]} ({len(members)})"
            found[f"named-{index}"] = _directions(f"named-{index}", title, members, fold=True)
    if taught:
        found["taught"] = _directions("taught", "Taught directions (from your picks)", taught)
    return {key: value for key, value in found.items() if value[0].labels}


def apply_moves(found: Sliders, moves: list[Move]) -> None:
    """z moved as the browser asks: each move sets one slider's value, in the order made."""
    z = current_z()
    for key, index, value in moves:
        z = found[key][1].moved(z, index, value)
    set_z(z)


def find_named(loaded: LoadedModel) -> None:
    """The problems of kept direction files, and a button to find the named directions of a
    model whose data knows its factors but whose directions are not found yet (a minute)."""
    try:
        named, problems = kept_factor_directions(loaded)
    except StudioError as err:
        st.error(f"This model's named directions cannot be found: {err}")
        return
    for problem in problems + taught_directions(loaded)[1]:
        st.warning(problem, icon=":material/warning:")
    if named is not None or loaded.model.cloud:
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(
            "**Named directions**: sliders named by what they change (size, slant, a kind "
            "of shape)."
        )
        clicked = st.button("Find named directions", help="takes about a minute")
    if clicked:
        try:
            with st.spinner("Finding and measuring the named directions…"):
                factor_directions(loaded)
        except StudioError as err:
            st.error(f"This model's named directions cannot be found: {err}")
            return
        st.rerun()


def _named_directions(loaded: LoadedModel) -> tuple[list[Direction], list[Direction]]:
    """The factor directions kept for these weights and the taught ones; problems are shown
    by ``find_named``, outside the instrument."""
    try:
        named = kept_factor_directions(loaded)[0] or ()
    except StudioError:
        named = ()
    return list(named), list(taught_directions(loaded)[0])


def _directions(
    key: str, title: str, directions: list[Direction], fold: bool = False
) -> tuple[SliderGroup, SliderAxes]:
    return _group(key, title, direction_axes(directions), fold=fold, columns=2)


def _group(
    key: str,
    title: str,
    axes: SliderAxes,
    *,
    note: str = "",
    fold: bool = False,
    step: float = STEP,
    columns: int = 1,
) -> tuple[SliderGroup, SliderAxes]:
    values = [slider_value(v, step) for v in axes.coords(current_z())]
    group = SliderGroup(key, title, axes.labels, axes.helps, values, note, fold, step, columns)
    return group, axes
