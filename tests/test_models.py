"""Walk the registry: shapes, ranges, seeded sampling and config validation for every model."""

import pytest
import torch

from studio.errors import StudioError
from studio.models import arch_for, build_model, list_models

SMALL = {
    "cppn": {"width": 8},
    "dcgan": {"width": 8},
    "gan2d": {"width": 8},
    "vae": {"width": 4},
    "vae-mlp": {"width": 4},
}


@pytest.mark.parametrize("arch", list_models())
def test_decode_shapes_and_range(arch):
    model = build_model(arch, SMALL[arch]).eval()
    z = model.sample_z(3, generator=torch.Generator().manual_seed(1))
    assert z.shape == (3, model.latent_dim)
    out = model.decode(z)
    if model.output == "points":
        assert out.shape == (3, 2)
    else:
        assert out.shape == (3, *model.image_shape)
        assert out.min() >= 0 and out.max() <= 1


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
    small, large = cppn.decode(z, 64), cppn.decode(z, 256)
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
    image = cppn.decode(torch.zeros(1, cppn.latent_dim), 32)
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
        arch_for("flow", points=False)
    assert arch_for("gan", points=True) == "gan2d"
    assert arch_for("gan", points=False) == "dcgan"
    with pytest.raises(StudioError):
        arch_for("vae", points=True)
