"""The keyframes a person keeps, and the Latent walk tool that animates them.

Keyframes are points kept with the **Keyframe** button, in walk order: here each can be moved up
or down, dropped or shown again, and has its own frames to the next. A walk goes through them
(or sweeps one slider there and back, from the point on screen) and comes out as a GIF and an
animated WebP that carry every keyframe's recipe. The walk itself is ``studio.walks``, the same
as ``python -m studio walk``; this page only gathers its keyframes and settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from studio.directions import direction_axes, model_directions
from studio.latent import EASINGS
from studio.models import GenerativeModel
from studio.recipe import Recipe
from studio.render.loaded import LoadedModel
from studio.render.renderer import Renderer
from studio.ui.pages.explore.knobs import knob_options
from studio.ui.pages.explore.state import (
    KEYFRAMES,
    RESULTS,
    SEED,
    WALK_EASING,
    WALK_LOOP,
    WALK_MODE,
    add_keyframe,
    current_z,
    recipe_options,
    seed_z,
    set_z,
)
from studio.walks import MAX_SEGMENT_FRAMES, Walk, animation_bytes, render_walk, sweep_keyframes

WALK_SIZES = (128, 256, 384)
THUMB = 48  # px: a keyframe's picture in the list
FRAMES = "explore_keyframe_frames_{}"  # a keyframe's frames to the next, by its id
SWEEP, THROUGH = "Along a slider", "Through the keyframes"
ROW = [1, 3, 3, 4]  # a keyframe's row: picture, name, frames to the next, buttons


def _seed_option(key: dict[str, Any]) -> dict[str, int]:
    """The recipe option that notes a keyframe's seed; none when it is not known (a keyframe
    from a walk file whose recipe did not say)."""
    return {} if key["seed"] is None else {"seed": key["seed"]}


def keyframe_recipes(renderer: Renderer, loaded: LoadedModel, size: int) -> list[Recipe]:
    """The kept keyframes as recipes at ``size``, drawn with the knobs on screen now."""
    knobs = knob_options(loaded.model)
    return [
        renderer.recipe(loaded.card.id, key["z"], size, knobs | _seed_option(key))
        for key in st.session_state[KEYFRAMES]
    ]


# ---------------------------------------------------------------- the list


def _move(index: int, by: int) -> None:
    keyframes = st.session_state[KEYFRAMES]
    keyframes.insert(index + by, keyframes.pop(index))


def _drop(index: int) -> None:
    st.session_state[KEYFRAMES].pop(index)


def _show(key: dict[str, Any]) -> None:
    if key["seed"] is not None:
        st.session_state[SEED] = key["seed"]
    set_z(np.asarray(key["z"]))


def _frames_changed(key: dict[str, Any]) -> None:
    key["frames"] = st.session_state[FRAMES.format(key["id"])]


def _seeds_from_here(model: GenerativeModel) -> None:
    """Four keyframes: the seed on screen and the three after it (a first walk, in one click)."""
    first = st.session_state[SEED]
    for seed in range(first, first + 4):
        st.session_state[SEED] = seed
        set_z(seed_z(model, seed))
        add_keyframe()


def _keyframe_list(renderer: Renderer, loaded: LoadedModel, loop: bool) -> None:
    keyframes = st.session_state[KEYFRAMES]
    if not keyframes:
        return
    zs = np.asarray([key["z"] for key in keyframes])
    thumbs = renderer.render(loaded.card.id, zs, THUMB, knob_options(loaded.model))
    st.columns(ROW)[2].caption("Frames to the next keyframe")
    for i, key in enumerate(keyframes):
        last = i == len(keyframes) - 1
        row = st.columns(ROW, vertical_alignment="center")
        row[0].image(thumbs[i], width=THUMB, clamp=True)
        seed = "" if key["seed"] is None else f" · seed {key['seed']}"
        row[1].markdown(f"**{i + 1}**{seed}")
        frames_key = FRAMES.format(key["id"])
        if not last or loop:
            # Widget states go when their widget is not drawn (another tab): the keyframe
            # holds the count, and the widget starts from it.
            st.session_state[frames_key] = key["frames"]
            row[2].number_input(
                "Frames to the first" if last else "Frames to the next",
                1,
                MAX_SEGMENT_FRAMES,
                key=frames_key,
                on_change=_frames_changed,
                args=(key,),
                label_visibility="collapsed",
                help=f"frames from keyframe {i + 1} to {1 if last else i + 2}",
            )
        buttons = (
            ("arrow_upward", "up", "earlier", i == 0, _move, (i, -1)),
            ("arrow_downward", "down", "later", last, _move, (i, 1)),
            ("visibility", "show", "show it in the studio", False, _show, (key,)),
            ("close", "drop", "drop it", False, _drop, (i,)),
        )
        with row[3].container(horizontal=True, gap="small"):
            for icon, name, help_text, disabled, callback, args in buttons:
                st.button(
                    f":material/{icon}:",
                    key=f"explore_kf_{name}_{key['id']}",
                    help=help_text,
                    disabled=disabled,
                    on_click=callback,
                    args=args,
                )


# ---------------------------------------------------------------- the tool


def _through_keyframes(renderer: Renderer, loaded: LoadedModel) -> dict[str, Any] | None:
    """The settings and list of a walk through the keyframes; None while fewer than two."""
    mode_col, loop_col = st.columns([3, 2], vertical_alignment="bottom")
    # Defaults through the state, not value=: a dropped walk file may have set them already.
    st.session_state.setdefault(WALK_MODE, "slerp")
    mode = mode_col.segmented_control(
        "Path",
        ("slerp", "lerp"),
        key=WALK_MODE,
        required=True,
        help="slerp: along great circles, z keeps a typical length; lerp: straight lines",
    )
    st.session_state.setdefault(WALK_LOOP, True)
    loop = loop_col.toggle("Loop back to the first", key=WALK_LOOP)
    _keyframe_list(renderer, loaded, loop)
    if len(st.session_state[KEYFRAMES]) < 2:
        st.info(
            "Keep two or more points with **Keyframe** above the picture; they are walked "
            "through in the order listed here.",
            icon=":material/add_location_alt:",
        )
        st.button("Four seeds from this one", on_click=_seeds_from_here, args=(loaded.model,))
        return None
    frames = [key["frames"] for key in st.session_state[KEYFRAMES]]
    return {"frames": frames if loop else frames[:-1], "loop": loop, "mode": mode}


def _along_slider(loaded: LoadedModel) -> dict[str, Any]:
    """Any slider of the model's: its own, those named by its data's factors, those taught."""
    axes = direction_axes(model_directions(loaded, find=False).directions, "Sliders")
    axis_col, reach_col, frames_col = st.columns(3, vertical_alignment="bottom")
    index = axis_col.selectbox(
        "Slider",
        range(len(axes.labels)),
        format_func=axes.labels.__getitem__,
        key="explore_sweep_axis",
    )
    reach = reach_col.slider("Reach (±)", 0.5, 3.0, 2.0, 0.25, key="explore_sweep_reach")
    frames = frames_col.slider("Frames", 8, 120, 36, key="explore_sweep_frames")
    return {"axes": axes, "index": index, "reach": reach, "frames": frames}


def walk_tool(renderer: Renderer, loaded: LoadedModel) -> None:
    st.caption(
        "An animation through latent space: through your keyframes in order, or along one "
        "slider and back from the point on screen. The GIF and the WebP carry every "
        "keyframe's recipe (`python -m studio walk --keyframe walk.gif` reads them back)."
    )
    source = st.segmented_control(
        "Walk", (THROUGH, SWEEP), default=THROUGH, key="explore_walk_source", required=True
    )
    plan = _through_keyframes(renderer, loaded) if source == THROUGH else _along_slider(loaded)
    ease_col, fps_col, size_col = st.columns(3, vertical_alignment="bottom")
    easing = ease_col.selectbox(
        "Easing",
        list(EASINGS),
        key=WALK_EASING,
        help="ease-in-out slows down at each keyframe; linear keeps one pace",
    )
    fps = fps_col.slider("Frames per second", 4, 24, 12, key="explore_walk_fps")
    size = size_col.segmented_control(
        "Size (px)", WALK_SIZES, default=256, key="explore_walk_size", required=True
    )
    if st.button("Make walk", icon=":material/animation:", disabled=plan is None, type="primary"):
        if source == THROUGH:
            walk = Walk(keyframe_recipes(renderer, loaded, size), easing=easing, fps=fps, **plan)
        else:
            here = renderer.recipe(loaded.card.id, current_z(), size, recipe_options(loaded.model))
            ends = sweep_keyframes(here, plan["axes"], plan["index"], plan["reach"])
            walk = Walk(ends, plan["frames"], loop=True, mode="lerp", easing=easing, fps=fps)
        text = f"Drawing {walk.frame_count} frames…"
        bar = st.progress(0.0, text=text)
        frames = render_walk(renderer, loaded, walk, progress=lambda done: bar.progress(done, text))
        bar.empty()
        made = {
            suffix: animation_bytes(frames, walk, Path(f"walk{suffix}"))
            for suffix in (".gif", ".webp")
        }
        st.session_state[RESULTS]["walk"] = (walk.frame_count, len(walk.keyframes), made)
    if "walk" in st.session_state[RESULTS]:
        _show_walk(loaded, *st.session_state[RESULTS]["walk"])


def _show_walk(loaded: LoadedModel, frames: int, keyframes: int, made: dict[str, bytes]) -> None:
    st.image(made[".gif"], caption=f"latent walk: {frames} frames through {keyframes} keyframes")
    with st.container(horizontal=True, gap="small"):
        for suffix, name in ((".gif", "GIF"), (".webp", "WebP")):
            st.download_button(
                f"Download {name}",
                made[suffix],
                file_name=f"{loaded.card.id}-walk{suffix}",
                mime=f"image/{suffix[1:]}",
                icon=":material/download:",
                on_click="ignore",
            )
