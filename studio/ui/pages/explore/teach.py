"""The Teach a slider tool: mark pictures of a grid (and kept ones, from the Gallery) as more or
less of something only you can name, fit the direction that tells them apart (``studio.directions.taught``), see the picture
on screen moved along it, and keep it; kept ones join the named sliders and can be deleted here.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from studio.directions.store import Direction
from studio.directions.taught import MIN_PICKS, delete_taught, keep_taught, taught_directions, teach
from studio.errors import StudioError
from studio.gallery import Favourite, list_favourites
from studio.imaging import grid
from studio.models.base import MAX_SEED
from studio.render.loaded import LoadedModel
from studio.render.renderer import Renderer
from studio.ui.pages.explore.knobs import knob_options
from studio.ui.pages.explore.state import NOTICE, RESULTS, current_z, seed_z

SAMPLES = 12
COLUMNS = 4
THUMB = 96  # px
PREVIEW = (-2.0, -1.0, 0.0, 1.0, 2.0)  # moves along the fitted direction, in prior units
MARKS = ("less", "more")
FIRST = "explore_teach_first"
MARK = "explore_teach_mark_{}_{}"  # model id, picture: another model's marks are not these
KEPT_MARK = "explore_teach_kept_{}"  # a Gallery picture's id (it names its model)
NAME = "explore_teach_name"
FITTED = "taught"  # key in RESULTS: (the fitted direction, its preview strip)


def _clear_marks(model_id: str) -> None:
    for i in range(SAMPLES):
        st.session_state.pop(MARK.format(model_id, i), None)
    st.session_state[RESULTS].pop(FITTED, None)


def _samples(renderer: Renderer, loaded: LoadedModel) -> None:
    """The grid: a picture per seed, each with its mark (none: skipped)."""
    first = st.number_input(
        "First seed",
        0,
        MAX_SEED - SAMPLES,
        step=1,
        key=FIRST,
        on_change=_clear_marks,
        args=(loaded.card.id,),
        width=160,
    )
    codes = np.stack([seed_z(loaded.model, first + i) for i in range(SAMPLES)])
    thumbs = renderer.render(loaded.card.id, codes, THUMB, knob_options(loaded.model))
    for i, thumb in enumerate(thumbs):
        if i % COLUMNS == 0:  # a row of columns at a time: Tab goes through the marks in order
            places = st.columns(COLUMNS)
        with places[i % COLUMNS]:
            st.image(thumb, caption=f"seed {first + i}", width=THUMB)
            st.segmented_control(
                f"seed {first + i}",
                MARKS,
                key=MARK.format(loaded.card.id, i),
                label_visibility="collapsed",
            )


def _kept_pictures(loaded: LoadedModel) -> list[Favourite]:
    """The Gallery's pictures of these weights: they can be marked like the grid's."""
    return [
        f
        for f in list_favourites()
        if (f.recipe.model, f.recipe.sha256) == (loaded.card.id, loaded.sha256)
    ]


def _gallery_marks(loaded: LoadedModel) -> None:
    kept = _kept_pictures(loaded)
    if not kept:
        return
    with st.expander(f"From your Gallery ({len(kept)} of this model's pictures)"):
        for i, favourite in enumerate(kept):
            if i % COLUMNS == 0:
                places = st.columns(COLUMNS)
            with places[i % COLUMNS]:
                st.image(favourite.png, caption=favourite.title or favourite.id, width=THUMB)
                st.segmented_control(
                    favourite.id,
                    MARKS,
                    key=KEPT_MARK.format(favourite.id),
                    label_visibility="collapsed",
                )


def _fit(renderer: Renderer, loaded: LoadedModel, name: str) -> None:
    """Fit the marked pictures, and the picture on screen moved along the fitted direction."""
    first = st.session_state[FIRST]
    marked: dict[str, list] = {mark: [] for mark in MARKS}
    for i in range(SAMPLES):
        mark = st.session_state.get(MARK.format(loaded.card.id, i))
        if mark in marked:
            options = knob_options(loaded.model) | {"seed": first + i}
            code = seed_z(loaded.model, first + i)
            marked[mark].append(renderer.recipe(loaded.card.id, code, THUMB, options))
    for favourite in _kept_pictures(loaded):
        mark = st.session_state.get(KEPT_MARK.format(favourite.id))
        if mark in marked:
            marked[mark].append(favourite.recipe)
    with st.spinner("Fitting the direction and measuring it…"):
        direction = teach(loaded, name, marked["more"], marked["less"])
    path = np.stack([current_z() + amount * direction.vector for amount in PREVIEW])
    strip = renderer.render(loaded.card.id, path, THUMB, knob_options(loaded.model))
    st.session_state[RESULTS][FITTED] = (direction, grid(strip, columns=len(PREVIEW)))


def _keep(loaded: LoadedModel, direction: Direction) -> None:
    try:
        keep_taught(loaded, direction)
    except StudioError as err:
        st.session_state[NOTICE] = f"'{direction.name}' was not kept: {err}"
        return
    st.session_state[RESULTS].pop(FITTED, None)
    st.toast(f"'{direction.name}' is with the named sliders", icon=":material/school:")


def _delete(loaded: LoadedModel, name: str) -> None:
    try:
        delete_taught(loaded, name)
    except StudioError as err:
        st.session_state[NOTICE] = f"'{name}' was not deleted: {err}"


def _kept(loaded: LoadedModel) -> None:
    taught, _ = taught_directions(loaded)  # a file's problem is shown by the named sliders
    if not taught:
        return
    st.markdown("**Taught to this model**")
    for direction in taught:
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(f"`{direction.name}`: {direction.help()}")
            st.button(
                "Delete",
                key=f"explore_teach_delete_{direction.name}",
                icon=":material/delete:",
                on_click=_delete,
                args=(loaded, direction.name),
            )


def teach_tool(renderer: Renderer, loaded: LoadedModel) -> None:
    st.caption(
        f"Mark at least {MIN_PICKS} pictures as **more** and {MIN_PICKS} as **less** of "
        "something you can name (the rest are skipped), name it and fit: the studio finds the "
        "direction in z that tells them apart and shows the picture on screen moved along it. "
        "Keep it, and it is a slider of its own, for this model's weights."
    )
    _samples(renderer, loaded)
    _gallery_marks(loaded)
    name_col, fit_col = st.columns([3, 1], vertical_alignment="bottom")
    name = name_col.text_input(
        "Name", max_chars=40, key=NAME, placeholder="a word: big, round, calm…"
    )
    if fit_col.button("Fit", icon=":material/school:", width="stretch"):
        st.session_state[RESULTS].pop(FITTED, None)
        try:
            _fit(renderer, loaded, name)
        except StudioError as err:  # too few marks, a name taken: the marks stay as they are
            st.error(str(err), icon=":material/error:")
    fitted = st.session_state[RESULTS].get(FITTED)
    if fitted:
        direction, strip = fitted
        st.image(
            strip,
            caption=f"the picture on screen moved {PREVIEW[0]:+g} … {PREVIEW[-1]:+g} along "
            f"'{direction.name}'",
            output_format="PNG",
        )
        st.caption(direction.help())
        st.button(
            f"Keep '{direction.name}'",
            type="primary",
            icon=":material/bookmark_add:",
            on_click=_keep,
            args=(loaded, direction),
        )
    _kept(loaded)
