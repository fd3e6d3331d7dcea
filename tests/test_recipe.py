"""Recipes from outside (a link, a PNG, the gallery) are parsed strictly: every field's type,
finite numbers, sizes, option values, and a model named by id only."""

import base64
import dataclasses
import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from studio.errors import StudioError
from studio.models import build_model
from studio.recipe import (
    MAX_RECIPE_WORK,
    PNG_KEY,
    Recipe,
    check_recipe_fits,
    recipe_from_png,
    recipe_work,
    to_png,
)

GOOD = {"model": "mlp-ink", "sha256": "ab" * 32, "z": [0.5, -1.25], "size": 64, "options": {}}


def _query(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _edited(**changes) -> str:
    return json.dumps(GOOD | changes)


def test_a_recipe_round_trips_through_a_link_and_a_png():
    recipe = Recipe.from_dict(GOOD | {"options": {"scale": 60, "activation": "sin", "seed": 3}})
    assert Recipe.from_query(recipe.to_query()) == recipe
    assert recipe_from_png(to_png(np.zeros((8, 8, 3), np.uint8), recipe)) == recipe


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (_edited(size=10**400).replace("1" + "0" * 400, "1e999"), "size"),  # inf, not a size
        (_edited(size=64.0), "size"),
        (_edited(size=True), "size"),
        (_edited(size="64"), "size"),
        (_edited(z=[0.5, None]), "z must be"),
        (_edited(z="0.5"), "z must be"),
        (_edited(z=[]), "z must be"),
        (_edited(z=[1e300]), "float32"),  # finite in JSON, inf in float32
        (_edited(z=[1, 2]).replace("2]", "NaN]"), "z must be"),
        (_edited(options={"depth": None}), "option 'depth'"),
        (_edited(options={"width": [512]}), "option 'width'"),
        (_edited(options={"activation": "x" * 1000}), "option 'activation'"),
        (_edited(options=[]), "options must be"),
        (_edited(sha256="not-a-sha"), "sha256"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "z"}), "lacks z"),
        ("[" * 5000 + "]" * 5000, "nested"),
    ],
)
def test_malformed_recipes_in_a_link_are_refused_in_words(text, says):
    with pytest.raises(StudioError, match=says):
        Recipe.from_query(_query(text))


@pytest.mark.parametrize(
    "model",
    ["/etc/passwd", "../models/mlp-ink", "pretrained/mlp-ink.json", "a/b", "Mlp-Ink", "x\n", 7],
)
def test_a_recipe_names_its_model_by_id_never_by_path(model):
    with pytest.raises(StudioError, match="model"):
        Recipe.from_query(_query(_edited(model=model)))


# ---------------------------------------------------------------- PNGs


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    """``png`` with one more chunk after its header (IHDR: 8 + 25 bytes)."""
    return png[:33] + _chunk(kind, data) + png[33:]


def _plain_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_png_whose_text_chunk_inflates_past_pillows_limit_is_refused():
    bomb = zlib.compress(b"a" * (50 << 20), 9)  # 50 MB of text in 50 KB
    png = _with_chunk(_plain_png(), b"zTXt", PNG_KEY.encode() + b"\0\0" + bomb)
    with pytest.raises(StudioError, match="not a readable PNG"):
        recipe_from_png(png)


def test_a_pngs_recipe_is_parsed_as_strictly_as_a_links():
    text = _edited(size=10**400).replace("1" + "0" * 400, "1e999")
    png = _with_chunk(_plain_png(), b"tEXt", PNG_KEY.encode() + b"\0" + text.encode())
    with pytest.raises(StudioError, match="size"):
        recipe_from_png(png)


# ---------------------------------------------------------------- fitting a model


def test_z_must_be_one_picture_of_codes_for_the_model():
    points = build_model("gan2d", {"width": 8, "depth": 1})  # z: pairs of numbers
    cloud = Recipe.from_dict(GOOD | {"z": [0.1, 0.2, 0.3]})
    with pytest.raises(StudioError, match="holds 3 numbers.*multiple of 2"):
        check_recipe_fits(cloud, points)
    check_recipe_fits(Recipe.from_dict(GOOD | {"z": [0.1] * 6}), points)
    cppn = build_model("cppn", {"latent_dim": 4})
    with pytest.raises(StudioError, match="takes 4"):
        check_recipe_fits(Recipe.from_dict(GOOD | {"z": [0.1] * 5}), cppn)


def test_the_work_a_recipe_asks_of_the_server_is_capped():
    cppn = build_model("cppn", {})  # the default CPPN: depth 4, width 32
    assert recipe_work(cppn, {}, 1024) < MAX_RECIPE_WORK / 10
    z = [0.0] * cppn.latent_dim
    heavy = Recipe.from_dict(GOOD | {"z": z, "options": {"depth": 16, "width": 512}})
    assert recipe_work(cppn, heavy.options, 4096) > 100 * MAX_RECIPE_WORK  # the 57 minutes
    with pytest.raises(StudioError, match="multiply-adds"):
        check_recipe_fits(dataclasses.replace(heavy, size=1024), cppn)
    check_recipe_fits(heavy, cppn)  # at 64 px
    gan = build_model("dcgan", {"latent_dim": 2, "width": 8})  # draws at its own size
    assert recipe_work(gan, {}, 4096) == 0
