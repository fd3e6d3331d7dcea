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
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from studio.checkpoints import check_id
from studio.errors import StudioError
from studio.jsonio import load_json
from studio.models import GenerativeModel
from studio.models.base import MAX_Z

PNG_KEY = "latent-studio"
Z_DECIMALS = 6
MAX_SIZE = 4096
MAX_RECIPE_BYTES = 64 << 10  # 1024 z values of up to ~20 characters each, and the rest
MAX_OPTION_TEXT = 64  # characters in an option's text value (an activation's name)
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Multiply-adds one recipe from outside may ask for: about 10 s of one core at the 20-30
# GMAC/s a wide CPPN draws at. A 4096 px CPPN of depth 16 and width 512 asks for 7e13.
MAX_RECIPE_WORK = 2e11


def round_z(z: list[float] | np.ndarray) -> list[float]:
    return [round(float(v), Z_DECIMALS) for v in np.asarray(z, dtype=np.float32).reshape(-1)]


def _number(value: Any) -> bool:
    """A JSON number, and finite (Python's json reads 1e999 as inf); true and false are not."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def z_number(value: Any) -> bool:
    """A number z may hold: finite in float32, as the renderer draws it."""
    return _number(value) and abs(value) <= FLOAT32_MAX


def _option_value(value: Any) -> bool:
    """What a render option may be: a finite number or a short text (never null or a list)."""
    if isinstance(value, str):
        return len(value) <= MAX_OPTION_TEXT
    return _number(value)


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
        return cls.from_dict(load_json(text, what="the recipe", max_bytes=MAX_RECIPE_BYTES))

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        """A recipe from outside (a link, a PNG, the gallery), checked field by field.

        It names its model by id only: a path would let whoever sent it learn, from the
        error, which files exist on this machine.
        """
        if not isinstance(data, dict):
            raise StudioError("a recipe must be a JSON object")
        missing = [k for k in ("model", "sha256", "z", "size") if k not in data]
        if missing:
            raise StudioError(f"the recipe lacks {', '.join(missing)}")
        model, sha256, z, size = data["model"], data["sha256"], data["z"], data["size"]
        options = data.get("options", {})
        if not isinstance(model, str):
            raise StudioError("the recipe's model must be a model id")
        try:
            check_id(model)
        except StudioError as err:
            raise StudioError(f"the recipe's model: {err}") from None
        if not isinstance(sha256, str) or not SHA256_PATTERN.fullmatch(sha256):
            raise StudioError("the recipe's sha256 must be 64 hexadecimal digits")
        if not isinstance(z, list) or not 0 < len(z) <= MAX_Z or not all(map(z_number, z)):
            raise StudioError(f"the recipe's z must be 1 to {MAX_Z} finite float32 numbers")
        if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= MAX_SIZE:
            raise StudioError(f"the recipe's size must be a whole number from 8 to {MAX_SIZE}")
        if not isinstance(options, dict):
            raise StudioError("the recipe's options must be a JSON object")
        for name, value in options.items():
            if not _option_value(value):
                raise StudioError(
                    f"the recipe's option '{name}' must be a finite number or a short text, "
                    f"got {json.dumps(value)[:40]}"
                )
        return cls(model=model, sha256=sha256, z=z, size=size, options=options)

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
    """The recipe in a PNG's text chunk. Its pixels are never decoded, and Pillow's limits on
    text chunks (a zTXt that inflates past 1 MB) are a StudioError like any damage."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise StudioError("only PNG files made by Latent Studio carry a recipe")
            text = image.info.get(PNG_KEY)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise StudioError("that file is not a readable PNG") from None
    if not isinstance(text, str):
        raise StudioError("this PNG has no Latent Studio recipe in it")
    return Recipe.from_json(text)


# ---------------------------------------------------------------- fitting a model


def recipe_work(model: GenerativeModel, options: dict[str, Any], size: int) -> float:
    """Multiply-adds to draw a recipe's picture at ``size``: its pixels times the model's work
    per pixel with the recipe's options (``pixel_work``). A fixed-size model draws at its own
    size whatever a recipe asks, so the recipe adds no work to it."""
    return size * size * model.pixel_work(options)


def check_recipe_fits(recipe: Recipe, model: GenerativeModel) -> None:
    """Refuse a recipe from outside that this model cannot draw in reason: z must be one
    picture's codes, and the work at most ``MAX_RECIPE_WORK``."""
    d = model.latent_dim
    fits = len(recipe.z) % d == 0 if model.cloud else len(recipe.z) == d
    if not fits:
        codes = f"a multiple of {d}" if model.cloud else str(d)
        raise StudioError(
            f"the recipe's z holds {len(recipe.z)} numbers; this model's picture takes {codes}"
        )
    work = recipe_work(model, recipe.options, recipe.size)
    if work > MAX_RECIPE_WORK:
        raise StudioError(
            f"drawing it at {recipe.size} px would take {work:.1e} multiply-adds, more than a link, "
            f"a PNG or the Gallery may ask of this server ({MAX_RECIPE_WORK:.0e})"
        )
