"""The session's training runs: start one in the background, collect what it reports, stop it.

A run lives in ``st.session_state`` as a ``SessionRun``: the ``BackgroundRun`` doing the work
and every ``StepReport`` drained from it so far, so the loss panel survives reruns and page
switches. The sample strip is drawn by the training thread itself (``BackgroundRun``'s
``preview``), from a fixed z, so the page never reads weights that are being trained.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import streamlit as st
import torch

from studio.models import GenerativeModel
from studio.train import BackgroundRun, TrainSpec
from studio.trainer import StepReport

RUN_KEY = "train_run"
PREVIEW_EVERY_S = 2.0
PREVIEW_TILE_PX = 128


@dataclass
class SessionRun:
    spec: TrainSpec
    model_cls: type[GenerativeModel]
    job: BackgroundRun
    started: float = field(default_factory=time.time)
    reports: list[StepReport] = field(default_factory=list)
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
        return fresh

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
    job = BackgroundRun(spec, preview=sample_strip, preview_every=PREVIEW_EVERY_S)
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


def sample_strip(model: GenerativeModel, examples: torch.Tensor) -> np.ndarray:
    """The preview the training thread draws (``GenerativeModel.preview``), small samples
    upscaled (nearest) to about ``PREVIEW_TILE_PX`` so their pixels stay crisp."""
    return upscale(model.preview(examples), max(1, PREVIEW_TILE_PX // model.native_size))


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """H x W x C uint8 enlarged by a whole factor (nearest), gray made RGB for the browser."""
    image = image.repeat(factor, 0).repeat(factor, 1)
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
