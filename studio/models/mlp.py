"""CPPN: a compositional pattern-producing network, y = f(XW + b) stacked.

Evaluated at every pixel's coordinates (x, y, r) together with a latent z, so the same weights
and z draw the same picture at any resolution. With random weights and a seed it is abstract
art; trained, it regresses a target image (MSE).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from studio.imaging import grid, to_uint8
from studio.models import register
from studio.models.base import (
    GenerativeModel,
    LossTerm,
    Objective,
    TrainingConfig,
    config_from_dict,
    option,
)
from studio.models.coordinates import DRAW_TILE, coordinate_grid, paint_in_passes
from studio.models.noise import Noise

# ---------------------------------------------------------------- activations

Activation = Callable[[torch.Tensor], torch.Tensor]


def _gaussian(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-(x * x))


ACTIVATIONS: dict[str, Activation] = {
    "tanh": torch.tanh,
    "sin": torch.sin,
    "gaussian": _gaussian,
    "relu": torch.relu,
}
MIX_ORDER = ("tanh", "sin", "gaussian")  # "mix" cycles through these layer by layer


# ---------------------------------------------------------------- model


@dataclass
class CPPNTraining(TrainingConfig):
    lr: float = option(2e-3, low=1e-6, high=1.0, log=True, label="Learning rate")


@dataclass
class CPPNConfig:
    latent_dim: int = option(8, low=1, high=512)
    depth: int = option(
        4,
        low=1,
        high=16,
        step=1,
        label="Depth",
        help="hidden layers: more fold the pattern more often",
    )
    width: int = option(32, low=4, high=512, log=True, label="Width", help="units per hidden layer")
    activation: str = option(
        "tanh",
        choices=("tanh", "sin", "gaussian", "relu", "mix"),
        label="Activation",
        help="the non-linearity f in y = f(xW + b); mix cycles tanh, sin, gaussian",
    )
    scale: float = option(
        4.0,
        low=0.05,
        high=100.0,
        log=True,
        label="Zoom",
        help="how far out the coordinates reach: small is smooth, large is busy",
    )
    channels: int = option(
        3, choices=(3, 1), names={3: "colour", 1: "grey"}, label="Colour", help="colour or grey"
    )
    size: int = option(64, low=8, high=4096, help="default render and training size")
    init_std: float = option(
        1.0, low=0.0, high=10.0, step=0.05, label="Contrast", help="spread of the random weights"
    )
    z_scale: float = option(1.0, low=0.0, high=100.0, help="how strongly z moves the picture")


@register
class CPPN(GenerativeModel):
    family = "mlp"
    arch = "cppn"
    FAMILY_TITLE = "MLP (CPPN)"
    FAMILY_BLURB = "Paints one picture from its pixel coordinates."
    DATASETS = ("image",)
    Config = CPPNConfig
    Training = CPPNTraining
    any_size = True
    DRAW_KNOBS = ("scale",)
    ART_KNOBS = ("depth", "width", "activation", "init_std", "channels")
    TRAIN_KNOBS = ("width", "depth", "activation")
    PREVIEW_CAPTION = "The target, and the network's drawing of it"
    FORMULA = r"\hat y(x, y) = \sigma\big(f_L(\cdots f_1([x, y, r, z] W_1 + b_1) \cdots)\big),\quad \mathcal{L} = \tfrac{1}{HWC}\lVert \hat y - y \rVert^2"
    TERMS = (
        LossTerm(
            "mse",
            "MSE",
            r"\tfrac{1}{HWC}\sum (\hat y - y)^2",
            "mean squared error between the drawing and the target",
            "lower",
        ),
        LossTerm(
            "psnr",
            "PSNR (dB)",
            r"10 \log_{10} \tfrac{1}{\mathrm{MSE}}",
            "peak signal-to-noise ratio: higher is a closer fit",
            "higher",
        ),
    )

    def __init__(self, config: CPPNConfig) -> None:
        super().__init__(config)
        c = config
        self.coords = nn.Linear(3, c.width)
        self.latent = nn.Linear(c.latent_dim, c.width, bias=False)
        self.hidden = nn.ModuleList(nn.Linear(c.width, c.width) for _ in range(c.depth - 1))
        self.out = nn.Linear(c.width, c.channels)
        self.activation_names = (
            tuple(MIX_ORDER[i % len(MIX_ORDER)] for i in range(c.depth))
            if c.activation == "mix"
            else (c.activation,) * c.depth
        )
        self.activations = [ACTIVATIONS[n] for n in self.activation_names]
        self.reset_parameters(torch.Generator().manual_seed(0))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Draw the art: N(0, init_std^2 / fan_in) weights, the CPPN classic. A blueprint on the
        meta device has no values to draw (and drawing there would load torch's compiler)."""
        if self.coords.weight.is_meta:
            return
        with torch.no_grad():
            for layer in (self.coords, self.latent, *self.hidden, self.out):
                fan_in = layer.weight.shape[1]
                std = self.config.init_std / math.sqrt(fan_in)
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
                if layer.bias is not None:
                    layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * std)

    def with_activations(self, forms: Mapping[str, Activation]) -> CPPN:
        """A copy of this network that computes each activation named in ``forms`` with the
        function given there (the renderer's faster CPU forms); this one keeps torch's own."""
        unknown = sorted(set(forms) - set(ACTIVATIONS))
        if unknown:
            raise ValueError(f"no CPPN activation is called {', '.join(unknown)}")
        other = copy.deepcopy(self)
        other.activations = [forms.get(n, ACTIVATIONS[n]) for n in self.activation_names]
        return other

    def render(
        self,
        z: torch.Tensor,
        height: int,
        width: int,
        *,
        rows: slice = slice(None),
        cols: slice = slice(None),
        scale: float | None = None,
    ) -> torch.Tensor:
        """Images N x C x h x w of z at H x W (or the tile rows x cols of it), values in [0, 1].

        ``scale`` zooms the coordinates of this render only (default: the config's).
        """
        scale = self.config.scale if scale is None else scale
        xy = coordinate_grid(height, width, scale, rows=rows, cols=cols, device=self.device)
        h = len(range(height)[rows])
        w = len(range(width)[cols])
        # The latent's contribution is the same for every pixel: add it as a per-image bias
        # instead of concatenating z to each of the h*w coordinate rows.
        z_bias = self.latent(z * self.config.z_scale)  # N x width
        x = self.coords(xy).unsqueeze(0) + z_bias.unsqueeze(1)  # N x hw x width
        x = self.activations[0](x)
        for layer, act in zip(self.hidden, self.activations[1:], strict=True):
            x = act(layer(x))
        y = torch.sigmoid(self.out(x))  # N x hw x C
        return y.transpose(1, 2).reshape(z.shape[0], self.config.channels, h, w)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.render(z, self.config.size, self.config.size)

    def draw(
        self,
        z: torch.Tensor,
        size: int | None = None,
        *,
        scale: float | None = None,
        tile: int = DRAW_TILE,
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """N x size x size x C uint8, drawn natively at ``size`` in passes of at most tile^2
        pixels (small images several to a pass, large ones in bands of rows), each written
        straight into one array: a poster holds its pixels plus a pass's activations, whatever
        its size. A pixel does not depend on the pass that drew it, so passes join without
        seams. ``progress`` hears the share done after each pass."""
        size = size or self.config.size

        def band(i0: int, i1: int, r0: int, r1: int) -> torch.Tensor:
            return self.render(z[i0:i1], size, size, rows=slice(r0, r1), scale=scale)

        pixels = min(tile, DRAW_TILE) ** 2
        return paint_in_passes(len(z), size, self.config.channels, pixels, band, progress)

    def pixel_work(self, options: dict[str, Any]) -> float:
        """Every pixel runs through every weight of the network the art knobs describe."""
        knobs = {k: v for k, v in options.items() if k in self.ART_KNOBS}
        network: nn.Module = self
        if knobs:
            with torch.device("meta"):  # its shapes, none of its memory
                network = CPPN(
                    config_from_dict(CPPNConfig, dataclasses.asdict(self.config) | knobs)
                )
        return float(sum(p.numel() for p in network.parameters()))

    def variant(self, changes: dict[str, Any], weight_seed: int | None) -> CPPN:
        """Another random network: this config with ``changes``, weights drawn from the seed."""
        config = config_from_dict(CPPNConfig, dataclasses.asdict(self.config) | changes)
        model = CPPN(config).to(self.device)
        model.reset_parameters(torch.Generator().manual_seed(weight_seed or 0))
        return model

    @torch.inference_mode()
    def preview(self, data: torch.Tensor) -> np.ndarray:
        """The target beside the network's drawing of it at z = 0, the code it is fitted at."""
        drawn = self.draw(torch.zeros(1, self.latent_dim, device=self.device))
        target = to_uint8(data[:1].to(self.device)) if len(data) else drawn[:0]
        return grid(np.concatenate([target, drawn]), columns=1 + len(target))

    def loss_terms(self, batch: torch.Tensor, noise: Noise = None) -> dict[str, torch.Tensor]:
        """Fit the target image(s) ``batch`` (N x C x H x W) from z = 0 (nothing random)."""
        z = torch.zeros(batch.shape[0], self.latent_dim, device=batch.device)
        drawn = self.render(z, batch.shape[-2], batch.shape[-1])
        mse = torch.mean((drawn - batch) ** 2)
        psnr = -10 * torch.log10(mse.detach().clamp_min(1e-12))
        return {"mse": mse, "psnr": psnr}

    def objectives(self) -> tuple[Objective, ...]:
        return (Objective("cppn", "mse", ("coords", "latent", "hidden", "out")),)
