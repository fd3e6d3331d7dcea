"""Serve-time rewrites: the same function as the module they rewrite, up to float rounding."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from studio.models import build_model
from studio.models.ganspace import first_activations
from studio.serving import FlatSequential, flatten_sequentials, fold_batch_norm


def _with_running_stats(norm: nn.BatchNorm2d, seed: int) -> nn.BatchNorm2d:
    """A BatchNorm whose statistics and affine parts are far from the identity."""
    generator = torch.Generator().manual_seed(seed)
    channels = norm.num_features
    with torch.no_grad():
        norm.running_mean.copy_(torch.randn(channels, generator=generator))
        norm.running_var.copy_(torch.rand(channels, generator=generator) * 3 + 0.1)
        norm.weight.copy_(torch.randn(channels, generator=generator))
        norm.bias.copy_(torch.randn(channels, generator=generator))
    return norm.eval()


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ConvTranspose2d(3, 8, 4, 2, 1, bias=False),
        nn.ConvTranspose2d(3, 8, 4, 2, 1),
    ],
)
def test_batch_norm_folds_into_the_convolution_before_it(conv):
    layers = [conv.eval(), _with_running_stats(nn.BatchNorm2d(8), seed=1), nn.ReLU()]
    x = torch.randn(5, 3, 6, 6)
    with torch.no_grad():
        expected = nn.Sequential(*layers)(x)
        folded = fold_batch_norm(copy.deepcopy(layers))
        got = nn.Sequential(*folded)(x)
    assert [type(layer) for layer in folded] == [type(conv), nn.ReLU]
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.equal(got, nn.ReLU()(conv(x)))  # the norm did change the output


def test_a_batch_norm_after_anything_else_stays():
    layers = [nn.ReLU(), _with_running_stats(nn.BatchNorm2d(4), seed=2)]
    assert fold_batch_norm(layers) == layers


@pytest.mark.parametrize(
    ("arch", "config"),
    [("dcgan", {"latent_dim": 8, "width": 8}), ("vae", {"latent_dim": 6, "width": 4})],
)
def test_flattened_models_draw_what_the_original_draws(arch, config):
    torch.manual_seed(0)
    model = build_model(arch, config).eval()
    for i, norm in enumerate(m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        _with_running_stats(norm, seed=10 + i)
    served = copy.deepcopy(model).requires_grad_(False)
    flatten_sequentials(served)
    z = torch.randn(16, config["latent_dim"])
    with torch.inference_mode():
        expected, got = model.decode(z), served.decode(z)
    decoder = served.drawing_generator if arch == "dcgan" else served.decoder
    assert isinstance(decoder, FlatSequential)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in served.modules())
    assert (got - expected).abs().max() * 255 < 1e-2  # a hundredth of a pixel level
    assert torch.allclose(got[:3], served.decode(z[:3]))  # a batch is not mixed up


def test_a_flattened_generator_still_gives_its_first_activations():
    torch.manual_seed(0)
    model = build_model("dcgan", {"latent_dim": 8, "width": 8}).eval()
    _with_running_stats(model.drawing_generator[2], seed=3)
    served = copy.deepcopy(model)
    flatten_sequentials(served)
    z = torch.randn(4, 8)
    with torch.no_grad():
        expected = first_activations(model.drawing_generator)(z)
        got = first_activations(served.drawing_generator)(z)
    assert torch.allclose(got, expected, atol=1e-5)


def test_only_a_model_in_eval_mode_is_flattened():
    with pytest.raises(ValueError, match="eval mode"):
        flatten_sequentials(build_model("dcgan", {"latent_dim": 8, "width": 8}).train())
