"""Serve-time rewrites of a frozen, eval-mode module: the same function, drawn faster.

Each rewrite is exact in real arithmetic and moves float32 results by rounding only; the renderer
applies them to its own copies of a checkpoint's modules, which nothing ever trains.

* ``fold_batch_norm``: an eval-mode BatchNorm is a per-channel affine map, so it folds into the
  weights and bias of the convolution before it (the DCGAN generator's three BatchNorms).
* ``FlatSequential``: an ``nn.Sequential`` whose forward calls its layers' forwards directly,
  without ``nn.Module.__call__``'s hooks, and reshapes where ``nn.Unflatten`` would go through
  ``Tensor.unflatten`` (43 us a call on one CPU thread, against 1 for a view).
* ``small_batch_conv_transpose``: torch's own transposed convolution for small batches.
* ``FAST_CPU_ACTIVATIONS``: cheaper CPU forms of the CPPN's tanh and gaussian.

Measured on one thread of this project's 2-core CPU box, a single 32 px image: the DCGAN
generator's forward went from 167 to 120 us (glyphs) and 236 to 138 us (shapes) with the first
two, moving pixels by at most 3e-4 of a level.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from studio.models.mlp import ACTIVATIONS as CPPN_ACTIVATIONS

Step = Callable[[torch.Tensor], torch.Tensor]
CONVOLUTIONS = (nn.Conv2d, nn.ConvTranspose2d)

# ---------------------------------------------------------------- batch norm


def fold_batch_norm(layers: list[nn.Module]) -> list[nn.Module]:
    """``layers`` with every BatchNorm2d that follows a convolution folded into it.

    Eval-mode BatchNorm computes y = (x - mean) / sqrt(var + eps) * gamma + beta per channel:
    a scale and a shift, which the convolution's weights (along their output-channel axis) and
    bias take over. The convolutions are changed in place.
    """
    folded: list[nn.Module] = []
    for layer in layers:
        before = folded[-1] if folded else None
        if isinstance(layer, nn.BatchNorm2d) and isinstance(before, CONVOLUTIONS):
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


def _step(layer: nn.Module) -> Step:
    if isinstance(layer, nn.Unflatten) and layer.dim == 1:
        sizes = tuple(layer.unflattened_size)
        return lambda x: x.reshape(x.shape[0], *sizes, *x.shape[2:])
    return layer.forward


class FlatSequential(nn.Sequential):
    """A Sequential that runs its layers' forwards in a plain loop (no hooks: for serving).

    The layers stay its children, so code that walks them (the GAN's principal directions take
    the generator's first layers) sees an ordinary Sequential. Build it after any change to a
    layer's ``forward``: the loop holds the forwards as they were then.
    """

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__(*layers)
        self._steps = [_step(layer) for layer in layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self._steps:
            x = step(x)
        return x


def flatten_sequentials(model: nn.Module) -> None:
    """Replace each direct ``nn.Sequential`` child of ``model`` by a BatchNorm-folded
    ``FlatSequential`` of the same layers. ``model`` must be in eval mode."""
    if model.training:
        raise ValueError("fold batch norm into a model in eval mode only")
    for name, child in list(model.named_children()):
        if type(child) is nn.Sequential:
            setattr(model, name, FlatSequential(fold_batch_norm(list(child))))


# ---------------------------------------------------------------- transposed convolutions

# Below this many images, torch's own transposed convolution beats oneDNN's, whose fixed cost
# per call dominates 32 px images: one image took 0.30 instead of 0.42 ms (glyph VAE) and 0.39
# instead of 0.67 ms (DCGAN) on one CPU thread; from 8 images on, oneDNN wins.
SMALL_BATCH = 8


def small_batch_conv_transpose(module: nn.ConvTranspose2d) -> Step:
    """``module``'s forward, sending batches under SMALL_BATCH to torch's native kernel."""
    onednn_forward = module.forward

    def forward(x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if x.shape[0] >= SMALL_BATCH or output_size is not None or module.groups != 1:
            return onednn_forward(x, output_size)
        return torch.ops.aten.slow_conv_transpose2d(
            x,
            module.weight,
            module.kernel_size,
            module.bias,
            module.stride,
            module.padding,
            module.output_padding,
            module.dilation,
        )

    return forward


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


# On one thread of this project's 2-core box they took a 512 x 512 tanh CPPN from 164 to 95 ms.
FAST_CPU_ACTIVATIONS = {
    CPPN_ACTIVATIONS["tanh"]: _tanh_by_sigmoid,
    CPPN_ACTIVATIONS["gaussian"]: _gaussian_in_place,
}
