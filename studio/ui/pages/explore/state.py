"""Explore's session state: the point on screen, the seed it came from, and opening recipes.

The point on screen is one latent vector z in ``st.session_state`` (for a model whose picture
is a cloud of codes, the cloud's rows), and every slider is a view onto it, drawn from z on
every run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import streamlit as st

from studio.checkpoints import find_model
from studio.errors import StudioError
from studio.models import GenerativeModel
from studio.models.base import MAX_SEED
from studio.recipe import Recipe, check_recipe_fits
from studio.render.loaded import LoadedModel
from studio.render.renderer import Renderer
from studio.ui.pages.explore.knobs import WEIGHT_SEED, knob_options, set_knobs
from studio.walks import KEYFRAME_DRAFT, MAX_KEYFRAMES, Walk

DISPLAY_SIZE = 384  # px: what is shown, downloaded and kept
MAX_SHOWN = 1024  # px: an opened recipe larger than this (a poster) is shown at DISPLAY_SIZE
SPAN = 3.0  # sliders run over +-3 standard deviations of the prior
SEGMENT_FRAMES = 12  # a new keyframe's frames to the next: a second at 12 fps

# Session-state keys (the widget keys of the sliders and knobs are patterns, where they are used)
MODEL = "explore_model"
CHOSEN = "explore_chosen"  # MODEL's value, kept while another page runs (a widget's key is not)
Z = "explore_z"
SEED = "explore_seed"
CLASS = "explore_class"  # a conditional model's class, by name
SIZE = "explore_size"
KEYFRAMES = "explore_keyframes"  # [{"id", "z", "seed", "frames" to the next}], in walk order
KEYFRAMES_KEPT = "explore_keyframes_kept"  # KEYFRAMES as the studio folder holds them
PENDING = "explore_pending"  # a Recipe (or a Walk) to open on the next run: Gallery, uploads
NOTICE = "explore_notice"  # a plain-words error to show once
RESULTS = "explore_results"  # the tools' outputs (grid, walk ...) for the current model
# The Latent walk tab's settings that a walk file brings back with its keyframes
WALK_LOOP, WALK_MODE, WALK_EASING = "explore_walk_loop", "explore_walk_mode", "explore_walk_easing"
SHOWN = "explore_shown"  # {"png": the PNG on screen}, for the download button
URL_CHECKED = "explore_url_checked"


# ---------------------------------------------------------------- z and the sliders


def current_z() -> np.ndarray:
    return np.asarray(st.session_state[Z], dtype=np.float64)


def set_z(z: np.ndarray) -> None:
    st.session_state[Z] = z.tolist()


def sync(values: dict[str, Any]) -> None:
    """Set the widget states that differ from ``values``, before the widgets are drawn: a
    state set on every run would undo a click made while a run was in flight."""
    for key, value in values.items():
        if st.session_state.get(key) != value:
            st.session_state[key] = value


def picture_z(model: GenerativeModel, codes: np.ndarray | list[float]) -> np.ndarray:
    """One picture's codes as the page holds them: a cloud's rows, or the one code."""
    rows = np.asarray(codes, dtype=np.float64).reshape(-1, model.latent_dim)
    return rows if model.cloud else rows[0]


def seed_z(model: GenerativeModel, seed: int) -> np.ndarray:
    """The seed's picture, as ``python -m studio render --seed`` draws it."""
    return picture_z(model, model.picture_codes(seed).cpu().numpy())


def fits(z: np.ndarray, model: GenerativeModel) -> bool:
    """z is one picture's codes for this model."""
    return z.ndim == (2 if model.cloud else 1) and z.shape[-1] == model.latent_dim


def add_keyframe(
    z: list[float] | None = None, seed: int | None = None, frames: int = SEGMENT_FRAMES
) -> int:
    """Keep a point (the one on screen by default) as the last keyframe; its number, from 1.
    Each keyframe has an id of its own, which names its widgets, so that they follow it when it
    is moved. ``seed``: where it came from, when known (a note, as in a recipe)."""
    keyframes = st.session_state[KEYFRAMES]
    if len(keyframes) >= MAX_KEYFRAMES:
        raise StudioError(f"a walk has at most {MAX_KEYFRAMES} keyframes")
    if z is None:
        z, seed = current_z().tolist(), st.session_state[SEED]
    kept = {"z": z, "seed": seed, "frames": frames}
    keyframes.append({"id": 1 + max((k["id"] for k in keyframes), default=0), **kept})
    return len(keyframes)


