"""The picture and what moves it: the seed row and actions above it, and the studio fragment
(picture, sliders, pad, knobs) that a slider move reruns alone.

A model's own sliders are orthonormal directions that matter (``studio.latent.slider_axes``);
its named ones (``sliders.named_sliders``) follow the factors its data knows. For a model whose
picture is a cloud of codes the sliders move the whole cloud.

What is on screen is always ``render_recipe(recipe)``: the very recipe that goes into the URL,
the PNG and the Gallery, so opening any of them reproduces the image pixel for pixel.
"""

from __future__ import annotations

import base64
import secrets

import numpy as np
import streamlit as st

from studio.errors import StudioError
from studio.gallery import add_favourite
from studio.latent import slider_axes
from studio.models import SliderAxes
from studio.models.base import MAX_SEED
from studio.recipe import Recipe, to_png
from studio.render.loaded import LoadedModel
from studio.render.renderer import Renderer
from studio.ui.app_state import get_renderer
from studio.ui.latent_pad import latent_pad
from studio.ui.pages.explore.knobs import knob_panel, set_knobs
from studio.ui.pages.explore.sliders import axis_sliders, named_sliders, raw_sliders
from studio.ui.pages.explore.state import (
    SEED,
    SHOWN,
    SIZE,
    SPAN,
    STALE,
    add_keyframe,
    current_z,
    recipe_options,
    seed_z,
    set_z,
)

MAX_AXES = 8  # sliders in view; every dimension is under "Raw dimensions"
AXIS = "explore_axis_{}"


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


# ---------------------------------------------------------------- sliders and pad


@st.cache_resource(show_spinner="Finding the directions that matter…", max_entries=32)
def _axes(model_id: str, sha256: str) -> SliderAxes:
    """A model's sliders. ``slider_axes`` keeps them already; this cache is here for its
    spinner, shown on the first (slow) call only, where ``st.spinner`` would add an element to
    every slider move. ``sha256`` is in the key so that new weights get new sliders."""
    return slider_axes(get_renderer().load(model_id), limit=MAX_AXES)


def _pad(axes: SliderAxes) -> None:
    def moved(x: float, y: float) -> None:
        set_z(axes.moved(axes.moved(current_z(), 0, x), 1, y))

    x, y = np.clip(axes.coords(current_z())[:2], -SPAN, SPAN)
    latent_pad(
        float(x),
        float(y),
        x_label=axes.labels[0],
        y_label=axes.labels[1],
        on_move=moved,
        key="explore_pad",
        extent=SPAN,
    )


# ---------------------------------------------------------------- the studio (one fragment)


@st.fragment
def studio_fragment(renderer: Renderer, loaded: LoadedModel) -> None:
    """Picture, sliders and pad: a slider move reruns only this, so it holds little else.

    The picture comes first: a model's sliders may take seconds to find the first time (the
    GAN's PCA), and the image need not wait for them.
    """
    model = loaded.model
    controls, picture = st.columns([9, 11], gap="large")
    with picture:
        try:
            recipe, image = current(renderer, loaded)
        except StudioError as err:  # the checkpoint went away, or a knob the model refuses
            st.error(f"This picture cannot be drawn: {err}")
            return
        png = to_png(image, recipe, compress_level=1)
        st.session_state[SHOWN]["png"] = png
        frame = st.container(key="explore_image", horizontal_alignment="center")
        # A data URI travels inside the rerun's own message: no media file to store and fetch
        # (nor to expire under a fast drag), and the PNG keeps its recipe.
        frame.image(f"data:image/png;base64,{base64.b64encode(png).decode()}", width="content")
    query = recipe.to_query()
    if st.query_params.get("r") != query:
        st.query_params["r"] = query
    with controls:
        try:
            axes = _axes(loaded.card.id, loaded.sha256)
        except StudioError as err:
            st.error(f"This model has no sliders to offer: {err}")
            return
        st.markdown(f"**{axes.kind}**")
        if model.cloud:
            st.caption(
                f"This model draws points, so the picture shows {len(current_z())} samples at "
                "once; the sliders move all their codes together. Which part of the plane does "
                "this part of latent space make?"
            )
        axis_sliders(axes, AXIS)
        if not axes.every_dimension:
            raw_sliders(model.latent_dim)
        if not model.cloud:
            named_sliders(loaded)
    st.session_state.pop(STALE, None)
    with frame:
        if len(axes.labels) >= 2:
            _pad(axes)
    with picture:
        knob_panel(model)
