"""The classroom: a live 2-D GAN lab and a 2-D VAE lab, as plain objects a page steps.

Both labs wrap a fresh model (``build_model``) in the ``Trainer`` (one report per step), so the
maths, the optimisers and the NaN guard are the ones every training run uses. ``lab.step()`` is
one training step; for the GAN that is ``d_steps`` discriminator updates, then one generator
update. Between bursts of steps the page asks for a ``frame()``: the numbers it draws, computed
on fixed samples so that what moves on screen is learning, not resampling. ``draw_gan`` turns a
GAN frame into its two pictures, the data space and G's manifold over D's map, with numpy and
Pillow (points painted as ``studio.imaging`` paints every scatter), cheaply enough to redraw
after every burst.

The live measures:

* modes covered and the share of high-quality samples on ring8 and grid25
  (``studio.metrics.mode_coverage``: Metz et al. 2017, within 3 standard deviations of a mode);
* the Jensen–Shannon divergence between the real and the generated points' densities,
  estimated from 2-D histograms on a fixed grid, lightly blurred; in bits, so 0 is "the same"
  and 1 is "disjoint". Two finite samples of one density do not read 0, so each lab also
  measures that floor: two real samples against each other;
* for the VAE, the k-NN accuracy of the held-out codes (leave-one-out, k = 5): how well its
  2-D latent map separates the classes; chance is 1 / classes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from studio.data import load_dataset
from studio.data.toy2d import mode_std, modes
from studio.imaging import GENERATED_POINTS, grid, paint_points, pixel_coordinates, to_uint8
from studio.metrics import mode_coverage
from studio.models import GenerativeModel, build_model, model_class
from studio.models.base import config_from_dict
from studio.models.gan import generator_terms
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


# ---------------------------------------------------------------- the GAN lab

VIEW_EXTENT = {"ring8": 3.0, "grid25": 5.5, "spiral": 5.0, "moons": 3.5}  # half-width of the view
DATA_POINTS = 10_000
POINTS = 1000  # real and generated points drawn and measured in a frame
HEAT_RES = 48  # D is evaluated on this many x this many points of the view
LATENT_SPAN = 2.0  # the latent grid spans [-2, 2]^2: about 95% of N(0, 1) along each axis
GRID_LINES = 9
LINE_SAMPLES = 33
AVERAGE_DECAY = 0.99  # G's averaged weights follow the last ~100 steps: steady, yet keep up


@dataclass(frozen=True)
class GanSettings:
    """What a teacher can set. Changing a ``REBUILD`` field starts over with a fresh network;
    the rest apply to the running game at its next step."""

    shape: str = "ring8"
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    d_steps: int = 1
    batch_size: int = 256
    width: int = 128
    depth: int = 3
    g_loss: str = "non_saturating"
    latent_dim: int = 2  # 2, so the latent grid is the whole latent space, not a slice of it
    seed: int = 0
    # Adam's betas stay those the presets were found with. The ring GAN's own defaults have no
    # momentum, which keeps more modes at the CLI's batch of 64, but here (batch 256, D at twice
    # G's rate) the live G's points then jitter off the modes: its count jumps between 0 and 8.
    beta1: float = 0.5
    beta2: float = 0.999

    REBUILD = ("shape", "width", "depth", "latent_dim", "seed")

    def model_config(self) -> dict[str, Any]:
        return {
            "latent_dim": self.latent_dim,
            "width": self.width,
            "depth": self.depth,
            "lr_g": self.lr_g,
            "lr_d": self.lr_d,
            "d_steps": self.d_steps,
            "g_loss": self.g_loss,
            "beta1": self.beta1,
            "beta2": self.beta2,
            "ema": AVERAGE_DECAY,
        }


@dataclass(frozen=True)
class Preset:
    title: str
    lesson: str  # what to watch, in a sentence or two
    settings: GanSettings


# Found by trying, with seed 0 on one thread, and held to by tests/test_classroom.py. Healthy
# first covers 8/8 modes near step 1,000-1,300 and keeps them from about 1,600; the average of
# G's weights from about 700, and its count then holds while the live one wobbles. Mode collapse
# stays a clump (spread < 1 against the ring's 2) on at most 3 modes. D wins: D(x) > 0.95 and
# D(G(z)) < 0.05 by step 60. Vanishing: G's push falls 99% by about step 400. Other seeds
# differ: with the healthy settings seeds 1 and 2 reached 6 and 7 of 8 in 2,000 steps. A GAN
# is a game whose outcome depends on the start, and that is a lesson too.
HEALTHY = GanSettings(lr_g=1e-3, lr_d=2e-3)
PRESETS: dict[str, Preset] = {
    "healthy": Preset(
        "Healthy",
        "D learns a little faster than G (twice the learning rate), one D step per G step: the "
        "orange points spread over every mode, and D's map fades towards 0.5 (dark) wherever "
        "G matches the data. The game never quite stops, so the live count of modes wobbles; "
        "the average of G's weights sits still on the modes G has found.",
        HEALTHY,
    ),
    "mode_collapse": Preset(
        "Mode collapse",
        "G learns ten times faster than D. It sends every z to wherever D currently says "
        "'real'; D catches up and G jumps elsewhere: the points move as one clump from place "
        "to place and never cover the data.",
        GanSettings(lr_g=2e-3, lr_d=2e-4),
    ),
    "mode_collapse_fix": Preset(
        "Mode collapse, fixed",
        "The same game with the learning rates turned round (the healthy ones): D learns "
        "twice as fast as G, punishes a crowded mode at once, and G has to spread its points "
        "over every mode.",
        HEALTHY,
    ),
    "d_wins": Preset(
        "Discriminator wins",
        "D learns fast and takes five steps per G step; G barely learns. D(x) goes to 1 and "
        "D(G(z)) to 0: D is certain, and the game stops teaching G anything useful.",
        GanSettings(lr_g=1e-5, lr_d=5e-3, d_steps=5),
    ),
    "vanishing": Preset(
        "Vanishing gradient (saturating loss)",
        "G minimises log(1 − D(G(z))), the loss of the original minimax game. Once D is sure "
        "G's points are fake that loss is flat: the arrows shrink to nothing and G stalls. "
        "Switch the generator loss to non-saturating and the arrows come back.",
        GanSettings(g_loss="saturating", lr_d=5e-3, d_steps=3),
    ),
}
DEFAULT_PRESET = "healthy"


@dataclass(frozen=True)
class GanReadout:
    step: int
    modes_covered: int | None  # None for spiral and moons, which have no modes to count
    average_modes_covered: int | None  # the same count for the average of G's weights
    modes_total: int | None
    high_quality_share: float | None
    js_bits: float
    js_floor_bits: float  # what two real samples of the same size read
    d_real: float  # mean D(x) on the drawn real points
    d_fake: float  # mean D(G(z)) on the drawn generated points
    push: float  # mean length of the gradient arrows: how hard G is being pushed


@dataclass(frozen=True)
class GanFrame:
    extent: float
    real: np.ndarray  # POINTS x 2
    fake: np.ndarray  # POINTS x 2, G(z) for a fixed z
    heat: np.ndarray  # HEAT_RES x HEAT_RES: D(x) at the centres of cells over the view, row 0 top
    lines: np.ndarray  # 2 * GRID_LINES x LINE_SAMPLES x 2: G's image of the latent grid's lines
    nodes: np.ndarray  # GRID_LINES^2 x 2: G at the latent grid's nodes
    push: np.ndarray  # GRID_LINES^2 x 2: -d(G's loss)/dx at the nodes, where G is pushed
    readout: GanReadout


class GanLab(Lab):
    """The 2-D GAN being trained live on a toy point cloud."""

    Settings = GanSettings
    settings: GanSettings

    def reset(self) -> None:
        """A fresh network on fresh data, as the settings say."""
        s = self.settings
        self.data = load_dataset("toy2d", shape=s.shape, n=DATA_POINTS, seed=s.seed)
        self.extent = VIEW_EXTENT[s.shape]
        self._start("gan2d", self.data.x)
        self._real = self.data.x[:POINTS]  # the set is in random order already
        self._z = self.model.codes(POINTS, s.seed + VIEW_SEED)
        other = load_dataset("toy2d", shape=s.shape, n=POINTS, seed=s.seed + VIEW_SEED)
        self.js_floor = js_divergence(self._real, other.x, self.extent)
        ticks = torch.linspace(-LATENT_SPAN, LATENT_SPAN, GRID_LINES)
        along = torch.linspace(-LATENT_SPAN, LATENT_SPAN, LINE_SAMPLES)
        rows = torch.stack(torch.meshgrid(ticks, along, indexing="ij"), -1)  # z1 fixed per line
        self._line_z = self._latent(torch.cat([rows.flip(-1), rows]))  # z2 fixed, then z1 fixed
        nodes = torch.stack(torch.meshgrid(ticks, ticks, indexing="ij"), -1).reshape(-1, 2)
        self._node_z = self._latent(nodes)
        # D at the centres of HEAT_RES x HEAT_RES cells of the view: resized to a panel, each
        # value lands where the points at that place are painted.
        half_cell = self.extent / HEAT_RES
        axis = torch.linspace(-self.extent + half_cell, self.extent - half_cell, HEAT_RES)
        gy, gx = torch.meshgrid(axis.flip(0), axis, indexing="ij")
        self._heat_x = torch.stack([gx, gy], -1).reshape(-1, 2)

    def _latent(self, plane: torch.Tensor) -> torch.Tensor:
        """Codes with ``plane`` (... x 2) as their first two coordinates and zeros after."""
        pad = self.settings.latent_dim - 2
        return F.pad(plane, (0, pad)) if pad > 0 else plane[..., : self.settings.latent_dim]

    def push(self, x: torch.Tensor) -> torch.Tensor:
        """-d(G's loss)/dx at points x that G drew: the way (and how hard) G is pushed there.

        The loss is the one G minimises now (saturating or not), summed over the points so each
        arrow is its own point's gradient rather than a 1/N share of the batch mean.
        """
        x = x.detach().requires_grad_(True)
        with _frozen(self.model.discriminator):
            logits = self.model.discriminator(x)
            loss = generator_terms(logits)[self.model.g_minimises] * len(x)
            (gradient,) = torch.autograd.grad(loss, x)
        return -gradient

    def frame(self) -> GanFrame:
        model = self.model
        with torch.no_grad():
            fake = model.generator(self._z)
            average = model.drawing_generator(self._z)
            lines = model.generator(self._line_z)
            nodes = model.generator(self._node_z)
            heat = torch.sigmoid(model.discriminator(self._heat_x)).view(HEAT_RES, HEAT_RES)
            d_real = float(torch.sigmoid(model.discriminator(self._real)).mean())
            d_fake = float(torch.sigmoid(model.discriminator(fake)).mean())
        push = self.push(nodes)
        counted = mode_readout(fake, self.settings.shape)
        counted_average = mode_readout(average, self.settings.shape)
        readout = GanReadout(
            step=self.steps,
            modes_covered=counted["modes_covered"] if counted else None,
            average_modes_covered=counted_average["modes_covered"] if counted_average else None,
            modes_total=counted["modes_total"] if counted else None,
            high_quality_share=counted["high_quality_share"] if counted else None,
            js_bits=js_divergence(self._real, fake, self.extent),
            js_floor_bits=self.js_floor,
            d_real=d_real,
            d_fake=d_fake,
            push=float(push.norm(dim=1).mean()),
        )
        return GanFrame(
            extent=self.extent,
            real=self._real.numpy(),
            fake=fake.numpy(),
            heat=heat.numpy(),
            lines=lines.numpy(),
            nodes=nodes.numpy(),
            push=push.numpy(),
            readout=readout,
        )


@contextmanager
def _frozen(module: torch.nn.Module) -> Iterator[None]:
    """Within it, a module's parameters take no gradient (the arrows only need d/dx)."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)


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


# ---------------------------------------------------------------- drawing a GAN frame

PANEL_PX = 440


def _diverging(low: tuple, middle: tuple, high: tuple, n: int = 256) -> np.ndarray:
    """An n x 3 uint8 colour map from ``low`` through ``middle`` to ``high``."""
    t = np.linspace(-1, 1, n)[:, None]
    low_, mid_, high_ = (np.array(c, np.float32) for c in (low, middle, high))
    rgb = np.where(t < 0, mid_ + (low_ - mid_) * -t, mid_ + (high_ - mid_) * t)
    return rgb.round().astype(np.uint8)


# D's map: purple where D says "fake" (D -> 0), dark where it cannot tell, green for "real".
HEAT_LUT = _diverging((92, 58, 124), (28, 31, 38), (38, 112, 62))
BOUNDARY_RGB = (250, 250, 250)  # where D(x) = 0.5
REAL_DOTS = ((235, 235, 235), 0.8)  # colour, opacity of one point; white reads on all of D's map
FAKE_DOTS = GENERATED_POINTS
DOT_RADIUS = 2.0  # px: a little larger than a zoo scatter's, to hold its own over D's map
LINE_RGB = GENERATED_POINTS[0]
ARROW_RGB = (110, 205, 255)
ARROW_MAX = 0.08  # the longest arrow, as a share of the view's width; lengths are
ARROW_KNEE = 4.0  # ARROW_MAX * tanh(|gradient| / ARROW_KNEE): a flat loss draws no arrow


def _draw_at(points: np.ndarray, extent: float, size: int) -> np.ndarray:
    """Where ImageDraw puts points: its (0, 0) is the centre of the top-left pixel."""
    return pixel_coordinates(points, extent, size) - 0.5


def _heat_picture(heat: np.ndarray, size: int) -> np.ndarray:
    """D's output as a size x size RGB picture, with the D = 0.5 contour drawn in white."""
    smooth = np.asarray(
        Image.fromarray(heat.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR)
    )
    rgb = HEAT_LUT[(smooth.clip(0, 1) * 255).astype(np.uint8)]
    above = smooth > 0.5
    edge = np.zeros_like(above)
    edge[:, 1:] |= above[:, 1:] != above[:, :-1]
    edge[1:] |= above[1:] != above[:-1]
    rgb[edge] = BOUNDARY_RGB
    return rgb


def draw_gan(frame: GanFrame, size: int = PANEL_PX) -> tuple[np.ndarray, np.ndarray]:
    """The frame as two size x size RGB pictures over D's map of the plane: the data space (real
    points white, generated ones orange) and G's manifold (its image of the latent grid, with
    the gradient G receives as arrows)."""
    heat = _heat_picture(frame.heat, size)
    data_space = heat.copy()
    for points, (colour, opacity) in ((frame.real, REAL_DOTS), (frame.fake, FAKE_DOTS)):
        paint_points(
            data_space,
            points,
            extent=frame.extent,
            colour=colour,
            opacity=opacity,
            radius=DOT_RADIUS,
        )
    return data_space, _manifold(heat, frame)


def _manifold(heat: np.ndarray, frame: GanFrame) -> np.ndarray:
    size = heat.shape[0]
    picture = Image.fromarray(heat)
    draw = ImageDraw.Draw(picture)
    for line in frame.lines:
        draw.line([tuple(p) for p in _draw_at(line, frame.extent, size)], fill=LINE_RGB, width=1)
    length = np.linalg.norm(frame.push, axis=1, keepdims=True)
    drawn = ARROW_MAX * 2 * frame.extent * np.tanh(length / ARROW_KNEE)
    shown = frame.push * drawn / np.maximum(length, 1e-12)
    starts = _draw_at(frame.nodes, frame.extent, size)
    ends = _draw_at(frame.nodes + shown, frame.extent, size)
    for (x0, y0), (x1, y1) in zip(starts, ends, strict=True):
        draw.line([(x0, y0), (x1, y1)], fill=ARROW_RGB, width=2)
        _arrow_head(draw, x0, y0, x1, y1)
    return np.asarray(picture)


def _arrow_head(draw: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float) -> None:
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy)
    if length < 3:
        return
    ux, uy = dx / length, dy / length
    head = min(6.0, length / 2)
    for side in (1, -1):
        # back along the shaft and out to one side, at about 30 degrees
        hx = x1 - head * (ux * 0.87 - side * uy * 0.5)
        hy = y1 - head * (uy * 0.87 + side * ux * 0.5)
        draw.line([(x1, y1), (hx, hy)], fill=ARROW_RGB, width=2)
