"""The shipped zoo: every checkpoint verifies, clears its quality bar, and matches its recipe."""

import dataclasses
import io
import json
import os
import shutil
import signal

import pytest
import torch

from studio import zoo
from studio.checkpoints import list_cards, load_checkpoint, read_card
from studio.cli import TrainingProgress, main
from studio.errors import StudioError
from studio.paths import PRETRAINED_DIR

PICTURES = ("glyphs", "shapes")
IMAGE_MODELS = tuple(i for i, e in zoo.ZOO.items() if e.spec and e.spec.dataset in PICTURES)
ART = tuple(i for i, e in zoo.ZOO.items() if e.art)


@pytest.fixture(scope="module")
def checks():
    """One verify of everything: sha256, redraw, metrics recomputed, bars (the slow part)."""
    return {check.id: check for check in zoo.verify()}


def test_every_shipped_file_verifies(checks):
    failures = {i: c.problems for i, c in checks.items() if not c.ok}
    assert not failures
    assert list(checks) == zoo.all_ids()


def test_the_ring_gan_covers_all_eight_modes_with_high_quality_samples(checks):
    measured = checks["gan-ring8"].measured
    assert measured["modes_covered"] == 8
    assert measured["high_quality_share"] >= 0.8


def test_the_glyph_vae_reconstructions_are_recognised(checks):
    assert checks["vae-glyphs"].measured["recon_accuracy"] >= 0.9


@pytest.mark.parametrize("model_id", IMAGE_MODELS)
def test_image_samples_beat_the_pixel_gaussian_baseline_five_times_over(checks, model_id):
    measured = checks[model_id].measured
    assert measured["fd_samples"] <= 0.2 * measured["fd_baseline"]
    assert measured["fd_real_vs_real"] < measured["fd_samples"]  # the floor is below


@pytest.mark.parametrize("model_id", ART)
def test_art_presets_are_neither_flat_nor_noise(checks, model_id):
    measured = checks[model_id].measured
    assert measured["contrast_min"] >= 0.1
    assert measured["roughness_max"] <= 0.5


@pytest.mark.parametrize("name", ["glyphs", "digits"])
def test_the_glyph_classifiers_are_good_enough_to_judge_by(checks, name):
    assert checks[f"classifier-{name}"].measured["accuracy"] >= 0.95


@pytest.mark.parametrize("model_id", list(zoo.ZOO))
def test_each_card_records_how_it_was_made(model_id):
    card = read_card(PRETRAINED_DIR / f"{model_id}.json")
    entry = zoo.ZOO[model_id]
    assert card.command == entry.command
    assert card.sha256 and card.torch_version and card.device and card.created
    assert card.steps == (entry.steps if entry.spec else 0)
    assert card.metrics["protocol"]["samples"] > 0
    if model_id in IMAGE_MODELS:
        assert "not comparable to inception fid" in card.metrics["protocol"]["note"].lower()
        assert card.final_terms and card.wall_time_s > 0
    assert (PRETRAINED_DIR / f"{model_id}.png").exists()


def test_the_app_lists_every_zoo_model_and_nothing_else_from_pretrained():
    shipped = [card.id for card, path in list_cards() if path.parent == PRETRAINED_DIR]
    assert sorted(shipped) == sorted(zoo.ZOO)


def test_pretrained_stays_under_30_mb():
    tracked = [p for p in PRETRAINED_DIR.rglob("*") if p.is_file() and ".train." not in p.name]
    assert sum(p.stat().st_size for p in tracked) < 30 * 2**20  # 16 models, 3 classifiers


def test_an_art_preset_rebuilds_to_the_same_bytes(tmp_path):
    model_id = ART[0]
    card_path = zoo.rebuild(model_id, tmp_path)
    assert read_card(card_path).sha256 == read_card(PRETRAINED_DIR / f"{model_id}.json").sha256
    assert zoo.verify([model_id], tmp_path)[0].ok


def test_verify_catches_changed_weights_and_edited_metrics(tmp_path):
    model_id = ART[0]
    for suffix in (".json", ".safetensors", ".png"):
        shutil.copy(PRETRAINED_DIR / f"{model_id}{suffix}", tmp_path)
    weights = tmp_path / f"{model_id}.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 1
    weights.write_bytes(bytes(blob))
    (problem,) = zoo.verify([model_id], tmp_path)[0].problems
    assert "sha256" in problem

    shutil.copy(PRETRAINED_DIR / f"{model_id}.safetensors", tmp_path)
    card_path = tmp_path / f"{model_id}.json"
    card = json.loads(card_path.read_text())
    card["metrics"]["contrast_min"] *= 1.5
    card_path.write_text(json.dumps(card))
    (problem,) = zoo.verify([model_id], tmp_path)[0].problems
    assert problem.startswith("contrast_min recomputes to")


def test_the_cli_verifies_one_model_and_refuses_unknown_ids(capsys):
    assert main(["zoo", "verify", ART[0]]) == 0
    assert "1 of 1 passed" in capsys.readouterr().out
    assert main(["zoo", "rebuild", "no-such-model"]) == 2
    assert "not in the zoo" in capsys.readouterr().err


