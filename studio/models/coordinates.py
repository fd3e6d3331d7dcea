"""Pictures as functions of a pixel's position: the coordinate grid and the passes every
coordinate network draws in, and the coordinate generator that the GAN and the VAE draw with.

A coordinate generator is the math section's MLP, y = f(XW + b) evaluated at pixel coordinates,
conditioned on a code z (Ha 2016, "Generating Large Images from Latent Vectors"; CIPS, Anokhin
et al. 2021; LIIF, Chen et al. 2021). z reaches it in one of three ways (``conditioning``):

* ``grid`` (LIIF): a small transposed-convolution net turns z into a coarse grid of feature
  vectors; each point reads the grid bilinearly at its position and the MLP turns those features
  and the point's Fourier features into colour;
* ``film`` (CIPS): a mapping net turns z into a scale and a shift for each hidden layer;
* ``concat`` (Ha): a mapping net turns z into a bias added to the first layer, which is what
  concatenating it to every point's inputs computes.

The grid is the default: on the glyph VAE after 500 steps its held-out ELBO was -125 nats,
FiLM's -157 and concat's -177, at about the same cost a step as FiLM (the README has the
figures, and those of the sub-samples below).

A pixel is the average of the function over its footprint, not its value at the centre: the
bundled pictures are anti-aliased, and a network fitted at pixel centres learns the blur as
part of the picture. Training therefore draws ``samples`` x ``samples`` jittered points in each
pixel (stratified: one in each sub-square) and averages the colours they give; the loss sees the
averages. Two a side (the default) made the glyph GAN's edges at 512 px half as wide as one
did, at 3.4 times the cost of a step. Drawing at a size averages the same number of points in
each native pixel, at the centres of the sub-squares (so the native picture is the footprint
average the network was fitted to, and a large picture box-filtered down to the native size
gives it back), and the function itself is free to keep its edges sharp at any size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.data.base import Dataset
from studio.imaging import to_uint8
from studio.models.base import option
from studio.models.noise import Noise, shared_uniform

DRAW_TILE = 64  # a pass draws at most DRAW_TILE**2 points, so its activations stay in cache
FORWARD_POINTS = 2**18  # points a native forward computes at once (32 MB a layer at width 32)


def coordinate_grid(
    height: int,
    width: int,
    scale: float,
    *,
    rows: slice = slice(None),
    cols: slice = slice(None),
    device: torch.device | None = None,
) -> torch.Tensor:
    """(x, y, r) for each pixel of an H x W image, or of a tile of it: (h*w) x 3.

    The longer side spans [-scale, scale] and the aspect ratio is kept, so a tile cut out of a
    large render gets exactly the coordinates it has in the whole image.
    """
    half = scale / max(height, width)
    ys = (torch.arange(height, dtype=torch.float32, device=device) * 2 - (height - 1)) * half
    xs = (torch.arange(width, dtype=torch.float32, device=device) * 2 - (width - 1)) * half
    y, x = torch.meshgrid(ys[rows], xs[cols], indexing="ij")
    r = torch.sqrt(x * x + y * y)
    return torch.stack([x, y, r], dim=-1).reshape(-1, 3)


def passes(n: int, size: int, pixels: int) -> list[tuple[int, int, int, int]]:
    """(first image, end image, first row, end row) of each pass of at most ``pixels`` pixels.

    Small images go several to a pass, large ones in bands of rows.
    """
    per_image = size * size
    if per_image <= pixels:
        step = max(1, pixels // per_image)
        return [(i, min(i + step, n), 0, size) for i in range(0, n, step)]
    rows = max(1, pixels // size)
    return [(i, i + 1, r, min(r + rows, size)) for i in range(n) for r in range(0, size, rows)]


Band = Callable[[int, int, int, int], torch.Tensor]  # (image, end image, row, end row) -> NCHW


def paint_in_passes(
    n: int,
    size: int,
    channels: int,
    pixels: int,
    band: Band,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """N x size x size x C uint8, each pass's ``band`` of at most ``pixels`` pixels written
    straight into one array: a poster holds its pixels plus one pass's activations, whatever its
    size. ``progress`` hears the share done after each pass."""
    out = np.empty((n, size, size, channels), np.uint8)
    plan = passes(n, size, pixels)
    for done, (i0, i1, r0, r1) in enumerate(plan, 1):
        out[i0:i1, r0:r1] = to_uint8(band(i0, i1, r0, r1))
        if progress:
            progress(done / len(plan))
    return out


def draw_samples(native: int, size: int, trained: int, antialias: int = 1) -> int:
    """Points per side of each pixel when drawing at ``size``: at least as many in each native
    pixel as training averaged (``trained`` a side), and at least ``antialias``."""
    return max(antialias, math.ceil(trained * native / size))


# ---------------------------------------------------------------- options


CONDITIONINGS = ("grid", "film", "concat")
READINGS = ("linear", "spline")
GRID_NORMS = ("none", "batch")
LEVELS = ("unit", "data")


@dataclass
class CoordinateOptions:
    """The coordinate generator's shape, shared by the GAN and the VAE that draw with it."""

    conditioning: str = option(
        "grid",
        choices=CONDITIONINGS,
        label="How z reaches the pixels",
        help="grid: a coarse feature grid read at each point (LIIF); film: a scale and shift "
        "per layer (CIPS); concat: a bias on the first layer (Ha 2016)",
    )
    cells: int = option(8, choices=(4, 8, 16), help="the feature grid's side (grid conditioning)")
    grid_norm: str = option(
        "none",
        choices=GRID_NORMS,
        label="Grid network",
        names={"none": "SiLU", "batch": "batch norm and ReLU, as the DCGAN's G"},
        help="how z becomes the feature grid: transposed convolutions with SiLU between them, "
        "or with batch norm and ReLU",
    )
    reading: str = option(
        "linear",
        choices=READINGS,
        label="Grid reading",
        help="how a point reads the feature grid: linear, whose slope jumps at the cells' "
        "borders (faint creases at poster size), or a quadratic B-spline, smooth across them",
    )
    # Why the data's levels: CoordinateGenerator.colour.
    levels: str = option(
        "unit",
        choices=LEVELS,
        label="Colour levels",
        names={"unit": "0 to 1", "data": "the data's darkest to brightest"},
        help="what each channel's sigmoid spans: 0 to 1, or the training data's darkest to its "
        "brightest level, so that a background that is not black is drawn with the sigmoid "
        "saturated and its edges stay sharp at any size",
    )
    mlp_width: int = option(32, low=8, high=512, log=True, label="Pixel MLP width")
    mlp_depth: int = option(2, low=1, high=8, step=1, label="Pixel MLP depth")
    bands: int = option(4, low=0, high=8, step=1, help="Fourier bands of the coordinates")
    samples: int = option(
        2,
        low=1,
        high=4,
        step=1,
        label="Sub-samples per side",
        help="points per side of each training pixel, averaged: 1 fits the pixel centres",
    )
    antialias: int = option(
        1,
        low=1,
        high=4,
        step=1,
        label="Anti-aliasing",
        help="points per side of each drawn pixel, averaged (1: one at its centre)",
    )


