"""Training on several processes (gloo, CPU): two processes with half the batch each make the
one-process run, stop and diverge together, write only from rank 0, and resume across numbers
of processes.

Processes are slow to start on a shared machine, so one pair of processes
(``tests/two_ranks.py``) runs every in-library case at once and leaves its results in files for
the tests to read.

Tolerances: weights after 20 steps agree to ``WEIGHT_ATOL`` (seen: 1e-6) and loss terms to
``TERM_RTOL`` (seen: 2e-7). They differ at all only in float rounding: a mean of two half-batch
means is not summed in the order of one full-batch mean, and Adam carries such differences on.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from two_ranks import BATCH, CASES, STEPS, chain_spec, trained

from studio.background import TrainingProcess
from studio.checkpoints import load_checkpoint, read_card
from studio.train import UNSYNCED_BATCH_NORM, TrainSpec, run_training

WEIGHT_ATOL = 1e-5
TERM_RTOL = 1e-5
TIMEOUT_S = 180
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    """The results of ``tests/two_ranks.py`` on two processes; before them, a one-process
    checkpoint (``chain``, 10 steps) for them to resume."""
    out = tmp_path_factory.mktemp("two-ranks")
    home = tmp_path_factory.mktemp("studio-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_HOME", str(home))
        run_training(chain_spec(id="chain"), out_dir=out)
    env = os.environ | {
        "STUDIO_HOME": str(home),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "WORLD_SIZE": "2",
    }
    worker = [sys.executable, str(Path(__file__).with_name("two_ranks.py")), str(out)]
    ranks = [
        subprocess.Popen(
            worker,
            env=env | {"RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for r in range(2)
    ]
    said = [rank.communicate(timeout=TIMEOUT_S)[0].decode() for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0], said
    return out


def _saved(folder: Path) -> list[str]:
    """What a folder of models holds, less its locks."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _results(out: Path, rank: int) -> dict:
    return json.loads((out / f"rank{rank}.json").read_text())


# ---------------------------------------------------------------- two halves make the whole


@pytest.mark.parametrize("arch", list(CASES))
def test_two_processes_with_half_the_batch_each_make_the_one_process_run(two_ranks, arch):
    whole = trained(arch)
    terms = [r.terms for r in whole]
    halves = load_file(two_ranks / f"rank0.{arch}.safetensors")
    for name, weight in whole.model.state_dict().items():
        torch.testing.assert_close(halves[name], weight, rtol=0, atol=WEIGHT_ATOL, msg=name)
    on_rank0, on_rank1 = _results(two_ranks, 0)[arch], _results(two_ranks, 1)[arch]
    assert on_rank0 == on_rank1  # averaged before reporting: every process says the same
    assert len(on_rank0) == STEPS
    for one, two in zip(terms, on_rank0, strict=True):
        assert one.keys() == two.keys()
        for key in one:
            assert two[key] == pytest.approx(one[key], rel=TERM_RTOL, abs=1e-6), key


def test_stop_nan_and_a_time_budget_on_one_process_end_both_at_the_same_step(two_ranks):
    first, second = _results(two_ranks, 0), _results(two_ranks, 1)
    # Rank 1 was asked to stop at step 7: both finish at the next step they meet, 10.
    assert first["stop"] == second["stop"] == {"step": 10, "stopped": True}
    # Rank 1's loss became NaN at step 8: both diverge there and keep step 5's weights.
    assert first["nan"] == second["nan"]
    assert first["nan"]["step"] == 5 and "at step 8" in first["nan"]["message"]
    assert first["seconds"]["step"] == second["seconds"]["step"]


