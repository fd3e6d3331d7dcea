"""The session's training runs: start one in a process of its own, collect what it reports,
stop it.

A run lives in ``st.session_state`` as a ``SessionRun``: the ``TrainingProcess`` doing the work
and every ``StepReport`` read from it so far, so the loss panel survives reruns and page
switches. The sample strip is drawn by the training process itself, from a fixed z; for an
image GAN it also measures how varied its samples are (``studio.live_preview``), which the loss
panel's mode-collapse alarm reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from studio.background import TrainingProcess
from studio.models import GenerativeModel
from studio.train import TrainSpec
from studio.trainer import StepReport
from studio.ui.hints import DiversityReading

RUN_KEY = "train_run"
PREVIEW_EVERY_S = 2.0


@dataclass
class SessionRun:
    spec: TrainSpec
    model_cls: type[GenerativeModel]
    job: TrainingProcess
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
        fresh = self.job.poll()
        self.reports.extend(fresh)
        self._read_diversity()
        return fresh

    def _read_diversity(self) -> None:
        """The latest preview's diversity, once per preview."""
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
    """Start ``spec`` in a process of its own and make it the session's current run."""
    job = TrainingProcess(spec, preview_every=PREVIEW_EVERY_S)
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
