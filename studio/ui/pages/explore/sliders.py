"""Sliders onto z: the model's own axes, its raw dimensions, and directions with names.

The prior is N(0, I), so a slider's value is z's coordinate along its unit direction, in
standard deviations. Named directions (``studio.directions``) are not orthogonal to each other:
moving one moves the others' readings a little, and they follow on the next run.
"""

from __future__ import annotations

import streamlit as st

from studio.directions import direction_axes, factor_directions, kept_factor_directions
from studio.directions.store import Direction
from studio.directions.taught import taught_directions
from studio.errors import StudioError
from studio.models.base import SliderAxes, unit_axes
from studio.render.loaded import LoadedModel
from studio.ui.pages.explore.state import SPAN, current_z, set_z, slider_value, sync

STEP = 0.05
DIM = "explore_dim_{}"
NAMED = "explore_named_{}"
TAUGHT = "explore_taught_{}"


def axis_sliders(axes: SliderAxes, key: str, columns: int = 1) -> None:
    """One slider per axis, in ``columns`` columns, its state under ``key.format(index)``."""

    def moved(index: int) -> None:
        name = key.format(index)
        set_z(axes.moved(current_z(), index, st.session_state[name]), moved=name)

    coords = axes.coords(current_z())
    sync({key.format(i): slider_value(v, STEP) for i, v in enumerate(coords)})
    places = st.columns(columns) if columns > 1 else [st.container()]
    for i, (label, help_text) in enumerate(zip(axes.labels, axes.helps, strict=True)):
        places[i % columns].slider(
            label,
            -SPAN,
            SPAN,
            step=STEP,
            key=key.format(i),
            help=help_text,
            on_change=moved,
            args=(i,),
        )


def raw_sliders(latent_dim: int) -> None:
    raw = st.expander(f"Raw dimensions ({latent_dim})", key="explore_raw", on_change="rerun")
    if not raw.open:
        return
    dims = unit_axes("Raw dimensions", list(range(latent_dim)), latent_dim, [""] * latent_dim)

    def moved(dim: int) -> None:
        key = DIM.format(dim)
        set_z(dims.moved(current_z(), dim, st.session_state[key]), moved=key)

    with raw:
        sync({DIM.format(j): slider_value(v) for j, v in enumerate(dims.coords(current_z()))})
        columns = st.columns(2)
        for j in range(latent_dim):
            columns[j % 2].slider(
                f"z[{j}]", -SPAN, SPAN, step=0.01, key=DIM.format(j), on_change=moved, args=(j,)
            )


def named_sliders(loaded: LoadedModel) -> None:
    """The directions with names: the data's factors', then those taught (Teach a slider)."""
    _factor_sliders(loaded)
    taught, problems = taught_directions(loaded)
    for problem in problems:
        st.warning(problem, icon=":material/warning:")
    if taught:
        st.markdown("**Taught directions** (from your picks)")
        _direction_sliders(list(taught), TAUGHT)


def _factor_sliders(loaded: LoadedModel) -> None:
    """The directions named by the factors of the model's data, once found: each slider's help
    says how it was found and how cleanly it moves its factor. Finding them takes a minute, so
    it waits for a click on a model whose directions are not kept yet."""
    try:
        directions, problems = kept_factor_directions(loaded)
        for problem in problems:
            st.warning(problem, icon=":material/warning:")
        if directions is None:
            st.markdown("**Named directions**")
            st.caption("Sliders named by what they change (size, slant, a kind of shape).")
            if not st.button("Find named directions", help="takes about a minute"):
                return
            with st.spinner("Finding and measuring the named directions…"):
                directions, _ = factor_directions(loaded)
    except StudioError as err:
        st.error(f"This model's named directions cannot be found: {err}")
        return
    if not directions:
        return
    st.markdown("**Named directions** (from the factors the data knows)")
    _direction_sliders([d for d in directions if not d.group], NAMED.format("{}"))
    groups = list(dict.fromkeys(d.group for d in directions if d.group))
    for index, group in enumerate(groups):  # a kind of shape, a character: drawn when open
        members = [d for d in directions if d.group == group]
        label = f"{group[:1].upper()}{group[1:]} ({len(members)})"
        key = NAMED.format(f"group_{index}")
        box = st.expander(label, key=key, on_change="rerun")
        if box.open:
            with box:
                _direction_sliders(members, f"{key}_{{}}")


def _direction_sliders(directions: list[Direction], key: str) -> None:
    if directions:
        axis_sliders(direction_axes(directions), key, columns=2)
