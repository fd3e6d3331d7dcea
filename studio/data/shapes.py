"""shapes: coloured shapes on a dark background, with every factor that made them known.

Each shape is a signed distance function (after Inigo Quilez's 2-D SDFs), evaluated for a
whole batch at once; coverage = clamp(0.5 - distance in pixels, 0, 1) is a box-filtered,
anti-aliased edge with no supersampling.

Factors (all length N):
  shape  int    index into SHAPES
  size   float  radius of the circle around the centroid that holds the shape, as a fraction
                of the image side (so a circle and a square of one size are not equal in area)
  angle  float  rotation in radians, counter-clockwise, in [0, 2 pi). A circle ignores it and
                the others repeat (square every pi/2, triangle 2 pi/3, star 2 pi/5).
  x, y   float  the shape's centroid, as fractions of the image side; y grows downwards
  hue    float  in [0, 1); saturation and value are fixed
Factors are drawn independently; the ranges keep every shape wholly inside the frame.
"""

from __future__ import annotations

import math

import torch

from studio.data.base import Dataset, choice, count, to_8bit

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "heart")
CLASS_TITLE = "kind of shape"
LINEAR_FACTORS = ("size", "x", "y")  # on a line, not a circle (the hue, the angle): tellable
SIZE = (0.16, 0.3)  # below ~5 px of radius at 32 px a star stops looking like one
POSITION = (0.3, 0.7)  # >= the largest size from each edge, so nothing is ever cut off
SATURATION, VALUE = 0.8, 1.0
BACKGROUND = (0.04, 0.04, 0.06)
CHUNK = 1024


def resolve(*, size: int = 32, channels: int = 3, n: int = 6000) -> dict:
    return {
        "n": count("n", n, 1, 200_000),
        "size": choice("size", size, (32, 64)),
        "channels": choice("channels", channels, (1, 3)),
    }


def class_names(options: dict) -> tuple[str, ...]:
    return SHAPES


def build(options: dict, seed: int) -> Dataset:
    n, side = options["n"], options["size"]
    g = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=g)

    shape = (torch.arange(n) % len(SHAPES))[torch.randperm(n, generator=g)]  # balanced
    factors = {
        "shape": shape,
        "size": uniform(*SIZE),
        "angle": uniform(0, 2 * math.pi),
        "x": uniform(*POSITION),
        "y": uniform(*POSITION),
        "hue": uniform(0, 1),
    }
    colour = _hsv_to_rgb(factors["hue"])  # n x 3
    background = torch.tensor(BACKGROUND).view(1, 3, 1, 1)
    centres = (torch.arange(side) + 0.5) / side  # pixel centres in [0, 1]

    x = torch.empty(n, 3, side, side)
    for lo in range(0, n, CHUNK):
        f = {k: v[lo : lo + CHUNK, None, None] for k, v in factors.items()}
        # Unit-shape coordinates: centroid at 0, enclosing radius 1, y up, rotated by -angle.
        du = (centres.view(1, 1, -1) - f["x"]) / f["size"]
        dv = (f["y"] - centres.view(1, -1, 1)) / f["size"]
        cos, sin = torch.cos(f["angle"]), torch.sin(f["angle"])
        px, py = cos * du + sin * dv, cos * dv - sin * du
        distance = torch.empty_like(px)
        for index, sdf in enumerate(_SDFS):
            rows = f["shape"][:, 0, 0] == index
            if rows.any():
                distance[rows] = sdf(px[rows], py[rows])
        coverage = (0.5 - distance * f["size"] * side).clamp(0, 1).unsqueeze(1)  # n x 1 x H x W
        x[lo : lo + CHUNK] = torch.lerp(
            background, colour[lo : lo + CHUNK, :, None, None], coverage
        )
    if options["channels"] == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return Dataset(
        name="shapes",
        x=to_8bit(x),
        labels=shape,
        class_names=SHAPES,
        factors=factors,
        options={**options, "seed": seed},
    )


# ---------------------------------------------------------------- signed distances
# Each takes unit-shape coordinates and returns the distance in the same units (< 0 inside).


def _circle(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    return torch.hypot(px, py) - 1


def _square(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    half = 1 / math.sqrt(2)
    qx, qy = px.abs() - half, py.abs() - half
    outside = torch.hypot(qx.clamp(min=0), qy.clamp(min=0))
    return outside + torch.maximum(qx, qy).clamp(max=0)


def _triangle(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Equilateral, pointing up, circumradius 1 (so half a side is sqrt(3) / 2)."""
    k, r = math.sqrt(3), math.sqrt(3) / 2
    px, py = px.abs() - r, py + r / k
    fold = px + k * py > 0
    px, py = torch.where(fold, (px - k * py) / 2, px), torch.where(fold, (-k * px - py) / 2, py)
    px = px - px.clamp(-2 * r, 0)
    return -torch.hypot(px, py) * torch.sign(py)


def _star(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Five points, outer radius 1, inner radius set by the 0.45 factor."""
    k1x, k1y = 0.809016994375, -0.587785252292
    k2x, k2y = -k1x, k1y
    px = px.abs()
    dot = (k1x * px + k1y * py).clamp(min=0)
    px, py = px - 2 * dot * k1x, py - 2 * dot * k1y
    dot = (k2x * px + k2y * py).clamp(min=0)
    px, py = px - 2 * dot * k2x, py - 2 * dot * k2y
    px, py = px.abs(), py - 1
    bax, bay = 0.45 * -k1y, 0.45 * k1x - 1
    h = ((px * bax + py * bay) / (bax * bax + bay * bay)).clamp(0, 1)
    return torch.hypot(px - bax * h, py - bay * h) * torch.sign(py * bax - px * bay)


_HEART_CENTROID = 0.6567  # Quilez's heart has its tip at the origin and its centroid this far up;
# the tip is also its farthest point from the centroid, so the same number is its radius.


def _heart(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    px, py = px.abs() * _HEART_CENTROID, py * _HEART_CENTROID + _HEART_CENTROID
    lobe = torch.hypot(px - 0.25, py - 0.75) - math.sqrt(2) / 4
    m = (px + py).clamp(min=0) / 2
    point = torch.minimum(px.square() + (py - 1).square(), (px - m).square() + (py - m).square())
    body = point.sqrt() * torch.sign(px - py)
    return torch.where(px + py > 1, lobe, body) / _HEART_CENTROID


_SDFS = (_circle, _square, _triangle, _star, _heart)


def _hsv_to_rgb(hue: torch.Tensor) -> torch.Tensor:
    """N hues -> N x 3 RGB at the fixed saturation and value."""
    k = (torch.tensor([5.0, 3.0, 1.0]) + hue[:, None] * 6) % 6
    return VALUE - VALUE * SATURATION * torch.clamp(torch.minimum(k, 4 - k), 0, 1)
