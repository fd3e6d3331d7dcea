"""Checkpoints round-trip bit-exactly and refuse everything they cannot trust."""

import hashlib
import json
import os
import pickle
import stat
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save, save_file

from studio import checkpoints
from studio.checkpoints import (
    ModelCard,
    blueprint,
    find_card,
    list_cards,
    load_checkpoint,
    save_checkpoint,
    weights_path,
)
from studio.errors import StudioError
from studio.models import build_model
from studio.paths import atomic_write, atomic_write_bytes


@pytest.fixture
def saved(tmp_path):
    model = build_model("vae", {"latent_dim": 4, "width": 4}, seed=0)
    card = ModelCard(id="tiny-vae", arch="", family="", config={}, seed=0, steps=3)
    return model, save_checkpoint(model, card, tmp_path)


def _rewrite_weights(card_path, tensors):
    """Replace the weights and make the card's sha256 match, so only the content is wrong."""
    weights = weights_path(card_path)
    save_file(tensors, str(weights))
    card = json.loads(card_path.read_text())
    card["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    card_path.write_text(json.dumps(card))


def test_round_trip_is_bit_exact(saved):
    model, card_path = saved
    loaded, card = load_checkpoint(card_path)
    assert card.id == "tiny-vae" and card.arch == "vae" and card.family == "vae"
    assert card.config["latent_dim"] == 4
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not loaded.training


def test_loads_by_id_from_the_users_folder(tmp_path, studio_home):
    model = build_model("gan2d", {"width": 8})
    save_checkpoint(model, ModelCard(id="ring", arch="", family="", config={}))
    loaded, card = load_checkpoint("ring")
    assert card.arch == "gan2d"
    assert [c.id for c, _ in list_cards() if c.id == "ring"] == ["ring"]


def test_a_pickle_that_would_create_a_file_is_never_unpickled(tmp_path):
    victim = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(victim), "w"))

    payload = pickle.dumps(Exploit())
    pt = tmp_path / "model.pt"
    pt.write_bytes(payload)
    with pytest.raises(StudioError, match="never unpickles"):
        load_checkpoint(pt)
    # The same bytes dressed up as safetensors with a card that vouches for them.
    disguised = tmp_path / "evil.safetensors"
    disguised.write_bytes(payload)
    card = ModelCard(
        id="evil", arch="vae", family="vae", config={}, sha256=hashlib.sha256(payload).hexdigest()
    )
    (tmp_path / "evil.json").write_text(card.to_json())
    with pytest.raises(StudioError, match="not a readable safetensors"):
        load_checkpoint(tmp_path / "evil.json")
    assert not victim.exists()


def test_dtype_mismatch_is_refused_naming_the_tensor(saved):
    model, card_path = saved
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    first = next(iter(tensors))
    tensors[first] = tensors[first].double()
    _rewrite_weights(card_path, tensors)
    with pytest.raises(StudioError, match=f"'{first}' is torch.float64"):
        load_checkpoint(card_path)


def test_shape_mismatch_missing_and_extra_tensors_are_refused(saved):
    model, card_path = saved
    state = {k: v.clone() for k, v in model.state_dict().items()}
    name = "to_stats.weight"
    _rewrite_weights(card_path, state | {name: torch.zeros(3, 3)})
    with pytest.raises(StudioError, match=name):
        load_checkpoint(card_path)
    _rewrite_weights(card_path, {k: v for k, v in state.items() if k != name})
    with pytest.raises(StudioError, match=f"'{name}' is missing"):
        load_checkpoint(card_path)
    _rewrite_weights(card_path, state | {"backdoor": torch.zeros(1)})
    with pytest.raises(StudioError, match="unexpected tensor 'backdoor'"):
        load_checkpoint(card_path)


def test_non_finite_weights_are_refused(saved):
    model, card_path = saved
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["to_stats.bias"][0] = float("inf")
    _rewrite_weights(card_path, state)
    with pytest.raises(StudioError, match="non-finite"):
        load_checkpoint(card_path)


def test_changed_weights_are_caught_by_the_cards_sha256(saved):
    _, card_path = saved
    weights = weights_path(card_path)
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(StudioError, match="sha256"):
        load_checkpoint(card_path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(config={"latent_dim": 2**31}), "latent_dim"),
        (lambda c: c.update(config={"size": -32}), "size"),
        (lambda c: c.pop("arch"), "lacks arch"),
        (lambda c: c.update(config="big"), "config"),
        (lambda c: c.update(arch="transformer"), "unknown model"),
    ],
)
def test_bad_cards_are_clear_errors(saved, edit, message):
    _, card_path = saved
    card = json.loads(card_path.read_text())
    edit(card)
    card_path.write_text(json.dumps(card))
    with pytest.raises(StudioError, match=message):
        load_checkpoint(card_path)


