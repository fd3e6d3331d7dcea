"""The Explore and Gallery pages, driven through Streamlit's AppTest on tiny fresh checkpoints.

An image's identity here is its media URL: Streamlit names each image file by a hash of its
bytes, so two equal URLs are two equal PNGs and a changed URL is a changed picture.
"""

from __future__ import annotations

import base64
import dataclasses
import gc
import hashlib
import io
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save
from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.runtime.scriptrunner_utils.script_requests import RerunData
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
from streamlit.testing.v1 import AppTest

from studio import checkpoints, gallery
from studio.checkpoints import ModelCard, save_checkpoint
from studio.directions.marks import MARKS
from studio.directions.store import Cleanliness, Direction, directions_bytes, read_directions
from studio.directions.taught import keep_taught, taught_directions, teach
from studio.drafts import Draft
from studio.latent import axes_at_hand, slider_axes
from studio.models import build_model
from studio.models.mlp import CPPN
from studio.paths import studio_dir
from studio.recipe import Recipe, recipe_from_png, to_png
from studio.render.renderer import Renderer
from studio.ui import app_state, warm_up
from studio.ui.pages.explore.knobs import ART_NOTE
from studio.walks import (
    KEYFRAME_DRAFT,
    Walk,
    animation_bytes,
    keyframe_recipes,
    render_walk,
    walk_from_animation,
)

APP = str(Path(__file__).resolve().parent.parent / "studio" / "ui" / "main.py")
TIMEOUT = 60

TINY = {
    "t-gan": ("dcgan", {"latent_dim": 8, "width": 8}, "glyphs"),
    "t-vae": ("vae", {"latent_dim": 4, "width": 4}, "glyphs"),
    "t-mlp": ("cppn", {"latent_dim": 4, "width": 8, "depth": 2}, "image"),
    "t-ring": ("gan2d", {"width": 16, "depth": 1}, "toy2d"),
    "t-xy-gan": ("gan-coord", {"latent_dim": 4, "width": 8, "mlp_width": 8, "cells": 4}, "glyphs"),
    "t-kinds": ("dcgan-classes", {"latent_dim": 4, "width": 8, "channels": 3}, "shapes"),
}


@pytest.fixture
def zoo(monkeypatch, tmp_path):
    """Three tiny untrained models in the user's folder, and an empty pretrained/."""
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", tmp_path / "no-pretrained")
    for model_id, (arch, config, data) in TINY.items():
        card = ModelCard(
            id=model_id,
            arch=arch,
            family="",
            config={},
            dataset={"name": data, "options": {"n": 64} if data != "image" else {}},
        )
        save_checkpoint(build_model(arch, config), card, studio_dir("models"))
    return list(TINY)


def _app(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query)
    return at.run()


def _instrument(at: AppTest) -> dict:
    """What Explore's instrument was given to show: picture, sliders, address."""
    (instrument,) = at.get("bidi_component")
    return json.loads(json.loads(instrument.proto.json)["json"])


def _image(at: AppTest) -> str:
    """The studio picture's URL, as the instrument shows it."""
    return _instrument(at)["image"]


def _sliders(at: AppTest, group: str = "axes") -> list[dict]:
    """The instrument's sliders in ``group``: label, help and value of each."""
    (found,) = [g for g in _instrument(at)["groups"] if g["key"] == group]
    return found["sliders"]


def _send_moves(at: AppTest, moves: list) -> AppTest:
    """Rerun as the instrument's browser side does on a move: its "move" trigger, with the other
    widgets' values as they are, through the same callback as a real one."""
    (instrument,) = at.get("bidi_component")
    states = at._tree.get_widget_states()
    event = {"event": "move", "value": {"moves": moves, "seq": 1}}
    states.widgets.add(
        id=_make_trigger_id(instrument.proto.id, "events"), json_trigger_value=json.dumps([event])
    )
    return at._run(states)


def _move(at: AppTest, group: str, index: int, value: float) -> AppTest:
    """Move one slider of the instrument."""
    return _send_moves(at, [[group, index, value]])


def _pixels(at: AppTest) -> np.ndarray:
    """The studio image's pixels, decoded from its data URI."""
    data = base64.b64decode(_image(at).split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)))


def _ok(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def _open_tool(at: AppTest, tab: str) -> AppTest:
    """Open the "More" expander on ``tab`` (both draw their content only when open)."""
    at.session_state["explore_more"] = True
    at.session_state["explore_tool"] = tab
    return at.run()


def _recipe(at: AppTest) -> Recipe:
    return Recipe.from_query(_instrument(at)["query"])


def _picture_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (64, 1, 3))).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


# ---------------------------------------------------------------- opening


