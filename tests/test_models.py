"""Walk the registry: shapes, ranges, seeded sampling and config validation for every model."""

import numpy as np
import pytest
import torch

from studio.errors import StudioError
from studio.models import arch_for, build_model, list_models, model_class, register
from studio.models.base import config_from_dict
from studio.trainer import Trainer

SMALL = {
    "cppn": {"width": 8},
    "dcgan": {"width": 8},
    "dcgan-classes": {"width": 8, "classes": 3},
    "gan2d": {"width": 8},
    "vae": {"width": 4},
    "vae-mlp": {"width": 4},
    "gan-coord": {"width": 8, "mlp_width": 8, "cells": 4},
    "vae-coord": {"width": 4, "mlp_width": 8, "cells": 4},
}


@pytest.mark.parametrize("arch", list_models())
def test_decode_shapes_and_range(arch):
    model = build_model(arch, SMALL[arch]).eval()
    z = model.sample_z(3, generator=torch.Generator().manual_seed(1))
    assert z.shape == (3, model.latent_dim)
    out = model.decode(z)
    assert out.shape == (3, *model.data_shape)
    if len(model.data_shape) == 3:
        assert out.min() >= 0 and out.max() <= 1


# ---------------------------------------------------------------- the surface every family shares


@pytest.mark.parametrize("arch", list_models())
def test_every_model_draws_uint8_pictures_at_its_native_size_and_at_any_other(arch):
    model = build_model(arch, SMALL[arch]).eval()
    z = model.codes(3, seed=1)
    channels, height, width = model.image_shape
    pictures = 1 if model.cloud else 3
    with torch.inference_mode():
        native, larger = model.draw(z), model.draw(z, 48)
    assert native.dtype == np.uint8 and native.shape == (pictures, height, width, channels)
    assert larger.shape == (pictures, 48, 48, channels)
    assert model.native_size == height == width


@pytest.mark.parametrize("arch", list_models())
def test_every_model_offers_orthonormal_slider_axes_and_a_preview(arch):
    model = build_model(arch, SMALL[arch]).eval()
    examples = torch.rand(4, *model.data_shape)
    axes = model.slider_axes(3, lambda: examples)
    k = len(axes.labels)
    assert 1 <= k <= 3 and len(axes.helps) == k and axes.vectors.shape == (k, model.latent_dim)
    np.testing.assert_allclose(axes.vectors @ axes.vectors.T, np.eye(k), atol=1e-6)
    preview = model.preview(examples)
    assert preview.dtype == np.uint8 and preview.ndim == 3 and preview.shape[2] in (1, 3)
    np.testing.assert_array_equal(preview, model.preview(examples))  # a fixed z: comparable


@pytest.mark.parametrize("arch", list_models())
def test_knobs_hold_the_models_own_values_and_the_configs_ranges(arch):
    model = build_model(arch, SMALL[arch])
    for knob in model.knobs():
        assert knob.value == getattr(model.config, knob.name)
        assert knob.label and (knob.choices is not None or knob.low <= knob.value <= knob.high)
    train_knobs = model.train_knobs()
    assert [k.name for k in train_knobs] == list(model.TRAIN_KNOBS)
    for knob in train_knobs:
        defaults = model.Config() if hasattr(model.config, knob.name) else model.Training()
        assert knob.value == getattr(defaults, knob.name)


# ---------------------------------------------------------------- how a model is trained


@pytest.mark.parametrize("arch", list_models())
def test_learning_rates_live_in_the_training_config_not_the_architecture(arch):
    model = build_model(arch, SMALL[arch])
    training = model.Training()
    for objective in model.objectives():
        assert not hasattr(model.config, objective.lr)
        assert getattr(training, objective.lr) > 0
    config, settings = model.split_settings({"latent_dim": 3, "beta1": 0.8, "optimizer": "adamw"})
    assert config == {"latent_dim": 3} and settings == {"beta1": 0.8, "optimizer": "adamw"}


