"""A GAN frame as a picture: D's map, the real and generated points, G's grid and the push."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from studio.classroom.gan import GanFrame
from studio.imaging import GENERATED_POINTS, paint_points, pixel_coordinates

# ---------------------------------------------------------------- drawing a GAN frame

PANEL_PX = 440


def _diverging(low: tuple, middle: tuple, high: tuple, n: int = 256) -> np.ndarray:
    """An n x 3 uint8 colour map from ``low`` through ``middle`` to ``high``."""
    t = np.linspace(-1, 1, n)[:, None]
    low_, mid_, high_ = (np.array(c, np.float32) for c in (low, middle, high))
    rgb = np.where(t < 0, mid_ + (low_ - mid_) * -t, mid_ + (high_ - mid_) * t)
    return rgb.round().astype(np.uint8)


# D's map: purple where D says "fake" (D -> 0), dark where it cannot tell, green for "real".
HEAT_LUT = _diverging((92, 58, 124), (28, 31, 38), (38, 112, 62))
BOUNDARY_RGB = (250, 250, 250)  # where D(x) = 0.5
REAL_DOTS = ((235, 235, 235), 0.8)  # colour, opacity of one point; white reads on all of D's map
FAKE_DOTS = GENERATED_POINTS
DOT_RADIUS = 2.0  # px: a little larger than a zoo scatter's, to hold its own over D's map
LINE_RGB = GENERATED_POINTS[0]
ARROW_RGB = (110, 205, 255)
ARROW_MAX = 0.08  # the longest arrow, as a share of the view's width; lengths are
ARROW_KNEE = 4.0  # ARROW_MAX * tanh(|gradient| / ARROW_KNEE): a flat loss draws no arrow


def _draw_at(points: np.ndarray, extent: float, size: int) -> np.ndarray:
    """Where ImageDraw puts points: its (0, 0) is the centre of the top-left pixel."""
    return pixel_coordinates(points, extent, size) - 0.5


def _heat_picture(heat: np.ndarray, size: int) -> np.ndarray:
    """D's output as a size x size RGB picture, with the D = 0.5 contour drawn in white."""
    smooth = np.asarray(
        Image.fromarray(heat.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR)
    )
    rgb = HEAT_LUT[(smooth.clip(0, 1) * 255).astype(np.uint8)]
    above = smooth > 0.5
    edge = np.zeros_like(above)
    edge[:, 1:] |= above[:, 1:] != above[:, :-1]
    edge[1:] |= above[1:] != above[:-1]
    rgb[edge] = BOUNDARY_RGB
    return rgb


def draw_gan(frame: GanFrame, size: int = PANEL_PX) -> tuple[np.ndarray, np.ndarray]:
    """The frame as two size x size RGB pictures over D's map of the plane: the data space (real
    points white, generated ones orange) and G's manifold (its image of the latent grid, with
    the gradient G receives as arrows)."""
    heat = _heat_picture(frame.heat, size)
    data_space = heat.copy()
    for points, (colour, opacity) in ((frame.real, REAL_DOTS), (frame.fake, FAKE_DOTS)):
        paint_points(
            data_space,
            points,
            extent=frame.extent,
            colour=colour,
            opacity=opacity,
            radius=DOT_RADIUS,
        )
    return data_space, _manifold(heat, frame)


def _manifold(heat: np.ndarray, frame: GanFrame) -> np.ndarray:
    size = heat.shape[0]
    picture = Image.fromarray(heat)
    draw = ImageDraw.Draw(picture)
    for line in frame.lines:
        draw.line([tuple(p) for p in _draw_at(line, frame.extent, size)], fill=LINE_RGB, width=1)
    length = np.linalg.norm(frame.push, axis=1, keepdims=True)
    drawn = ARROW_MAX * 2 * frame.extent * np.tanh(length / ARROW_KNEE)
    shown = frame.push * drawn / np.maximum(length, 1e-12)
    starts = _draw_at(frame.nodes, frame.extent, size)
    ends = _draw_at(frame.nodes + shown, frame.extent, size)
    for (x0, y0), (x1, y1) in zip(starts, ends, strict=True):
        draw.line([(x0, y0), (x1, y1)], fill=ARROW_RGB, width=2)
        _arrow_head(draw, x0, y0, x1, y1)
    return np.asarray(picture)


def _arrow_head(draw: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float) -> None:
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy)
    if length < 3:
        return
    ux, uy = dx / length, dy / length
    head = min(6.0, length / 2)
    for side in (1, -1):
        # back along the shaft and out to one side, at about 30 degrees
        hx = x1 - head * (ux * 0.87 - side * uy * 0.5)
        hy = y1 - head * (uy * 0.87 + side * ux * 0.5)
        draw.line([(x1, y1), (hx, hy)], fill=ARROW_RGB, width=2)
