"""The coordinate generator inside the GAN and the VAE: pictures at any size from one function."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio import metrics
from studio.checkpoints import ModelCard, load_checkpoint, save_checkpoint
from studio.data.base import Dataset
from studio.errors import StudioError
from studio.imaging import to_uint8
from studio.models import arch_for, archs_for, build_model
from studio.models.base import GenerativeModel
from studio.models.coordinates import (
    CONDITIONINGS,
    GRID_NORMS,
    draw_samples,
    fourier_features,
    spline_weights,
    tent_weights,
)
from studio.paths import studio_dir
from studio.recipe import MAX_RECIPE_WORK, recipe_work
from studio.render.renderer import Renderer
from studio.train import TrainSpec, run_training
from studio.walks import Walk, animation_bytes, keyframe_recipes, render_walk, walk_from_animation

SMALL = {"latent_dim": 4, "width": 8, "mlp_width": 16, "cells": 4}
COORDINATE = ("gan-coord", "vae-coord")
CONV = {"gan-coord": "dcgan", "vae-coord": "vae"}


@pytest.mark.parametrize("arch", COORDINATE)
@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_draws_uint8_pictures_at_every_size(arch, conditioning):
    model = build_model(arch, SMALL | {"conditioning": conditioning, "channels": 3}, seed=0)
    z = model.codes(2, 0)
    with torch.inference_mode():
        for size in (None, 17, 48, 256):
            drawn = model.draw(z, size)
            side = size or 32
            assert drawn.shape == (2, side, side, 3) and drawn.dtype == np.uint8
        decoded = model.decode(z)
    assert decoded.shape == (2, 3, 32, 32) and decoded.dtype == torch.float32
    assert float(decoded.min()) >= 0 and float(decoded.max()) <= 1
    assert not np.array_equal(drawn[0], drawn[1])  # z reaches the pixels


def test_the_native_picture_is_the_footprint_average_that_decode_gives():
    model = build_model("vae-coord", SMALL, seed=1)
    z = model.codes(3, 0)
    with torch.inference_mode():
        assert np.array_equal(model.draw(z), to_uint8(model.decode(z)))
        fine = model.decoder.picture(model.decoder.from_z(z), 32 * 2, 1)  # each point alone
        averaged = torch.nn.functional.avg_pool2d(fine, 2)
        assert torch.allclose(averaged, model.decode(z), atol=1e-6)


def test_sub_samples_per_pixel_follow_the_size_asked():
    assert draw_samples(32, 32, trained=2) == 2  # the native picture: as trained, 4 a pixel
    assert draw_samples(32, 48, trained=2) == 2
    assert draw_samples(32, 64, trained=2) == 1
    assert draw_samples(32, 512, trained=2) == 1
    assert draw_samples(32, 512, trained=2, antialias=3) == 3


@pytest.mark.parametrize("arch", COORDINATE)
def test_passes_join_without_seams(arch):
    model = build_model(arch, SMALL, seed=2)
    z = model.codes(3, 5)
    shares = []
    with torch.inference_mode():
        whole = model.draw(z, 150, tile=4096)
        tiled = model.draw(z, 150, tile=16, progress=shares.append)
        small_whole, small_tiled = model.draw(z, 40, tile=4096), model.draw(z, 40, tile=8)
    assert np.array_equal(whole, tiled) and np.array_equal(small_whole, small_tiled)
    assert len(shares) > 10 and shares[-1] == 1.0 and shares == sorted(shares)


def test_anti_aliasing_averages_more_points_and_is_a_draw_knob():
    model = build_model("gan-coord", SMALL, seed=3)
    z = model.codes(1, 0)
    with torch.inference_mode():
        plain, smooth = model.draw(z, 300), model.draw(z, 300, antialias=3)
    assert not np.array_equal(plain, smooth)
    assert np.abs(plain.astype(int) - smooth).max() < 60  # the same picture, edges averaged
    assert [k.name for k in model.knobs()] == ["antialias"]


@pytest.mark.parametrize("arch", COORDINATE)
def test_a_spline_read_grid_draws_at_every_size(arch):
    model = build_model(arch, SMALL | {"reading": "spline", "channels": 3}, seed=0)
    with torch.inference_mode():
        drawn = model.draw(model.codes(2, 0), 96)
    assert drawn.shape == (2, 96, 96, 3) and not np.array_equal(drawn[0], drawn[1])


def test_the_spline_reads_the_grid_without_the_slope_jumps_of_the_linear_read():
    """Read across the grid at 4096 points: the linear read's slope jumps where it crosses a
    cell centre (a crease at poster size); the spline's changes no faster than its curvature
    allows."""
    cells, u = 8, torch.linspace(-1, 1, 4096, dtype=torch.float64)
    grid = torch.tensor([0.0, 1.0, -1.0, 2.0, 0.5, -0.5, 1.5, 0.0], dtype=torch.float64)
    for weights in (tent_weights, spline_weights):
        assert torch.allclose(weights(u, cells).sum(1), torch.ones_like(u))
        assert float(weights(u, cells).min()) >= 0

    def slope_jump(weights) -> float:
        read = weights(u, cells) @ grid
        slope = torch.diff(read) / torch.diff(u)
        return float(torch.diff(slope).abs().max())

    assert slope_jump(tent_weights) > 10.0
    assert slope_jump(spline_weights) < 0.5


def test_fourier_features_hold_the_coordinates_and_their_bands():
    xy = torch.tensor([[0.5, -0.25]])
    features = fourier_features(xy, 2)
    assert features.shape == (1, 10)
    assert torch.allclose(features[0, :2], xy[0])
    assert torch.allclose(features[0, [2, 4]], torch.sin(torch.pi * xy[0]))  # band 0 of x, y


@pytest.mark.parametrize("arch", COORDINATE)
def test_loss_terms_are_the_conv_familys_in_form(arch):
    batch = torch.rand(6, 1, 32, 32)
    model = build_model(arch, SMALL, seed=0)
    conv = build_model(CONV[arch], {"latent_dim": 4, "width": 8}, seed=0)
    terms = model.loss_terms(batch, torch.Generator().manual_seed(0))
    assert terms.keys() == conv.loss_terms(batch, torch.Generator().manual_seed(0)).keys()
    assert model.TERMS == conv.TERMS and model.FORMULA == conv.FORMULA
    if arch == "vae-coord":
        assert torch.allclose(terms["elbo"], terms["recon"] - terms["kl"])
    else:
        assert torch.allclose(terms["value"], terms["log_d_real"] + terms["log_1m_d_fake"])
    again = model.loss_terms(batch, torch.Generator().manual_seed(0))
    other = model.loss_terms(batch, torch.Generator().manual_seed(1))
    key = "recon" if arch == "vae-coord" else "g_loss"
    assert torch.equal(terms[key], again[key])  # the jitter comes from the run's noise
    assert not torch.equal(terms[key], other[key])


def test_training_fits_jittered_footprints_and_drawing_fixed_ones():
    model = build_model("vae-coord", SMALL, seed=0)
    z = model.codes(2, 0)
    noise = torch.Generator().manual_seed(0)
    with torch.no_grad():
        jittered = model.decoder.sample(z, noise)
        fixed = model.decoder(z)
    assert jittered.shape == fixed.shape
    assert not torch.equal(jittered, fixed)
    assert torch.allclose(jittered, fixed, atol=0.1)  # the same pixels, other points in them


def _round_trip(
    model: GenerativeModel, folder: Path
) -> tuple[GenerativeModel, np.ndarray, np.ndarray]:
    """The model saved and loaded back, and two codes drawn at 96 px by it and by the copy."""
    card = ModelCard(id="round-trip", arch=model.arch, family=model.family, config={})
    loaded, _ = load_checkpoint(save_checkpoint(model.eval(), card, folder))
    z = model.codes(2, 0)
    with torch.inference_mode():
        return loaded, model.draw(z, 96), loaded.draw(z, 96)


@pytest.mark.parametrize("arch", COORDINATE)
def test_a_checkpoint_draws_the_same_bytes_after_a_round_trip(arch, tmp_path):
    model = build_model(arch, SMALL | {"conditioning": "film"}, seed=4)
    loaded, drawn, drawn_again = _round_trip(model, tmp_path)
    assert np.array_equal(drawn, drawn_again)
    assert loaded.arch == arch and loaded.config == model.config


@pytest.mark.parametrize("grid_norm", GRID_NORMS)
def test_either_grid_network_draws_and_keeps_its_statistics_through_a_round_trip(
    grid_norm, tmp_path
):
    model = build_model("gan-coord", SMALL | {"grid_norm": grid_norm, "cells": 8}, seed=4)
    norms = [m for m in model.generator.from_z if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == (2 if grid_norm == "batch" else 0)  # 4 x 4 and the 8 x 8 it grows to
    model.generator(model.codes(8, 1))  # a training pass moves the batch statistics
    model.update_average()  # the drawing average takes them, as after a step
    loaded, drawn, drawn_again = _round_trip(model, tmp_path)
    assert np.array_equal(drawn, drawn_again) and not np.array_equal(*drawn)
    assert loaded.config.grid_norm == grid_norm


def test_the_gan_grows_its_grid_with_batch_norm_and_the_vae_without():
    assert build_model("gan-coord").config.grid_norm == "batch"
    assert build_model("vae-coord").config.grid_norm == "none"


def test_the_gan_spans_its_datas_levels_and_the_vae_zero_to_one():
    assert build_model("gan-coord").config.levels == "data"
    assert build_model("vae-coord").config.levels == "unit"


def test_a_new_model_spans_the_datas_levels_so_a_grey_background_is_reached_saturated(
    tmp_path,
):
    model = build_model("gan-coord", SMALL | {"channels": 3}, seed=2)
    x = torch.rand(16, 3, 32, 32) * 0.5 + torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    model.adapt_to(Dataset(name="greys", x=x))
    low, high = x.amin(dim=(0, 2, 3)), x.amax(dim=(0, 2, 3))
    for generator in (model.generator, model.generator_ema):  # the one trained, the one drawn
        assert torch.equal(generator.levels, torch.stack([low, high]))
    logits = torch.tensor([-60.0, 0.0, 60.0]).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    colours = model.generator.colour(logits)[0, :, 0]  # C x 3
    assert torch.allclose(colours[:, 0], low) and torch.allclose(colours[:, 2], high)
    assert torch.allclose(colours[:, 1], (low + high) / 2)
    _, drawn, drawn_again = _round_trip(model, tmp_path)
    assert np.array_equal(drawn, drawn_again)
    assert (drawn.min(axis=(0, 1, 2)) >= np.floor(low.numpy() * 255)).all()
    assert (drawn.max(axis=(0, 1, 2)) <= np.ceil(high.numpy() * 255)).all()


@pytest.mark.parametrize("arch", COORDINATE)
@torch.no_grad()
def test_steepening_multiplies_every_generators_logits_and_narrows_its_edges(arch):
    model = build_model(arch, SMALL | {"channels": 1}, seed=0).eval()
    for generator in model.generators():  # the GAN's average, which draws, too
        generator.out.weight *= 30  # logits spanning a few units, so that there are edges
    z, xs = model.codes(2, 0), torch.linspace(-1, 1, 64)

    def logits(generator):
        return generator.field(generator.from_z(z), xs, xs)

    before = [logits(generator) for generator in model.generators()]
    edges_before = metrics.mid_edge_share(model.painter.colour(logits(model.painter)))
    model.steepen(4)
    for generator, field in zip(model.generators(), before, strict=True):
        assert torch.allclose(logits(generator), 4 * field, rtol=1e-4, atol=1e-5)
    assert metrics.mid_edge_share(model.painter.colour(logits(model.painter))) < 0.6 * edges_before


def test_the_family_names_its_networks_and_refuses_a_stranger():
    assert archs_for("vae", "glyphs") == ("vae", "vae-mlp", "vae-coord")
    assert archs_for("gan", "shapes") == ("dcgan", "dcgan-classes", "gan-coord")
    assert arch_for("gan", "glyphs") == "dcgan"
    assert arch_for("gan", "glyphs", "gan-coord") == "gan-coord"
    with pytest.raises(StudioError, match="not as 'vae-coord'"):
        arch_for("gan", "glyphs", "vae-coord")
    with pytest.raises(StudioError, match="not as 'gan-coord'"):
        arch_for("gan", "toy2d", "gan-coord")


def test_a_small_trained_model_agrees_with_itself_across_sizes(tmp_path):
    spec = TrainSpec(
        family="vae",
        dataset="glyphs",
        arch="vae-coord",
        data_options={"n": 512},
        model_config=SMALL | {"latent_dim": 8},
        steps=150,
        batch_size=32,
        id="small",
    )
    result = run_training(spec, out_dir=tmp_path)
    model, card = load_checkpoint(result.card_path)
    assert card.arch == "vae-coord" and "--arch vae-coord" in card.command
    elbo = [r.terms["elbo"] for r in result.reports]
    assert np.mean(elbo[-20:]) > np.mean(elbo[:20]) + 50  # it learned
    z = model.codes(4, 0)
    with torch.inference_mode():
        measured = metrics.size_measures(model.eval().draw(z), model.draw(z, 512))
    assert measured["psnr_across_sizes"] >= 30


def test_mid_edge_share_counts_the_pixels_between_dark_and_bright():
    sharp = torch.zeros(1, 1, 8, 8)
    sharp[..., 4:] = 1
    soft = sharp.clone()
    soft[..., 3], soft[..., 4] = 0.3, 0.7
    assert metrics.mid_edge_share(sharp) == 0
    assert metrics.mid_edge_share(soft) == pytest.approx(0.25)
    assert np.isnan(metrics.mid_edge_share(torch.full((1, 3, 8, 8), 0.5)))  # no edge to judge


def test_the_cli_trains_a_coordinate_gan_on_a_folder_of_pictures(tmp_path, studio_home):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    rng = np.random.default_rng(0)
    colours = rng.integers(50, 201, (16, 3), dtype=np.uint8)
    for i, colour in enumerate(colours):
        Image.fromarray(np.full((40, 40, 3), colour)).save(pictures / f"{i}.png")
    args = [
        *("train", "--model", "gan", "--arch", "gan-coord", "--dataset", "folder"),
        *("--data", str(pictures), "--steps", "3", "--batch-size", "4", "--id", "mine"),
        *("--set", "mlp_width=16"),
    ]
    done = subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    card = json.loads((studio_home / "models" / "mine.json").read_text())
    assert (card["arch"], card["steps"], card["dataset"]["name"]) == ("gan-coord", 3, "folder")
    levels = load_checkpoint(studio_home / "models" / "mine.json")[0].painter.levels
    spanned = torch.tensor(np.stack([colours.min(0), colours.max(0)]) / 255, dtype=torch.float32)
    assert torch.allclose(levels, spanned)  # the darkest and brightest of each channel
    refused = subprocess.run(
        [sys.executable, "-m", "studio", *args[:3], "--arch", "vae-coord", *args[5:]],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: the GAN trains on 'folder' as dcgan, gan-coord, not as 'vae-coord'"
    ]


def test_a_recipe_may_ask_for_a_poster_but_not_one_that_would_take_minutes():
    model = build_model("gan-coord", {}, seed=0)
    assert recipe_work(model, {}, 4096) < MAX_RECIPE_WORK
    assert recipe_work(model, {"antialias": 4}, 4096) > MAX_RECIPE_WORK  # 16 points a pixel


def test_a_walk_through_a_coordinate_gan_is_drawn_at_its_size_and_carries_its_recipes(
    studio_home,
):
    model = build_model("gan-coord", SMALL, seed=0)
    card = ModelCard(id="xy", arch="gan-coord", family="gan", config={}, dataset={"name": "glyphs"})
    save_checkpoint(model, card, studio_dir("models"))
    renderer = Renderer(cache_mb=0)
    loaded = renderer.load("xy")
    keys = keyframe_recipes(renderer, loaded, [1, 2], 96)
    keys = [dataclasses.replace(k, options=k.options | {"antialias": 2}) for k in keys]
    walk = Walk(keys, frames=4)
    frames = render_walk(renderer, loaded, walk)
    assert frames.shape == (4, 96, 96, 1)
    key = walk.keyframes[0]
    with torch.inference_mode():
        drawn = model.eval().draw(torch.tensor([key.z]), 96, antialias=2)
    assert np.abs(frames[0].astype(int) - drawn[0]).max() <= 1  # drawn at 96 px, not scaled up
    assert walk_from_animation(animation_bytes(frames, walk, Path("walk.gif"))) == walk