def test_the_training_config_builds_the_optimiser_it_names():
    model = build_model("dcgan", SMALL["dcgan"])
    training = config_from_dict(model.Training, {"optimizer": "adamw", "lr_d": 1e-4})
    trainer = Trainer(model, torch.rand(8, 1, 32, 32), training=training, steps=1)
    d, g = trainer.optimizers["discriminator"], trainer.optimizers["generator"]
    assert isinstance(d, torch.optim.AdamW) and d.param_groups[0]["lr"] == 1e-4
    assert g.param_groups[0]["lr"] == 2e-4 and g.param_groups[0]["betas"] == (0.5, 0.999)
    trainer.retrain_with(config_from_dict(model.Training, {"optimizer": "adamw", "lr_g": 3e-3}))
    assert g.param_groups[0]["lr"] == 3e-3 and d.param_groups[0]["lr"] == 2e-4
    with pytest.raises(StudioError, match="keeps its optimiser"):
        trainer.retrain_with(model.Training())
    with pytest.raises(StudioError, match="optimizer"):
        config_from_dict(model.Training, {"optimizer": "lbfgs"})


def test_every_family_trains_on_its_datasets_and_a_name_is_registered_once():
    for arch in list_models():
        cls = model_class(arch)
        assert cls.FAMILY_TITLE and cls.DATASETS
        for dataset in cls.DATASETS:
            assert dataset in model_class(arch_for(cls.family, dataset)).DATASETS
    with pytest.raises(StudioError, match="registered already"):
        register(model_class("vae"))


def test_only_a_model_with_art_knobs_has_variants():
    cppn = build_model("cppn", {"depth": 2})
    other = cppn.variant({"depth": 3, "activation": "sin"}, weight_seed=5)
    assert (other.config.depth, other.config.activation) == (3, "sin")
    again = cppn.variant({"depth": 3, "activation": "sin"}, weight_seed=5)
    z = torch.zeros(1, cppn.latent_dim)
    assert torch.equal(other.decode(z), again.decode(z))  # the weights seed draws the weights
    with pytest.raises(StudioError, match="no art knobs"):
        build_model("vae", SMALL["vae"]).variant({}, None)


@pytest.mark.parametrize("arch", list_models())
def test_sampler_is_reproducible_for_a_seed(arch):
    model = build_model(arch, SMALL[arch])
    a = model.sample_z(4, generator=torch.Generator().manual_seed(7))
    b = model.sample_z(4, generator=torch.Generator().manual_seed(7))
    c = model.sample_z(4, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(("size", "channels"), [(32, 1), (32, 3), (64, 1), (64, 3)])
def test_image_models_cover_both_sizes_and_channel_counts(size, channels):
    for arch in ("dcgan", "vae", "vae-mlp"):
        model = build_model(arch, {"size": size, "channels": channels, "width": 8}).eval()
        assert model.decode(model.sample_z(2)).shape == (2, channels, size, size)
        terms = model.loss_terms(torch.rand(2, channels, size, size))
        assert all(torch.isfinite(v).all() for v in terms.values())


def test_cppn_is_resolution_free():
    cppn = build_model("cppn", {"activation": "mix"}).eval()
    z = cppn.sample_z(1, generator=torch.Generator().manual_seed(3))
    small, large = cppn.render(z, 64, 64), cppn.render(z, 256, 256)
    assert small.shape[-1] == 64 and large.shape[-1] == 256
    # Pixel (i, j) at 64 px sits at the centre of the 4x4 block (4i+1.5, 4j+1.5) at 256 px.
    blurred = torch.nn.functional.avg_pool2d(large, 4)
    assert (blurred - small).abs().mean() < 0.02


def test_cppn_tile_equals_the_same_region_of_the_whole_image():
    cppn = build_model("cppn", {"activation": "sin"}).eval()
    z = cppn.sample_z(1)
    whole = cppn.render(z, 40, 30)
    tile = cppn.render(z, 40, 30, rows=slice(10, 25), cols=slice(7, 30))
    assert torch.allclose(tile, whole[..., 10:25, 7:30], atol=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "sin", "gaussian", "relu", "mix"])