# ---------------------------------------------------------------- the network


def fourier_features(xy: torch.Tensor, bands: int) -> torch.Tensor:
    """(x, y) and sin, cos of 2^k * pi * (x, y) for k < bands: ... x (2 + 4 bands)."""
    if not bands:
        return xy
    freqs = math.pi * 2.0 ** torch.arange(bands, dtype=xy.dtype, device=xy.device)
    angles = (xy.unsqueeze(-1) * freqs).flatten(-2)
    return torch.cat([xy, angles.sin(), angles.cos()], dim=-1)


def tent_weights(u: torch.Tensor, cells: int) -> torch.Tensor:
    """Linear interpolation weights of positions ``u`` (n, in [-1, 1]) over ``cells`` cells
    centred at (2j + 1) / cells - 1, positions beyond the outer centres taking the border's
    value: n x cells, each row summing to 1."""
    index = (((u + 1) * cells - 1) / 2).clamp(0, cells - 1)
    centres = torch.arange(cells, dtype=u.dtype, device=u.device)
    return (1 - (index.unsqueeze(-1) - centres).abs()).clamp_min(0)


def spline_weights(u: torch.Tensor, cells: int) -> torch.Tensor:
    """Quadratic B-spline weights of positions ``u`` (n, in [-1, 1]) over ``cells`` cells
    centred as in ``tent_weights``: n x cells, each row summing to 1. The read is smooth in
    value and slope, so a large picture shows no crease along the cells' borders. Near the
    picture's edge the weights of centres beyond the grid are left out and the rest scaled up."""
    index = ((u + 1) * cells - 1) / 2
    d = (index.unsqueeze(-1) - torch.arange(cells, dtype=u.dtype, device=u.device)).abs()
    near, far = 0.75 - d**2, 0.5 * (1.5 - d).clamp_min(0) ** 2
    weights = torch.where(d <= 0.5, near, far)
    return weights / weights.sum(-1, keepdim=True)


