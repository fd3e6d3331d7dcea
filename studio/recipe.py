"""A recipe is what an image *is*: model id + weights sha256, latent z, size and options.

It travels in three places, and each one reproduces the image exactly: the PNG's text chunk
(key ``latent-studio``), the page URL (``?r=<compact base64 JSON>``) and the gallery's JSON.
z is stored as float32 values rounded to six decimals, which the renderer rounds the same way.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from studio.errors import StudioError
from studio.models.base import MAX_Z

PNG_KEY = "latent-studio"
Z_DECIMALS = 6
MAX_SIZE = 4096


def round_z(z: list[float] | np.ndarray) -> list[float]:
    return [round(float(v), Z_DECIMALS) for v in np.asarray(z, dtype=np.float32).reshape(-1)]


@dataclass
class Recipe:
    model: str  # model id
    sha256: str  # of the weights; a recipe names exactly one set of weights
    z: list[float]
    size: int
    options: dict[str, Any] = field(default_factory=dict)  # e.g. CPPN art knobs

    def __post_init__(self) -> None:
        self.z = round_z(self.z)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Recipe:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise StudioError("the recipe is not valid JSON") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        if not isinstance(data, dict):
            raise StudioError("a recipe must be a JSON object")
        try:
            recipe = cls(
                model=str(data["model"]),
                sha256=str(data["sha256"]),
                z=list(data["z"]),
                size=int(data["size"]),
                options=dict(data.get("options") or {}),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise StudioError(f"the recipe is incomplete or malformed ({err})") from None
        if not 0 < len(recipe.z) <= MAX_Z or not all(math.isfinite(v) for v in recipe.z):
            raise StudioError("the recipe's z must be 1 to 1024 finite numbers")
        if not 8 <= recipe.size <= MAX_SIZE:
            raise StudioError(f"the recipe's size must be 8 to {MAX_SIZE} pixels")
        return recipe

    # -- in a URL

    def to_query(self) -> str:
        raw = self.to_json().encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_query(cls, value: str) -> Recipe:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raise StudioError("the recipe in the link is damaged") from None
        return cls.from_json(raw)


# ---------------------------------------------------------------- PNG files


def to_png(image: np.ndarray, recipe: Recipe | None = None, *, compress_level: int = 6) -> bytes:
    """An H x W x C uint8 array as PNG bytes, the recipe in its text chunk.

    ``compress_level`` 1 encodes several times faster than the default 6, for a file about
    twice the size: what an image shown on every slider move wants.
    """
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    info = PngImagePlugin.PngInfo()
    if recipe is not None:
        info.add_text(PNG_KEY, recipe.to_json())
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG", pnginfo=info, compress_level=compress_level)
    return buffer.getvalue()


def recipe_from_png(data: bytes) -> Recipe:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise StudioError("only PNG files made by Latent Studio carry a recipe")
            text = image.text.get(PNG_KEY)
    except (OSError, SyntaxError, Image.DecompressionBombError):
        raise StudioError("that file is not a readable PNG") from None
    if text is None:
        raise StudioError("this PNG has no Latent Studio recipe in it")
    return Recipe.from_json(text)
