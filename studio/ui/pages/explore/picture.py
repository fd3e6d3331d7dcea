"""The picture and what moves it: the seed row and actions above it, and the studio fragment
(the instrument: picture, sliders, pad) that a slider move reruns alone.

A model's own sliders are orthonormal directions that matter (``studio.latent.slider_axes``);
its named ones (``sliders.sliders``) follow the factors its data knows. For a model whose
picture is a cloud of codes the sliders move the whole cloud.

What is on screen is always ``render_recipe(recipe)``: the very recipe that goes into the URL,
the PNG and the Gallery, so opening any of them reproduces the image pixel for pixel.
"""

from __future__ import annotations

import base64
import contextlib
import secrets

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from studio.errors import StudioError
from studio.gallery import add_favourite
from studio.latent import axes_at_hand, slider_axes, telling, told_class, told_classes
from studio.models import GenerativeModel
from studio.models.base import MAX_SEED
from studio.recipe import Recipe, to_png
from studio.render.loaded import LoadedModel
from studio.render.renderer import Renderer
from studio.ui.instrument import instrument
from studio.ui.pages.explore.knobs import set_knobs
from studio.ui.pages.explore.sliders import AXES, apply_moves, sliders
from studio.ui.pages.explore.state import (
    CLASS,
    SEED,
    SHOWN,
    SIZE,
    SPAN,
    add_keyframe,
    current_z,
    recipe_options,
    seed_z,
    set_z,
    sync,
)

MAX_AXES = 8  # sliders in view; every dimension is under "Raw dimensions"
MAX_CLASS_BUTTONS = 8  # more classes than this (36 characters) are picked from a list


# ---------------------------------------------------------------- above the picture


def seed_row(loaded: LoadedModel) -> None:
    def reseed() -> None:
        set_z(seed_z(loaded.model, st.session_state[SEED]))

    def surprise() -> None:
        st.session_state[SEED] = secrets.randbelow(1_000_000)
        reseed()

    def reset() -> None:
        set_knobs(loaded.model)
        reseed()

    with st.container(horizontal=True, vertical_alignment="bottom", gap="small"):
        st.number_input(
            "Seed",
            0,
            MAX_SEED,
            step=1,
            key=SEED,
            on_change=reseed,
            width=130,
            help="the same seed always draws the same starting point",
        )
        st.button("Surprise me", icon=":material/casino:", on_click=surprise)
        st.button(
            "Reset",
            icon=":material/restart_alt:",
            on_click=reset,
            help="back to the seed's point (and the model's own knobs)",
        )
        if loaded.model.held_dims:
            class_picker(loaded)


def class_picker(loaded: LoadedModel) -> None:
    """A conditional model's class: the one-hot end of z, picked here by name. It stays as the
    model's own sliders move (they leave it be); a named direction towards a class moves it."""
    classes = told_classes(loaded)

    def pick() -> None:
        chosen = st.session_state[CLASS]
        if chosen is not None:  # clicking the chosen one again leaves the picture as it is
            set_z(telling(loaded, current_z(), chosen))

    sync({CLASS: told_class(classes, current_z())})
    label, hint = classes.title[:1].upper() + classes.title[1:], f"the {classes.title} it draws"
    if len(classes.names) <= MAX_CLASS_BUTTONS:
        st.segmented_control(label, classes.names, key=CLASS, on_change=pick, help=hint)
    else:
        st.selectbox(label, classes.names, key=CLASS, on_change=pick, help=hint, width=110)


def current(renderer: Renderer, loaded: LoadedModel) -> tuple[Recipe, np.ndarray]:
    """The picture on screen and its recipe."""
    options = recipe_options(loaded.model)
    recipe = renderer.recipe(loaded.card.id, current_z(), st.session_state[SIZE], options)
    return recipe, renderer.render_recipe(recipe)


def actions(renderer: Renderer, loaded: LoadedModel) -> None:
    """Download, keep, remember: outside the fragment, so a slider move does not redraw them."""
    shown = st.session_state[SHOWN]  # the fragment puts its latest PNG here
    with st.container(horizontal=True, gap="small"):
        st.download_button(
            "PNG",
            data=lambda: shown["png"],
            file_name=f"{loaded.card.id}.png",
            mime="image/png",
            icon=":material/download:",
            on_click="ignore",
            width="stretch",
            help="the picture at display size; it carries its recipe, as the address bar does",
        )
        if st.button(
            "Keep",
            icon=":material/star:",
            width="stretch",
            help="save it to the Gallery, in your studio folder",
        ):
            recipe, image = current(renderer, loaded)
            add_favourite(image, recipe)
            st.toast("Kept in the Gallery", icon=":material/star:")
        if loaded.model.cloud:  # the paths between keyframes go through single codes
            return
        if st.button(
            "Keyframe",
            icon=":material/add_location_alt:",
            width="stretch",
            help="keep this point as the next keyframe, for interpolations and walks (More)",
        ):
            try:
                st.toast(f"Keyframe {add_keyframe()} kept", icon=":material/add_location_alt:")
            except StudioError as err:  # too many
                st.error(str(err))


# ---------------------------------------------------------------- the studio (one fragment)


@st.fragment
def studio_fragment(renderer: Renderer, loaded: LoadedModel) -> None:
    """The instrument: picture, sliders and pad, one element that a slider move reruns alone.

    The first time a model's weights are opened, finding its sliders takes a second (the GAN's
    PCA): the picture is shown alone meanwhile, in the place the instrument then takes.
    """
    try:
        recipe, image = current(renderer, loaded)
    except StudioError as err:  # the checkpoint went away, or a knob the model refuses
        st.error(f"This picture cannot be drawn: {err}")
        return
    png = to_png(image, recipe, compress_level=1)
    st.session_state[SHOWN]["png"] = png
    # A data URI travels inside the rerun's own message: no media file to store and fetch
    # (nor to expire under a fast drag), and the PNG keeps its recipe.
    picture = f"data:image/png;base64,{base64.b64encode(png).decode()}"
    frame = None if axes_at_hand(loaded, limit=MAX_AXES) else _first_sight(picture, recipe.size)
    try:
        axes = slider_axes(loaded, limit=MAX_AXES)
    except StudioError as err:
        st.error(f"This model has no sliders to offer: {err}")
        return
    found = sliders(loaded, axes, note=_cloud_note(loaded.model))
    with frame or contextlib.nullcontext():
        instrument(
            key="explore_instrument",
            picture=picture,
            width=recipe.size,
            alt=f"{loaded.card.id}, seed {st.session_state[SEED]}: its recipe is in the address bar",
            query=recipe.to_query(),
            groups=[group for group, _ in found.values()],
            pad_group=AXES if len(axes.labels) >= 2 else None,
            span=SPAN,
            on_move=lambda moves: apply_moves(found, moves),
        )


def _first_sight(picture: str, width: int) -> DeltaGenerator:
    """The picture alone, where the instrument will stand, while the model's sliders are found;
    the instrument then takes its place."""
    frame = st.empty()
    with frame.container():
        waiting, shown = st.columns([9, 11], gap="large")
        waiting.caption(":material/hourglass_top: Finding the directions that matter…")
        shown.container(key="explore_first_sight", horizontal_alignment="center").image(
            picture, width=width
        )
    return frame


def _cloud_note(model: GenerativeModel) -> str:
    if not model.cloud:
        return ""
    return (
        f"This model draws points, so the picture shows {len(current_z())} samples at once; "
        "the sliders move all their codes together. Which part of the plane does this part of "
        "latent space make?"
    )
