"""A Train-page run in a process of its own (``studio.background``): the same command a user
would type, its reports and sample strips read back as it goes, Stop, and every way it can end.
The child processes really train; OMP_NUM_THREADS=1 gives them the tests' one torch thread, so
their weights can be compared bit for bit with a run in this process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from studio.background import TrainingProcess
from studio.checkpoints import load_checkpoint, read_card, user_models_dir
from studio.train import TrainSpec, run_training

TIMEOUT_S = 120


@pytest.fixture(autouse=True)
def one_thread_children(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _ring(model_id: str, **budget) -> TrainSpec:
    return TrainSpec(
        family="gan",
        dataset="toy2d",
        data_options={"n": 256},
        model_config={"width": 16},
        batch_size=32,
        seed=5,
        device="cpu",
        id=model_id,
        **budget,
    )


def _wait_for(job: TrainingProcess, done) -> list:
    """Poll as the page does until ``done(reports so far)``; bounded."""
    reports, deadline = [], time.monotonic() + TIMEOUT_S
    while not done(reports):
        assert job.running, job.error
        assert time.monotonic() < deadline, "the run never got there"
        reports += job.poll()
        time.sleep(0.05)
    return reports


def test_a_run_in_its_own_process_streams_reports_and_strips_and_trains_what_a_plain_run_does(
    tmp_path,
):
    spec = _ring("apart", steps=300)
    job = TrainingProcess(spec, out_dir=tmp_path / "a", preview_every=0.01).start()
    assert job.running and job.result is None
    reports, strips = [], set()
    deadline = time.monotonic() + TIMEOUT_S
    while job.running and time.monotonic() < deadline:
        reports += job.poll()
        if job.preview is not None:
            strips.add(job.preview_step)
        time.sleep(0.02)
    assert not job.running and job.error is None
    assert [r.step for r in reports] == list(range(1, 301))  # every step, once, in order
    assert {"log_d_real", "log_1m_d_fake", "value"} <= set(reports[-1].terms)
    assert len(strips) >= 2 and job.preview_step == 300  # seen as it went, and the last one
    assert job.preview.picture.dtype == np.uint8 and job.preview.picture.shape[2] == 3
    assert job.result.card.steps == 300 and not job.result.stopped_early
    assert job.result.card_path == tmp_path / "a" / "apart.json"
    assert not job.folder.exists()  # the run's own folder is gone once everything was read

    plain = run_training(spec, out_dir=tmp_path / "b")
    assert job.result.card.sha256 == plain.card.sha256  # the strips changed nothing
    assert read_card(job.result.card_path).command == plain.card.command


def test_stop_ends_the_run_after_a_step_and_keeps_the_model(tmp_path):
    job = TrainingProcess(_ring("stopped", seconds=300), out_dir=tmp_path).start()
    _wait_for(job, lambda reports: len(reports) >= 20)
    if hasattr(os, "sched_getscheduler"):  # Linux: the run only takes time no session wants
        assert os.sched_getscheduler(job._process.pid) == os.SCHED_IDLE
    job.stop()
    job.wait(TIMEOUT_S)
    assert not job.running and job.error is None
    assert job.result.stopped_early and job.result.card.steps >= 20
    model, card = load_checkpoint(tmp_path / "stopped.json")
    assert card.steps == job.result.card.steps and card.train["seconds"] == 300


def test_a_refused_run_says_why_in_one_line_and_writes_nothing(tmp_path):
    spec = _ring("refused", steps=5)
    spec.data_options = {"shape": "nope"}
    job = TrainingProcess(spec, out_dir=tmp_path).start()
    job.wait(TIMEOUT_S)
    assert not job.running and job.result is None and job.preview is None
    assert job.error.startswith("shape must be one of") and "\n" not in job.error
    assert [p for p in tmp_path.iterdir() if not p.name.startswith(".")] == []


def test_a_process_that_dies_is_reported_not_waited_for(tmp_path):
    job = TrainingProcess(_ring("killed", seconds=300), out_dir=tmp_path).start()
    _wait_for(job, lambda reports: len(reports) >= 5)
    os.kill(job._process.pid, signal.SIGKILL)
    job.wait(TIMEOUT_S)
    assert not job.running and job.result is None
    assert "ended unexpectedly (exit status -9)" in job.error
    assert not (tmp_path / "killed.json").exists() and not job.folder.exists()


def test_ctrl_c_in_the_cli_stops_and_saves_the_run(tmp_path):
    command = [
        sys.executable,
        "-m",
        "studio",
        "train",
        *_ring("interrupted", seconds=300).arguments(),
    ]
    process = subprocess.Popen(
        [*command, "--out", str(tmp_path)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    first = process.stderr.readline()  # the progress line: training has begun
    assert "it/s" in first or "log_d_real" in first, first
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, err
    assert "stopping after this step and saving" in err and "Traceback" not in err
    assert out.startswith("saved interrupted (")
    assert read_card(tmp_path / "interrupted.json").steps > 0
    assert user_models_dir() != tmp_path  # nothing was written to the studio's own folder


def test_what_the_run_notes_reaches_the_page_while_it_runs(tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i in range(16):
        Image.new("RGB", (40, 40), (15 * i, 90, 200)).save(pictures / f"p{i}.png")
    (pictures / "broken.png").write_bytes(b"not a picture")
    spec = TrainSpec(
        family="vae",
        dataset="folder",
        data_path=str(pictures),
        data_options={"size": 32},
        model_config={"width": 4},
        steps=3,
        batch_size=4,
        device="cpu",
        id="noted",
    )
    job = TrainingProcess(spec, out_dir=tmp_path / "models").start()
    job.wait(TIMEOUT_S)
    assert job.error is None
    (notice,) = job.notices
    assert "1 of 17 pictures were skipped: broken.png" in notice
    assert notice in job.result.card.notes
