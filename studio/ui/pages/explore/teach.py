"""The Teach a slider tool: mark pictures of a grid (and kept ones, from the Gallery) as more or
less of something only you can name, fit the direction that tells them apart
(``studio.directions.taught``), see the picture on screen moved along it, and keep it; kept ones
join the named sliders and can be deleted here.

The marks are kept in the studio folder as they are made (``studio.directions.marks.MARKS``),
and every widget of the tool shows what is kept there: a closed tab or a restarted studio picks
up where the person was, and two tabs on one model mark the same pictures. ``sync`` sets a widget
only where it shows something else: setting it on every run would undo a click made while that
run was on its way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from studio.directions.marks import MARKS, MAX_NAME, SIDES, Marks
from studio.directions.store import Direction
from studio.directions.taught import MIN_PICKS, delete_taught, keep_taught, taught_directions, teach
from studio.errors import StudioError
from studio.gallery import Favourite, list_favourites
from studio.imaging import grid
from studio.models.base import MAX_SEED
from studio.recipe import Recipe
from studio.render.loaded import LoadedModel
from studio.render.renderer import Renderer
from studio.ui.pages.explore.knobs import knob_options
from studio.ui.pages.explore.state import NOTICE, RESULTS, current_z, seed_z, sync

SAMPLES = 12
COLUMNS = 4
THUMB = 96  # px
PREVIEW = (-2.0, -1.0, 0.0, 1.0, 2.0)  # moves along the fitted direction, in prior units
FIRST = "explore_teach_first_{}"  # model id: each model's grid page, marks and name are its own
MARK = "explore_teach_mark_{}_{}"  # model id, seed
KEPT_MARK = "explore_teach_kept_{}"  # a Gallery picture's id (it names its model)
NAME = "explore_teach_name_{}"  # model id
FITTED = "taught"  # key in RESULTS: (the fitted direction, its preview strip)


def _save(loaded: LoadedModel, change: Callable[[Marks], Marks]) -> None:
    """Keep a change to the marks in the studio folder; the widgets show what is kept."""
    try:
        MARKS.change(loaded, change)
    except StudioError as err:
        st.session_state[NOTICE] = f"That was not kept: {err}"


def _mark(loaded: LoadedModel, key: str, **picture: Any) -> None:
    _save(loaded, lambda marks: marks.marked(st.session_state[key], **picture))


def _samples(renderer: Renderer, loaded: LoadedModel, marks: Marks) -> None:
    """The grid: a picture per seed, each with its mark (none: skipped)."""
    model_id = loaded.card.id
    first_key = FIRST.format(model_id)
    sync({first_key: min(marks.first, MAX_SEED - SAMPLES)})
    first = st.number_input(
        "First seed",
        0,
        MAX_SEED - SAMPLES,
        step=1,
        key=first_key,
        on_change=lambda: _save(
            loaded, lambda m: dataclasses.replace(m, first=st.session_state[first_key])
        ),
        width=160,
    )
    seeds = range(first, first + SAMPLES)
    sync({MARK.format(model_id, seed): marks.seeds.get(seed) for seed in seeds})
    codes = np.stack([seed_z(loaded.model, seed) for seed in seeds])
    thumbs = renderer.render(model_id, codes, THUMB, knob_options(loaded.model))
    for i, (seed, thumb) in enumerate(zip(seeds, thumbs, strict=True)):
        if i % COLUMNS == 0:  # a row of columns at a time: Tab goes through the marks in order
            places = st.columns(COLUMNS)
        with places[i % COLUMNS]:
            st.image(thumb, caption=f"seed {seed}", width=THUMB)
            key = MARK.format(model_id, seed)
            st.segmented_control(
                f"seed {seed}",
                SIDES,
                key=key,
                on_change=_mark,
                args=(loaded, key),
                kwargs={"seed": seed},
                label_visibility="collapsed",
            )


def _kept_pictures(loaded: LoadedModel) -> list[Favourite]:
    """The Gallery's pictures of these weights: they can be marked like the grid's."""
    return [
        f
        for f in list_favourites()
        if (f.recipe.model, f.recipe.sha256) == (loaded.card.id, loaded.sha256)
    ]


def _gallery_marks(kept: list[Favourite], loaded: LoadedModel, marks: Marks) -> None:
    if not kept:
        return
    sync({KEPT_MARK.format(f.id): marks.pictures.get(f.id) for f in kept})
    with st.expander(f"From your Gallery ({len(kept)} of this model's pictures)"):
        for i, favourite in enumerate(kept):
            if i % COLUMNS == 0:
                places = st.columns(COLUMNS)
            with places[i % COLUMNS]:
                st.image(favourite.png, caption=favourite.title or favourite.id, width=THUMB)
                key = KEPT_MARK.format(favourite.id)
                st.segmented_control(
                    favourite.id,
                    SIDES,
                    key=key,
                    on_change=_mark,
                    args=(loaded, key),
                    kwargs={"picture": favourite.id},
                    label_visibility="collapsed",
                )


def _marked(
    renderer: Renderer, loaded: LoadedModel, marks: Marks, kept: list[Favourite]
) -> dict[str, list[Recipe]]:
    """The recipes of the marked pictures, by side: every marked seed, on any page of the
    grid, and the marked pictures still in the Gallery."""
    marked: dict[str, list[Recipe]] = {side: [] for side in SIDES}
    knobs = knob_options(loaded.model)
    for seed, side in sorted(marks.seeds.items()):
        code = seed_z(loaded.model, seed)
        marked[side].append(renderer.recipe(loaded.card.id, code, THUMB, knobs | {"seed": seed}))
    for favourite in kept:
        if favourite.id in marks.pictures:
            marked[marks.pictures[favourite.id]].append(favourite.recipe)
    return marked


def _fit(
    renderer: Renderer, loaded: LoadedModel, name: str, marked: dict[str, list[Recipe]]
) -> None:
    """Fit the marked pictures, and the picture on screen moved along the fitted direction."""
    with st.spinner("Fitting the direction and measuring it…"):
        direction = teach(loaded, name, marked["more"], marked["less"])
    path = np.stack([current_z() + amount * direction.vector for amount in PREVIEW])
    strip = renderer.render(loaded.card.id, path, THUMB, knob_options(loaded.model))
    st.session_state[RESULTS][FITTED] = (direction, grid(strip, columns=len(PREVIEW)))


def _tally(loaded: LoadedModel, marks: Marks, kept: list[Favourite]) -> None:
    """How many pictures are marked, on every page and in the Gallery, and a way to start
    again."""
    present = {favourite.id for favourite in kept}
    sides = [*marks.seeds.values(), *(s for p, s in marks.pictures.items() if p in present)]
    if not sides:
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(
            f"Marked: **{sides.count('more')} more**, **{sides.count('less')} less**, on "
            "every page of the grid and in the Gallery; they are kept in your studio folder "
            "until you keep the slider or clear them."
        )
        st.button(
            "Clear marks",
            icon=":material/ink_eraser:",
            on_click=_save,
            args=(loaded, lambda _: Marks()),
        )


def _keep(loaded: LoadedModel, direction: Direction) -> None:
    try:
        keep_taught(loaded, direction)
    except StudioError as err:
        st.session_state[NOTICE] = f"'{direction.name}' was not kept: {err}"
        return
    st.session_state[RESULTS].pop(FITTED, None)
    _save(loaded, lambda _: Marks())  # a slider kept: its marks have done their work
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
    marks, problems = MARKS.read(loaded)
    for problem in problems:
        st.warning(f"{problem}; your next mark sets that file aside", icon=":material/warning:")
    kept = _kept_pictures(loaded)
    _samples(renderer, loaded, marks)
    _gallery_marks(kept, loaded, marks)
    _tally(loaded, marks, kept)
    name_col, fit_col = st.columns([3, 1], vertical_alignment="bottom")
    name_key = NAME.format(loaded.card.id)
    sync({name_key: marks.name})
    name = name_col.text_input(
        "Name",
        max_chars=MAX_NAME,
        key=name_key,
        on_change=lambda: _save(
            loaded, lambda m: dataclasses.replace(m, name=st.session_state[name_key])
        ),
        placeholder="a word: big, round, calm…",
    )
    if fit_col.button("Fit", icon=":material/school:", width="stretch"):
        st.session_state[RESULTS].pop(FITTED, None)
        try:
            _fit(renderer, loaded, name, _marked(renderer, loaded, marks, kept))
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
