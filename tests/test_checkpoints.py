"""Checkpoints round-trip bit-exactly and refuse everything they cannot trust."""

import hashlib
import json
import os
import pickle
import stat

import pytest
import torch
from safetensors.torch import save_file

from studio.checkpoints import (
    ModelCard,
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
