"""image: the one picture a CPPN learns to paint.

Either the user's file (``path``, checked and converted exactly as ``folder`` does) or a
built-in target drawn from formulas of the pixel coordinates, so a CPPN can be trained with
no file at all. Every target is smooth but for a few crisp edges, which is what makes the
fit worth watching.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from studio.data.base import Dataset, choice
from studio.data.folder import EXTENSIONS, MAX_FILE_BYTES, open_image, wanted
from studio.data.glyphs import font_folder
from studio.errors import StudioError

TARGETS: tuple[str, ...] = ("sunset", "rings", "glyph")
SIZES: tuple[int, ...] = (32, 64, 128, 256)


def resolve(
    *, path: str | Path | None = None, target: str | None = None, size: int = 64, channels: int = 3
) -> dict:
    if path is not None and target is not None:
        raise StudioError("give image a path or a target, not both")
    options = {
        "size": choice("size", size, SIZES),
        "channels": choice("channels", channels, (1, 3)),
    }
    if path is not None:
        return {"path": str(path), **options}
    return {"target": choice("target", target or "sunset", TARGETS), **options}


def build(options: dict, seed: int) -> Dataset:
    """Nothing here is random; ``seed`` is taken only to match the other sets."""
    size, channels = options["size"], options["channels"]
    if "path" in options:
        path = Path(options["path"]).expanduser()
        if not path.is_file():
            raise StudioError(f"{path} is not a file")
        if not wanted(path.name):
            allowed = ", ".join(sorted(EXTENSIONS))
            raise StudioError(f"{path.name} is not a picture the studio opens ({allowed})")
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        x = open_image(path.name, data, size=size, channels=channels)
        recorded = {"source": path.name, "size": size, "channels": channels}
    else:
        x = _DRAW[options["target"]](size)
        if channels == 1:
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
        recorded = options
    return Dataset(name="image", x=x.clamp(0, 1)[None], options=dict(recorded))


# ---------------------------------------------------------------- built-in targets
# Each takes the side in pixels and returns 3 x side x side in [0, 1].


def _grid(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates u (right) and v (down), both in (0, 1)."""
    centres = (torch.arange(side) + 0.5) / side
    return centres.view(1, -1).expand(side, side), centres.view(-1, 1).expand(side, side)


def _rgb(*values: float) -> torch.Tensor:
    return torch.tensor(values).view(3, 1, 1)


def _sunset(side: int) -> torch.Tensor:
    u, v = _grid(side)
    horizon = 0.62
    sky = torch.lerp(_rgb(0.10, 0.05, 0.25), _rgb(1.0, 0.45, 0.2), (v / horizon).clamp(0, 1) ** 1.5)
    sun_colour = _rgb(1.0, 0.85, 0.4)
    sun = (0.5 - (torch.hypot(u - 0.5, v - 0.5) - 0.17) * side).clamp(0, 1)  # anti-aliased disc
    sky = torch.lerp(sky, sun_colour, sun)
    depth = (v - horizon).clamp(min=0)
    sea = torch.lerp(_rgb(0.12, 0.10, 0.25), _rgb(0.03, 0.05, 0.15), (depth / (1 - horizon)))
    # The sun's reflection: a column that narrows towards the viewer, broken into ripples.
    column = ((0.17 - depth * 0.3 - (u - 0.5).abs()) * side).clamp(0, 1)
    ripples = (0.5 + 0.5 * torch.sin(2 * math.pi * 18 * depth**0.8)) * (1 - depth / (1 - horizon))
    sea = torch.lerp(sea, sun_colour, column * ripples)
    return torch.lerp(sky, sea, ((v - horizon) * side + 0.5).clamp(0, 1))


def _rings(side: int) -> torch.Tensor:
    u, v = _grid(side)
    cx, cy = u * 2 - 1, v * 2 - 1
    r, angle = torch.hypot(cx, cy), torch.atan2(cy, cx)
    t = 2.5 * r + 0.1 * torch.sin(5 * angle)
    # Quilez's cosine palette: a + b cos(2 pi (t + d)), one phase d per channel.
    colour = 0.5 + 0.5 * torch.cos(2 * math.pi * (t + _rgb(0.0, 0.33, 0.67)))
    return colour * (1 - 0.5 * (r - 0.8).clamp(min=0))


def _glyph(side: int) -> torch.Tensor:
    """A large ampersand, drawn 4x and shrunk for clean edges, with a warm gradient on navy."""
    big = 4 * side
    font = ImageFont.truetype(str(font_folder() / "DejaVuSerif-Bold.ttf"), 0.8 * big)
    mask = Image.new("L", (big, big))
    ImageDraw.Draw(mask).text((big / 2, big / 2), "&", fill=255, font=font, anchor="mm")
    mask = mask.resize((side, side), Image.Resampling.LANCZOS)
    alpha = torch.frombuffer(bytearray(mask.tobytes()), dtype=torch.uint8).view(side, side) / 255
    u, v = _grid(side)
    fill = torch.lerp(_rgb(1.0, 0.55, 0.1), _rgb(0.9, 0.1, 0.5), (u + v) / 2)
    return torch.lerp(_rgb(0.05, 0.05, 0.12).expand(3, side, side), fill, alpha)


_DRAW = {"sunset": _sunset, "rings": _rings, "glyph": _glyph}
