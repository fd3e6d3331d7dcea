"""Tensors to pictures: uint8 arrays, sample grids, 2-D scatter plots."""

from __future__ import annotations

import io

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


def scatter(
    points: np.ndarray, *, real: np.ndarray | None = None, size: int = 512, extent: float = 3.0
) -> np.ndarray:
    """Generated (and optionally real) 2-D points drawn as an RGB uint8 picture."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size / 100, size / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_facecolor("#111418")
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=3, c="#6c8ebf", alpha=0.35, linewidths=0)
    ax.scatter(points[:, 0], points[:, 1], s=3, c="#f2a541", alpha=0.8, linewidths=0)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_axis_off()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="raw", dpi=100, facecolor="#111418")
    rgba = np.frombuffer(buffer.getvalue(), np.uint8).reshape(size, size, 4)
    return rgba[..., :3].copy()


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


@torch.inference_mode()
def draw(model: torch.nn.Module, z: torch.Tensor, size: int | None = None) -> np.ndarray:
    """The bare render: z -> N x size x size x C uint8 (the CPPN draws at size natively)."""
    if model.family == "mlp":
        return to_uint8(model.decode(z, size))
    images = to_uint8(model.decode(z))
    return resize(images, size) if size else images
