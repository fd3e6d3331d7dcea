"""Serving copies: a model rewritten to draw the same pictures faster.

The renderer draws with ``serving_copy(model, device)`` and leaves ``model`` as the checkpoint
made it, so that whatever walks or hooks its layers (the GAN's principal directions take the
generator's first layers) sees the checkpoint's own modules. The copy is frozen, in eval mode,
channels_last (on 2 CPU cores that cut a 32 px DCGAN forward by ~20% alone and ~55% in a batch
of 64), and rewritten:

* ``fold_batch_norm``: an eval-mode BatchNorm is a per-channel affine map, so it folds into the
  weights and bias of the convolution before it (the DCGAN generator's three BatchNorms).
* ``FlatSequential``: an ``nn.Sequential`` whose forward calls its layers' forwards directly,
  without ``nn.Module.__call__``'s hooks, and reshapes where ``nn.Unflatten`` would go through
  ``Tensor.unflatten`` (43 us a call on one CPU thread, against 1 for a view).
* On the CPU, ``SmallBatchConvTranspose2d``: torch's own transposed convolution for small
  batches; and ``CPU_ACTIVATIONS``: cheaper forms of the CPPN's tanh and gaussian.

Each rewrite is exact in real arithmetic and moves float32 results by rounding only. Measured on
one thread of this project's 2-core CPU box, a single 32 px image: the DCGAN generator's forward
went from 167 to 120 us (glyphs) and 236 to 138 us (shapes) with the first two, moving pixels by
at most 3e-4 of a level. A copy doubles the memory of a model's weights: with the zoo's twelve
models (10.7 MB of weights) loaded and drawn once, the process held 355 MB instead of 346.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from studio.models import GenerativeModel
from studio.models.mlp import CPPN, Activation

CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)

# ---------------------------------------------------------------- the copy


def serving_copy(
    model: GenerativeModel, device: torch.device, *, autocast: bool = False, compile: bool = False
) -> GenerativeModel:
    """``model`` copied onto ``device`` and rewritten to draw there; ``model`` is untouched.

    ``autocast``: it will draw under bf16/fp16 autocast, which torch's own transposed
    convolution knows nothing of (it refuses bf16 inputs with float32 weights). ``compile``:
    ``torch.compile`` its flattened Sequentials (their transposed convolutions stay torch's
    usual ones).
    """
    cpu = device.type == "cpu"
    if cpu and isinstance(model, CPPN):
        served = model.with_activations(CPU_ACTIVATIONS)
    else:
        served = copy.deepcopy(model)
    served = served.requires_grad_(False).eval().to(device)
    served = served.to(memory_format=torch.channels_last)
    native = native_conv_transpose2d() if cpu and not autocast and not compile else None
    _rewrite_children(served, native)
    if compile:
        for child in served.children():
            if isinstance(child, FlatSequential):
                child.compile()
    return served


def _rewrite_children(module: nn.Module, native: NativeConvTranspose | None) -> None:
    """Replace ``module``'s descendants by their serving forms, deepest first, so that a
    ``FlatSequential`` holds its layers' final forwards."""
    for name, child in list(module.named_children()):
        _rewrite_children(child, native)
        if native is not None and type(child) is nn.ConvTranspose2d:
            setattr(module, name, SmallBatchConvTranspose2d.of(child, native))
        elif type(child) is nn.Sequential:
            setattr(module, name, FlatSequential(fold_batch_norm(list(child))))


# ---------------------------------------------------------------- batch norm


def fold_batch_norm(layers: list[nn.Module]) -> list[nn.Module]:
    """``layers`` with every eval-mode BatchNorm2d that follows a convolution folded into it.

    Eval-mode BatchNorm computes y = (x - mean) / sqrt(var + eps) * gamma + beta per channel:
    a scale and a shift, which the convolution's weights (along their output-channel axis) and
    bias take over. The convolutions are changed in place.
    """
    folded: list[nn.Module] = []
    for layer in layers:
        before = folded[-1] if folded else None
        if isinstance(layer, nn.BatchNorm2d) and isinstance(before, CONVOLUTIONS):
            if layer.training:
                raise ValueError("only an eval-mode BatchNorm folds: in training it uses the batch")
            _fold_into(before, layer)
        else:
            folded.append(layer)
    return folded


@torch.no_grad()
def _fold_into(conv: nn.Conv2d | nn.ConvTranspose2d, norm: nn.BatchNorm2d) -> None:
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias - norm.running_mean * scale
    out_axis = 1 if isinstance(conv, nn.ConvTranspose2d) else 0
    shape = [1] * conv.weight.dim()
    shape[out_axis] = -1
    conv.weight.mul_(scale.view(shape))
    bias = shift if conv.bias is None else conv.bias * scale + shift
    conv.bias = nn.Parameter(bias, requires_grad=False)


# ---------------------------------------------------------------- flat forward