def test_cppn_activations_draw_different_pictures(activation):
    cppn = build_model("cppn", {"activation": activation, "init_std": 2.0}).eval()
    image = cppn.render(torch.zeros(1, cppn.latent_dim), 32, 32)
    assert image.std() > 0.01


@pytest.mark.parametrize(
    ("arch", "config", "fragment"),
    [
        ("vae", {"latent_dim": 2**31}, "latent_dim"),
        ("vae", {"size": -32}, "size"),
        ("dcgan", {"channels": 2}, "channels"),
        ("cppn", {"activation": "softmax"}, "activation"),
        ("cppn", {"scale": float("nan")}, "scale"),
        ("gan2d", {"width": "wide"}, "width"),
        ("vae", {"latnt_dim": 4}, "latnt_dim"),
    ],
)
def test_out_of_range_configs_are_refused_by_name(arch, config, fragment):
    with pytest.raises(StudioError, match=fragment):
        build_model(arch, config)


def test_unknown_model_and_family_are_clear_errors():
    with pytest.raises(StudioError, match="unknown model 'diffusion'"):
        build_model("diffusion")
    with pytest.raises(StudioError, match="family"):
        arch_for("flow", "glyphs")
    assert arch_for("gan", "toy2d") == "gan2d"
    assert arch_for("gan", "shapes") == "dcgan"
    assert arch_for("mlp", "image") == "cppn"
    with pytest.raises(StudioError):
        arch_for("vae", "toy2d")


# ---------------------------------------------------------------- the GAN's moving average


def _dcgan(**config):
    return build_model("dcgan", {"latent_dim": 8, "width": 8, **config}, seed=0)


def test_the_dcgan_draws_with_the_moving_average_of_its_generator():
    model = _dcgan().eval()
    last = model.generator_ema[-2]  # the final transposed convolution, before tanh
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.equal(model.decode(z), torch.full((4, 1, 32, 32), 0.5))
        assert not torch.allclose((model.generator(z) + 1) / 2, torch.tensor(0.5))


def test_the_average_follows_the_generator_with_a_decay_that_warms_up():
    model = _dcgan(ema=0.99)
    live = [p.detach().clone() for p in model.generator.parameters()]
    average = [torch.randn_like(p) for p in live]
    with torch.no_grad():
        for p, value in zip(model.generator_ema.parameters(), average, strict=True):
            p.copy_(value)
        model.generator[2].running_mean.fill_(3.0)
    expected = average
    for n in range(3):
        decay = min(0.99, (1 + n) / (10 + n))  # 0.1, 2/11, 3/12
        expected = [decay * a + (1 - decay) * g for a, g in zip(expected, live, strict=True)]
        model.update_average()
    for got, want in zip(model.generator_ema.parameters(), expected, strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    assert int(model.ema_updates) == 3
    assert torch.equal(model.generator_ema[2].running_mean, torch.full((32,), 3.0))


def test_training_moves_the_average_but_no_optimiser_owns_it():
    model = _dcgan()
    before = [p.detach().clone() for p in model.generator_ema.parameters()]
    trainer = Trainer(model, torch.rand(64, 1, 32, 32), steps=3, batch_size=16, seed=0)
    list(trainer)
    optimised = {
        id(p) for opt in trainer.optimizers.values() for g in opt.param_groups for p in g["params"]
    }
    average = list(model.generator_ema.parameters())
    assert not any(id(p) in optimised or p.requires_grad for p in average)
    moved = [not torch.equal(a, b) for a, b in zip(before, average, strict=True)]
    assert all(moved) and int(model.ema_updates) == 3
    assert model.num_params() == sum(
        p.numel() for p in [*model.generator.parameters(), *model.discriminator.parameters()]
    )


def test_the_ring_gan_draws_with_its_average_unless_told_not_to():
    averaged = build_model("gan2d", {"width": 8})
    assert averaged.averaging and averaged.drawing_generator is averaged.generator_ema
    model = build_model("gan2d", {"width": 8, "ema": 0.0})
    assert not model.averaging and model.drawing_generator is model.generator
    assert not any(name.startswith("generator_ema") for name in model.state_dict())
