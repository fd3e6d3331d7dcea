"""The benchmarks run and report what they say (speed itself is measured there, never here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from studio.bench import render
from studio.bench.training import bare_step, measure
from studio.checkpoints import ModelCard, find_card, save_checkpoint
from studio.cli import main
from studio.models import build_model
from studio.trainer import Trainer


def save_tiny(arch: str, config: dict) -> str:
    model = build_model(arch, config, seed=0)
    save_checkpoint(model, ModelCard(id=f"{arch}-tiny", arch=arch, family=model.family, config={}))
    return f"{arch}-tiny"


def test_bench_prints_one_json_row_per_case(capsys):
    vae = save_tiny("vae", {"latent_dim": 6, "width": 4})
    assert main(["bench", "--models", vae, "--repeat", "3", "--budget", "0.1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["case"] for r in rows] == ["miss", "hit", "batch64", "bare", "naive", "naive-lean"]
    for r in rows:
        assert r["model"] == vae and r["device"] == "cpu"
        assert 0 < r["p50_ms"] <= r["p95_ms"] and r["per_second"] > 0 and r["cpu_p50_ms"] > 0


def test_a_model_that_draws_at_any_size_is_timed_at_sizes(capsys):
    small = {"latent_dim": 4, "width": 8, "mlp_width": 8, "cells": 4}
    coordinates = save_tiny("vae-coord", small)
    args = ["bench", "--models", coordinates, "--repeat", "3", "--budget", "0.1", "--quick"]
    assert main([*args, "--json"]) == 0
    cases = [r["case"] for r in json.loads(capsys.readouterr().out)]
    assert cases[-3:] == ["size-256", "size-512", "size-1024"]


def test_bench_says_when_there_is_nothing_to_measure(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(render, "PRETRAINED_DIR", tmp_path)
    assert main(["bench"]) == 0
    assert "nothing to measure" in capsys.readouterr().err


def test_a_poster_is_measured_in_a_process_of_its_own():
    cppn = save_tiny("cppn", {"latent_dim": 4, "width": 12, "depth": 3, "size": 40})
    row = render.poster_memory(find_card(cppn), cppn, torch.device("cpu"), size=96)
    assert row["case"] == "poster-96" and row["p50_ms"] > 0
    assert row["peak_mb"] >= row["loaded_mb"] > 0


def test_train_bench_times_the_trainer_and_the_bare_loop_on_the_same_model():
    row = measure("gan2d", steps=3, rounds=1)
    assert row.trainer_steps_per_s > 0 and row.bare_steps_per_s > 0 and row.ratio > 0
    # The bare GAN step is the textbook one: it really trains both networks.
    model = build_model("gan2d", {"width": 8}, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    optimizers = Trainer(model, torch.randn(64, 2), steps=1).optimizers
    bare_step(model)(torch.randn(64, 2), optimizers)
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_the_bare_gan_step_trains_a_coordinate_generator_too():
    model = build_model("gan-coord", {"latent_dim": 4, "width": 8, "mlp_width": 8}, seed=0)
    before = [p.detach().clone() for p in model.generator.parameters()]
    optimizers = Trainer(model, torch.rand(8, 1, 32, 32), steps=1).optimizers
    bare_step(model)(torch.rand(8, 1, 32, 32), optimizers)
    after = model.generator.parameters()
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("module", ["studio.bench.browser", "studio.bench.classroom"])
def test_the_benches_of_their_own_run_as_modules(module):
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"python -m {module}" in done.stdout