def _ring_recipe(monkeypatch, steps, **changes):
    """The ring GAN's zoo entry at ``steps`` (and any other ``changes`` to its recipe)."""
    e = zoo.ZOO["gan-ring8"]
    spec = dataclasses.replace(e.spec, steps=steps, **changes)
    monkeypatch.setitem(zoo.ZOO, e.id, dataclasses.replace(e, spec=spec))
    return e.id


def test_a_continued_rebuild_trains_only_the_missing_steps_into_the_straight_runs_weights(
    tmp_path, monkeypatch
):
    model_id = _ring_recipe(monkeypatch, 40)
    straight = zoo.rebuild(model_id, tmp_path / "straight")
    _ring_recipe(monkeypatch, 25)
    zoo.rebuild(model_id, tmp_path / "continued")
    _ring_recipe(monkeypatch, 40)
    log = io.StringIO()
    progress = TrainingProgress(log)
    continued = zoo.rebuild(model_id, tmp_path / "continued", continued=True, progress=progress)
    assert "40/40" in log.getvalue()

    card = read_card(continued)
    assert card.steps == 40 and card.command == zoo.ZOO[model_id].command
    assert card.train["steps"] == 40
    a, _ = load_checkpoint(straight)
    b, _ = load_checkpoint(continued)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def test_a_stopped_rebuild_is_saved_as_a_shorter_run_that_continue_finishes(tmp_path, monkeypatch):
    model_id = _ring_recipe(monkeypatch, 40)
    card_path = zoo.rebuild(model_id, tmp_path, trainer_ready=lambda trainer: trainer.stop())
    stopped = read_card(card_path)
    assert stopped.steps == 1 and stopped.metrics  # stopped after its first step, measured
    zoo.rebuild(model_id, tmp_path, continued=True)
    assert read_card(card_path).steps == 40


def test_ctrl_c_in_a_cli_rebuild_saves_the_shorter_run_and_says_how_to_go_on(
    tmp_path, monkeypatch, capsys
):
    model_id = _ring_recipe(monkeypatch, 40)
    rebuild = zoo.rebuild

    def interrupted_into_tmp(model_id, **options):
        ready = options.pop("trainer_ready")

        def ready_then_ctrl_c(trainer):
            ready(trainer)
            os.kill(os.getpid(), signal.SIGINT)

        return rebuild(model_id, tmp_path, trainer_ready=ready_then_ctrl_c, **options)

    monkeypatch.setattr(zoo, "rebuild", interrupted_into_tmp)
    assert main(["zoo", "rebuild", model_id]) == 0
    said = capsys.readouterr()
    assert "stopping after this step and saving" in said.err
    assert (
        f"stopped at step 1 of 40: python -m studio zoo rebuild {model_id} --continue" in said.out
    )
    assert read_card(tmp_path / f"{model_id}.json").steps == 1


def test_a_recipe_in_two_stretches_continued_from_a_stop_is_the_straight_run(tmp_path, monkeypatch):
    e = zoo.ZOO["gan-ring8"]
    spec = dataclasses.replace(e.spec, steps=20)
    e = dataclasses.replace(e, spec=spec, finish=dataclasses.replace(spec, steps=15))
    monkeypatch.setitem(zoo.ZOO, e.id, e)
    straight = zoo.rebuild(e.id, tmp_path / "straight")
    stopped = zoo.rebuild(e.id, tmp_path / "stopped", trainer_ready=lambda trainer: trainer.stop())
    assert read_card(stopped).steps == 1  # the first stretch stopped, the second not begun
    zoo.rebuild(e.id, tmp_path / "stopped", continued=True)
    card = read_card(stopped)
    assert card.steps == 35 and card.command == e.command == read_card(straight).command
    assert card.command.endswith(
        f"&& python -m studio train --resume {e.id} --steepen 1 --steps 15"
    )
    assert card.sha256 == read_card(straight).sha256


def test_a_stretch_is_steepened_when_it_begins_and_not_again_when_it_is_continued():
    e = zoo.ZOO["gan-coord-shapes"]
    first, last = e.spec.steps, e.finish.steps

    def plan(done):
        runs = zoo._runs_left(e, PRETRAINED_DIR / "m.json", done)
        return [(spec.steps, spec.steepen, resume is not None) for spec, resume in runs]

    assert e.finish.steepen > 1
    assert plan(0) == [(first, 1, False), (last, e.finish.steepen, True)]
    assert plan(first - 1) == [(1, 1, True), (last, e.finish.steepen, True)]
    assert plan(first) == [(last, e.finish.steepen, True)]
    assert plan(first + 1) == [(last - 1, 1, True)]


@pytest.mark.parametrize("changes", [{"steps": 25}, {"steps": 40, "seed": 1}])
def test_only_a_shorter_run_of_the_same_recipe_is_continued(tmp_path, monkeypatch, changes):
    model_id = _ring_recipe(monkeypatch, 25)
    zoo.rebuild(model_id, tmp_path)
    _ring_recipe(monkeypatch, **changes)
    with pytest.raises(StudioError, match="not a shorter run of its recipe"):
        zoo.rebuild(model_id, tmp_path, continued=True)


def test_the_cli_refuses_to_continue_an_art_preset(capsys):
    assert main(["zoo", "rebuild", ART[0], "--continue"]) == 2
    assert "nothing to continue" in capsys.readouterr().err
