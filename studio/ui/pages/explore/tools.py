"""The tools under the studio: interpolate, sample grid, latent walk (``keyframes``), teach a
slider (``teach``), poster, open a PNG and start from a picture. Which a model gets depends on what it can do: paths
between codes need a picture per code (not a cloud), a poster a model that draws at any size,
and starting from a picture an encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from studio.data.folder import EXTENSIONS, open_image
from studio.errors import StudioError
from studio.imaging import grid
from studio.latent import encode, walk
from studio.models.base import MAX_SEED
from studio.recipe import to_png
from studio.render.loaded import LoadedModel
from studio.render.renderer import Renderer
from studio.ui.pages.explore.keyframes import walk_tool
from studio.ui.pages.explore.knobs import knob_options
from studio.ui.pages.explore.state import (
    KEYFRAMES,
    NOTICE,
    RESULTS,
    SEED,
    current_z,
    open_recipe,
    picture_z,
    recipe_options,
    seed_z,
    set_z,
)
from studio.ui.pages.explore.teach import teach_tool
from studio.walks import recipe_or_walk

POSTER_SIZES = (1024, 2048, 4096)
POSTER_STOP = "explore_poster_stop"
# Keys in RESULTS: the last finished poster, (size, PNG with its recipe), and while one draws,
# (size, share drawn), left behind when it stops
POSTER = "poster"
POSTER_DRAWING = "poster_drawing"


def _render_batch(renderer: Renderer, loaded: LoadedModel, zs: Any, size: int) -> np.ndarray:
    return renderer.render(loaded.card.id, np.asarray(zs), size, knob_options(loaded.model))


# ---------------------------------------------------------------- paths between codes


def _interpolate_tool(renderer: Renderer, loaded: LoadedModel) -> None:
    keyframes = st.session_state[KEYFRAMES]
    st.caption(
        "Keep points with **Keyframe**, then see the way through them in order, along straight "
        "lines (lerp) or great circles (slerp, which keeps z at a typical length). The "
        "**Latent walk** tab reorders them and makes the way an animation."
    )
    mode_col, frames_col, go_col = st.columns([2, 3, 2], vertical_alignment="bottom")
    mode = mode_col.segmented_control(
        "Path", ("slerp", "lerp"), default="slerp", key="explore_interp_mode", required=True
    )
    frames = frames_col.slider("Frames", 3, 24, 8, key="explore_interp_frames")
    if go_col.button("Interpolate", disabled=len(keyframes) < 2, width="stretch"):
        frames = max(frames, len(keyframes))  # every keyframe a frame of its own
        path = walk([key["z"] for key in keyframes], frames, loop=False, mode=mode)
        images = _render_batch(renderer, loaded, path, 128)
        st.session_state[RESULTS]["interp"] = grid(images, columns=min(len(images), 8))
    st.markdown(f"{len(keyframes)} keyframe{'' if len(keyframes) == 1 else 's'} kept")
    if "interp" in st.session_state[RESULTS]:
        st.image(
            st.session_state[RESULTS]["interp"],
            caption="through the keyframes",
            output_format="PNG",
        )


def _grid_tool(renderer: Renderer, loaded: LoadedModel) -> None:
    st.caption("Many seeds at once. Pick the one you like and open it in the studio.")
    seed_col, n_col, go_col = st.columns([2, 2, 2], vertical_alignment="bottom")
    first = seed_col.number_input("First seed", 0, MAX_SEED, step=1, key="explore_grid_seed")
    n = n_col.segmented_control(
        "Samples", (9, 16, 25), default=16, key="explore_grid_n", required=True
    )
    if go_col.button("Draw grid", width="stretch"):
        codes = [seed_z(loaded.model, first + i) for i in range(n)]
        st.session_state[RESULTS]["grid"] = (
            first,
            grid(_render_batch(renderer, loaded, codes, 96)),
        )
    if "grid" not in st.session_state[RESULTS]:
        return
    first, sheet = st.session_state[RESULTS]["grid"]
    st.image(
        sheet,
        caption=f"seeds {first}, {first + 1}, … left to right, top to bottom",
        output_format="PNG",
    )

    def open_seed() -> None:
        st.session_state[SEED] = st.session_state["explore_grid_pick"]
        set_z(seed_z(loaded.model, st.session_state[SEED]))

    pick_col, open_col = st.columns([2, 2], vertical_alignment="bottom")
    pick_col.number_input("Seed to open", 0, MAX_SEED, value=first, step=1, key="explore_grid_pick")
    open_col.button("Open in the studio", on_click=open_seed)


# ---------------------------------------------------------------- posters and pictures


def _render_poster(renderer: Renderer, loaded: LoadedModel, size: int) -> None:
    """Draw a poster under a progress bar with a Stop beside it, and keep it when it finishes.

    Stopping is Streamlit's own interruption: a widget used outside a fragment (Stop, another
    page) asks the running script to rerun, a closed tab asks it to stop, and Streamlit raises
    that request at the script's next call into it, here the bar's update after each pass. The
    exception (a BaseException) unwinds through the renderer, which holds no lock or cache entry
    for a poster, so the draw ends within one pass and the renderer serves on. A flag set by
    Stop's callback could not work: callbacks run only once the running script has ended. A
    slider reruns only the studio fragment, which waits for the poster instead of stopping it.

    The share drawn is written down before each update, so the run that follows can say where
    the poster stopped; the poster finished before, if any, stays.
    """
    results = st.session_state[RESULTS]
    model_id, options = loaded.card.id, recipe_options(loaded.model)
    recipe = renderer.recipe(model_id, current_z(), size, options)
    bar_col, stop_col = st.columns([5, 1], vertical_alignment="center")
    # A wide, deep network takes minutes at 4096 px: the bar moves after each pass.
    bar = bar_col.progress(0.0, text=f"Rendering {size}×{size} in passes…")
    stop = stop_col.empty()
    stop.button("Stop", key=POSTER_STOP, icon=":material/stop:", width="stretch")

    def drawn(share: float) -> None:
        results[POSTER_DRAWING] = (size, share)
        bar.progress(share, text=f"Rendering {size}×{size} in passes: {share:.0%}")

    image = renderer.poster(model_id, current_z(), size, options, progress=drawn)
    results[POSTER] = (size, to_png(image, recipe))
    results.pop(POSTER_DRAWING, None)
    stop.empty()


def _poster_tool(renderer: Renderer, loaded: LoadedModel) -> None:
    st.caption(
        "This model draws at any resolution: the same picture, rendered in tiles, up to "
        "4096 px. The PNG carries its recipe."
    )
    size_col, go_col = st.columns([2, 2], vertical_alignment="bottom")
    size = size_col.segmented_control(
        "Size (px)", POSTER_SIZES, default=2048, key="explore_poster_size", required=True
    )
    go = go_col.button("Render poster", icon=":material/wallpaper:", width="stretch")
    results = st.session_state[RESULTS]
    stopped = results.pop(POSTER_DRAWING, None)
    if go:
        _render_poster(renderer, loaded, size)
    elif stopped:
        stopped_size, share = stopped
        kept = results.get(POSTER)
        st.warning(
            f"Poster stopped at {share:.0%}: the {stopped_size} px render was dropped."
            + (f" The download below is the earlier {kept[0]} px poster." if kept else ""),
            icon=":material/stop_circle:",
        )
    if POSTER in results:
        size, png = results[POSTER]
        st.download_button(
            f"Download the {size}px poster",
            png,
            type="primary",
            file_name=f"{loaded.card.id}-{size}.png",
            mime="image/png",
            icon=":material/download:",
        )


def _open_png_tool() -> None:
    def opened() -> None:
        upload = st.session_state["explore_open_png"]
        if upload is None:
            return
        try:
            open_recipe(recipe_or_walk(upload.getvalue()))
        except StudioError as err:
            st.session_state[NOTICE] = f"{upload.name}: {err}"

    st.caption(
        "Drop a PNG made here (downloaded, or from the Gallery) to get its exact picture, "
        "model and sliders back; or a walk's GIF or WebP to get its keyframes back."
    )
    st.file_uploader(
        "A Latent Studio PNG, GIF or WebP",
        type=["png", "gif", "webp"],
        key="explore_open_png",
        on_change=opened,
    )


def _encode_tool(loaded: LoadedModel) -> None:
    def encoded() -> None:
        upload = st.session_state["explore_encode_upload"]
        if upload is None:
            return
        channels, size, _ = loaded.model.image_shape
        try:
            picture = open_image(upload.name, upload.getvalue(), size=size, channels=channels)
        except StudioError as err:
            st.session_state[NOTICE] = str(err)
            return
        set_z(picture_z(loaded.model, encode(loaded.model, picture[None]).numpy()))
        st.session_state[RESULTS]["encoded"] = picture.permute(1, 2, 0).numpy()

    st.caption(
        "Upload a picture: the encoder finds its code z and the sliders start from there, "
        "the decoder redrawing it in its own style."
    )
    types = sorted(e.lstrip(".") for e in EXTENSIONS)
    st.file_uploader("A picture", type=types, key="explore_encode_upload", on_change=encoded)
    if "encoded" in st.session_state[RESULTS]:
        st.image(
            st.session_state[RESULTS]["encoded"],
            caption="what the encoder saw",
            width=128,
            clamp=True,
        )


# ---------------------------------------------------------------- the tools, as tabs


def tools(renderer: Renderer, loaded: LoadedModel) -> None:
    model = loaded.model
    offered: dict[str, Callable[[], None]] = {}
    if not model.cloud:
        offered["Interpolate"] = lambda: _interpolate_tool(renderer, loaded)
        offered["Sample grid"] = lambda: _grid_tool(renderer, loaded)
        offered["Latent walk"] = lambda: walk_tool(renderer, loaded)
        offered["Teach a slider"] = lambda: teach_tool(renderer, loaded)
    if model.any_size:
        offered["Poster"] = lambda: _poster_tool(renderer, loaded)
    if model.encodes:
        offered["Start from a picture"] = lambda: _encode_tool(loaded)
    offered["Open a PNG"] = _open_png_tool
    # Drawn only when open, and then only the open tab: every element on the page is work for
    # the browser on each slider move, even outside the fragment that reran.
    label = f"More: {' · '.join(offered)}"
    more = st.expander(label, icon=":material/handyman:", key="explore_more", on_change="rerun")
    if not more.open:
        return
    with more:
        tabs = st.tabs(list(offered), key="explore_tool", on_change="rerun")
        for tab, tool in zip(tabs, offered.values(), strict=True):
            if tab.open:
                with tab:
                    try:
                        tool()
                    except StudioError as err:
                        st.error(str(err))
