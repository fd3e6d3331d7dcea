"""The session's training runs: start one in the background, collect what it reports, stop it.

A run lives in ``st.session_state`` as a ``SessionRun``: the ``BackgroundRun`` doing the work
and every ``StepReport`` drained from it so far, so the loss panel survives reruns and page
switches. The sample strip is drawn by the training thread itself (``BackgroundRun``'s
``preview``), from a fixed z, so the page never reads weights that are being trained. For an
image GAN the same call measures how varied its samples are (``LivePreviewer``): the loss
panel's mode-collapse alarm reads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import streamlit as st
import torch

from studio import classifiers, metrics
from studio.errors import StudioError
from studio.models import GenerativeModel
from studio.train import BackgroundRun, TrainSpec, load_training_data
from studio.trainer import StepReport
from studio.ui.hints import DiversityReading

RUN_KEY = "train_run"
PREVIEW_EVERY_S = 2.0
PREVIEW_TILE_PX = 128
DIVERSITY_SAMPLES = 64  # 2,016 pairs: enough to tell one picture from a few from many
DIVERSITY_SEED = 1  # the fixed z whose samples are compared (the strip's is PREVIEW_SEED)


@dataclass
class SessionRun:
    spec: TrainSpec
    model_cls: type[GenerativeModel]
    job: BackgroundRun
    started: float = field(default_factory=time.time)
    reports: list[StepReport] = field(default_factory=list)
    diversity: list[DiversityReading] = field(default_factory=list)  # one per preview seen
    shown_end: bool = False  # the page has rerun once after the end, to show the result

    @property
    def running(self) -> bool:
        return self.job.running

    @property
    def latest(self) -> StepReport | None:
        return self.reports[-1] if self.reports else None

    def poll(self) -> list[StepReport]:
        """Move the reports that arrived since the last poll into ``reports``."""
        fresh = self.job.drain()
        self.reports.extend(fresh)
        self._read_diversity()
        return fresh

    def _read_diversity(self) -> None:
        """The latest preview's diversity, once per preview. The step is read first: the
        training thread sets it after the preview, so a new step always comes with its own."""
        step, preview = self.job.preview_step, self.job.preview
        if preview is None or preview.near_duplicates is None:
            return
        if not self.diversity or step > self.diversity[-1].step:
            self.diversity.append(DiversityReading(step, preview.near_duplicates))

    def seconds_left(self) -> float | None:
        """The budget left, from the last report's rate; None before the first report."""
        report = self.latest
        if report is None or report.progress <= 0:
            return None
        return max(0.0, report.elapsed * (1 - report.progress) / report.progress)


def current_run() -> SessionRun | None:
    return st.session_state.get(RUN_KEY)


def start_run(spec: TrainSpec, model_cls: type[GenerativeModel]) -> SessionRun:
    """Start ``spec`` on a background thread and make it the session's current run."""
    job = BackgroundRun(spec, preview=LivePreviewer(spec), preview_every=PREVIEW_EVERY_S)
    run = SessionRun(spec=spec, model_cls=model_cls, job=job)
    st.session_state[RUN_KEY] = run
    job.start()
    return run


def stop_run() -> None:
    run = current_run()
    if run is not None:
        run.job.stop()


def forget_run() -> None:
    """Drop the finished run from the page (its model stays saved)."""
    run = current_run()
    if run is not None and not run.running:
        del st.session_state[RUN_KEY]


# ---------------------------------------------------------------- the sample strip


@dataclass(frozen=True)
class LivePreview:
    picture: np.ndarray  # the sample strip
    near_duplicates: float | None  # metrics.near_duplicate_share of a fixed z's samples


class LivePreviewer:
    """What the training thread draws every ``PREVIEW_EVERY_S``: the sample strip and, for an
    image GAN, the share of near-duplicate pairs among ``DIVERSITY_SAMPLES`` samples from a
    fixed z, in the shipped feature classifier's space when one was trained on this kind of
    data (else in pixels), against the run's own training examples.

    A few milliseconds every few seconds, on the thread that owns the weights; nothing here
    draws from the global RNG (the classifier is loaded without initialising weights).
    """

    def __init__(self, spec: TrainSpec) -> None:
        self.spec = spec
        self._features: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._real: torch.Tensor | None = None  # the examples' features: the same every call

    def __call__(self, model: GenerativeModel, examples: torch.Tensor) -> LivePreview:
        return LivePreview(sample_strip(model, examples), self.near_duplicates(model, examples))

    def near_duplicates(self, model: GenerativeModel, examples: torch.Tensor) -> float | None:
        """None for what is not an image GAN: points, a VAE, a CPPN fitting one picture."""
        if model.family != "gan" or len(model.data_shape) != 3:
            return None
        if self._features is None or self._real is None:
            self._features = feature_space(self.spec)
            self._real = self._features(examples[:DIVERSITY_SAMPLES].float().cpu())
        samples = model.decode(model.codes(DIVERSITY_SAMPLES, DIVERSITY_SEED)).float().cpu()
        return metrics.near_duplicate_share(self._features(samples), self._real)


def feature_space(spec: TrainSpec) -> Callable[[torch.Tensor], torch.Tensor]:
    """The features of the classifier trained on this run's kind of data, else the pixels."""
    if any(recipe.dataset == spec.dataset for recipe in classifiers.CLASSIFIERS.values()):
        data = load_training_data(spec, spec.model_config)  # the run's own, from the memo
        try:
            return classifiers.classifier_for(data.name, data.options)[0].features
        except StudioError:
            pass  # none fits these options (or none is installed): pixels will do
    return lambda x: x.flatten(1)


def sample_strip(model: GenerativeModel, examples: torch.Tensor) -> np.ndarray:
    """The preview the training thread draws (``GenerativeModel.preview``), small samples
    upscaled (nearest) to about ``PREVIEW_TILE_PX`` so their pixels stay crisp."""
    return upscale(model.preview(examples), max(1, PREVIEW_TILE_PX // model.native_size))


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """H x W x C uint8 enlarged by a whole factor (nearest), gray made RGB for the browser."""
    image = image.repeat(factor, 0).repeat(factor, 1)
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
