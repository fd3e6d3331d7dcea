"""A lab: a model, its data and an endless Trainer that the Classroom page steps; and the
measures its frames show."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from studio.data.toy2d import mode_std, modes
from studio.metrics import mode_coverage
from studio.models import GenerativeModel, build_model, model_class
from studio.models.base import config_from_dict
from studio.trainer import StepReport, Trainer, TrainingDiverged

FRAME_S = 0.2  # a playing lab asks to be redrawn five times a second ...
TRAIN_S = 0.1  # ... training for this long before each redraw; the rest is drawing
ENDLESS = 10**12  # a lab trains until it is paused, but the Trainer wants a budget
MAX_REPORTS = 10_000  # the loss curves keep this many most recent steps
VIEW_SEED = 10_000  # the fixed z behind every drawn sample, apart from the training seed

# ---------------------------------------------------------------- measures

HIST_BINS = 32
HIST_BLUR = 1.0  # the Gaussian blur's standard deviation, in bins


def density(
    points: torch.Tensor, extent: float, *, bins: int = HIST_BINS, blur: float = HIST_BLUR
) -> torch.Tensor:
    """The share of ``points`` in each cell of a bins x bins grid over [-extent, extent]^2.

    Points outside the grid count in its edge cells (a generator that throws points far away is
    not let off); the blur spreads each count over neighbouring cells, as a kernel estimate.
    """
    inside = points.double().clamp(-extent, extent * (1 - 1e-9))
    cell = ((inside + extent) / (2 * extent) * bins).long()
    counts = torch.bincount(cell[:, 1] * bins + cell[:, 0], minlength=bins * bins).double()
    counts = counts.view(1, 1, bins, bins)
    if blur > 0:
        radius = math.ceil(3 * blur)
        taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
        kernel = torch.exp(-0.5 * (taps / blur) ** 2)
        kernel = kernel / kernel.sum()
        counts = F.conv2d(counts, kernel.view(1, 1, 1, -1), padding=(0, radius))
        counts = F.conv2d(counts, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    grid_density = counts[0, 0]
    return grid_density / grid_density.sum()


def js_divergence(
    real: torch.Tensor,
    fake: torch.Tensor,
    extent: float,
    *,
    bins: int = HIST_BINS,
    blur: float = HIST_BLUR,
) -> float:
    """Jensen–Shannon divergence in bits (0: the same density, 1: disjoint) between two point
    sets' blurred histograms on the same grid."""
    p = density(real, extent, bins=bins, blur=blur)
    q = density(fake, extent, bins=bins, blur=blur)
    m = (p + q) / 2
    return float(0.5 * (_kl_bits(p, m) + _kl_bits(q, m)))


def _kl_bits(p: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    mask = p > 0  # 0 log 0 = 0; m > 0 wherever p > 0
    return (p[mask] * (p[mask] / m[mask]).log2()).sum()


def mode_readout(points: torch.Tensor, shape: str) -> dict[str, Any] | None:
    """``mode_coverage`` against the true modes of ring8 or grid25; None for spiral and moons."""
    centres = modes(shape)
    if centres is None:
        return None
    return mode_coverage(points, centres, mode_std(shape))


def knn_accuracy(codes: torch.Tensor, labels: torch.Tensor, k: int = 5) -> float:
    """Leave-one-out k-NN accuracy: each code's class, guessed by its k nearest other codes.

    A tie goes to the lower class index; with k = 5 that matters rarely.
    """
    distance = torch.cdist(codes.double(), codes.double())
    distance.fill_diagonal_(math.inf)
    nearest = distance.topk(k, dim=1, largest=False).indices  # N x k
    votes = F.one_hot(labels[nearest], int(labels.max()) + 1).sum(1)
    return float((votes.argmax(1) == labels).double().mean())


# ---------------------------------------------------------------- a lab: a model being stepped


class Lab:
    """A model, its data and a Trainer that never ends on its own; the page steps it.

    ``settings`` is a frozen dataclass with a ``REBUILD`` tuple (the fields that need fresh
    networks) and ``model_config()``; subclasses build everything in ``reset``.
    """

    Settings: ClassVar[type]
    model: GenerativeModel

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings or self.Settings()
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, settings: Any) -> bool:
        """Apply new settings; True when that needed fresh networks (and so a reset)."""
        old, self.settings = self.settings, settings
        if any(getattr(old, name) != getattr(settings, name) for name in settings.REBUILD):
            self.reset()
            return True
        self._set_config(settings.model_config())
        self.trainer.batch_size = settings.batch_size
        return False

    def _start(self, arch: str, x: torch.Tensor) -> None:
        """A fresh model of ``arch`` from the settings, and an endless Trainer for it."""
        s = self.settings
        config, training = model_class(arch).split_settings(s.model_config())
        self.model = build_model(arch, config, seed=s.seed)
        self.trainer = Trainer(
            self.model,
            x,
            training=config_from_dict(self.model.Training, training),
            steps=ENDLESS,
            batch_size=s.batch_size,
            seed=s.seed,
            report_every=1,
        )
        self._reports_iter = iter(self.trainer)
        self.reports: list[StepReport] = []
        self.error: str | None = None

    @property
    def steps(self) -> int:
        return self.trainer.step

    def step(self) -> StepReport | None:
        """One training step. A diverged step keeps the weights from before it, sets ``error``
        and returns None."""
        try:
            report = next(self._reports_iter)
        except TrainingDiverged as err:
            self.error = str(err)
            self._reports_iter = iter(self.trainer)  # the old loop has ended; the state lives on
            return None
        self.error = None
        self.reports.append(report)
        if len(self.reports) > MAX_REPORTS:
            del self.reports[: len(self.reports) - MAX_REPORTS]
        self._after_step(report)
        return report

    def _after_step(self, report: StepReport) -> None:
        pass

    def train_for(self, seconds: float, max_steps: int = ENDLESS) -> int:
        """Steps until ``seconds`` have passed (at least one step); the number taken."""
        deadline = time.perf_counter() + seconds
        done = 0
        while done < max_steps and (done == 0 or time.perf_counter() < deadline):
            if self.step() is None:
                break
            done += 1
        return done

    def _set_config(self, changes: dict[str, Any]) -> None:
        """Change the live model's config and the run's training config (both validated)."""
        config, training = self.model.split_settings(changes)
        values = dataclasses.asdict(self.model.config) | config
        self.model.config = config_from_dict(type(self.model.config), values)
        training = dataclasses.asdict(self.trainer.training) | training
        self.trainer.retrain_with(config_from_dict(self.model.Training, training))
