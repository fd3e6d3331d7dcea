"""A save is one step: killed or failing anywhere, a model is the old one or the new one, whole,
with the training state its card names; one id is written by one run at a time; what killed
saves leave behind is swept, and never keeps a name taken."""

import dataclasses
import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from studio import library
from studio.checkpoints import (
    ModelCard,
    load_checkpoint,
    model_lock,
    read_training_state,
    save_checkpoint,
    sweep_stale,
    user_models_dir,
    weights_path,
    write_checkpoint,
)
from studio.errors import StudioError
from studio.models import build_model
from studio.train import TrainSpec, run_training

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def models(tmp_path):
    """A models folder of its own (the studio folder is elsewhere in tmp_path)."""
    return tmp_path / "models"


def _save(folder, *, seed, steps, model_id="m"):
    """A 2-D GAN saved as ``model_id`` with a training state at ``steps``; its weights' sha256."""
    model = build_model("gan2d", {"width": 8}, seed=seed)
    card = ModelCard(id=model_id, arch="", family="", config={}, steps=steps)
    save_checkpoint(model, card, folder, training_state={"step": torch.tensor(steps)})
    return card.sha256


def _whole(card_path):
    """The model at ``card_path`` loads, and its training state is the one its card names."""
    _, card = load_checkpoint(card_path)
    assert int(read_training_state(card_path, card)["step"]) == card.steps
    return card


def _files(folder):
    return sorted(p.name for p in Path(folder).iterdir() if not p.name.startswith("."))


def _named(card):
    return sorted([f"{card.id}.json", card.weights, card.training_state])


# ---------------------------------------------------------------- failing or killed mid-save


@pytest.mark.parametrize("failing_write", [1, 2, 3])
def test_a_save_failing_at_any_write_leaves_the_old_model_whole_and_nothing_new(
    models, monkeypatch, failing_write
):
    old_sha = _save(models, seed=0, steps=1)
    before = _files(models)
    replace, calls = os.replace, []

    def full_disk(src, dst):
        calls.append(dst)
        if len(calls) == failing_write:  # the weights, the training state, then the card
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        replace(src, dst)

    with monkeypatch.context() as patch, pytest.raises(OSError, match="No space left"):
        patch.setattr(os, "replace", full_disk)
        _save(models, seed=1, steps=2)
    card = _whole(models / "m.json")
    assert card.sha256 == old_sha and card.steps == 1
    assert _files(models) == before  # neither the new files nor a temporary are left


def test_a_save_that_cannot_remove_the_old_files_is_still_saved_and_they_are_swept(
    models, monkeypatch
):
    _save(models, seed=0, steps=1)
    unlink = os.unlink

    def stuck(path, *args, **kwargs):
        if Path(path).suffix == ".safetensors":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        unlink(path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, "unlink", stuck)
        new_sha = _save(models, seed=1, steps=2)
    card = _whole(models / "m.json")
    assert card.sha256 == new_sha and len(_files(models)) == 5  # the old two are still there
    assert len(sweep_stale(models, older_than=0)) == 2
    assert _files(models) == _named(card)


_KILLED_SAVES = """
import os, signal, sys
import torch
from studio.checkpoints import ModelCard, save_checkpoint
from studio.models import build_model

torch.set_num_threads(1)  # no thread pool in the parent: forking stays safe


def save_killed_at(folder, kill_at):
    calls = []

    def counted(real):
        def operation(*args, **kwargs):
            calls.append(args[0])
            if len(calls) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)

        return operation

    os.replace, os.unlink = counted(os.replace), counted(os.unlink)
    model = build_model("gan2d", {"width": 8}, seed=1)
    card = ModelCard(id="m", arch="", family="", config={}, steps=2)
    save_checkpoint(model, card, folder, training_state={"step": torch.tensor(2)})


for folder, kill_at in zip(sys.argv[1::2], sys.argv[2::2]):
    child = os.fork()  # one import of torch, a fresh process for each kill
    if child == 0:
        save_killed_at(folder, int(kill_at))
        os._exit(0)
    _, status = os.waitpid(child, 0)
    print(os.waitstatus_to_exitcode(status))
"""


