"""Named directions: recovered where the factor's direction is known, measured, kept in files
that round-trip, refused when a file is corrupt or hostile, and moved along from the CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save

from studio import directions as directions_module
from studio.cli import main
from studio.directions import factor_directions, kept_factor_directions, model_directions
from studio.directions.factors import columns, find_factor_directions, measure_on
from studio.directions.judges import Classes, Factor, judge_for
from studio.directions.store import (
    VERSION,
    Cleanliness,
    Direction,
    directions_bytes,
    read_directions,
)
from studio.errors import StudioError
from studio.recipe import recipe_from_png
from studio.render.renderer import Renderer

LATENT = 6


# ---------------------------------------------------------------- a latent whose factors are known


class PlainCodes:
    """A "model" whose picture is its code: decode(z) = z, so a judge can read z itself."""

    encodes = False
    latent_dim = LATENT
    device = torch.device("cpu")

    def codes(self, n: int, seed: int) -> torch.Tensor:
        return torch.randn(n, LATENT, generator=torch.Generator().manual_seed(seed))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z


SIZE_AXIS = np.array([1.0, 2.0, 0.0, 0.0, -1.0, 0.0]) / np.sqrt(6)
ROUND_AXIS = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0])


@dataclasses.dataclass
class KnownFactors:
    """A judge of ``PlainCodes``: 'size' grows (non-linearly) along SIZE_AXIS, and a picture is
    'round' rather than 'spiky' the further it lies along ROUND_AXIS."""

    dataset = "shapes"
    factors = (Factor("size", "smaller → larger"),)
    classes = Classes("outline", "")
    class_names = ("round", "spiky")

    def read(self, z: torch.Tensor) -> np.ndarray:
        z = z.double().numpy()
        size = np.tanh(z @ SIZE_AXIS / 3)
        round_odds = 3 * (z @ ROUND_AXIS)
        return np.stack([size, round_odds, -round_odds], 1)


def test_directions_are_recovered_where_the_factor_is_known_and_measure_clean():
    found = {d.name: d for d in find_factor_directions(PlainCodes(), KnownFactors())}
    assert [c.name for c in columns(KnownFactors())] == ["size", "round", "spiky"]
    assert found["size"].vector @ SIZE_AXIS > 0.99
    assert found["round"].vector @ ROUND_AXIS > 0.99
    assert found["spiky"].vector @ ROUND_AXIS < -0.99
    size = found["size"].cleanliness
    assert size.clean and size.rho > 0.99 and size.crosstalk < 0.05 and size.starts == 200
    assert found["round"].cleanliness.clean
    assert "samples labelled by the judge" in found["size"].found
    assert (found["size"].group, found["round"].group) == ("", "outline")


def test_a_direction_is_kept_off_a_correlated_factor():
    """When two factors share part of their direction, moving one leaves the other alone."""

    class Correlated(KnownFactors):
        factors = (Factor("size", ""), Factor("x", ""))

        def read(self, z):
            z = z.double().numpy()
            size, x = z @ SIZE_AXIS, z @ (SIZE_AXIS + ROUND_AXIS) / np.sqrt(2)
            return np.stack([size, x, z[:, 3], -z[:, 3]], 1)

    found = {d.name: d for d in find_factor_directions(PlainCodes(), Correlated())}
    assert abs(found["size"].vector @ (SIZE_AXIS + ROUND_AXIS)) < 1e-3
    assert found["size"].cleanliness.crosstalk < 0.05
    assert "kept off the other factors" in found["size"].found


def test_a_factor_is_kept_off_a_class_it_shares_its_direction_with():
    """A GAN that rounds its shapes off as it grows them: moving along size keeps the kind."""

    class GrowsRound(KnownFactors):
        def read(self, z):
            z = z.double().numpy()
            round_odds = 3 * z @ (SIZE_AXIS + ROUND_AXIS) / np.sqrt(2)
            return np.stack([z @ SIZE_AXIS, round_odds, -round_odds], 1)

    found = {d.name: d for d in find_factor_directions(PlainCodes(), GrowsRound())}
    assert abs(found["size"].vector @ (SIZE_AXIS + ROUND_AXIS)) < 0.05
    assert found["size"].cleanliness.clean and found["size"].cleanliness.rho > 0.99
    assert found["round"].vector @ ROUND_AXIS > 0.99  # a class is kept off the factors alone


def test_the_shapes_judge_reads_the_true_factors_of_labelled_pictures():
    scores = judge_for("shapes", {"channels": 3, "size": 32}).verify(n=500)
    assert scores["x"] > 0.99 and scores["y"] > 0.99
    assert scores["hue-red"] > 0.99 and scores["hue-lime"] > 0.99
    assert scores["size"] > 0.98
    assert scores["class accuracy"] > 0.85


def test_unknown_data_has_no_judge():
    with pytest.raises(StudioError, match="no known factors"):
        judge_for("toy2d", {})


# ---------------------------------------------------------------- the file


def _directions(latent: int = LATENT) -> tuple[Direction, ...]:
    vectors = np.linalg.qr(np.random.default_rng(0).normal(size=(latent, 2)))[0].T
    clean = Cleanliness(0.97, 0.12, "x", 200, 2.0)
    return (
        Direction("size", "factor", vectors[0].astype(np.float32).astype(float), "fit", clean),
        Direction(
            "star", "factor", vectors[1].astype(np.float32).astype(float), "fit", None, "kind"
        ),
    )


def test_directions_round_trip_through_their_file(tmp_path):
    path = tmp_path / "d.safetensors"
    path.write_bytes(directions_bytes(_directions(), "abc"))
    back = read_directions(path, LATENT, "abc")
    for a, b in zip(_directions(), back, strict=True):
        assert (a.name, a.kind, a.found, a.cleanliness, a.group) == (
            b.name,
            b.kind,
            b.found,
            b.cleanliness,
            b.group,
        )
        np.testing.assert_array_equal(a.vector, b.vector)
    assert "clean: ρ 0.97" in back[0].help() and "not measured" in back[1].help()


def _file(tmp_path, vectors, entries, sha="abc"):
    path = tmp_path / "bad.safetensors"
    text = {"version": VERSION, "sha256": sha, "latent_dim": "6", "directions": json.dumps(entries)}
    path.write_bytes(save({"vectors": torch.as_tensor(vectors, dtype=torch.float32)}, text))
    return path


def _entry(name="size", found="fit", group=""):
    return {"name": name, "kind": "factor", "found": found, "cleanliness": None, "group": group}


@pytest.mark.parametrize(
    "vectors, entries, says",
    [
        ([[float("nan")] + [0.0] * 5], [_entry()], "not a finite unit vector"),
        ([[1e6] + [0.0] * 5], [_entry()], "not a finite unit vector"),
        (np.eye(1000)[:1000], [_entry(f"d{i}") for i in range(1000)], "shape"),
        ([[1.0] + [0.0] * 7], [_entry()], r"not N x 6"),
        ([[1.0] + [0.0] * 5], [_entry("<b>size</b>")], "name must be a short word"),
        ([[1.0] + [0.0] * 5], [_entry(found="<script>alert(1)</script>")], "unreadable"),
        ([[1.0] + [0.0] * 5], [_entry(group="[link](http://x)")], "unreadable"),
        ([[1.0] + [0.0] * 5], [_entry(), _entry()], "describes 1 vectors wrongly"),
        ([[1.0] + [0.0] * 5] * 2, [_entry(), _entry()], "share a name"),
        ([[1.0] + [0.0] * 5], [{"name": "size"}], "unreadable entry"),
    ],
)
def test_a_hostile_direction_file_is_refused_in_one_clear_line(tmp_path, vectors, entries, says):
    path = _file(tmp_path, vectors, entries)
    with pytest.raises(StudioError, match=says) as caught:
        read_directions(path, LATENT, "abc")
    assert "\n" not in str(caught.value) and "bad.safetensors" in str(caught.value)


def test_a_corrupt_or_foreign_direction_file_is_refused(tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b'\x08\x00\x00\x00\x00\x00\x00\x00{"a":1}')
    with pytest.raises(StudioError, match="cannot be read"):
        read_directions(corrupt, LATENT, "abc")
    other = _file(tmp_path, [[1.0] + [0.0] * 5], [_entry()], sha="def")
    with pytest.raises(StudioError, match="other weights"):
        read_directions(other, LATENT, "abc")


# ---------------------------------------------------------------- kept per weights, and moves


@pytest.fixture
def shapes_gan(tmp_path, monkeypatch):
    """A tiny untrained GAN said to be trained on shapes, in the studio folder."""
    from studio.checkpoints import ModelCard, save_checkpoint
    from studio.models import build_model
    from studio.paths import studio_dir

    monkeypatch.setattr(directions_module, "_memo", {})
    card = ModelCard(
        id="t-shapes",
        arch="dcgan",
        family="",
        config={},
        dataset={"name": "shapes", "options": {"channels": 3, "n": 64, "size": 32}},
    )
    model = build_model("dcgan", {"latent_dim": LATENT, "width": 8, "channels": 3})
    save_checkpoint(model, card, studio_dir("models"))
    return Renderer(cache_mb=0).load("t-shapes")


def test_a_bad_kept_file_is_named_and_found_again_and_nothing_else_is_lost(shapes_gan, monkeypatch):
    cache = directions_module._cache_path(shapes_gan)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a safetensors file")
    assert kept_factor_directions(shapes_gan)[0] is None
    calls = []

    def find(model, judge):
        calls.append(judge.dataset)
        return _directions()

    monkeypatch.setattr("studio.directions.factors.find_factor_directions", find)
    found, problems = factor_directions(shapes_gan)
    assert calls == ["shapes"] and [d.name for d in found] == ["size", "star"]
    assert len(problems) == 1 and "cannot be read" in problems[0] and "found again" in problems[0]
    monkeypatch.setattr(directions_module, "_memo", {})
    kept, problems = kept_factor_directions(shapes_gan)  # kept this time, once per weights
    assert problems == () and [d.name for d in kept] == ["size", "star"]
    np.testing.assert_array_equal(kept[0].vector, found[0].vector)
    everything = model_directions(shapes_gan)
    assert [d.kind for d in everything.directions][-2:] == ["factor", "factor"]
    assert everything.of_kind("principal") and everything.named("size") is kept[0]


def test_a_moved_picture_carries_its_moved_z_and_its_recipe_reproduces_it(
    shapes_gan, monkeypatch, tmp_path, capsys
):
    monkeypatch.setattr(
        "studio.directions.factors.find_factor_directions", lambda model, judge: _directions()
    )
    plain, moved = tmp_path / "plain.png", tmp_path / "moved.png"
    assert main(["render", "--model", "t-shapes", "--seed", "3", "--out", str(plain)]) == 0
    args = ["render", "--model", "t-shapes", "--seed", "3", "--out", str(moved)]
    assert main([*args, "--move", "size=1.5", "--move", "PC1=-0.5"]) == 0
    start, recipe = recipe_from_png(plain.read_bytes()), recipe_from_png(moved.read_bytes())
    found = model_directions(shapes_gan)
    expected = np.asarray(start.z) + 1.5 * found.named("size").vector
    expected = expected - 0.5 * found.named("PC1").vector
    np.testing.assert_allclose(recipe.z, expected, atol=1e-6)
    renderer = Renderer(cache_mb=0)
    image = np.asarray(Image.open(moved))
    again = renderer.render_recipe(recipe)
    assert np.array_equal(image, again.reshape(image.shape))
    assert not np.array_equal(image, np.asarray(Image.open(plain)))

    assert main([*args, "--move", "bigness=1"]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "no direction 'bigness'" in line and "size, star" in line


def test_the_directions_command_lists_every_kind(shapes_gan, monkeypatch, capsys):
    monkeypatch.setattr(
        "studio.directions.factors.find_factor_directions", lambda model, judge: _directions()
    )
    assert main(["directions", "--model", "t-shapes"]) == 0
    table = capsys.readouterr().out
    assert "PC1" in table and "principal" in table and "size" in table and "clean" in table
    assert main(["directions", "--model", "t-shapes", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["kind"] for d in listed].count("factor") == 2
    assert listed[-2]["measured"]["clean"] is True and listed[-1]["measured"] is None


def test_the_shipped_models_ship_their_named_directions():
    """Found once by ``python -m studio.bench.directions --ship`` for the weights that ship."""
    renderer = Renderer(cache_mb=0)
    shipped = ("gan-shapes", "gan-shapes-by-kind", "vae-shapes", "gan-glyphs", "vae-glyphs")
    for model_id in (*shipped, "vae-glyphs-2d"):
        loaded = renderer.load(model_id)
        found, problems = kept_factor_directions(loaded)
        assert found and not problems, model_id
        assert all(d.cleanliness is not None for d in found)


def test_the_gan_told_the_size_grows_its_shapes_along_that_axis_cleanly():
    """Where the unconditional GAN folds size in z (no straight line reaches ρ 0.9), the GAN
    told the size holds it on the first axis of z: moving along it grows every kind of shape
    while the others move less than a quarter as much, and the factor finder finds that axis."""
    loaded = Renderer(cache_mb=0).load("gan-shapes-by-kind")
    model, dataset = loaded.model, loaded.card.dataset
    assert model.config.told_factors == ("size",)
    judge = judge_for(dataset["name"], dataset["options"])
    axis = np.eye(model.latent_dim)[:1]
    ((column, clean),) = measure_on(model, judge, axis, [0])
    assert column.name == "size" and clean.rho >= 0.9 and clean.crosstalk < 0.25, clean
    size = next(d for d in kept_factor_directions(loaded)[0] if d.name == "size")
    assert size.vector[0] >= 0.95 and size.cleanliness.clean
