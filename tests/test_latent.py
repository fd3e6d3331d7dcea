"""Latent tools: slider axes (GANSpace directions, KL order), interpolation and walks, encoding."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import torch

from studio import latent
from studio.checkpoints import ModelCard, save_checkpoint
from studio.errors import StudioError
from studio.latent import (
    EASINGS,
    axes_at_hand,
    encode,
    lerp,
    segment_frames,
    slerp,
    slider_axes,
    slider_sweep,
    walk,
)
from studio.models import build_model
from studio.models.base import unit_axes
from studio.render.renderer import Renderer


def dcgan_led_by(dim: int, latent_dim: int = 8) -> torch.nn.Module:
    """A DCGAN whose first layer listens to z[dim] ten times louder than to the rest."""
    torch.manual_seed(0)
    model = build_model("dcgan", {"latent_dim": latent_dim, "width": 8}).eval()
    with torch.no_grad():
        model.drawing_generator[1].weight[dim] *= 10
    return model


@pytest.fixture(autouse=True)
def no_memo(monkeypatch):
    monkeypatch.setattr(latent, "_memo", {})


# ---------------------------------------------------------------- GAN directions


def test_the_first_direction_finds_the_latent_that_moves_the_features_most():
    found = dcgan_led_by(3).principal_directions(components=4, samples=1024)
    assert found.vectors.shape == (4, 8)
    assert torch.allclose(found.vectors.norm(dim=1), torch.ones(4), atol=1e-5)
    assert found.vectors[0, 3] > 0.95  # e_3, pointing the positive way
    assert found.explained[0] > 0.5
    assert (found.explained[:-1] >= found.explained[1:]).all()
    assert found.explained.sum() <= 1 + 1e-6
    assert torch.allclose(found.stds, torch.ones(4), atol=0.15)  # z's spread, slider units


def test_a_gans_sliders_are_its_principal_directions_made_orthonormal():
    axes = dcgan_led_by(3).slider_axes(4, probe=lambda: pytest.fail("a GAN needs no data"))
    assert axes.kind.startswith("Principal directions") and axes.labels[0] == "PC1"
    np.testing.assert_allclose(axes.vectors @ axes.vectors.T, np.eye(4), atol=1e-9)
    assert axes.vectors[0, 3] > 0.95


def test_the_2d_gan_has_directions_too():
    torch.manual_seed(0)
    gan2d = build_model("gan2d", {"width": 16, "depth": 2})
    assert gan2d.principal_directions(components=8, samples=256).vectors.shape == (2, 2)
    with pytest.raises(StudioError, match="components"):
        gan2d.principal_directions(components=0)


def test_slider_axes_are_cached_on_disk_per_weights_and_count(studio_home):
    model = dcgan_led_by(1)
    card_path = save_checkpoint(model, ModelCard(id="led", arch="dcgan", family="gan", config={}))
    loaded = Renderer().load(card_path.stem)
    assert not axes_at_hand(loaded, limit=3)  # Explore shows the picture alone meanwhile
    first = slider_axes(loaded, limit=3)
    cached = studio_home / "cache" / "axes" / f"{loaded.sha256}-3.safetensors"
    assert cached.exists() and axes_at_hand(loaded, limit=3)

    latent._memo.clear()
    assert axes_at_hand(loaded, limit=3) and not axes_at_hand(loaded, limit=4)
    stamp = cached.stat().st_mtime_ns
    again = slider_axes(loaded, limit=3)
    assert cached.stat().st_mtime_ns == stamp  # read back, not recomputed
    np.testing.assert_array_equal(again.vectors, first.vectors)
    assert (again.kind, again.labels, again.helps) == (first.kind, first.labels, first.helps)

    latent._memo.clear()
    more = slider_axes(loaded, limit=5)
    assert more.vectors.shape == (5, 8)
    np.testing.assert_allclose(np.abs(more.vectors[:3]), np.abs(first.vectors), atol=0.05)

    cached.write_bytes(b"not safetensors")
    latent._memo.clear()
    np.testing.assert_array_equal(slider_axes(loaded, limit=3).vectors, first.vectors)


def test_sessions_asking_for_a_new_models_axes_at_once_wait_for_one_finding(
    studio_home, monkeypatch
):
    model = dcgan_led_by(2)
    card_path = save_checkpoint(model, ModelCard(id="led", arch="dcgan", family="gan", config={}))
    loaded = Renderer().load(card_path.stem)
    finding, calls = threading.Event(), []
    found_by_the_model = type(loaded.model).slider_axes

    def slow_finding(self, *args, **kwargs):
        calls.append(threading.current_thread().name)
        finding.wait(5)  # every other session asks while this one is finding
        return found_by_the_model(self, *args, **kwargs)

    monkeypatch.setattr(type(loaded.model), "slider_axes", slow_finding)
    answers = []
    sessions = [
        threading.Thread(target=lambda: answers.append(slider_axes(loaded, limit=3)))
        for _ in range(4)
    ]
    for session in sessions:
        session.start()
    time.sleep(0.2)
    finding.set()
    for session in sessions:
        session.join(10)
    assert len(calls) == 1 and len(answers) == 4
    assert all(answer is answers[0] for answer in answers)


# ---------------------------------------------------------------- VAE dimensions


def _vae_carrying_dims_2_and_5() -> torch.nn.Module:
    vae = build_model("vae", {"latent_dim": 6, "width": 4}).eval()
    with torch.no_grad():
        vae.to_stats.weight.zero_()
        vae.to_stats.bias.zero_()
        vae.to_stats.bias[2] = 3.0  # mu_2 = 3: KL = 9 / 2
        vae.to_stats.bias[5] = 1.0  # mu_5 = 1: KL = 1 / 2
    return vae


def test_kl_per_dimension_is_the_closed_form_over_the_data():
    kl = _vae_carrying_dims_2_and_5().kl_per_dim(torch.rand(40, 1, 32, 32))
    assert kl[2] == pytest.approx(4.5) and kl[5] == pytest.approx(0.5)
    assert kl[0] == pytest.approx(0.0, abs=1e-9)


def test_a_vaes_sliders_are_its_dimensions_in_kl_order():
    axes = _vae_carrying_dims_2_and_5().slider_axes(3, probe=lambda: torch.rand(40, 1, 32, 32))
    assert axes.labels == ("z[2]", "z[5]", "z[0]")
    assert "4.50 nats" in axes.helps[0] and axes.every_dimension is False
    np.testing.assert_array_equal(axes.vectors[0], np.eye(6)[2])


def test_a_model_without_data_at_hand_finds_its_sliders_on_its_own_samples(studio_home):
    axes = slider_axes(_vae_carrying_dims_2_and_5(), limit=2)
    assert axes.labels == ("z[2]", "z[5]")


# ---------------------------------------------------------------- interpolation and walks


def test_lerp_and_slerp_start_and_end_on_their_points():
    a, b = torch.randn(16), torch.randn(16)
    for step in (lerp, slerp):
        assert torch.allclose(step(a, b, 0.0), a, atol=1e-5)
        assert torch.allclose(step(a, b, 1.0), b, atol=1e-5)
        path = step(a, b, torch.linspace(0, 1, 5))
        assert path.shape == (5, 16)
    assert torch.allclose(lerp(a, b, 0.5), (a + b) / 2)


def test_slerp_keeps_the_length_that_lerp_loses():
    a = torch.tensor([3.0, 0.0])
    b = torch.tensor([0.0, 3.0])
    middle = slerp(a, b, 0.5)
    assert middle.norm() == pytest.approx(3.0)
    assert torch.allclose(middle, torch.tensor([1.0, 1.0]) * 3 / math.sqrt(2))
    assert lerp(a, b, 0.5).norm() == pytest.approx(3 / math.sqrt(2))
    assert torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)  # parallel: a line
    assert torch.allclose(slerp(torch.zeros(2), b, 0.25), 0.25 * b)


def test_a_looping_walk_comes_back_without_repeating_its_start():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    path = walk([a, b], 4, loop=True, mode="lerp")
    assert torch.allclose(path, torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.5, 0.5]]))
    three = walk(np.eye(3), 9)
    assert three.shape == (9, 3)
    assert torch.allclose(three[::3], torch.eye(3), atol=1e-6)


def test_an_open_walk_ends_on_its_last_point():
    points = torch.randn(3, 8)
    path = walk(points, 7, loop=False)
    assert path.shape == (7, 8)
    assert torch.allclose(path[0], points[0], atol=1e-5)
    assert torch.allclose(path[3], points[1], atol=1e-5)
    assert torch.allclose(path[-1], points[2], atol=1e-5)


def test_each_segment_gets_its_own_frames_and_starts_on_its_keyframe():
    points = torch.eye(3)
    path = walk(points, [2, 4, 1], loop=True, mode="lerp")
    assert path.shape == (7, 3)
    assert torch.allclose(path[[0, 2, 6]], points)
    assert torch.allclose(path[1], torch.tensor([0.5, 0.5, 0.0]))
    assert torch.allclose(path[3], torch.tensor([0.0, 0.75, 0.25]))
    open_path = walk(points, [2, 4], loop=False, mode="lerp")
    assert open_path.shape == (7, 3)
    assert torch.allclose(open_path[[0, 2, 6]], points)


def test_frames_in_all_are_shared_as_evenly_as_they_go():
    assert segment_frames(10, 3, loop=True) == [4, 3, 3]
    assert segment_frames(10, 3, loop=False) == [3, 3, 3]
    assert segment_frames(3, 3, loop=True) == [1, 1, 1]
    with pytest.raises(StudioError, match="at least 4 frames"):
        segment_frames(3, 3, loop=False)


def test_easing_lingers_near_the_keyframes_on_the_same_path():
    a, b = torch.zeros(1), torch.ones(1)
    linear = walk([a, b], [4], loop=False, mode="lerp")[:, 0]
    eased = walk([a, b], [4], loop=False, mode="lerp", easing="ease-in-out")[:, 0]
    assert torch.allclose(linear, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    assert torch.allclose(eased, torch.tensor([0.0, 0.15625, 0.5, 0.84375, 1.0]))
    assert walk([a, b], [4], loop=False, easing="ease-in")[1, 0] < 0.25
    assert walk([a, b], [4], loop=False, easing="ease-out")[1, 0] > 0.25
    assert set(EASINGS) >= {"linear", "ease-in-out"}


def test_a_slider_sweep_moves_one_slider_and_keeps_the_others():
    axes = unit_axes("dims", [1, 3], 4, ["", ""])
    z = np.array([0.5, 0.2, -1.0, 0.7])
    low, high = slider_sweep(z, axes, 1, 2.0)
    np.testing.assert_allclose(low, [0.5, 0.2, -1.0, -2.0])
    np.testing.assert_allclose(high, [0.5, 0.2, -1.0, 2.0])
    path = walk([low, high], 8, loop=True, mode="lerp").numpy()
    np.testing.assert_allclose(path[:, :3], np.tile(z[:3], (8, 1)), atol=1e-6)
    np.testing.assert_allclose(path[4, 3], 2.0)
    with pytest.raises(StudioError, match="sliders 0 to 1"):
        slider_sweep(z, axes, 2, 2.0)
    with pytest.raises(StudioError, match="reaches"):
        slider_sweep(z, axes, 0, 0.0)


@pytest.mark.parametrize(
    ("points", "frames", "options", "says"),
    [
        ([np.zeros(4)], 5, {}, "at least two"),
        ([np.zeros(4), np.ones(4)], 0, {}, "frames"),
        ([np.zeros(4), np.ones(4)], 5, {"mode": "cubic"}, "mode"),
        ([np.zeros(4), np.ones(4)], 5, {"easing": "bounce"}, "easing"),
        ([np.zeros(4), np.ones(4)], [3], {}, "one frame count per segment"),
        ([np.zeros(4), np.ones(4)], [3, 0], {}, "at least 1"),
        ([np.zeros(4), np.ones(4)], [600, 600], {}, "at most 1000 frames"),
    ],
)
def test_bad_walks_are_refused(points, frames, options, says):
    with pytest.raises(StudioError, match=says):
        walk(points, frames, **options)


# ---------------------------------------------------------------- encoding pictures


@pytest.fixture
def vae():
    torch.manual_seed(0)
    return build_model("vae", {"latent_dim": 4, "width": 4, "channels": 1}).eval()


def test_encode_gives_the_posterior_mean(vae):
    x = torch.rand(3, 1, 32, 32)
    z = encode(vae, x)
    assert z.shape == (3, 4)
    assert torch.allclose(z, vae.encode(x)[0])


def test_encode_takes_uint8_pictures_of_any_size_and_colour(vae):
    gray = torch.rand(1, 1, 32, 32)
    expected = encode(vae, gray)
    as_uint8 = (gray[0, 0] * 255).round().to(torch.uint8).numpy()
    assert torch.allclose(encode(vae, as_uint8), expected, atol=0.02)  # H x W gray
    rgb = np.repeat(as_uint8[..., None], 3, axis=2)
    assert torch.allclose(encode(vae, rgb), expected, atol=0.02)  # H x W x 3
    rgba = np.concatenate([rgb, np.full((32, 32, 1), 255, np.uint8)], axis=2)
    assert torch.allclose(encode(vae, rgba[None]), expected, atol=0.02)  # N x H x W x 4

    big = np.kron(rgb, np.ones((4, 4, 1), np.uint8))  # 128 x 128: resized down
    assert torch.allclose(encode(vae, big), expected, atol=0.1)
    wide = np.zeros((32, 64, 3), np.uint8)
    wide[:, 16:48] = rgb  # the centre square is what is kept
    assert torch.allclose(encode(vae, wide), expected, atol=0.02)


def test_encode_refuses_what_it_cannot_read(vae):
    with pytest.raises(StudioError, match="no encoder"):
        encode(build_model("dcgan", {}), np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(StudioError, match="channels"):
        encode(vae, np.zeros((32, 32, 2), np.uint8))
    with pytest.raises(StudioError, match="uint8"):
        encode(vae, np.zeros((32, 32), np.int64))