def _kill_saves(*folders_and_kill_points):
    """Save the new model into each folder in a process killed (``kill -9``) before its k-th
    rename or removal of a file; their exit codes."""
    args = [str(a) for pair in folders_and_kill_points for a in pair]
    run = subprocess.run(
        [sys.executable, "-c", _KILLED_SAVES, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return [int(line) for line in run.stdout.split()]


def test_a_save_killed_between_any_two_file_operations_leaves_the_old_or_the_new_model(
    tmp_path,
):
    """Killed before each rename (weights, state, card) and each removal of an old file."""
    folders = {k: tmp_path / f"kill-{k}" for k in range(1, 7)}
    old = {k: _save(folder, seed=0, steps=1) for k, folder in folders.items()}
    codes = _kill_saves(*[(folder, k) for k, folder in folders.items()])
    assert codes == [-9, -9, -9, -9, -9, 0]  # 6: there are five operations, so no kill
    for k, folder in folders.items():
        card = _whole(folder / "m.json")
        assert (card.sha256 == old[k]) == (card.steps == 1) == (k <= 3), k
        sweep_stale(folder, older_than=0)
        assert _files(folder) == _named(card), k


def test_a_save_killed_before_its_card_leaves_the_name_free_and_its_files_are_swept(
    studio_home,
):
    """Once, a server killed mid-save left weights without a card: never listed, never
    deletable, yet their name was refused as taken."""
    folder = user_models_dir()
    assert _kill_saves((folder, 3)) == [-9] and not (folder / "m.json").exists()
    assert library.check_new_id("m") == "m"
    assert len(sweep_stale(folder, older_than=0)) == 3  # weights, state, the card's temporary
    assert _files(folder) == []


# ---------------------------------------------------------------- what a sweep takes


def test_the_sweep_takes_only_old_leftovers_of_models_no_run_holds(models):
    _save(models, seed=0, steps=1, model_id="kept")
    old = time.time() - 120
    leftovers = {
        ".a.json.0123456789abcdef.tmp": old,  # a killed save's temporary
        "a@0123456789abcdef.safetensors": old,  # weights whose card never came
        ".b.json.0123456789abcdef.tmp": time.time(),  # a minute has not passed
        ".busy@0123456789abcdef.safetensors.0123456789abcdef.tmp": old,  # a run holds it
        "notes.txt": old,  # not the studio's
    }
    for name, mtime in leftovers.items():
        (models / name).write_bytes(b"x")
        os.utime(models / name, (mtime, mtime))
    holder_ready, release = threading.Event(), threading.Event()

    def hold():
        with model_lock(models, "busy"):
            holder_ready.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    holder_ready.wait(30)
    try:
        removed = sweep_stale(models)
    finally:
        release.set()
        holder.join()
    assert sorted(p.name for p in removed) == [
        ".a.json.0123456789abcdef.tmp",
        "a@0123456789abcdef.safetensors",
    ]
    _whole(models / "kept.json")


def test_a_run_sweeps_its_folder_when_it_starts(studio_home):
    folder = user_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stale = folder / ".gone.json.0123456789abcdef.tmp"
    stale.write_bytes(b"half a card")
    os.utime(stale, (time.time() - 120,) * 2)
    run_training(_toy_spec("fresh"))
    assert not stale.exists()


# ---------------------------------------------------------------- one writer per id


def _toy_spec(model_id, steps=2):
    return TrainSpec(
        family="gan",
        dataset="toy2d",
        data_options={"n": 128},
        model_config={"width": 8},
        steps=steps,
        device="cpu",
        id=model_id,
    )


def test_a_second_run_on_an_id_another_process_is_writing_is_refused_at_once(studio_home):
    folder = user_models_dir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from studio.checkpoints import model_lock; from pathlib import Path\n"
            "with model_lock(Path(sys.argv[1]), 'taken'):\n"
            "    print('held', flush=True); time.sleep(60)",
            str(folder),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.perf_counter()
        with pytest.raises(StudioError, match="'taken' is being written by another run"):
            run_training(_toy_spec("taken", steps=10_000))
        assert time.perf_counter() - start < 5  # refused before any training
    finally:
        holder.kill()
        holder.wait()
    run_training(_toy_spec("taken"))  # the lock died with its process


def test_a_model_a_run_is_writing_cannot_be_renamed_or_deleted_meanwhile(studio_home):
    run_training(_toy_spec("busy"))
    started, release = threading.Event(), threading.Event()

    def hold():
        with model_lock(user_models_dir(), "busy"):
            started.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    started.wait(30)
    try:
        for action in (
            lambda: library.rename_model("busy", "other"),
            lambda: library.delete_model("busy"),
        ):
            with pytest.raises(StudioError, match="being written by another run"):
                action()
    finally:
        release.set()
        holder.join()
    _whole(user_models_dir() / "busy.json")


# ---------------------------------------------------------------- checkpoints of the old layout


def _old_layout(folder, *, state_step=3, card_step=3):
    """A model as saves wrote it before: <id>.safetensors, <id>.train.safetensors, a card
    naming neither."""
    result = run_training(_toy_spec("old", steps=3), out_dir=folder)
    model, _ = load_checkpoint(result.card_path)
    state = read_training_state(result.card_path, result.card)
    for path in folder.glob("old*"):
        path.unlink()
    card = dataclasses.replace(
        result.card,
        weights="",
        training_state="",
        training_state_sha256="",
        steps=card_step,
        version=1,
    )
    write_checkpoint(folder / "old.json", model, card, metadata={"arch": model.arch})
    save_file(state | {"step": torch.tensor(state_step)}, str(folder / "old.train.safetensors"))
    return folder / "old.json"


def test_a_model_saved_in_the_old_layout_loads_resumes_and_is_then_saved_in_one_step(models):
    card_path = _old_layout(models)
    assert _files(models) == ["old.json", "old.safetensors", "old.train.safetensors"]
    _whole(card_path)
    resumed = run_training(_toy_spec("", steps=2), resume=str(card_path), out_dir=models)
    card = _whole(resumed.card_path)
    assert card.steps == 5 and _files(models) == _named(card)  # the old files went


def test_an_old_layout_state_left_apart_from_its_card_is_refused_not_resumed(models):
    """A kill between the old layout's card and state writes left a card at 30 steps beside
    a state at 20; resuming from it went on from the wrong step."""
    card_path = _old_layout(models, state_step=2, card_step=3)
    with pytest.raises(StudioError, match="from step 2 but its card from step 3"):
        run_training(_toy_spec("", steps=2), resume=str(card_path), out_dir=models)


def test_renaming_and_deleting_an_old_layout_model(studio_home):
    card_path = _old_layout(user_models_dir())
    renamed = library.rename_model("old", "new")
    card = _whole(renamed)
    assert _files(user_models_dir()) == _named(card)
    assert {p.name for p in library.delete_model("new")} == set(_named(card))
    assert _files(user_models_dir()) == [] and not card_path.exists()


def test_a_weights_file_of_the_new_layout_finds_its_card(models):
    _save(models, seed=0, steps=1)
    _, card = load_checkpoint(weights_path(models / "m.json"))
    assert card.id == "m"
