"""The session's training runs: start one in the background, collect what it reports, stop it.

A run lives in ``st.session_state`` as a ``SessionRun``: the ``BackgroundRun`` doing the work
and every ``StepReport`` drained from it so far, so the loss panel survives reruns and page
switches. The sample strip is drawn by the training thread itself (``BackgroundRun``'s
``preview``), from a fixed z, so the page never reads weights that are being trained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import streamlit as st
import torch

from studio.imaging import draw, grid, scatter
from studio.models import GenerativeModel
from studio.train import BackgroundRun, StepReport, TrainSpec

RUN_KEY = "train_run"
PREVIEW_EVERY_S = 2.0
PREVIEW_SAMPLES = 8
PREVIEW_SEED = 0  # the strip's fixed z: the same codes at every refresh, so change is learning
PREVIEW_TILE_PX = 128  # small samples are upscaled (nearest) to about this, so pixels stay crisp
PREVIEW_POINTS = 1000
PREVIEW_SCATTER_PX = 320


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


def start_run(
    spec: TrainSpec,
    model_cls: type[GenerativeModel],
    *,
    real: np.ndarray | None = None,
    target: np.ndarray | None = None,
) -> SessionRun:
    """Start ``spec`` on a background thread and make it the session's current run."""
    job = BackgroundRun(
        spec, preview=sample_strip(real=real, target=target), preview_every=PREVIEW_EVERY_S
    )
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


def sample_strip(
    *, real: np.ndarray | None = None, target: np.ndarray | None = None
) -> Callable[[GenerativeModel], np.ndarray]:
    """The preview the training thread draws: one RGB uint8 picture of the model's progress.

    Images: ``PREVIEW_SAMPLES`` samples from a fixed z in a row (the CPPN: the target beside
    its drawing at z = 0, the code it is fitted at). Points: generated points over ``real``.
    """

    @torch.inference_mode()
    def preview(model: GenerativeModel) -> np.ndarray:
        if model.output == "points":
            points = model.decode(fixed_z(model, PREVIEW_POINTS)).float().cpu().numpy()
            return scatter(points, real=real, size=PREVIEW_SCATTER_PX)
        if model.family == "mlp":
            drawn = draw(model, torch.zeros(1, model.latent_dim, device=model.device))
            images = drawn if target is None else np.concatenate([target[None], drawn])
        else:
            images = draw(model, fixed_z(model, PREVIEW_SAMPLES))
        factor = max(1, PREVIEW_TILE_PX // images.shape[1])
        return upscale(grid(images, columns=len(images)), factor)

    return preview


def fixed_z(model: GenerativeModel, n: int) -> torch.Tensor:
    """The same n codes at every call, drawn without touching the global RNG."""
    return model.sample_z(n, generator=torch.Generator().manual_seed(PREVIEW_SEED))


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """H x W x C uint8 enlarged by a whole factor (nearest), gray made RGB for the browser."""
    image = image.repeat(factor, 0).repeat(factor, 1)
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