_GRID_WEIGHTS = {"linear": tent_weights, "spline": spline_weights}


def grid_net(latent_dim: int, cells: int, norm: str, features: int) -> list[nn.Module]:
    """z -> a cells x cells grid of ``features`` features (the pixel MLP's first layer, less its
    share from the point's position): a linear layer to 4 x 4, then transposed convolutions,
    halving the width as they double the side."""
    widths = [128 // 2**i for i in range(int(math.log2(cells // 4)) + 1)]
    batch = norm == "batch"

    def activation(width: int) -> list[nn.Module]:
        return [nn.BatchNorm2d(width), nn.ReLU()] if batch else [nn.SiLU()]

    layers = [
        nn.Linear(latent_dim, widths[0] * 16, bias=not batch),
        nn.Unflatten(1, (widths[0], 4, 4)),
        *activation(widths[0]),
    ]
    for cin, cout in zip(widths, widths[1:], strict=False):
        layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=not batch), *activation(cout)]
    return [*layers, nn.Conv2d(widths[-1], features, 1, bias=False)]


def pixel_centres(n: int, device: torch.device) -> torch.Tensor:
    """The centres of n pixels side by side across [-1, 1]."""
    return (torch.arange(n, dtype=torch.float32, device=device) * 2 + 1) / n - 1