def test_empty_zoo_shows_how_to_get_a_model(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", tmp_path / "none")
    at = _app()
    _ok(at)
    assert "no models yet" in at.info[0].value
    assert not at.get("bidi_component")


def test_opens_on_a_model_with_an_image_and_its_recipe_in_the_url(zoo):
    at = _app()
    _ok(at)
    assert _image(at)
    recipe = _recipe(at)
    assert recipe.model == at.selectbox(key="explore_model").value
    assert recipe.sha256 == checkpoints.read_card(checkpoints.find_card(recipe.model)).sha256


# ---------------------------------------------------------------- moving through latent space


def test_moving_a_slider_changes_the_image_and_the_url(zoo):
    at = _app()
    before, url_before = _image(at), _instrument(at)["query"]
    _move(at, "axes", 0, 2.5)
    _ok(at)
    assert _image(at) != before
    assert _instrument(at)["query"] != url_before
    assert _sliders(at)[0]["value"] == 2.5
    axes = slider_axes(Renderer().load(_recipe(at).model), limit=8)
    assert axes.coords(np.asarray(_recipe(at).z))[0] == pytest.approx(2.5)


def test_moves_the_browser_garbles_are_dropped_and_a_far_one_stops_at_the_edge(zoo):
    at = _app()
    before = _image(at)
    garbled = [["axes", 99, 1.0], ["nowhere", 0, 1.0], ["axes", 0, "1"], ["axes", True, 1.0], 7]
    _send_moves(at, garbled)
    _ok(at)
    assert _image(at) == before
    _send_moves(at, [*garbled, ["axes", 1, 1e308]])
    _ok(at)
    assert _image(at) != before and _sliders(at)[1]["value"] == 3.0


def test_the_cycle_collector_waits_only_until_the_first_page_has_drawn(zoo, monkeypatch):
    monkeypatch.setattr(app_state, "_startup_frozen", False)
    app_state.freeze_startup_heap.clear()
    try:
        app_state.hold_collector()  # what the app's first lines do
        assert not gc.isenabled()
        _ok(_app())
        assert gc.isenabled()
        app_state.hold_collector()  # every later run
        assert gc.isenabled()
    finally:
        gc.enable()


def test_seed_and_surprise_draw_new_points(zoo):
    at = _app()
    first = _image(at)
    at.number_input(key="explore_seed").set_value(7).run()
    _ok(at)
    seven = _image(at)
    assert seven != first
    next(b for b in at.button if b.label == "Surprise me").click().run()
    _ok(at)
    assert at.number_input(key="explore_seed").value != 7
    assert _image(at) != seven


def test_switching_models_gives_each_family_its_own_sliders(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-vae").run()
    _ok(at)
    assert _recipe(at).model == "t-vae"
    first = _sliders(at)[0]
    assert first["label"] and "KL" in first["help"]

    at.selectbox(key="explore_model").set_value("t-mlp").run()
    _ok(at)
    plain = _image(at)
    at.selectbox(key="explore_knob_activation").set_value("sin").run()
    _ok(at)
    assert _image(at) != plain
    assert _recipe(at).options["activation"] == "sin"


def _explore_or_another_page() -> None:
    import streamlit as st

    from studio.ui.pages import explore

    if st.session_state.get("elsewhere"):
        st.write("another page")  # Explore's widgets are not drawn: Streamlit drops their keys
    else:
        explore.page()


def test_the_chosen_model_and_its_point_are_still_there_after_another_page(zoo):
    at = AppTest.from_function(_explore_or_another_page, default_timeout=TIMEOUT).run()
    at.selectbox(key="explore_model").set_value("t-vae").run()
    _move(at, "axes", 0, 1.5)
    _ok(at)
    picture = _image(at)
    at.session_state["elsewhere"] = True
    at.run()
    assert "explore_model" not in at.session_state  # what a page switch does to a widget's key
    at.session_state["elsewhere"] = False
    at.run()
    _ok(at)
    assert at.selectbox(key="explore_model").value == "t-vae"
    assert _sliders(at)[0]["value"] == 1.5 and _image(at) == picture


# ---------------------------------------------------------------- recipes reproduce images


def test_a_recipe_in_the_url_reproduces_the_same_image(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-mlp").run()
    _move(at, "axes", 1, -1.5)
    at.select_slider(key="explore_knob_scale").set_value(20.0).run()
    image, query = _image(at), _instrument(at)["query"]

    fresh = _app(r=query)
    _ok(fresh)
    assert _image(fresh) == image

    expected = Renderer().render_recipe(Recipe.from_query(query))
    assert np.array_equal(_pixels(fresh), expected.reshape(_pixels(fresh).shape))
    assert _sliders(fresh)[1]["value"] == -1.5
    assert fresh.select_slider(key="explore_knob_scale").value == 20.0


def test_a_dropped_png_reproduces_its_image(zoo):
    at = _app()
    _move(at, "axes", 0, -2.0)
    image, recipe = _image(at), _recipe(at)

    png = to_png(Renderer().render_recipe(recipe), recipe)

    other = _app()
    other.number_input(key="explore_seed").set_value(3).run()
    assert _image(other) != image
    _open_tool(other, "Open a PNG")
    other.file_uploader(key="explore_open_png").upload("kept.png", png, "image/png").run()
    _ok(other)
    assert _image(other) == image


def test_links_to_other_weights_or_unknown_models_say_why(zoo):
    at = _app()
    recipe = _recipe(at)
    recipe.sha256 = "0" * 64
    stale = _app(r=recipe.to_query())
    assert "other weights" in stale.error[0].value
    assert _image(stale)

    recipe.model = "no-such-model"
    assert "no model called" in _app(r=recipe.to_query()).error[0].value
    assert "could not be opened" in _app(r="%%%").error[0].value


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("junk.png", b"not a png at all", "not a readable PNG"),
        ("plain.png", _picture_png(), "no Latent Studio recipe"),
    ],
)
def test_bad_pngs_show_an_error_and_nothing_else_breaks(zoo, name, data, says):
    at = _app()
    image = _image(at)
    _open_tool(at, "Open a PNG")
    at.file_uploader(key="explore_open_png").upload(name, data, "image/png").run()
    assert not at.exception
    assert says in at.error[0].value
    assert _image(at) == image
    _move(at, "axes", 0, 1.0)
    _ok(at)


# ---------------------------------------------------------------- VAE: start from a picture


def test_vae_encodes_an_upload_and_starts_there_and_refuses_junk(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-vae").run()
    before = _image(at)
    _open_tool(at, "Start from a picture")
    at.file_uploader(key="explore_encode_upload").upload("cat.jpg", b"\xff\xd8junk").run()
    assert not at.exception
    assert "not a readable image" in at.error[0].value
    assert _image(at) == before

    at.file_uploader(key="explore_encode_upload").upload("ramp.png", _picture_png()).run()
    _ok(at)
    assert _image(at) != before


# ---------------------------------------------------------------- tools and the gallery


def _keep_keyframes(at: AppTest, *seeds: int) -> AppTest:
    for seed in seeds:
        at.number_input(key="explore_seed").set_value(seed).run()
        next(b for b in at.button if b.label == "Keyframe").click().run()
    return at


def test_three_keyframes_reordered_make_a_walk_that_carries_their_recipes(zoo):
    at = _keep_keyframes(_app(), 1, 5, 9)
    _ok(at)
    assert [k["seed"] for k in at.session_state["explore_keyframes"]] == [1, 5, 9]
    _open_tool(at, "Interpolate")
    next(b for b in at.button if b.label == "Interpolate").click().run()
    _ok(at)
    (strip,) = at.get("image")
    assert strip.captions == ["through the keyframes"]

    _open_tool(at, "Latent walk")
    _ok(at)
    ids = [k["id"] for k in at.session_state["explore_keyframes"]]
    at.button(key=f"explore_kf_up_{ids[2]}").click().run()  # 1, 9, 5
    at.button(key=f"explore_kf_drop_{ids[0]}").click().run()  # 9, 5
    at.number_input(key="explore_seed").set_value(2).run()
    next(b for b in at.button if b.label == "Keyframe").click().run()  # 9, 5, 2
    ids = [k["id"] for k in at.session_state["explore_keyframes"]]
    at.number_input(key=f"explore_keyframe_frames_{ids[0]}").set_value(3).run()
    at.selectbox(key="explore_walk_easing").set_value("ease-in-out").run()
    at.segmented_control(key="explore_walk_size").set_value(128).run()
    next(b for b in at.button if b.label == "Make walk").click().run()
    _ok(at)
    assert at.get("image")[-1].value[0].endswith(".gif")
    assert [b.label for b in at.get("download_button")][-2:] == ["Download GIF", "Download WebP"]
    frames, keyframes, made = at.session_state["explore_results"]["walk"]
    assert (frames, keyframes) == (3 + 12 + 12, 3)
    for data in made.values():
        walk = walk_from_animation(data)
        assert [k.options["seed"] for k in walk.keyframes] == [9, 5, 2]
        assert walk.frames == [3, 12, 12] and walk.loop and walk.easing == "ease-in-out"
        assert walk.size == 128 and walk.model == at.selectbox(key="explore_model").value


def test_keyframes_outlive_the_tab_and_an_opened_walk_takes_their_place(zoo):
    at = _keep_keyframes(_app(), 1, 5, 9)
    _open_tool(at, "Latent walk")
    ids = [k["id"] for k in at.session_state["explore_keyframes"]]
    at.button(key=f"explore_kf_up_{ids[2]}").click().run()  # 1, 9, 5
    at.number_input(key=f"explore_keyframe_frames_{ids[0]}").set_value(4).run()
    _ok(at)
    kept = at.session_state["explore_keyframes"]

    again = _app()  # the tab was closed; a new one opens the same model
    _ok(again)
    assert again.session_state["explore_keyframes"] == kept
    assert [(k["seed"], k["frames"]) for k in kept] == [(1, 4), (9, 12), (5, 12)]
    again.selectbox(key="explore_model").set_value("t-vae").run()
    assert again.session_state["explore_keyframes"] == []  # t-gan's stay t-gan's
    again.selectbox(key="explore_model").set_value("t-gan").run()
    assert again.session_state["explore_keyframes"] == kept

    renderer = Renderer(cache_mb=0)
    loaded = renderer.load("t-gan")
    walk = Walk(keyframe_recipes(renderer, loaded, [2, 3], 64), [6], loop=False)
    _open_tool(again, "Open a PNG")
    upload = again.file_uploader(key="explore_open_png")
    upload.upload(
        "walk.gif", animation_bytes(render_walk(renderer, loaded, walk), walk, Path("walk.gif"))
    ).run()
    _ok(again)
    assert [k["seed"] for k in again.session_state["explore_keyframes"]] == [2, 3]
    assert [k["seed"] for k in _app().session_state["explore_keyframes"]] == [2, 3]


def _unreadable_draft(draft: Draft, text: str) -> Path:
    """t-gan's draft file of that kind, holding ``text``."""
    path = draft.path(Renderer(cache_mb=0).load("t-gan"))
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_keyframes_that_cannot_be_read_are_named_and_set_aside_by_the_next_one(zoo):
    path = _unreadable_draft(KEYFRAME_DRAFT, '[{"id": 1, "z": [1e999], "seed": 0, "frames": 12}]')
    at = _app()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "your keyframes for t-gan cannot be used: a keyframe's z is not 8 finite numbers; the "
        "next keyframe you keep sets them aside"
    ]
    _keep_keyframes(at, 4)
    _ok(at)
    assert [k["seed"] for k in KEYFRAME_DRAFT.read(Renderer().load("t-gan"))[0]] == [4]
    assert "1e999" in path.with_name(path.name + ".unreadable").read_text()


def test_a_dropped_walk_file_brings_its_keyframes_back(zoo, tmp_path):
    renderer = Renderer(cache_mb=0)
    loaded = renderer.load("t-gan")
    keys = keyframe_recipes(renderer, loaded, [1, 5, 9], 64)
    walk = Walk(keys, [7, 3], loop=False, mode="lerp", easing="ease-in")
    frames = render_walk(renderer, loaded, walk)
    at = _app()
    at.selectbox(key="explore_model").set_value("t-vae").run()
    _open_tool(at, "Open a PNG")
    upload = at.file_uploader(key="explore_open_png")
    upload.upload("walk.webp", animation_bytes(frames, walk, Path("walk.webp"))).run()
    _ok(at)
    assert at.selectbox(key="explore_model").value == "t-gan"
    assert _recipe(at).z == keys[0].z
    kept = at.session_state["explore_keyframes"]
    assert [(k["seed"], k["z"]) for k in kept] == [(k.options["seed"], k.z) for k in keys]
    assert [k["frames"] for k in kept][:2] == [7, 3]

    # Twice: AppTest sets no tab in the run just after the tabs changed with the model.
    _open_tool(_open_tool(at, "Latent walk"), "Latent walk")
    _ok(at)
    assert at.toggle(key="explore_walk_loop").value is False
    assert at.segmented_control(key="explore_walk_mode").value == "lerp"
    next(b for b in at.button if b.label == "Make walk").click().run()
    _ok(at)
    again = walk_from_animation(at.session_state["explore_results"]["walk"][2][".gif"])
    assert again.frames == [7, 3] and again.easing == "ease-in" and not again.loop
    assert [k.z for k in again.keyframes] == [k.z for k in keys]

    _open_tool(at, "Open a PNG")
    at.file_uploader(key="explore_open_png").upload("notes.gif", b"GIF89a, or not").run()
    assert not at.exception
    assert "not a readable" in at.error[0].value


def test_a_walk_goes_along_a_taught_slider_as_along_any_other(zoo):
    renderer = Renderer(cache_mb=0)
    loaded = renderer.load("t-gan")
    picks = [renderer.recipe("t-gan", loaded.model.picture_codes(s), 64, {}) for s in range(6)]
    keep_taught(loaded, teach(loaded, "calm", picks[:3], picks[3:]))
    at = _app()
    _open_tool(at, "Latent walk")
    at.segmented_control(key="explore_walk_source").set_value("Along a slider").run()
    axis = at.selectbox(key="explore_sweep_axis")
    assert axis.options[-1] == "calm"  # after the model's own sliders
    axis.set_value(len(axis.options) - 1).run()
    at.slider(key="explore_sweep_reach").set_value(1.5).run()
    next(b for b in at.button if b.label == "Make walk").click().run()
    _ok(at)
    walk = walk_from_animation(at.session_state["explore_results"]["walk"][2][".gif"])
    (calm,) = taught_directions(loaded)[0]
    ends = [np.asarray(k.z) @ calm.vector for k in walk.keyframes]
    np.testing.assert_allclose(ends, [-1.5, 1.5], atol=1e-4)


def test_a_walk_along_a_slider_and_walks_refused_in_words(zoo):
    at = _app()
    _open_tool(at, "Latent walk")
    assert next(b for b in at.button if b.label == "Make walk").disabled  # no keyframes yet
    at.segmented_control(key="explore_walk_source").set_value("Along a slider").run()
    at.slider(key="explore_sweep_frames").set_value(10).run()
    next(b for b in at.button if b.label == "Make walk").click().run()
    _ok(at)
    made = at.session_state["explore_results"]["walk"]
    walk = walk_from_animation(made[2][".webp"])
    assert walk.mode == "lerp" and walk.loop and walk.frame_count == 10

    at.segmented_control(key="explore_walk_source").set_value("Through the keyframes").run()
    next(b for b in at.button if b.label == "Four seeds from this one").click().run()
    assert len(at.session_state["explore_keyframes"]) == 4
    for key in at.session_state["explore_keyframes"]:
        at.number_input(key=f"explore_keyframe_frames_{key['id']}").set_value(240).run()
    at.segmented_control(key="explore_walk_size").set_value(384).run()
    next(b for b in at.button if b.label == "Make walk").click().run()
    assert not at.exception
    assert "million pixels" in at.error[0].value
    assert at.session_state["explore_results"]["walk"] == made  # the last walk is still there


def _gallery_first() -> None:
    import streamlit as st

    from studio.ui.pages import explore, gallery

    st.navigation(
        [
            st.Page(gallery.page, url_path="gallery", default=True),
            st.Page(explore.page, url_path=explore.URL_PATH),
        ]
    ).run()


def test_keep_then_open_from_the_gallery(zoo):
    at = _app()
    _move(at, "axes", 0, 1.5)
    kept_image = _image(at)
    next(b for b in at.button if b.label == "Keep").click().run()
    _ok(at)
    (favourite,) = gallery.list_favourites()
    assert favourite.recipe == _recipe(at)

    shelf = AppTest.from_function(_gallery_first, default_timeout=TIMEOUT).run()
    _ok(shelf)
    shelf.button(key=f"gallery_open_{favourite.id}").click().run()
    _ok(shelf)
    assert _image(shelf) == kept_image

    shelf = AppTest.from_function(_gallery_first, default_timeout=TIMEOUT).run()
    shelf.button(key=f"gallery_remove_{favourite.id}").click().run()
    _ok(shelf)
    assert gallery.list_favourites() == []
    assert "Nothing kept yet" in shelf.info[0].value


def test_the_model_card_opens_with_what_the_model_was_trained_on(zoo):
    at = _app()
    at.session_state["explore_card"] = True
    at.run()
    _ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Trained on **glyphs**" in text
    sha = checkpoints.read_card(checkpoints.find_card("t-gan")).sha256
    assert any(sha[:16] in c.value for c in at.caption)


def test_a_point_gan_shows_a_cloud_that_the_sliders_move(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-ring").run()
    _ok(at)
    cloud = _recipe(at)
    assert len(cloud.z) == 2 * 256  # 256 codes of 2 numbers, one picture
    before = _image(at)
    _move(at, "axes", 0, 2.0)
    _ok(at)
    assert _image(at) != before
    moved = np.asarray(_recipe(at).z).reshape(-1, 2)
    shift = moved - np.asarray(cloud.z).reshape(-1, 2)
    assert np.allclose(shift, shift[0], atol=1e-5)  # every code moved by the same step


def _keep_directions(model_id: str, data: bytes | None = None) -> None:
    """Kept named directions for a zoo model ('weight' and 'slant', and 'char-A' of the group
    'character', measured), or ``data``."""
    loaded = Renderer().load(model_id)
    vectors = np.linalg.qr(np.random.default_rng(1).normal(size=(loaded.model.latent_dim, 3)))[0]
    clean = Cleanliness(0.95, 0.1, "class", 200, 2.0)
    found = tuple(
        Direction(name, "factor", v.astype(np.float32).astype(float), f"{name}: a test fit", clean)
        for name, v in zip(("weight", "slant"), vectors.T, strict=False)
    ) + (
        Direction(
            "char-A",
            "factor",
            vectors[:, 2].astype(np.float32).astype(float),
            "A",
            clean,
            "character",
        ),
    )
    path = studio_dir("cache") / "directions" / f"{loaded.sha256}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(directions_bytes(found, loaded.sha256) if data is None else data)


def test_named_sliders_show_how_they_were_found_and_move_the_picture(zoo):
    _keep_directions("t-gan")
    at = _app()
    at.selectbox(key="explore_model").set_value("t-gan").run()
    _ok(at)
    weight, slant = _sliders(at, "named")
    assert weight["label"] == "weight" and "a test fit" in weight["help"]
    assert "clean: ρ 0.95" in weight["help"] and slant["label"] == "slant"
    (characters,) = [g for g in _instrument(at)["groups"] if g["key"] == "named-0"]
    assert characters["title"] == "Character (1)" and characters["fold"]
    assert [s["label"] for s in characters["sliders"]] == ["char-A"]
    at.session_state["explore_card"] = True
    at.run()
    assert any("3 of 3 clean" in m.value for m in at.markdown)  # the model card's table
    before, z_before = _image(at), np.asarray(_recipe(at).z)
    _move(at, "named", 0, 2.5)
    _ok(at)
    assert _image(at) != before
    direction = np.asarray(read_directions_of(at, "t-gan")[0].vector)
    np.testing.assert_allclose(np.asarray(_recipe(at).z) @ direction, 2.5, atol=1e-4)
    assert np.linalg.norm(np.asarray(_recipe(at).z) - z_before) > 0.1


def read_directions_of(at: AppTest, model_id: str) -> tuple:
    loaded = Renderer().load(model_id)
    path = studio_dir("cache") / "directions" / f"{loaded.sha256}.safetensors"
    return read_directions(path, loaded.model.latent_dim, loaded.sha256)


def test_a_bad_directions_file_is_named_and_the_rest_of_the_page_works(zoo):
    _keep_directions("t-vae", b"<html>not directions</html>")
    at = _app()
    at.selectbox(key="explore_model").set_value("t-vae").run()
    assert not at.exception
    assert any("cannot be read" in w.value for w in at.warning)
    assert any(b.label == "Find named directions" for b in at.button)
    before = _image(at)
    _move(at, "axes", 0, 2.0)
    assert not at.exception and _image(at) != before


def _click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def _mark(at: AppTest, key: str, side: str | None) -> AppTest:
    """Mark a picture as a person does, through its widget (its callback keeps the mark)."""
    return at.button_group(key=key).set_value(side).run()


def _marks_shown(at: AppTest, model_id: str) -> dict[int, str]:
    prefix = f"explore_teach_mark_{model_id}_"
    return {
        int(g.key.removeprefix(prefix)): g.value
        for g in at.get("button_group")
        if (g.key or "").startswith(prefix) and g.value
    }


def test_teaching_a_slider_fits_previews_keeps_moves_and_deletes_it(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-gan").run()
    _open_tool(at, "Teach a slider")
    _ok(at)
    for i, mark in enumerate(("more", "more", "more", "less", "less")):
        _mark(at, f"explore_teach_mark_t-gan_{i}", mark)
    at.text_input(key="explore_teach_name_t-gan").set_value("big").run()
    _click(at, "Fit")
    assert not at.exception
    assert [e.value for e in at.error] == ["mark at least 3 pictures as 'less' (2 so far)"]
    assert at.button_group(key="explore_teach_mark_t-gan_0").value == "more"  # the marks stay
    _mark(at, "explore_teach_mark_t-gan_7", "less")
    _click(at, "Fit")
    _ok(at)
    direction, strip = at.session_state["explore_results"]["taught"]
    assert direction.name == "big" and direction.kind == "taught"
    assert strip.shape[1] > 4 * strip.shape[0]  # a strip of five pictures
    assert "taught" not in [g["key"] for g in _instrument(at)["groups"]]  # not kept yet
    _click(at, "Keep 'big'")
    _ok(at)
    assert _marks_shown(at, "t-gan") == {}  # a kept slider's marks have done their work
    assert at.text_input(key="explore_teach_name_t-gan").value == ""
    (slider,) = _sliders(at, "taught")
    assert slider["label"] == "big" and "taught from 3 'more' and 3 'less'" in slider["help"]
    before = _image(at)
    _move(at, "taught", 0, 2.0)
    _ok(at)
    assert _image(at) != before
    np.testing.assert_allclose(np.asarray(_recipe(at).z) @ direction.vector, 2.0, atol=1e-4)
    for i, mark in enumerate(("more", "more", "more", "less", "less", "less")):
        _mark(at, f"explore_teach_mark_t-gan_{i}", mark)
    at.text_input(key="explore_teach_name_t-gan").set_value("PC1").run()
    _click(at, "Fit")
    assert any("one of this model's own directions" in e.value for e in at.error)
    _click(at, "Delete")
    _ok(at)
    assert "taught" not in [g["key"] for g in _instrument(at)["groups"]]
    assert not any(b.label == "Delete" for b in at.button)
    at.selectbox(key="explore_model").set_value("t-vae").run()
    _open_tool(at, "Teach a slider")
    _ok(at)
    assert _marks_shown(at, "t-vae") == {}  # t-gan's marks stay t-gan's


def test_marks_outlive_the_tab_and_every_page_of_the_grid_counts(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-gan").run()
    _open_tool(at, "Teach a slider")
    for i, mark in enumerate(("more", "more", "less", "less")):
        _mark(at, f"explore_teach_mark_t-gan_{i}", mark)
    at.number_input(key="explore_teach_first_t-gan").set_value(40).run()  # the next page
    assert _marks_shown(at, "t-gan") == {}
    _mark(at, "explore_teach_mark_t-gan_41", "more")
    _mark(at, "explore_teach_mark_t-gan_45", "less")
    at.text_input(key="explore_teach_name_t-gan").set_value("round").run()
    _ok(at)
    assert any("**3 more**, **3 less**" in c.value for c in at.caption)

    again = _app()  # the tab was closed; a new one opens the same model
    again.selectbox(key="explore_model").set_value("t-gan").run()
    _open_tool(again, "Teach a slider")
    _ok(again)
    assert again.number_input(key="explore_teach_first_t-gan").value == 40
    assert _marks_shown(again, "t-gan") == {41: "more", 45: "less"}
    assert again.text_input(key="explore_teach_name_t-gan").value == "round"
    _mark(again, "explore_teach_mark_t-gan_41", None)  # unmarked
    _mark(again, "explore_teach_mark_t-gan_42", "more")
    _click(again, "Fit")
    _ok(again)
    direction, _ = again.session_state["explore_results"]["taught"]
    assert direction.found.startswith("taught from 3 'more' and 3 'less' pictures")
    _click(again, "Clear marks")
    _ok(again)
    assert _marks_shown(again, "t-gan") == {}
    assert not any(b.label == "Clear marks" for b in again.button)


def test_marks_that_cannot_be_read_are_named_and_set_aside_by_the_next_mark(zoo):
    path = _unreadable_draft(MARKS, '{"version": 1, "seeds": {"3": "<b>more</b>"}}')
    at = _app()
    at.selectbox(key="explore_model").set_value("t-gan").run()
    _open_tool(at, "Teach a slider")
    assert not at.exception
    (warning,) = [w.value for w in at.warning if "marks" in w.value]
    assert "a picture is marked other than less or more" in warning
    _mark(at, "explore_teach_mark_t-gan_2", "more")
    _ok(at)
    assert _marks_shown(at, "t-gan") == {2: "more"}
    assert "<b>" in path.with_name(path.name + ".unreadable").read_text()


def test_pictures_kept_in_the_gallery_can_be_marked_for_a_slider(zoo):
    renderer = Renderer(cache_mb=0)
    loaded = renderer.load("t-gan")
    kept = []
    for seed in range(6):
        z = loaded.model.picture_codes(seed).numpy()
        recipe = renderer.recipe("t-gan", z, 64, {"seed": seed})
        kept.append(gallery.add_favourite(renderer.render_recipe(recipe), recipe).id)
    other = renderer.recipe("t-vae", np.zeros(4), 64, {})
    gallery.add_favourite(renderer.render_recipe(other), other)  # another model's: not offered
    at = _app()
    at.selectbox(key="explore_model").set_value("t-gan").run()
    _open_tool(at, "Teach a slider")
    _ok(at)
    offered = [c.key for c in at.get("button_group") if "explore_teach_kept_" in (c.key or "")]
    assert sorted(offered) == sorted(f"explore_teach_kept_{i}" for i in kept)
    for fav_id, mark in zip(kept, ("more", "more", "more", "less", "less", "less"), strict=True):
        _mark(at, f"explore_teach_kept_{fav_id}", mark)
    at.text_input(key="explore_teach_name_t-gan").set_value("kept").run()
    _click(at, "Fit")
    _ok(at)
    direction, _ = at.session_state["explore_results"]["taught"]
    assert direction.found.startswith("taught from 3 'more' and 3 'less' pictures")


@pytest.mark.parametrize("model_id", ["t-mlp", "t-xy-gan"])
def test_a_model_that_draws_at_any_size_renders_a_poster_that_carries_its_recipe(zoo, model_id):
    at = _app()
    at.selectbox(key="explore_model").set_value(model_id).run()
    _open_tool(at, "Poster")
    at.session_state["explore_poster_size"] = 1024
    next(b for b in at.button if b.label == "Render poster").click().run()
    _ok(at)
    size, png = at.session_state["explore_results"]["poster"]
    assert size == 1024
    assert Image.open(io.BytesIO(png)).size == (1024, 1024)
    recipe = recipe_from_png(png)
    assert (recipe.model, recipe.size, recipe.z) == (model_id, 1024, _recipe(at).z)


def test_a_coordinate_gan_is_drawn_at_the_panels_size_and_its_sliders_move_it(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-xy-gan").run()
    _ok(at)
    shown = _pixels(at)
    recipe = _recipe(at)
    assert shown.shape[:2] == (recipe.size, recipe.size) == (384, 384)
    drawn = Renderer().render_recipe(recipe)  # natively at 384: nothing scaled up
    assert np.array_equal(shown.reshape(drawn.shape), drawn)
    _move(at, "axes", 0, 2.5)
    moved = _pixels(at)
    assert not np.array_equal(moved, shown)
    at.slider(key="explore_knob_antialias").set_value(3).run()
    assert _recipe(at).options["antialias"] == 3
    assert not np.array_equal(_pixels(at), moved)


def test_a_conditional_gan_draws_the_kind_picked_and_its_sliders_keep_it(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-kinds").run()
    _ok(at)
    picker = at.segmented_control(key="explore_class")
    assert picker.label == "Kind of shape" and picker.options == [
        "circle",
        "square",
        "triangle",
        "star",
        "heart",
    ]
    seeded = _recipe(at).z
    assert picker.value == picker.options[int(np.argmax(seeded[4:]))]
    other = next(kind for kind in picker.options if kind != picker.value)
    before = _image(at)
    picker.set_value(other).run()
    _ok(at)
    z = _recipe(at).z
    assert z[:4] == seeded[:4] and z[4:] == list(np.eye(5)[picker.options.index(other)])
    assert _image(at) != before
    _move(at, "axes", 0, 2.0)
    moved = _recipe(at).z
    assert moved[:4] != z[:4] and moved[4:] == z[4:]  # the sliders move the noise alone
    assert at.segmented_control(key="explore_class").value == other


def test_a_damaged_checkpoint_says_why_and_the_others_still_open(zoo, studio_home):
    at = _app()
    checkpoints.weights_path(studio_home / "models" / "t-gan.json").write_bytes(b"not the weights")
    at.run()
    assert not at.exception
    assert "cannot be opened" in at.error[0].value
    at.selectbox(key="explore_model").set_value("t-vae").run()
    _ok(at)
    assert _recipe(at).model == "t-vae"


def test_a_link_may_bring_any_knob_value_the_model_accepts(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-mlp").run()
    recipe = _recipe(at)
    recipe.options |= {"scale": 60.0, "width": 48, "weight_seed": 7}
    linked = _app(r=recipe.to_query())
    _ok(linked)
    assert linked.select_slider(key="explore_knob_scale").value == 60.0
    assert _recipe(linked).options == recipe.options


# ---------------------------------------------------------------- what each model offers


def test_explore_asks_models_what_they_can_do_not_which_family_they_are():
    from studio.ui.pages import explore

    switch = re.compile(r"(family|output|arch) ?(==|!=)")
    for path in Path(explore.__file__).parent.glob("*.py"):
        assert not switch.search(path.read_text(encoding="utf-8")), path


PATHS = ["Interpolate", "Sample grid", "Latent walk", "Teach a slider"]  # a picture per code


@pytest.mark.parametrize(
    ("model_id", "tools"),
    [
        ("t-gan", [*PATHS, "Open a PNG"]),
        ("t-vae", [*PATHS, "Start from a picture", "Open a PNG"]),
        ("t-mlp", [*PATHS, "Poster", "Open a PNG"]),
        ("t-ring", ["Open a PNG"]),
    ],
)
def test_each_model_is_offered_the_tools_it_can_use(zoo, model_id, tools):
    at = _app()
    at.selectbox(key="explore_model").set_value(model_id).run()
    _open_tool(at, "Open a PNG")
    _ok(at)
    assert [tab.label for tab in at.tabs] == tools
    kept = [b.label for b in at.button if b.label == "Keyframe"]
    assert kept == ([] if model_id == "t-ring" else ["Keyframe"])
    knobs = [knob.key for knob in at.select_slider]
    assert ("explore_knob_scale" in knobs) == (model_id == "t-mlp")


def test_the_knobs_offer_the_ranges_the_config_accepts(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-mlp").run()
    _ok(at)
    options = {f.name: f.metadata for f in dataclasses.fields(CPPN.Config)}
    for name in (*CPPN.DRAW_KNOBS, *CPPN.ART_KNOBS):
        meta, key = options[name], f"explore_knob_{name}"
        if meta["choices"]:
            names = meta["names"] or {}
            shown = [names.get(c, str(c)) for c in meta["choices"]]
            assert at.selectbox(key=key).options == shown
        elif meta["log"]:
            steps = [float(v) for v in at.select_slider(key=key).options]
            assert (min(steps), max(steps)) == (meta["low"], meta["high"])
        else:
            slider = at.slider(key=key)
            assert (slider.min, slider.max, slider.step) == (
                meta["low"],
                meta["high"],
                meta["step"],
            )
        art = name in CPPN.ART_KNOBS
        assert at.get_by_key(key).help.endswith(ART_NOTE) == art
    assert at.slider(key="explore_knob_depth").max == 16
    assert at.slider(key="explore_knob_init_std").max == 10.0


def test_reset_brings_back_the_models_own_knobs_and_weights(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-mlp").run()
    plain = _image(at)
    at.slider(key="explore_knob_depth").set_value(5).run()
    at.number_input(key="explore_knob_weight_seed").set_value(3).run()
    _ok(at)
    assert _image(at) != plain
    assert _recipe(at).options == {"depth": 5, "weight_seed": 3, "seed": 0}
    next(b for b in at.button if b.label == "Reset").click().run()
    _ok(at)
    assert at.slider(key="explore_knob_depth").value == TINY["t-mlp"][1]["depth"]
    assert at.number_input(key="explore_knob_weight_seed").value is None
    assert _image(at) == plain
    assert _recipe(at).options == {"seed": 0}


def test_a_link_may_write_a_fractional_knob_as_a_whole_number(zoo):
    at = _app()
    at.selectbox(key="explore_model").set_value("t-mlp").run()
    recipe = _recipe(at)
    recipe.options |= {"scale": 60, "channels": 1}
    linked = _app(r=recipe.to_query())
    _ok(linked)
    scale = linked.select_slider(key="explore_knob_scale").value
    assert scale == 60.0 and isinstance(scale, float)
    assert linked.selectbox(key="explore_knob_channels").value == 1
    assert _pixels(linked).ndim == 2  # grey: one channel


# ---------------------------------------------------------------- hostile input (issue 16)


DEEP = "[" * 5000 + "]" * 5000  # fits in a link


def _link(text: str) -> str:
    """A recipe link made by hand, holding what ``Recipe.to_query`` would never write."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _recipe_text(model_id: str, **changes) -> str:
    sha = checkpoints.read_card(checkpoints.find_card(model_id)).sha256
    z = [0.0] * {"t-gan": 8, "t-mlp": 4, "t-ring": 2 * 256}[model_id]
    fields = {"model": model_id, "sha256": sha, "z": z, "size": 64, "options": {}}
    return json.dumps(fields | changes)


def test_a_deeply_nested_card_in_the_models_folder_hides_only_itself(zoo, studio_home):
    (studio_home / "models" / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (studio_home / "models" / "deep.safetensors").write_bytes(b"")
    at = _app()
    _ok(at)
    assert _image(at)
    assert "deep" not in at.selectbox(key="explore_model").options


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (lambda: _recipe_text("t-gan", size=10**400).replace("1" + "0" * 400, "1e999"), "size"),
        (lambda: _recipe_text("t-mlp", options={"depth": None}), "option 'depth'"),
        (lambda: _recipe_text("t-ring", z=[0.1, 0.2, 0.3]), "holds 3 numbers"),
        (lambda: _recipe_text("t-gan", model="/etc/passwd"), "not a usable model id"),
        (lambda: DEEP, "nested more than"),
    ],
)
def test_hostile_links_show_an_error_and_the_page_still_works(zoo, text, says):
    at = _app(r=_link(text()))
    assert not at.exception, at.exception
    assert says in at.error[0].value
    assert _image(at)
    _move(at, "axes", 0, 1.0)
    assert not at.exception


def test_a_link_cannot_tell_which_files_exist_on_the_server(zoo, tmp_path, monkeypatch):
    save_checkpoint(
        build_model("gan2d", {"width": 8}),
        ModelCard(id="probe", arch="", family="", config={}),
        tmp_path,
    )
    monkeypatch.chdir(tmp_path)  # the server's working directory holds probe.json
    said = {}
    for name in ("probe.json", "absent.json", str(tmp_path / "probe.json")):
        at = _app(r=_link(_recipe_text("t-gan", model=name)))
        assert not at.exception, at.exception
        said[name] = at.error[0].value.replace(name, "NAME")
    assert said["probe.json"] == said["absent.json"]
    assert "no model called 'NAME'" in said["probe.json"]
    assert "not a usable model id" in said[str(tmp_path / "probe.json")]


def test_a_link_may_ask_only_so_much_drawing_of_the_server(zoo, monkeypatch):
    from studio import recipe as recipes

    monkeypatch.setattr(recipes, "MAX_RECIPE_WORK", 1e8)  # a wide CPPN at 384 px is 2e9
    heavy = _recipe_text("t-mlp", size=384, options={"width": 64, "depth": 4})
    at = _app(r=_link(heavy))
    assert not at.exception, at.exception
    assert "multiply-adds" in at.error[0].value
    plain = _app(r=_link(_recipe_text("t-mlp", size=384)))
    _ok(plain)


def test_a_poster_sized_link_opens_at_display_size_and_starts_no_poster(zoo, monkeypatch):
    posters = []
    monkeypatch.setattr(Renderer, "poster", lambda *args, **kwargs: posters.append(args))
    at = _app(r=_link(_recipe_text("t-mlp", size=4096)))
    _ok(at)
    assert _pixels(at).shape[:2] == (384, 384)
    _open_tool(at, "Poster")
    _ok(at)
    assert not posters  # a poster is drawn on a click of Render poster only


def _with_text_chunk(kind: bytes, data: bytes) -> bytes:
    """A plain PNG with one more chunk after its header (8 + 25 bytes)."""
    png = _picture_png()
    chunk = struct.pack(">I", len(data)) + kind + data
    return png[:33] + chunk + struct.pack(">I", zlib.crc32(kind + data)) + png[33:]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (
            lambda: _with_text_chunk(
                b"zTXt", b"latent-studio\0\0" + zlib.compress(b"a" * (50 << 20), 9)
            ),
            "not a readable PNG",
        ),
        (
            lambda: _with_text_chunk(
                b"tEXt",
                b"latent-studio\0"
                + _recipe_text("t-gan", size=10**400).replace("1" + "0" * 400, "1e999").encode(),
            ),
            "size",
        ),
    ],
)
def test_hostile_pngs_show_an_error_and_the_page_still_works(zoo, data, says):
    at = _app()
    image = _image(at)
    _open_tool(at, "Open a PNG")
    at.file_uploader(key="explore_open_png").upload("bomb.png", data(), "image/png").run()
    assert not at.exception, at.exception
    assert says in at.error[0].value
    assert _image(at) == image


def test_the_gallery_passes_over_a_bad_entry_and_names_it(zoo, studio_home):
    at = _app()
    next(b for b in at.button if b.label == "Keep").click().run()
    folder = studio_home / "gallery"
    (folder / "deep.json").write_text(DEEP)
    (folder / "deep.png").write_bytes(_picture_png())
    shelf = AppTest.from_function(_gallery_first, default_timeout=TIMEOUT).run()
    assert not shelf.exception, shelf.exception
    assert "deep.json" in shelf.warning[0].value
    assert len(gallery.list_favourites()) == 1
    assert len([b for b in shelf.button if b.label == "Open in Explore"]) == 1


def test_the_poster_shows_its_progress_while_it_draws(zoo, monkeypatch):
    reported = []
    poster = Renderer.poster

    def heard(self, *args, progress, **kwargs):
        return poster(
            self, *args, progress=lambda share: reported.append(share) or progress(share), **kwargs
        )

    monkeypatch.setattr(Renderer, "poster", heard)
    at = _app()
    at.selectbox(key="explore_model").set_value("t-mlp").run()
    _open_tool(at, "Poster")
    at.session_state["explore_poster_size"] = 1024
    next(b for b in at.button if b.label == "Render poster").click().run()
    _ok(at)
    assert len(reported) > 4 and reported == sorted(reported) and reported[-1] == 1.0
    (bar,) = at.get("progress")
    assert bar.value == 100 and "100%" in bar.proto.text


def _click_now(key: str) -> None:
    """Ask the running script to rerun as the browser does when the button ``key`` is clicked
    during a run: the widgets' values as they are, that button's trigger on."""
    ctx = get_script_run_ctx()
    (button,) = [i for i in ctx.shared.widget_ids_this_run.snapshot() if i.endswith(f"-{key}")]
    states = WidgetStates()
    for state in ctx.session_state.get_widget_states():
        if state.WhichOneof("value") != "trigger_value":
            states.widgets.append(state)
    states.widgets.add(id=button, trigger_value=True)
    ctx.script_requests.request_rerun(RerunData(widget_states=states))


def test_stop_ends_a_poster_after_the_pass_it_is_drawing_and_keeps_the_earlier_one(
    zoo, monkeypatch
):
    """Stop clicked during the first pass (``test_e2e`` clicks it in a real browser)."""
    heard = []
    poster = Renderer.poster

    def clicked_during_the_first_pass(self, *args, progress, **kwargs):
        def progress_and_click(share):
            heard.append(share)
            if len(heard) == 1:
                _click_now("explore_poster_stop")
            progress(share)

        return poster(self, *args, progress=progress_and_click, **kwargs)

    at = _app()
    at.selectbox(key="explore_model").set_value("t-mlp").run()
    _open_tool(at, "Poster")
    at.session_state["explore_poster_size"] = 1024
    next(b for b in at.button if b.label == "Render poster").click().run()
    earlier = at.session_state["explore_results"]["poster"]

    monkeypatch.setattr(Renderer, "poster", clicked_during_the_first_pass)
    at.session_state["explore_poster_size"] = 2048
    next(b for b in at.button if b.label == "Render poster").click().run()
    _ok(at)
    assert len(heard) == 1  # the click was heard at the bar's update after the first pass
    assert at.session_state["explore_results"]["poster"] is earlier
    # The tool's expander and tab were opened through session_state, which the click's widget
    # states do not carry here (in the browser they stay open): open them again.
    _open_tool(at, "Poster")
    (stopped,) = at.warning
    assert stopped.value == (
        f"Poster stopped at {heard[0]:.0%}: the 2048 px render was dropped. "
        "The download below is the earlier 1024 px poster."
    )
    assert "Download the 1024px poster" in [b.label for b in at.get("download_button")]
    assert not at.get("progress") and "Stop" not in [b.label for b in at.button]

    next(b for b in at.button if b.label == "Render poster").click().run()
    _ok(at)
    assert len(heard) > 2 and heard[-1] == 1.0 and not at.warning
    assert at.session_state["explore_results"]["poster"][0] == 2048
    at.run()
    assert not at.warning  # a finished poster leaves nothing to report


def test_a_link_naming_a_tiny_card_of_a_huge_model_builds_nothing(zoo, studio_home):
    weights = save({"x": torch.zeros(1)})  # 76 bytes
    (studio_home / "models" / "zz-huge.safetensors").write_bytes(weights)
    largest = {"size": 64, "channels": 3, "width": 512, "latent_dim": 1024}  # 663 M parameters
    sha = hashlib.sha256(weights).hexdigest()
    card = ModelCard(id="zz-huge", arch="dcgan", family="gan", config=largest, sha256=sha)
    (studio_home / "models" / "zz-huge.json").write_text(card.to_json())
    fields = {"model": "zz-huge", "sha256": sha, "z": [0.0] * 1024, "size": 64}
    at = _app(r=_link(json.dumps(fields)))
    assert not at.exception, at.exception
    assert "parameters" in at.error[0].value
    assert _image(at)


def _warm_up(monkeypatch) -> str:
    """The server's warm-up, in this process as in a fresh one: its line."""
    monkeypatch.setattr(app_state, "_startup_frozen", False)
    app_state.get_renderer.clear()
    try:
        return warm_up.warm()
    finally:
        gc.enable()  # the warm-up holds the collector, as the app's first run does


def test_the_warm_up_opens_the_model_the_first_page_shows(zoo, monkeypatch):
    line = _warm_up(monkeypatch)
    assert "t-gan open" in line  # no preferred model here: the first that draws a picture
    assert app_state.get_renderer().stats()["models"] == 1
    assert axes_at_hand(app_state.get_renderer().load("t-gan"))  # its sliders found, too
    at = _app()
    _ok(at)
    assert at.selectbox[0].value == "t-gan"
    assert app_state.get_renderer().stats()["models"] == 1  # the page found it open


def test_a_first_model_that_cannot_be_opened_is_named_by_the_warm_up_and_the_page(zoo, monkeypatch):
    card_path = studio_dir("models") / "t-gan.json"
    checkpoints.weights_path(card_path).write_bytes(b"not safetensors")
    line = _warm_up(monkeypatch)
    assert "the first model cannot be opened" in line
    at = _app()
    assert not at.exception
    assert "'t-gan' cannot be opened" in at.error[0].value
    picker = at.selectbox[0]
    assert picker.value == "t-gan" and any("t-vae" in o for o in picker.options)  # the others


@pytest.mark.parametrize(
    ("headless", "address", "opened_at"),
    [
        (False, "127.0.0.1", "http://127.0.0.1:8642/"),
        (False, "0.0.0.0", "http://localhost:8642/"),  # every interface: the browser's name
        (True, "127.0.0.1", None),
    ],
)
def test_the_server_opens_the_browser_unless_headless(monkeypatch, headless, address, opened_at):
    opened = []
    monkeypatch.setattr(warm_up.webbrowser, "open", opened.append)
    options = {
        "server.headless": headless,
        "server.address": address,
        "server.port": 8642,
        "browser.serverAddress": "localhost",
    }
    monkeypatch.setattr(warm_up.st, "get_option", lambda name: options.get(name, ""))
    warm_up.open_browser()
    assert opened == ([opened_at] if opened_at else [])
