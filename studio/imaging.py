"""Tensors to pictures: uint8 arrays, sample grids, 2-D scatter plots."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """NCHW floats in [0, 1] -> N x H x W x C uint8 (rounded, clipped)."""
    x = images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """N x H x W x C uint8 images tiled into one picture, with a dark gutter."""
    n, h, w, c = images.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    sheet = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 24, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        sheet[y : y + h, x : x + w] = image
    return sheet


SCATTER_BACKGROUND = (0x11, 0x14, 0x18)
GENERATED_POINTS = ((0xF2, 0xA5, 0x41), 0.8)  # colour, opacity of one point
REAL_POINTS = ((0x6C, 0x8E, 0xBF), 0.35)
POINT_RADIUS = 1.4  # px, whatever the picture's size


def scatter(
    points: np.ndarray, *, real: np.ndarray | None = None, size: int = 512, extent: float = 3.0
) -> np.ndarray:
    """Generated (and optionally real) 2-D points drawn as an RGB uint8 picture.

    The square [-extent, extent]^2 fills the picture, y pointing up; the real points lie under
    the generated ones. Drawn with numpy (``paint_points``) rather than a plotting library,
    which was the slow part of rendering a point model.
    """
    canvas = np.empty((size, size, 3), np.uint8)
    canvas[:] = SCATTER_BACKGROUND
    for layer, (colour, opacity) in ((real, REAL_POINTS), (points, GENERATED_POINTS)):
        if layer is not None:
            paint_points(canvas, layer, extent=extent, colour=colour, opacity=opacity)
    return canvas


def pixel_coordinates(points: np.ndarray, extent: float, size: int) -> np.ndarray:
    """N x 2 points of [-extent, extent]^2 -> N x 2 (column, row) on a size x size picture, y up.

    Continuous coordinates: the square's edges are the picture's edges, so pixel (c, r) spans
    [c, c + 1) x [r, r + 1) and its centre is at (c + 0.5, r + 0.5).
    """
    scale = size / (2 * extent)
    return np.stack([(points[:, 0] + extent) * scale, (extent - points[:, 1]) * scale], axis=1)


def paint_points(
    canvas: np.ndarray,
    points: np.ndarray,
    *,
    extent: float,
    colour: tuple[int, int, int],
    opacity: float,
    radius: float = POINT_RADIUS,
) -> None:
    """Paint 2-D points onto a square H x H x 3 uint8 canvas, in place, as anti-aliased discs.

    Where n discs overlap, the pixel is ``colour`` at opacity 1 - (1 - opacity)^n: what
    drawing them one over another gives, in any order, so a dense cluster reads as dense.
    Points off the canvas or not finite are left out.
    """
    size = canvas.shape[0]
    pixels, count = _coverage(np.asarray(points, np.float64), size, extent, radius)
    rows, cols = np.divmod(pixels, size)
    cover = (1 - (1 - opacity) ** count)[:, None]
    below = canvas[rows, cols].astype(np.float32)
    canvas[rows, cols] = (below + (np.asarray(colour, np.float32) - below) * cover).round()


def _coverage(
    points: np.ndarray, size: int, extent: float, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """The pixels (flat indices) the points' discs touch, and how many discs cover each
    (fractions at a disc's edge)."""
    points = points[np.isfinite(points).all(axis=1)]
    x, y = pixel_coordinates(points, extent, size).T
    half = math.ceil(radius)  # the (2 half + 1)^2 pixels around a point hold its whole disc
    reach = np.arange(-half, half + 1)
    cols = np.floor(x)[:, None, None].astype(np.int64) + reach[None, None, :]
    rows = np.floor(y)[:, None, None].astype(np.int64) + reach[None, :, None]
    distance = np.hypot(cols + 0.5 - x[:, None, None], rows + 0.5 - y[:, None, None])
    weight = np.clip(radius + 0.5 - distance, 0, 1)
    cols, rows = np.broadcast_arrays(cols, rows)
    keep = (weight > 0) & (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)
    pixels, where = np.unique(rows[keep] * size + cols[keep], return_inverse=True)
    return pixels, np.bincount(where, weights=weight[keep], minlength=len(pixels))


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """N x H x W x C uint8 images resized to size x size (bicubic; no-op when equal)."""
    if images.shape[1] == size and images.shape[2] == size:
        return images
    out = []
    for image in images:
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        resized = np.asarray(pil.resize((size, size), Image.Resampling.BICUBIC))
        out.append(resized.reshape(size, size, -1))
    return np.stack(out)
