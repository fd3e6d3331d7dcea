"""The VAE lab: a VAE with a 2-D latent learning glyph digits, its codes watched on held-out
images."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from studio.classroom.lab import Lab, knn_accuracy
from studio.data import load_dataset
from studio.imaging import grid, to_uint8
from studio.trainer import StepReport

# ---------------------------------------------------------------- the VAE lab

GLYPHS = 5000
HELD_OUT = 0.1
CHARSET = "digits"
KNN_K = 5
MANIFOLD_TILES = 13
MANIFOLD_SPAN = 2.5  # the decoded grid spans [-2.5, 2.5]^2 of the latent plane
RD_EVERY = 20  # steps averaged into one point of the rate–distortion path
RD_POINTS = 1500  # most recent points kept


@dataclass(frozen=True)
class VaeSettings:
    beta: float = 1.0
    lr: float = 3e-3  # high for a VAE, so the classes part while the lesson watches
    batch_size: int = 64
    width: int = 32  # the MLP's hidden layers have 8 x width units
    seed: int = 0

    REBUILD = ("width", "seed")

    def model_config(self) -> dict[str, Any]:
        return {"latent_dim": 2, "width": self.width, "beta": self.beta, "lr": self.lr}


@dataclass(frozen=True)
class RatePoint:
    step: int
    rate: float  # KL(q(z|x) || p(z)), nats per image
    distortion: float  # -E_q[log p(x|z)], nats per image
    beta: float


@dataclass(frozen=True)
class VaeReadout:
    step: int
    knn_accuracy: float  # of the held-out codes; chance is 1 / classes
    chance: float
    rate: float  # the latest rate–distortion point (a mean over RD_EVERY steps)
    distortion: float
    beta: float


@dataclass(frozen=True)
class VaeFrame:
    codes: np.ndarray  # held-out N x 2: the posterior means mu(x)
    labels: np.ndarray  # N class indices
    class_names: tuple[str, ...]
    manifold: np.ndarray  # H x W x 1 uint8: decode(z) over a MANIFOLD_TILES^2 grid, z2 up
    span: float  # the manifold grid covers [-span, span]^2
    path: list[RatePoint]
    readout: VaeReadout


class VaeLab(Lab):
    """A VAE with a 2-D latent learning glyph digits, its codes watched on held-out images."""

    Settings = VaeSettings
    settings: VaeSettings

    def reset(self) -> None:
        s = self.settings
        data = load_dataset("glyphs", charset=CHARSET, n=GLYPHS, seed=s.seed)
        train, self.held_out = data.split(HELD_OUT, seed=s.seed)
        self._start("vae-mlp", train.x)
        self.path: list[RatePoint] = []
        self._pending: list[tuple[float, float]] = []
        ticks = torch.linspace(-MANIFOLD_SPAN, MANIFOLD_SPAN, MANIFOLD_TILES)
        z2, z1 = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")  # row 0 is the top: z2 high
        self._grid_z = torch.stack([z1, z2], -1).reshape(-1, 2)

    def _after_step(self, report: StepReport) -> None:
        self._pending.append((report.terms["kl"], -report.terms["recon"]))
        if len(self._pending) >= RD_EVERY:
            rate, distortion = np.mean(self._pending, axis=0)
            self.path.append(
                RatePoint(report.step, float(rate), float(distortion), self.model.config.beta)
            )
            self._pending = []
            if len(self.path) > RD_POINTS:
                del self.path[: len(self.path) - RD_POINTS]

    def codes(self) -> torch.Tensor:
        """The held-out images' posterior means, N x 2."""
        with torch.no_grad():
            return self.model.encode(self.held_out.x)[0]

    def frame(self) -> VaeFrame:
        codes = self.codes()
        with torch.no_grad():
            tiles = to_uint8(self.model.decode(self._grid_z))
        labels = self.held_out.labels
        latest = self.path[-1] if self.path else None
        readout = VaeReadout(
            step=self.steps,
            knn_accuracy=knn_accuracy(codes, labels, KNN_K),
            chance=1 / len(self.held_out.class_names),
            rate=latest.rate if latest else math.nan,
            distortion=latest.distortion if latest else math.nan,
            beta=self.model.config.beta,
        )
        return VaeFrame(
            codes=codes.numpy(),
            labels=labels.numpy(),
            class_names=self.held_out.class_names,
            manifold=grid(tiles, MANIFOLD_TILES, pad=1),
            span=MANIFOLD_SPAN,
            path=list(self.path),
            readout=readout,
        )