class CoordinateGenerator(nn.Module):
    """z -> pictures at any size: an MLP on each point's position, conditioned on z.

    ``forward(z)`` gives the native-size picture in [0, 1] (N x C x size x size), each pixel the
    average over a fixed pattern of points in its footprint; ``sample(z, noise)`` gives the same
    with jittered points (training); ``draw`` makes uint8 pictures at any size in passes.

    The points of a picture always form a grid, columns ``xs`` by rows ``ys`` (jittered: each
    column and each row moved, so each point stays uniform in its sub-square). The first layer
    is then cheap: on Fourier features, which hold x and y apart, it is a column's share plus a
    row's share; and reading the grid of features, which holds the first layer's share of each
    cell (a linear layer commutes with interpolation), is two small matrix products, one along
    each axis. A point pays for the hidden layers after the first, and little else.
    """

    def __init__(
        self, latent_dim: int, channels: int, size: int, options: CoordinateOptions
    ) -> None:
        super().__init__()
        o = options
        self.size, self.channels, self.options = size, channels, o
        if o.conditioning == "grid":
            layers = grid_net(latent_dim, o.cells, o.grid_norm, o.mlp_width)
        else:
            conditions = o.mlp_width * (2 * o.mlp_depth if o.conditioning == "film" else 1)
            layers = [
                nn.Linear(latent_dim, o.mlp_width),
                nn.SiLU(),
                nn.Linear(o.mlp_width, conditions),
            ]
        self.from_z = nn.Sequential(*layers)
        inputs = 2 + 4 * o.bands
        self.hidden = nn.ModuleList(
            nn.Linear(inputs if i == 0 else o.mlp_width, o.mlp_width) for i in range(o.mlp_depth)
        )
        self.out = nn.Linear(o.mlp_width, channels)
        # How steeply colour turns as the output crosses 0: one number that the data's sharp
        # edges, averaged over footprints, can pull up, where the MLP's weights would take long.
        self.log_gain = nn.Parameter(torch.zeros(()))
        if o.levels == "data":  # each channel's darkest and brightest level, set by take_levels
            self.register_buffer(
                "levels", torch.stack([torch.zeros(channels), torch.ones(channels)])
            )

    def first_layer(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """The first layer on the Fourier features of every point of the grid: h x w x width.
        Its features of (x, y) are those of (x, 0) plus those of (0, y) less those of (0, 0)."""
        layer, bands = self.hidden[0], self.options.bands
        zeros_x, zeros_y = torch.zeros_like(xs), torch.zeros_like(ys)
        cols = layer(fourier_features(torch.stack([xs, zeros_x], -1), bands))
        rows = layer(fourier_features(torch.stack([zeros_y, ys], -1), bands))
        origin = layer(fourier_features(xs.new_zeros(2), bands))
        return (rows - origin).unsqueeze(1) + cols

    def field(self, condition: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """The colour logits at the grid of points (xs, ys), for each code's ``from_z(z)``:
        N x C x h x w."""
        conditioning = self.options.conditioning
        x = self.first_layer(xs, ys)
        if conditioning == "grid":  # N x width x cells x cells, read along x, then along y
            cells, weights = self.options.cells, _GRID_WEIGHTS[self.options.reading]
            n, width = condition.shape[:2]
            cells_last = condition.permute(0, 2, 3, 1)  # N x cells x cells x width: small
            along_x = weights(xs, cells) @ cells_last  # N x cells x w x width
            read = weights(ys, cells) @ along_x.reshape(n, cells, -1)  # N x h x (w x width)
            x = read.view(n, len(ys), len(xs), width) + x  # laid out as the layers read it
        elif conditioning == "concat":
            x = x + condition[:, None, None, :]
        else:
            per_layer = condition[:, None, None, :].chunk(2 * len(self.hidden), dim=-1)
        for i, layer in enumerate(self.hidden):
            if i:
                x = layer(x)
            if conditioning == "film":
                x = x * (1 + per_layer[2 * i]) + per_layer[2 * i + 1]
            x = F.silu(x, inplace=not x.requires_grad)  # a drawing's own activations
        return (self.out(x) * self.log_gain.exp()).permute(0, 3, 1, 2)

    def colour(self, logits: torch.Tensor) -> torch.Tensor:
        """N x C x h x w logits as colours: their sigmoid, spanning the data's levels where the
        generator has them. An edge is sharp at any size only where the sigmoid saturates on
        both sides of it. Spanning 0 to 1, the shapes' dark grey background (0.04) held the
        sigmoid at a logit of -3.2, and the edges were as soft as the field is smooth; spanning
        the data's levels, it is reached at -infinity, as black is on glyphs."""
        unit = torch.sigmoid(logits)
        if self.options.levels == "unit":
            return unit
        low, high = self.levels[:, :, None, None]
        return torch.lerp(low, high, unit)

    def take_levels(self, x: torch.Tensor) -> None:
        """Span the levels of the training pictures x (N x C x H x W in [0, 1])."""
        self.levels.copy_(torch.stack([x.amin(dim=(0, 2, 3)), x.amax(dim=(0, 2, 3))]))

    @torch.no_grad()
    def steepen(self, factor: float) -> None:
        """Multiply the gain by ``factor``: every edge at once ``factor`` times narrower."""
        self.log_gain += math.log(factor)

    def picture(
        self,
        condition: torch.Tensor,
        size: int,
        samples: int,
        *,
        rows: slice = slice(None),
        jitter: bool = False,
        noise: Noise = None,
    ) -> torch.Tensor:
        """N x C x h x w in [0, 1], for each code's ``from_z(z)``: each pixel of a ``size``
        picture (or of its band ``rows``) the mean colour of samples x samples points in its
        footprint, at the centres of its sub-squares, or (``jitter``) anywhere within them,
        drawn from ``noise``: a step's jitter is one pattern for all its pictures."""
        fine = size * samples
        band = range(size)[rows]
        xs = pixel_centres(fine, condition.device)
        ys = xs[band.start * samples : band.stop * samples]
        if jitter:
            xs = xs + (shared_uniform(xs.shape, noise, device=xs.device) - 0.5) * (2 / fine)
            ys = ys + (shared_uniform(ys.shape, noise, device=ys.device) - 0.5) * (2 / fine)
        colour = self.colour(self.field(condition, xs, ys))
        return F.avg_pool2d(colour, samples) if samples > 1 else colour

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The native pictures, a few codes at a time: 500 of them at once would hold 8 million
        points, a gigabyte a layer."""
        samples = self.options.samples
        condition = self.from_z(z)
        codes = max(1, FORWARD_POINTS // (self.size * samples) ** 2)
        parts = [
            self.picture(condition[i : i + codes], self.size, samples)
            for i in range(0, len(z), codes)
        ]
        return torch.cat(parts)

    def sample(self, z: torch.Tensor, noise: Noise) -> torch.Tensor:
        """The native picture from jittered points: what training fits."""
        return self.picture(
            self.from_z(z), self.size, self.options.samples, jitter=True, noise=noise
        )

    def draw(
        self,
        z: torch.Tensor,
        size: int,
        *,
        antialias: int = 1,
        tile: int = DRAW_TILE,
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """N x size x size x C uint8, in passes of at most tile^2 points written into one array,
        so a poster holds its pixels plus one pass's activations. A pixel does not depend on
        the pass that drew it: passes join without seams."""
        samples = draw_samples(self.size, size, self.options.samples, antialias)
        condition = self.from_z(z)

        def band(i0: int, i1: int, r0: int, r1: int) -> torch.Tensor:
            return self.picture(condition[i0:i1], size, samples, rows=slice(r0, r1))

        pixels = max(1, min(tile, DRAW_TILE) ** 2 // samples**2)
        return paint_in_passes(len(z), size, self.channels, pixels, band, progress)


class CoordinateDrawing:
    """The drawing of a model whose pictures come from a coordinate generator (its ``painter``):
    at any size, with the ``antialias`` knob. Put it before the family in the bases."""

    any_size = True
    DRAW_KNOBS = ("antialias",)
    GENERATOR_TITLE = "Coordinate network: draws at any size"
    config: CoordinateOptions
    native_size: int

    @property
    def painter(self) -> CoordinateGenerator:
        raise NotImplementedError

    def adapt_to(self, data: Dataset) -> None:
        """Every coordinate generator spans the data's levels, where its options ask for them."""
        if self.config.levels == "data":
            for generator in self.generators():
                generator.take_levels(data.x)

    def steepen(self, factor: float) -> None:
        """Edges ``factor`` times narrower, at every size: each generator's gain multiplied.

        Box averages at the training size hardly tell an edge a fraction of a pixel wide from
        a step, so training leaves its width where it happens to be. Steepened late in a
        run, the model keeps the narrow edges while it relearns the colours the steeper
        sigmoid pushed outwards (``--steepen`` on a resumed run)."""
        for generator in self.generators():
            generator.steepen(factor)

    def generators(self) -> list[CoordinateGenerator]:
        """The model's coordinate generators: the GAN's moving average too."""
        return [m for m in self.modules() if isinstance(m, CoordinateGenerator)]

    def pixel_work(self, options: dict[str, Any]) -> float:
        """antialias^2 points a pixel, each through the hidden layers after the first, and
        through the grid's read along x (the read along y and the first layer are shared by a
        row or a column)."""
        painter, o = self.painter, self.config
        layers = (*painter.hidden[1:], painter.out)
        mlp = sum(p.numel() for layer in layers for p in layer.parameters())
        read = o.cells * o.mlp_width if o.conditioning == "grid" else 0
        return float(options.get("antialias", o.antialias) ** 2 * (mlp + read))

    def draw(
        self,
        z: torch.Tensor,
        size: int | None = None,
        *,
        antialias: int | None = None,
        tile: int = DRAW_TILE,
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """N x size x size x C uint8, the native size by default (``CoordinateGenerator.draw``)."""
        return self.painter.draw(
            z,
            size or self.native_size,
            antialias=antialias or self.config.antialias,
            tile=tile,
            progress=progress,
        )