def test_missing_or_malformed_card(saved, tmp_path):
    _, card_path = saved
    card_path.write_text("{not json")
    with pytest.raises(StudioError, match="not valid JSON"):
        load_checkpoint(card_path)
    card_path.unlink()
    with pytest.raises(StudioError, match="no model card"):
        load_checkpoint(card_path.with_suffix(".safetensors"))  # an old-style weights path
    with pytest.raises(StudioError, match="no model called 'nothing-here'"):
        load_checkpoint("nothing-here")


def test_ids_that_could_escape_the_folder_are_refused(tmp_path):
    model = build_model("gan2d", {"width": 8})
    with pytest.raises(StudioError, match="not a usable model id"):
        save_checkpoint(model, ModelCard(id="../outside", arch="", family="", config={}), tmp_path)
    assert not (tmp_path.parent / "outside.json").exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_get_the_mode_any_new_file_gets(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "picture.png", b"pixels")
    finally:
        os.umask(old)
    assert (tmp_path / "picture.png").read_bytes() == b"pixels"
    assert stat.S_IMODE((tmp_path / "picture.png").stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["picture.png"]  # no temporary left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "card.json"
    atomic_write_bytes(target, b"old")

    def fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_a_card_keeps_words_in_any_language_readable(tmp_path):
    model = build_model("vae", {"latent_dim": 4, "width": 4}, seed=0)
    card = ModelCard(id="cafe", arch="", family="", config={}, notes="café: β = 0.5, ≥ 8 modes")
    path = save_checkpoint(model, card, tmp_path)
    assert "café: β = 0.5, ≥ 8 modes" in path.read_text(encoding="utf-8")
    _, loaded = load_checkpoint(path)
    assert loaded.notes == "café: β = 0.5, ≥ 8 modes"


def test_a_dcgan_saved_before_it_kept_an_average_loads_with_its_generator_as_the_average(tmp_path):
    model = build_model("dcgan", {"latent_dim": 8, "width": 8}, seed=0)
    card = ModelCard(id="old-gan", arch="", family="", config={})
    card_path = save_checkpoint(model, card, tmp_path)
    with torch.no_grad():
        model.generator[1].weight.mul_(2)  # trained on: no longer the average's starting copy
    old = {
        k: v
        for k, v in model.state_dict().items()
        if not k.startswith("generator_ema.") and k != "ema_updates"
    }
    _rewrite_weights(card_path, old)
    loaded, _ = load_checkpoint(card_path)
    for a, b in zip(loaded.generator.parameters(), loaded.generator_ema.parameters(), strict=True):
        assert torch.equal(a, b)
    assert int(loaded.ema_updates) == 0


def test_a_card_from_before_training_configs_loads_with_its_learning_rates_moved(saved):
    _, card_path = saved
    card = json.loads(card_path.read_text())
    card["config"]["lr"] = 3e-4  # where cards of version 1 kept it
    card_path.write_text(json.dumps(card))
    model, loaded = load_checkpoint(card_path)
    assert "lr" not in loaded.config and loaded.train["training"] == {"lr": 3e-4}
    assert not hasattr(model.config, "lr")


@pytest.mark.parametrize(
    ("arch", "config", "option", "default", "before"),
    [
        ("dcgan-classes", {"width": 8, "latent_dim": 4, "classes": 3}, "read_back", 1.0, 0.0),
        ("gan-coord", {"width": 8, "latent_dim": 4, "cells": 4}, "grid_norm", "batch", "none"),
        ("gan-coord", {"width": 8, "latent_dim": 4, "cells": 4}, "levels", "data", "unit"),
    ],
)
def test_a_card_saved_before_a_default_changed_loads_as_it_was_built(
    tmp_path, arch, config, option, default, before
):
    assert getattr(build_model(arch, config).config, option) == default  # today's default
    model = build_model(arch, config | {option: before}, seed=0).eval()
    card_path = save_checkpoint(
        model, ModelCard(id="older", arch="", family="", config={}), tmp_path
    )
    card = json.loads(card_path.read_text())
    del card["config"][option]  # saved before the option existed
    card_path.write_text(json.dumps(card))
    loaded, loaded_card = load_checkpoint(card_path)
    assert getattr(loaded.config, option) == before and loaded_card.config[option] == before
    z = model.codes(2, 0)
    with torch.inference_mode():
        assert np.array_equal(model.draw(z), loaded.draw(z))


# ---------------------------------------------------------------- hostile cards (issue 16)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100, 5000, 100_000])
def test_a_deeply_nested_card_is_a_clear_error(saved, depth):
    _, card_path = saved
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps(card | {"notes": "x"}).replace('"x"', _deep(depth)))
    with pytest.raises(StudioError, match="nested more than"):
        load_checkpoint(card_path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(id="../../outside"), "not a usable model id"),
        (lambda c: c.update(dataset={"name": ["glyphs"]}), "'name' must be text"),
        (lambda c: c.update(train={"training": 3}), "'training' must be a JSON object"),
        (lambda c: c.update(final_terms={"loss": "low"}), "'final_terms' must be"),
        (lambda c: c.update(steps="many"), "'steps' must be a whole number"),
        (lambda c: c.update(arch=["vae"]), "'arch' must be text"),
    ],
)
def test_a_card_whose_fields_have_the_wrong_types_is_refused(saved, edit, message):
    _, card_path = saved
    card = json.loads(card_path.read_text())
    edit(card)
    card_path.write_text(json.dumps(card))
    with pytest.raises(StudioError, match=message):
        load_checkpoint(card_path)


