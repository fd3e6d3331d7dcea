"""A run's live preview: the sample strip and an image GAN's diversity, which the loss panel's
mode-collapse alarm reads. A generator that ignores z sets the alarm off; the shipped glyph GAN
does not; and measuring changes nothing in the run it watches."""

from __future__ import annotations

import time

import torch

from studio.background import TrainingProcess
from studio.checkpoints import load_checkpoint
from studio.data import load_dataset
from studio.live_preview import LivePreviewer
from studio.models import build_model, model_class
from studio.train import TrainSpec, run_training
from studio.ui import hints
from studio.ui.live_run import SessionRun

GLYPHS = TrainSpec(family="gan", dataset="glyphs", data_options={"n": 2000})


def _examples() -> torch.Tensor:
    return load_dataset("glyphs", n=2000, seed=0).x[:1000]


def _ignoring_z() -> torch.nn.Module:
    """A DCGAN whose generator (and its average) draws the same picture whatever z is: its
    first layer, the only one that sees z, has all-zero weights."""
    model = build_model("dcgan", {"channels": 1, "size": 32}, seed=0).eval()
    with torch.no_grad():
        for generator in (model.generator, model.generator_ema):
            generator[1].weight.zero_()
    return model


def test_a_generator_that_ignores_z_sets_off_the_alarm_and_a_healthy_one_does_not():
    previewer, examples = LivePreviewer(GLYPHS), _examples()
    healthy, _ = load_checkpoint("gan-glyphs")
    with torch.inference_mode():
        varied = previewer(healthy, examples)
        collapsed = previewer(_ignoring_z(), examples)
    assert varied.picture.ndim == collapsed.picture.ndim == 3
    assert varied.near_duplicates < hints.VARIED_PAIRS
    assert collapsed.near_duplicates == 1.0

    healthy_run = [hints.DiversityReading(step, varied.near_duplicates) for step in (100, 200, 300)]
    assert hints.diagnose([], diversity=healthy_run) == []
    collapsing_run = healthy_run + [
        hints.DiversityReading(step, collapsed.near_duplicates) for step in (400, 500)
    ]
    (hint,) = hints.diagnose([], diversity=collapsing_run)
    assert "nearly the same picture for every z: 100%" in hint.text


def test_only_image_gans_are_measured_and_without_a_classifier_in_pixels():
    examples = _examples()
    vae, _ = load_checkpoint("vae-glyphs")
    ring, _ = load_checkpoint("gan-ring8")
    with torch.inference_mode():
        assert LivePreviewer(GLYPHS)(vae, examples).near_duplicates is None
        points = load_dataset("toy2d", n=1000).x
        assert (
            LivePreviewer(TrainSpec(family="gan", dataset="toy2d"))(ring, points).near_duplicates
            is None
        )
        # The same pictures with no classifier for their kind of data: compared pixel by pixel.
        lower = TrainSpec(
            family="gan", dataset="glyphs", data_options={"charset": "lower", "n": 256}
        )
        assert LivePreviewer(lower).near_duplicates(_ignoring_z(), examples) == 1.0


def test_a_run_reports_its_diversity_at_each_preview_and_is_not_changed_by_it(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the training process: this one's one thread
    spec = TrainSpec(
        family="gan",
        dataset="glyphs",
        data_options={"n": 256},
        model_config={"width": 8},
        steps=12,
        batch_size=16,
        id="watched",
    )
    job = TrainingProcess(spec, out_dir=tmp_path / "a", preview_every=0.001)
    run = SessionRun(spec=spec, model_cls=model_class("dcgan"), job=job.start())
    while run.running:
        run.poll()
        time.sleep(0.01)
    assert job.error is None and run.diversity[-1].step == 12
    steps = [reading.step for reading in run.diversity]
    assert steps == sorted(set(steps))
    assert all(0 <= reading.near_duplicates <= 1 for reading in run.diversity)
    plain = run_training(spec, out_dir=tmp_path / "b")
    assert job.result.card.sha256 == plain.card.sha256  # the weights, untouched
