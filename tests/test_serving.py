"""Serve-time rewrites: the same function as the module they rewrite, up to float rounding."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from studio.models import build_model
from studio.models.ganspace import first_activations
from studio.models.mlp import ACTIVATIONS
from studio.render import serving
from studio.render.serving import (
    CPU_ACTIVATIONS,
    NATIVE_CONV_TRANSPOSE,
    FlatSequential,
    SmallBatchConvTranspose2d,
    fold_batch_norm,
    native_conv_transpose2d,
    serving_copy,
)

CPU = torch.device("cpu")


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


def test_a_batch_norm_in_training_mode_does_not_fold():
    layers = [nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)]
    with pytest.raises(ValueError, match="eval-mode"):
        fold_batch_norm(layers)


def _with_trained_norms(model: nn.Module) -> nn.Module:
    for i, norm in enumerate(m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        _with_running_stats(norm, seed=10 + i)
    return model.eval()


@pytest.mark.parametrize(
    ("arch", "config"),
    [("dcgan", {"latent_dim": 8, "width": 8}), ("vae", {"latent_dim": 6, "width": 4})],
)
def test_serving_copies_draw_what_the_original_draws(arch, config):
    torch.manual_seed(0)
    model = _with_trained_norms(build_model(arch, config))
    served = serving_copy(model, CPU)
    z = torch.randn(16, config["latent_dim"])
    with torch.inference_mode():
        expected, got = model.decode(z), served.decode(z)
        alone = served.decode(z[:3])  # under SMALL_BATCH: torch's own transposed convolution
    decoder = served.drawing_generator if arch == "dcgan" else served.decoder
    assert isinstance(decoder, FlatSequential)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in served.modules())
    assert all(
        type(m) is SmallBatchConvTranspose2d
        for m in served.modules()
        if isinstance(m, nn.ConvTranspose2d)
    )
    assert (got - expected).abs().max() * 255 < 1e-2  # a hundredth of a pixel level
    assert (alone - expected[:3]).abs().max() * 255 < 1e-2


def _layout(model: nn.Module) -> list[tuple[str, type, tuple[str, ...]]]:
    """Each module's name, type and what it holds in place of its class's attributes."""
    return [(name, type(m), tuple(sorted(vars(m)))) for name, m in model.named_modules()]


@pytest.mark.parametrize(
    ("arch", "config"),
    [
        ("dcgan", {"latent_dim": 8, "width": 8}),
        ("vae", {"latent_dim": 6, "width": 4}),
        ("cppn", {"latent_dim": 4, "width": 12, "depth": 3, "activation": "mix"}),
    ],
)
def test_a_serving_copy_leaves_the_model_as_it_was(arch, config):
    torch.manual_seed(0)
    model = _with_trained_norms(build_model(arch, config))
    layout, state = _layout(model), copy.deepcopy(model.state_dict())
    trainable = [p.requires_grad for p in model.parameters()]
    activations = list(getattr(model, "activations", []))
    served = serving_copy(model, CPU)
    assert _layout(model) == layout
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == trainable
    assert not any(p.requires_grad for p in served.parameters())
    assert getattr(model, "activations", []) == activations
    assert not set(map(id, model.parameters())) & set(map(id, served.parameters()))


def test_a_served_cppn_computes_its_activations_in_their_cpu_forms():
    model = build_model("cppn", {"depth": 3, "activation": "mix"})
    served = serving_copy(model, CPU)
    assert model.activations == [ACTIVATIONS[n] for n in ("tanh", "sin", "gaussian")]
    assert served.activations == [CPU_ACTIVATIONS["tanh"], torch.sin, CPU_ACTIVATIONS["gaussian"]]
    with pytest.raises(ValueError, match="cube"):
        model.with_activations({"cube": torch.square})


def test_the_cpu_forms_of_the_cppn_activations_match_torchs():
    x = torch.linspace(-30, 30, 100_001)
    for name, fast in CPU_ACTIVATIONS.items():
        assert torch.allclose(fast(x.clone()), ACTIVATIONS[name](x), rtol=0, atol=3e-7)


def test_a_served_generator_still_gives_its_first_activations():
    torch.manual_seed(0)
    model = _with_trained_norms(build_model("dcgan", {"latent_dim": 8, "width": 8}))
    served = serving_copy(model, CPU)
    z = torch.randn(4, 8)
    with torch.no_grad():
        expected = first_activations(model.drawing_generator)(z)
        got = first_activations(served.drawing_generator)(z)
    assert torch.allclose(got, expected, atol=1e-5)


# ---------------------------------------------------------------- torch's own transposed convolution

# (batch, in, out, height, width, kernel, stride, padding, output_padding, dilation, bias)
CONV_TRANSPOSE_SHAPES = [
    (1, 64, 128, 1, 1, 4, 1, 0, 0, 1, False),  # a DCGAN's first layer
    (1, 8, 4, 4, 4, 4, 2, 1, 0, 1, True),  # its upsampling layers
    (3, 5, 7, 6, 5, 3, 2, 1, 1, 1, False),
    (2, 4, 6, 5, 7, (3, 2), (2, 3), (1, 0), (1, 2), 1, True),
    (1, 3, 2, 4, 4, 3, 1, 0, 0, 2, True),
    (7, 2, 3, 3, 6, (2, 3), 2, (0, 1), 1, (1, 2), False),
]


@pytest.mark.parametrize("shape", CONV_TRANSPOSE_SHAPES)
def test_torchs_own_transposed_convolution_still_does_what_serving_assumes(shape):
    """Fails loudly when torch drops ``aten::slow_conv_transpose2d`` or changes its arguments or
    results: serving then quietly falls back to the ordinary forward, slower for one image."""
    batch, cin, cout, height, width, kernel, stride, padding, output_padding, dilation, bias = shape
    assert hasattr(torch.ops.aten, NATIVE_CONV_TRANSPOSE), (
        f"torch no longer has aten::{NATIVE_CONV_TRANSPOSE}"
    )
    op = getattr(torch.ops.aten, NATIVE_CONV_TRANSPOSE)
    assert native_conv_transpose2d() is op, "serving's own check refuses this torch's op"
    torch.manual_seed(0)
    conv = nn.ConvTranspose2d(
        cin, cout, kernel, stride, padding, output_padding, bias=bias, dilation=dilation
    ).requires_grad_(False)
    small = SmallBatchConvTranspose2d.of(conv, op)
    x = torch.randn(batch, cin, height, width)
    expected = F.conv_transpose2d(
        x, conv.weight, conv.bias, conv.stride, conv.padding, conv.output_padding, 1, conv.dilation
    )
    for image in (x, x.to(memory_format=torch.channels_last)):
        got = small(image)
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=1e-5)


def _drops_the_bias(x, weight, kernel_size, bias, *rest):
    return torch.ops.aten.slow_conv_transpose2d(x, weight, kernel_size, None, *rest)


@pytest.mark.parametrize(
    "change",
    ["the op is gone", "it takes other arguments", "it gives other results"],
)
def test_without_a_working_native_op_transposed_convolutions_keep_their_forward(
    monkeypatch, change
):
    if change == "the op is gone":
        monkeypatch.setattr(serving, "NATIVE_CONV_TRANSPOSE", "no_such_op")
    elif change == "it takes other arguments":
        monkeypatch.setattr(serving, "NATIVE_CONV_TRANSPOSE", "conv_transpose2d")
    else:
        monkeypatch.setattr(torch.ops.aten, "drops_the_bias", _drops_the_bias, raising=False)
        monkeypatch.setattr(serving, "NATIVE_CONV_TRANSPOSE", "drops_the_bias")
    assert native_conv_transpose2d() is None
    torch.manual_seed(0)
    model = _with_trained_norms(build_model("vae", {"latent_dim": 6, "width": 4}))
    served = serving_copy(model, CPU)
    convs = [m for m in served.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert convs and all(type(m) is nn.ConvTranspose2d for m in convs)
    z = torch.randn(2, 6)
    with torch.inference_mode():
        assert (served.decode(z) - model.decode(z)).abs().max() * 255 < 1e-2