def _step(layer: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    if isinstance(layer, nn.Unflatten) and layer.dim == 1:
        sizes = tuple(layer.unflattened_size)
        return lambda x: x.reshape(x.shape[0], *sizes, *x.shape[2:])
    return layer.forward


class FlatSequential(nn.Sequential):
    """A Sequential that runs its layers' forwards in a plain loop (no hooks: for serving).

    The layers stay its children, so code that walks them sees an ordinary Sequential. The loop
    holds the layers' forwards as they were when it was built.
    """

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__(*layers)
        self._steps = [_step(layer) for layer in layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self._steps:
            x = step(x)
        return x


# ---------------------------------------------------------------- transposed convolutions

# Below this many images, torch's own transposed convolution beats oneDNN's, whose fixed cost
# per call dominates 32 px images: one image took 0.30 instead of 0.42 ms (glyph VAE) and 0.39
# instead of 0.67 ms (DCGAN) on one CPU thread; from 8 images on, oneDNN wins.
SMALL_BATCH = 8
NATIVE_CONV_TRANSPOSE = "slow_conv_transpose2d"  # a private aten op: see native_conv_transpose2d

NativeConvTranspose = Callable[..., torch.Tensor]


def native_conv_transpose2d() -> NativeConvTranspose | None:
    """torch's own transposed convolution (``aten::slow_conv_transpose2d``), or None when this
    torch lacks it or it no longer gives what a transposed convolution gives on a small example.

    It is private: a torch release may drop it or change its arguments without notice. Then
    transposed convolutions are served with their ordinary forward (single images ~1.4-1.7x
    slower), and tests/test_serving.py fails to say so. The example's expected result is the
    transposed convolution written as the adjoint of a convolution (a product with the weights,
    then ``F.fold``), not ``F.conv_transpose2d``: its oneDNN kernels took 19 MB of memory, which
    a process that draws no batch never needs.
    """
    op = getattr(torch.ops.aten, NATIVE_CONV_TRANSPOSE, None)
    if op is None:
        return None
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 4, generator=generator)  # N x in x H x W
    weight = torch.randn(3, 4, 3, 2, generator=generator)  # in x out x kernel
    bias = torch.randn(4, generator=generator)
    stride, padding, output_padding, dilation = (2, 1), (1, 0), (1, 0), (1, 2)
    columns = weight.flatten(1).T @ x.flatten(2)  # N x (out * kernel) x HW
    # out size: (H - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    expected = F.fold(columns, (10, 6), (3, 2), dilation, padding, stride) + bias.view(-1, 1, 1)
    try:
        got = op(x, weight, (3, 2), bias, stride, padding, output_padding, dilation)
    except (RuntimeError, TypeError):
        return None
    agrees = isinstance(got, torch.Tensor) and got.shape == expected.shape
    return op if agrees and torch.allclose(got, expected, atol=1e-5) else None


class SmallBatchConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution that draws batches under ``SMALL_BATCH`` with torch's own
    kernel (``native``) and larger ones, or grouped ones, with the ordinary forward."""

    native: NativeConvTranspose

    @classmethod
    def of(cls, conv: nn.ConvTranspose2d, native: NativeConvTranspose) -> SmallBatchConvTranspose2d:
        """``conv`` in this form, holding the same weight and bias tensors."""
        small = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.output_padding,
            conv.groups,
            conv.bias is not None,
            conv.dilation,
            conv.padding_mode,
            device="meta",  # no weights of its own to initialise: it takes conv's
        )
        small.weight, small.bias = conv.weight, conv.bias
        small.native = native
        return small

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if x.shape[0] >= SMALL_BATCH or output_size is not None or self.groups != 1:
            return super().forward(x, output_size)
        return self.native(
            x,
            self.weight,
            self.kernel_size,
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.dilation,
        )


# ---------------------------------------------------------------- CPPN activations


def _tanh_by_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """tanh(x) = 2 sigmoid(2x) - 1. On the CPU torch's sigmoid costs ~0.5 ns an element and its
    tanh ~3.5; the two agree to 2e-7, which moved 1 to 3 pixel values in 10^5 by one level."""
    return (2 * x).sigmoid_().mul_(2).sub_(1)


EXP_FLOOR = -87.0  # exp(-87) = 1.6e-38, the smallest normal float32 is 1.2e-38


def _gaussian_in_place(x: torch.Tensor) -> torch.Tensor:
    """exp(-x^2) with one new tensor instead of three, its exponent floored at EXP_FLOOR.

    Below about -88, where exp's result leaves the normal float32 range, torch's CPU exp takes a
    slow path: 2.7 ms instead of 0.12 for 131k elements. The floor changes a value by less than
    1.6e-38 and no pixel of the shipped CPPNs; mlp-lace at 512 px went from 111 to 74 ms.
    """
    return x.square().neg_().clamp_(min=EXP_FLOOR).exp_()


# By the CPPN's activation names. On one thread of this project's 2-core box they took a
# 512 x 512 tanh CPPN from 164 to 95 ms.
CPU_ACTIVATIONS: dict[str, Activation] = {
    "tanh": _tanh_by_sigmoid,
    "gaussian": _gaussian_in_place,
}