def keep_keyframes(loaded: LoadedModel) -> None:
    """Keep the keyframes in the studio folder where they changed in this run: a closed tab
    loses none of them."""
    keyframes = tuple(dict(key) for key in st.session_state[KEYFRAMES])
    if keyframes == st.session_state.get(KEYFRAMES_KEPT):
        return
    try:
        KEYFRAME_DRAFT.change(loaded, lambda _: keyframes)
    except StudioError as err:
        st.session_state[NOTICE] = f"The keyframes were not kept: {err}"
        return
    st.session_state[KEYFRAMES_KEPT] = keyframes


def recipe_options(model: GenerativeModel) -> dict[str, Any]:
    """The knobs, and the seed z started from: it changes no pixel, but comes back with them."""
    return knob_options(model) | {"seed": st.session_state[SEED]}


# ---------------------------------------------------------------- starting and opening


def start_model(loaded: LoadedModel) -> None:
    """Fresh state for a model: the current seed's z, the model's own knobs, display size, and
    the keyframes of the walk under way, as the studio folder keeps them."""
    st.session_state.setdefault(SEED, 0)
    st.session_state[SIZE] = DISPLAY_SIZE
    kept, problems = KEYFRAME_DRAFT.read(loaded)
    st.session_state[KEYFRAMES] = [dict(key) for key in kept]
    st.session_state[KEYFRAMES_KEPT] = kept
    if problems:
        st.session_state[NOTICE] = f"{problems[0]}; the next keyframe you keep sets them aside"
    st.session_state[RESULTS] = {}
    st.session_state[SHOWN] = {}
    set_knobs(loaded.model)
    set_z(seed_z(loaded.model, st.session_state[SEED]))


def open_recipe(recipe: Recipe | Walk) -> None:
    """Ask Explore to open ``recipe`` on its next run (the Gallery and dropped PNGs do); for a
    walk (a dropped GIF or WebP), its first keyframe, with all of them kept as keyframes."""
    st.session_state[PENDING] = recipe


def _seed_note(recipe: Recipe) -> int | None:
    seed = recipe.options.get("seed")
    return seed if isinstance(seed, int) and 0 <= seed <= MAX_SEED else None


def _keep_walk(walk: Walk) -> None:
    """A walk's keyframes as the page's, in place of those kept before, each with its frames to
    the next, and its settings."""
    st.session_state[KEYFRAMES] = []
    for i, key in enumerate(walk.keyframes):
        frames = walk.frames[i] if i < len(walk.frames) else SEGMENT_FRAMES
        add_keyframe(key.z, _seed_note(key), frames)
    st.session_state.update({WALK_LOOP: walk.loop, WALK_MODE: walk.mode, WALK_EASING: walk.easing})


def _apply_recipe(renderer: Renderer, recipe: Recipe) -> None:
    """Open a recipe that came from outside: its model by id in the studio's folders only, its
    picture shown at its size up to ``MAX_SHOWN`` (larger posters at display size), and only
    once it is known to fit the model and to cost this server a bounded amount of work."""
    find_model(recipe.model)
    loaded = renderer.load(recipe.model)
    shown = dataclasses.replace(
        recipe, size=recipe.size if recipe.size <= MAX_SHOWN else DISPLAY_SIZE
    )
    check_recipe_fits(shown, loaded.model)
    renderer.render_recipe(shown)  # refuses other weights or bad options, in words
    if recipe.options.get(WEIGHT_SEED, 0) > MAX_SEED:
        raise StudioError(f"its weights seed is above {MAX_SEED}, more than this page can hold")
    st.session_state[MODEL] = recipe.model
    seed = _seed_note(recipe)
    if seed is not None:
        st.session_state[SEED] = seed
    start_model(loaded)
    st.session_state[SIZE] = shown.size
    set_knobs(loaded.model, recipe.options)
    set_z(picture_z(loaded.model, recipe.z))


def take_pending(renderer: Renderer) -> None:
    """Open a recipe handed over by another page, or (once a session) the one in the URL."""
    recipe = st.session_state.pop(PENDING, None)
    if recipe is None and not st.session_state.get(URL_CHECKED):
        st.session_state[URL_CHECKED] = True
        query = st.query_params.get("r")
        if query:
            try:
                recipe = Recipe.from_query(query)
            except StudioError as err:
                st.session_state[NOTICE] = f"The link's picture could not be opened: {err}"
    if recipe is not None:
        walk, recipe = (recipe, recipe.keyframes[0]) if isinstance(recipe, Walk) else (None, recipe)
        try:
            _apply_recipe(renderer, recipe)
        except StudioError as err:
            st.session_state[NOTICE] = f"That picture could not be opened: {err}"
            return
        if walk is not None:
            _keep_walk(walk)