def test_a_run_resumes_across_numbers_of_processes_and_only_rank_0_writes(two_ranks, tmp_path):
    first, second = _results(two_ranks, 0), _results(two_ranks, 1)
    assert first["resume"]["card_path"] == str(two_ranks / "chain.json")
    assert second["resume"]["card_path"] == "None"
    card = read_card(two_ranks / "chain.json")
    assert (card.steps, card.train["processes"]) == (20, 2)
    assert "--processes 2" in card.command
    assert UNSYNCED_BATCH_NORM not in card.notes  # the VAE has no BatchNorm to mention
    names = sorted(p.name.split("@")[0] for p in two_ranks.iterdir() if "chain" in p.name)
    assert names == ["chain", "chain", "chain.json"]  # weights, training state, card: once

    # 1 -> 2 -> 1 processes: 10 steps each, then the same as 30 steps on one.
    resumed = run_training(chain_spec(), resume=str(two_ranks / "chain.json"), out_dir=tmp_path)
    whole = run_training(chain_spec(steps=30, id="whole"), out_dir=tmp_path)
    assert resumed.card.steps == 30 and resumed.card.train["processes"] == 1
    a, _ = load_checkpoint(resumed.card_path)
    b, _ = load_checkpoint(whole.card_path)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=WEIGHT_ATOL, msg=name)


def test_a_dcgan_card_says_its_batch_norm_was_not_synchronised(two_ranks):
    assert UNSYNCED_BATCH_NORM in _results(two_ranks, 0)["dcgan_notes"]
    assert UNSYNCED_BATCH_NORM in read_card(two_ranks / "dcgan.json").notes


# ---------------------------------------------------------------- through the launchers


def test_the_train_page_runs_on_two_processes_and_follows_it_like_one(tmp_path, monkeypatch):
    """``--processes 2`` (through torch.distributed's launcher), as the Train page starts it:
    one report per step, from rank 0 only, and the model the one-process run makes."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    spec = TrainSpec(
        family="gan",
        dataset="toy2d",
        data_options=CASES["gan2d"][2],
        model_config=CASES["gan2d"][0],
        steps=STEPS,
        batch_size=BATCH,
        seed=3,
        device="cpu",
        id="pair",
        processes=2,
    )
    job = TrainingProcess(spec, out_dir=tmp_path / "models").start()
    reports, deadline = [], time.monotonic() + TIMEOUT_S
    while job.running:
        assert time.monotonic() < deadline, "the run never ended"
        reports += job.poll()
        time.sleep(0.05)
    assert job.result is not None, job.error
    assert [r.step for r in reports] == list(range(1, STEPS + 1))
    assert job.result.card.train["processes"] == 2
    assert len(_saved(tmp_path / "models")) == 3  # weights, training state, card: once
    alone = run_training(
        TrainSpec(**(spec.__dict__ | {"processes": 1, "id": "alone"})), out_dir=tmp_path
    )
    a, _ = load_checkpoint(job.result.card_path)
    b, _ = load_checkpoint(alone.card_path)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=WEIGHT_ATOL, msg=name)


def test_two_nodes_meet_through_a_c10d_rendezvous(tmp_path, monkeypatch):
    """Two torchrun launchers, as on two machines, each starting one process: the c10d
    rendezvous on 127.0.0.1 makes them ranks 0 and 1 of one run, and rank 0 alone saves."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=2",
        "--nproc-per-node=1",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{_free_port()}",
        "--rdzv-id=two-nodes",
    ]
    train = ["-m", "studio", "train", "--model", "vae", "--dataset", "glyphs", "--steps", "10"]
    train += ["--data-option", "n=256", "--set", "latent_dim=4", "--set", "width=8"]
    train += ["--device", "cpu", "--id", "nodes", "--out", str(tmp_path / "models")]
    nodes = [
        subprocess.Popen([*launcher, *train], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [node.communicate(timeout=TIMEOUT_S) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    said = b"".join(out for out, _ in outputs).decode()
    assert said.count("saved nodes (10 steps") == 1
    card = read_card(tmp_path / "models" / "nodes.json")
    assert (card.steps, card.train["processes"]) == (10, 2)
    assert len(_saved(tmp_path / "models")) == 3


def test_the_scaling_bench_times_a_process_and_wants_train(monkeypatch, capsys):
    from studio.bench.scaling import measure_this_rank
    from studio.cli import main

    assert measure_this_rank("gan2d", 0.2) > 0
    assert main(["bench", "--processes", "2"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
