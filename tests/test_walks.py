"""Keyframe walks: the Walk, its frames, the files that carry it, and `python -m studio walk`."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from studio.checkpoints import ModelCard, save_checkpoint
from studio.cli import main
from studio.directions.taught import keep_taught, taught_directions, teach
from studio.errors import StudioError
from studio.models import build_model
from studio.paths import studio_dir
from studio.recipe import recipe_from_png
from studio.render.renderer import Renderer
from studio.walks import (
    KEYFRAME_DRAFT,
    Walk,
    animation_bytes,
    keyframe_recipes,
    render_walk,
    sweep_keyframes,
    walk_from_animation,
)

TINY = {
    "w-vae": ("vae", {"latent_dim": 4, "width": 4}, "glyphs"),
    "w-other": ("vae", {"latent_dim": 4, "width": 4}, "glyphs"),
    "w-mlp": ("cppn", {"latent_dim": 4, "width": 8, "depth": 2}, "image"),
    "w-ring": ("gan2d", {"width": 16, "depth": 1}, "toy2d"),
}


@pytest.fixture
def models(studio_home):
    for model_id, (arch, config, data) in TINY.items():
        card = ModelCard(id=model_id, arch=arch, family="", config={}, dataset={"name": data})
        save_checkpoint(build_model(arch, config), card, studio_dir("models"))
    return Renderer(cache_mb=0)


def _walk(renderer: Renderer, seeds=(1, 5, 9), size=32, model="w-vae", **options) -> Walk:
    loaded = renderer.load(model)
    return Walk(keyframe_recipes(renderer, loaded, list(seeds), size), **({"frames": 12} | options))


def _playing_time_ms(data: bytes) -> int:
    """How long the animation plays once; the encoders fold a frame equal to the one before
    (or, in lossy WebP, nearly equal) into it, so counting frames would not do."""
    with Image.open(io.BytesIO(data)) as image:
        frames = ImageSequence.Iterator(image)
        return sum((frame.load(), frame.info["duration"])[1] for frame in frames)


# ---------------------------------------------------------------- the walk and its file


def test_a_walk_passes_every_keyframe_and_carries_their_recipes(models):
    renderer = models
    walk = _walk(renderer, model="w-mlp", frames=[2, 3, 4], loop=True, easing="ease-in-out")
    assert walk.frame_count == 9
    frames = render_walk(renderer, renderer.load("w-mlp"), walk)
    assert frames.shape == (9, 32, 32, 3)
    for index, key in zip((0, 2, 5), walk.keyframes, strict=True):
        drawn = renderer.render(key.model, np.asarray([key.z]), key.size, walk.options)[0]
        # a batch may round a rare pixel one level apart from a smaller one (see Renderer)
        assert np.abs(frames[index].astype(int) - drawn).max() <= 1
    for suffix in (".gif", ".webp"):
        data = animation_bytes(frames, walk, Path(f"walk{suffix}"))
        back = walk_from_animation(data)
        assert back == walk
        assert [k.options["seed"] for k in back.keyframes] == [1, 5, 9]
        # 12 fps: 83 ms a frame, which a GIF keeps in hundredths of a second (80 ms)
        assert _playing_time_ms(data) == 9 * (80 if suffix == ".gif" else 83)


def test_frames_in_all_are_kept_per_segment(models):
    walk = _walk(models, frames=10, loop=False)
    assert walk.frames == [5, 4]
    assert walk.frame_count == 10


def test_the_walk_in_a_file_is_checked_like_a_recipe(models):
    walk = _walk(models)
    data = animation_bytes(np.zeros((2, 8, 8, 3), np.uint8), walk, Path("walk.gif"))
    tampered = data.replace(b'"fps":12', b'"fps":99')  # as long: the GIF's blocks stay whole
    with pytest.raises(StudioError, match="frames per second"):
        walk_from_animation(tampered)
    broken = data.replace(b'"size":32', b'"size":-1', 1)
    with pytest.raises(StudioError, match="keyframe 1: .*size"):
        walk_from_animation(broken)
    plain = io.BytesIO()
    Image.new("RGB", (4, 4)).save(plain, format="GIF", comment="made elsewhere")
    with pytest.raises(StudioError, match="no Latent Studio walk"):
        walk_from_animation(plain.getvalue())
    with pytest.raises(StudioError, match="not a readable"):
        walk_from_animation(b"GIF89a, or not")


def test_keyframes_of_one_walk_share_model_size_and_knobs(models):
    renderer = models
    first, second = _walk(renderer).keyframes[:2]
    other = renderer.recipe("w-other", first.z, 32, {"seed": 1})
    with pytest.raises(StudioError, match="one model's latent space"):
        Walk([first, other], 4)
    with pytest.raises(StudioError, match="holds 5 numbers, keyframe 1 4"):
        Walk([first, dataclasses.replace(second, z=[*second.z, 0.0])], 4)
    with pytest.raises(StudioError, match="another size"):
        Walk([first, dataclasses.replace(second, size=64)], 4)
    with pytest.raises(StudioError, match="1 to 50 frames per second"):
        Walk([first, second], 4, fps=60)


def test_the_work_of_a_walk_is_capped_before_a_frame_is_drawn(models):
    renderer = models
    walk = _walk(renderer, size=1024, frames=100)
    with pytest.raises(StudioError, match="million pixels"):
        render_walk(renderer, renderer.load("w-vae"), walk)
    with pytest.raises(StudioError, match="cloud of points"):
        keyframe_recipes(renderer, renderer.load("w-ring"), [1, 2], 32)


def test_a_sweep_moves_one_slider_there_and_back(models):
    from studio.latent import slider_axes

    renderer = models
    start = _walk(renderer).keyframes[0]
    axes = slider_axes(renderer.load("w-vae"), limit=2)
    low, high = sweep_keyframes(start, axes, 1, 2.0)
    np.testing.assert_allclose(
        axes.coords(np.asarray(low.z)), [axes.coords(np.asarray(start.z))[0], -2], atol=1e-5
    )
    np.testing.assert_allclose(axes.coords(np.asarray(high.z))[1], 2.0, atol=1e-5)
    assert low.options == start.options


# ---------------------------------------------------------------- python -m studio walk


def test_walk_command_through_seeds_pngs_and_an_earlier_walk(models, tmp_path, capsys):
    png = tmp_path / "three.png"
    assert main(["render", "--model", "w-vae", "--seed", "3", "--out", str(png)]) == 0
    gif = tmp_path / "walk.gif"
    args = ["walk", "--model", "w-vae", "--keyframe", "seed:1", "--keyframe", "seed:5"]
    assert main([*args, "--keyframe", "seed:9", "--frames", "24", "--loop", "--out", str(gif)]) == 0
    assert "24 frames of 128x128" in capsys.readouterr().out
    walk = walk_from_animation(gif.read_bytes())
    assert [k.options["seed"] for k in walk.keyframes] == [1, 5, 9] and walk.loop
    assert _playing_time_ms(gif.read_bytes()) == 24 * 80

    webp = tmp_path / "again.webp"
    args = ["--keyframe", str(png), "--keyframe", str(gif), "--segment-frames", "2,2,2"]
    assert main(["walk", "--model", "w-vae", *args, "--size", "48", "--out", str(webp)]) == 0
    again = walk_from_animation(webp.read_bytes())
    assert again.keyframes[0].z == recipe_from_png(png.read_bytes()).z
    assert [k.options["seed"] for k in again.keyframes] == [3, 1, 5, 9]
    assert again.size == 48 and again.frame_count == 7


def test_walk_command_along_a_slider(models, tmp_path, capsys):
    out = tmp_path / "sweep.gif"
    args = ["--keyframe", "seed:2", "--along", "1", "--frames", "8", "--out", str(out)]
    assert main(["walk", "--model", "w-vae", *args]) == 0
    walk = walk_from_animation(out.read_bytes())
    assert walk.loop and walk.mode == "lerp" and len(walk.keyframes) == 2


def test_walk_command_along_a_direction_by_name(models, tmp_path, capsys):
    """A taught direction (any named one) is a slider a walk can sweep, as ``--move`` takes it."""
    loaded = models.load("w-mlp")
    picks = [models.recipe("w-mlp", loaded.model.picture_codes(s), 32, {}) for s in range(6)]
    keep_taught(loaded, teach(loaded, "warm", picks[:3], picks[3:]))
    out = tmp_path / "warm.gif"
    args = ["--keyframe", "seed:2", "--along", "warm", "--reach", "1.5", "--out", str(out)]
    assert main(["walk", "--model", "w-mlp", *args, "--frames", "8", "--size", "32"]) == 0
    assert "along warm, -1.5 to +1.5" in capsys.readouterr().out
    (warm,) = taught_directions(loaded)[0]
    ends = [np.asarray(k.z) @ warm.vector for k in walk_from_animation(out.read_bytes()).keyframes]
    np.testing.assert_allclose(ends, [-1.5, 1.5], atol=1e-4)
    assert (
        main(["walk", "--model", "w-mlp", "--keyframe", "seed:2", "--along", "cold", *args[4:]])
        == 2
    )
    assert "no direction 'cold'; this model has: " in capsys.readouterr().err


@pytest.fixture
def keyframe_files(models, tmp_path):
    """A PNG of another model, a PNG without a recipe, and a file that is no picture."""
    other = tmp_path / "other.png"
    assert main(["render", "--model", "w-other", "--out", str(other)]) == 0
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    (tmp_path / "notes.png").write_text("not a picture")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keyframe", "{dir}/other.png", "--keyframe", "seed:1"], "made with 'w-other'"),
        (["--keyframe", "{dir}/plain.png", "--keyframe", "seed:1"], "no Latent Studio recipe"),
        (["--keyframe", "{dir}/notes.png", "--keyframe", "seed:1"], "not a readable"),
        (["--keyframe", "{dir}/gone.png", "--keyframe", "seed:1"], "cannot read"),
        (["--keyframe", f"seed:{2**53}", "--keyframe", "seed:1"], "at most"),
        (["--keyframe", "seed:one", "--keyframe", "seed:1"], "whole number"),
        (["--keyframe", "seed:1"], "2 to 64 keyframes"),
        (["--keyframe", "seed:1", "--keyframe", "seed:2", "--frames", "5000"], "--frames"),
        (["--keyframe", "seed:1", "--keyframe", "seed:2", "--size", "2048"], "million pixels"),
        (
            ["--keyframe", "seed:1", "--keyframe", "seed:2", "--segment-frames", "3,3"],
            "per segment",
        ),
        (["--keyframe", "seed:1", "--keyframe", "seed:2", "--along", "0"], "--along"),
        (["--keyframe", "seed:1", "--out", "{dir}/walk.mp4"], "end its name in .gif or .webp"),
    ],
)
def test_bad_walks_are_one_line_and_write_nothing(keyframe_files, args, message, capsys):
    where = keyframe_files
    out = ["--out", str(where / "walk.gif")] if "--out" not in args else []
    args = [a.format(dir=where) for a in args]
    capsys.readouterr()
    assert main(["walk", "--model", "w-vae", *args, *out]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (where / "walk.gif").exists() and not (where / "walk.mp4").exists()


# ---------------------------------------------------------------- keyframes under way


def _key(number=1, z=(0.5, -1.0, 0.0, 2.0), seed=3, frames=12) -> dict:
    return {"id": number, "z": list(z), "seed": seed, "frames": frames}


def test_keyframes_under_way_are_kept_per_model_and_read_back(models):
    loaded = models.load("w-vae")
    kept = (_key(1), _key(4, seed=None, frames=1))
    KEYFRAME_DRAFT.change(loaded, lambda _: kept)
    assert KEYFRAME_DRAFT.read(loaded) == (kept, ())
    assert KEYFRAME_DRAFT.read(models.load("w-other")) == ((), ())  # another model's are its own
    KEYFRAME_DRAFT.change(loaded, lambda _: ())
    assert not KEYFRAME_DRAFT.path(loaded).exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ({"id": 1}, "not a list of at most 64 keyframes"),
        ([_key()] * 65, "not a list of at most 64 keyframes"),
        ([_key() | {"html": "<b>"}], "an id, a z, a seed and its frames"),
        ([_key(1), _key(1)], "id is not a number of its own"),
        ([_key(True)], "id is not a number of its own"),
        ([_key(z=(1.0, 2.0))], "z is not 4 finite numbers"),
        ([_key(z=(1.0, 2.0, 3.0, 1e39))], "z is not 4 finite numbers"),
        ([_key(z=(1.0, 2.0, 3.0, "4"))], "z is not 4 finite numbers"),
        ([_key(seed=-1)], "seed is not a seed"),
        ([_key(frames=0)], "frames to the next are not 1 to 240"),
        ([_key(frames=10**6)], "frames to the next are not 1 to 240"),
    ],
)
def test_a_keyframes_file_that_cannot_be_used_is_named_in_one_line(models, content, says):
    loaded = models.load("w-vae")
    path = KEYFRAME_DRAFT.path(loaded)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(content))
    kept, (problem,) = KEYFRAME_DRAFT.read(loaded)
    assert kept == () and says in problem and "\n" not in problem
    KEYFRAME_DRAFT.change(loaded, lambda _: (_key(),))
    assert KEYFRAME_DRAFT.read(loaded) == ((_key(),), ())
    assert json.loads(path.with_name(path.name + ".unreadable").read_text()) == content