def test_a_listing_passes_over_a_bad_card_and_names_it(studio_home, caplog, monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", tmp_path / "no-pretrained")
    save_checkpoint(build_model("gan2d", {"width": 8}), ModelCard("ring", "", "", {}))
    models = studio_home / "models"
    (models / "deep.json").write_text(_deep(100_000))
    (models / "deep.safetensors").write_bytes(b"")
    (models / "odd.json").write_text('{"id": "odd", "arch": "vae", "family": "", "config": []}')
    (models / "odd.safetensors").write_bytes(b"")
    skipped = []
    assert [c.id for c, _ in list_cards(on_skip=lambda p, e: skipped.append(p.name))] == ["ring"]
    assert sorted(skipped) == ["deep.json", "odd.json"]
    assert [c.id for c, _ in list_cards()] == ["ring"]
    assert "deep.json" in caplog.text and "odd.json" in caplog.text


class _Built(Exception):
    """Raised by a stand-in build_model: the real model was about to be built."""


@pytest.fixture
def no_real_build(monkeypatch):
    """Fail the test if load_checkpoint builds the real model (not the meta blueprint)."""
    real = checkpoints.build_model

    def build(arch, config=None, **kwargs):
        if torch.empty(0).device.type != "meta":
            raise _Built(arch)
        return real(arch, config, **kwargs)

    monkeypatch.setattr(checkpoints, "build_model", build)


def _card_naming(tmp_path, config, weights: bytes):
    weights_file = tmp_path / "huge.safetensors"
    weights_file.write_bytes(weights)
    card = ModelCard(
        id="huge", arch="dcgan", family="gan", config=config, sha256=_sha(weights)
    ).to_json()
    (tmp_path / "huge.json").write_text(card)
    return tmp_path / "huge.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_tiny_card_naming_a_huge_model_is_refused_before_anything_is_built(
    tmp_path, no_real_build
):
    largest = {"size": 64, "channels": 3, "width": 512, "latent_dim": 1024}
    tiny = save({"x": torch.zeros(1)})  # 76 bytes
    with pytest.raises(StudioError, match="662,884,871 parameters"):
        load_checkpoint(_card_naming(tmp_path, largest, tiny))


def test_weights_that_do_not_fit_the_card_are_refused_before_the_model_is_built(
    tmp_path, no_real_build
):
    config = {"width": 16, "latent_dim": 8}
    with pytest.raises(StudioError, match="does not match its card"):
        load_checkpoint(_card_naming(tmp_path, config, save({"x": torch.zeros(1)})))
    too_big = b"\0" * (4 << 20)  # far more than a 0.2 M-parameter DCGAN's tensors
    with pytest.raises(StudioError, match="larger than its card's model"):
        load_checkpoint(_card_naming(tmp_path, config, too_big))


def test_a_deeply_nested_classifier_card_is_a_clear_error(tmp_path):
    from studio.classifiers import ClassifierCard

    path = tmp_path / "classifier-x.json"
    path.write_text('{"id": "c", "net": ' + _deep(5000) + "}")
    with pytest.raises(StudioError, match="nested more than"):
        ClassifierCard.read(path)
    path.write_text(
        '{"id": "c", "dataset": "glyphs", "data_options": {}, "net": {"width": "8"},'
        '"class_names": [], "recipe": {}}'
    )
    with pytest.raises(StudioError, match="'net' must be a JSON object of whole numbers"):
        ClassifierCard.read(path)


def test_an_id_is_looked_for_in_the_studio_folders_only(tmp_path, monkeypatch):
    from studio.checkpoints import find_model

    model = build_model("gan2d", {"width": 8})
    save_checkpoint(model, ModelCard(id="probe", arch="", family="", config={}), tmp_path)
    monkeypatch.chdir(tmp_path)  # "probe.json" names a real card here, relative to the cwd
    for name in ("probe.json", "absent.json"):
        with pytest.raises(StudioError) as caught:
            find_model(name)
        assert (
            str(caught.value)
            == f"no model called '{name}'; `python -m studio list` shows what there is"
        )
    with pytest.raises(StudioError, match="not a usable model id"):
        find_model(str(tmp_path / "probe.json"))
    assert find_card("probe.json").resolve() == tmp_path / "probe.json"  # the CLI may name a path


@pytest.mark.parametrize("arch", ["cppn", "dcgan", "gan2d", "vae", "vae-mlp"])
def test_a_blueprint_draws_no_weights(monkeypatch, arch):
    """Checking a card stays cheap: drawing values on the meta device imports torch._dynamo,
    seconds of work, which here would fail."""
    monkeypatch.setitem(sys.modules, "torch._dynamo", None)
    assert blueprint(arch, {}).device.type == "meta"
