"""A full or read-only disk: a run's result is kept somewhere the user is told about, the
earlier model stays as it was, and a cache that cannot be written only costs time."""

import errno
import os
import tempfile
from pathlib import Path

import pytest
from safetensors import SafetensorError

from studio import latent, train
from studio.checkpoints import load_checkpoint, read_training_state, user_models_dir
from studio.cli import main
from studio.data import cache, load_dataset
from studio.models import build_model
from studio.train import TrainSpec, run_training


def _spec(steps=2, model_id="m"):
    return TrainSpec(
        family="gan",
        dataset="toy2d",
        data_options={"n": 128},
        model_config={"width": 8},
        steps=steps,
        device="cpu",
        id=model_id,
    )


@pytest.fixture
def system_temp(tmp_path, monkeypatch):
    """The system's temporary folder, here a fresh one."""
    folder = tmp_path / "system-temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _disk_full_in(folder, patch):
    """Every rename into ``folder`` or below fails as on a full disk (every save ends so)."""
    replace = os.replace

    def full(src, dst):
        if Path(dst).is_relative_to(folder):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        replace(src, dst)

    patch.setattr(os, "replace", full)


def _whole(card_path):
    _, card = load_checkpoint(card_path)
    assert int(read_training_state(card_path, card)["step"]) == card.steps
    return card


def test_a_full_disk_at_save_keeps_the_run_aside_and_the_earlier_model_as_it_was(
    system_temp, monkeypatch
):
    earlier = run_training(_spec())
    files = sorted(user_models_dir().iterdir())
    with monkeypatch.context() as patch:
        _disk_full_in(user_models_dir(), patch)
        result = run_training(_spec(steps=3), resume="m")  # a resume failing half-way, once
    assert "could not save 'm'" in result.save_error and "No space left" in result.save_error
    assert f"kept in {system_temp}" in result.save_error
    assert result.card_path.is_relative_to(system_temp)
    assert _whole(result.card_path).steps == 5  # the finished run, resumable from there
    assert sorted(user_models_dir().iterdir()) == files  # nothing new, nothing gone
    card = _whole(user_models_dir() / "m.json")
    assert card.sha256 == earlier.card.sha256 and card.steps == 2


def test_when_nowhere_can_hold_the_run_the_cli_says_so_in_one_line(
    system_temp, monkeypatch, capsys
):
    _disk_full_in(user_models_dir(), monkeypatch)
    _disk_full_in(system_temp, monkeypatch)  # the temporary folder is on the same full disk
    args = ["train", "--model", "gan", "--dataset", "toy2d", "--steps", "2", "--id", "m"]
    assert main([*args, "--set", "width=8", "--data-option", "n=128"]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert "could not save 'm'" in errors[0] and "could not be kept" in errors[0]
    assert not (user_models_dir() / "m.json").exists()


def test_a_models_folder_that_cannot_be_written_is_refused_before_training(
    tmp_path, monkeypatch, capsys
):
    def no_work(*args, **kwargs):
        raise AssertionError("the data was loaded for a run that could never be saved")

    monkeypatch.setattr(train, "load_training_data", no_work)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    args = ["train", "--model", "gan", "--dataset", "toy2d", "--id", "m"]
    assert main([*args, "--out", str(blocked / "models")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write to") and err.count("\n") == 1


# ---------------------------------------------------------------- caches


def test_a_dataset_cache_that_cannot_be_written_only_costs_a_rebuild(monkeypatch):
    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(No space left on device)")

    monkeypatch.setattr(cache, "save_file", full)
    cache.clear_memo()
    assert len(load_dataset("toy2d", n=64, seed=11)) == 64


def test_caches_in_a_studio_folder_that_cannot_hold_them_only_cost_time(studio_home):
    studio_home.mkdir(parents=True, exist_ok=True)
    (studio_home / "cache").write_text("a file where the cache folder would go")
    cache.clear_memo()
    assert len(load_dataset("toy2d", n=64, seed=12)) == 64
    axes = latent.slider_axes(build_model("gan2d", {"width": 8}, seed=0), limit=2)
    assert axes.vectors.shape[0] == 2
