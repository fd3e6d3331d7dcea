"""The interface every model in the zoo shares.

A model is an ``nn.Module`` with a typed config, a latent sampler, ``decode(z)`` and
``loss_terms(batch, noise)``, where ``noise`` is the generator its random draws come from (the
trainer's own, so that runs in other threads neither disturb nor are disturbed by it; on several
processes, a share of it: ``studio.models.noise``). Loss
terms are a dict of named tensors; each term's meaning travels with it as a ``LossTerm`` (label,
LaTeX, caption, which direction is good) so that pages can show the maths without hard-coding
it. ``objectives()`` says which optimiser minimises which term over which sub-modules; the
trainer builds one optimiser per objective.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from studio.data.base import Dataset
from studio.errors import StudioError
from studio.imaging import grid, resize, to_uint8
from studio.models.noise import Noise

MAX_SEED = 2**53 - 1  # seeds travel through browsers and JSON, whose numbers are exact up to here
CLOUD_CODES = 256  # codes in one picture of a cloud model (a 2-D GAN's points), at most
MAX_Z = 1024  # numbers a recipe's z may hold: a picture's codes travel in URLs and PNGs
PREVIEW_SAMPLES = 8  # pictures in a training run's preview strip
PREVIEW_SEED = (
    0  # the fixed z of every preview: the same codes at each refresh, so change is learning
)


# ---------------------------------------------------------------- loss-term metadata


@dataclass(frozen=True)
class LossTerm:
    key: str
    label: str  # short plain name, e.g. "E_x[log D(x)]"
    latex: str
    caption: str  # one line of plain language: what it means
    better: Literal["higher", "lower", ""] = ""


@dataclass(frozen=True)
class Objective:
    """One optimiser: it minimises ``terms[minimises]`` over the parameters of ``modules``, at
    the learning rate the training config holds under the name ``lr``."""

    name: str
    minimises: str
    modules: tuple[str, ...]
    lr: str = "lr"


# ---------------------------------------------------------------- validated configs


def option(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[Any, ...] | None = None,
    label: str = "",
    help: str = "",
    step: float | None = None,
    log: bool = False,
    names: dict[Any, str] | None = None,
    before: Any = dataclasses.MISSING,
) -> Any:
    """A config field with its allowed range (checked by ``validate_config``), and what a page
    needs to offer it as a widget: a label, a help line, a step, whether its range is better
    walked in ratios (``log``: learning rates, widths) and plain names for its choices.

    ``before`` is the value that a card saved before the field existed (or before its default
    changed) was built with: a new default must not rebuild someone's saved model differently.
    """
    metadata = {
        "low": low,
        "high": high,
        "choices": choices,
        "label": label,
        "help": help,
        "step": step,
        "log": log,
        "names": names,
        "before": before,
    }
    return dataclasses.field(default=default, metadata=metadata)


def redefault(config_cls: type, name: str, default: Any, before: Any) -> Any:
    """``config_cls``'s option ``name`` with another default, for a config built on it (a
    family's own), and the value that cards saved before it took that default were built with."""
    (field,) = (f for f in dataclasses.fields(config_cls) if f.name == name)
    return dataclasses.field(default=default, metadata={**field.metadata, "before": before})


def saved_config(config_cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """A saved card's config, each field it does not name at the value it was saved with
    (``option(before=...)``)."""
    missing = (f for f in dataclasses.fields(config_cls) if f.name not in values)
    before = {f.name: f.metadata.get("before", dataclasses.MISSING) for f in missing}
    return {k: v for k, v in before.items() if v is not dataclasses.MISSING} | values


@dataclass(frozen=True)
class Knob:
    """A config option offered as a widget: its range is the one the config accepts, so a page's
    slider and the validator cannot drift apart."""

    name: str
    label: str
    help: str
    value: Any  # this model's own value
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    step: float | None = None
    log: bool = False
    names: dict[Any, str] | None = None


def knobs_of(config: Any, names: tuple[str, ...]) -> tuple[Knob, ...]:
    """The named options of a config as knobs, each holding the config's value."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    return tuple(
        Knob(
            name=name,
            label=fields[name].metadata["label"] or name.replace("_", " ").capitalize(),
            help=fields[name].metadata["help"],
            value=getattr(config, name),
            low=fields[name].metadata["low"],
            high=fields[name].metadata["high"],
            choices=fields[name].metadata["choices"],
            step=fields[name].metadata["step"],
            log=fields[name].metadata["log"],
            names=fields[name].metadata["names"],
        )
        for name in names
    )


def validate_config(config: Any) -> None:
    """Refuse out-of-range or wrongly typed values with a message naming the field."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        expected = type(f.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
            object.__setattr__(config, f.name, value)
        if type(value) is not expected:
            raise StudioError(
                f"config '{f.name}' must be {expected.__name__}, got {type(value).__name__} {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise StudioError(f"config '{f.name}' must be a finite number, got {value}")
        meta = f.metadata
        if meta.get("choices") is not None and value not in meta["choices"]:
            allowed = ", ".join(map(str, meta["choices"]))
            raise StudioError(f"config '{f.name}' must be one of {allowed}, got {value!r}")
        if meta.get("low") is not None and value < meta["low"]:
            raise StudioError(f"config '{f.name}' must be at least {meta['low']}, got {value}")
        if meta.get("high") is not None and value > meta["high"]:
            raise StudioError(f"config '{f.name}' must be at most {meta['high']}, got {value}")


def config_from_dict(config_cls: type, values: dict[str, Any]) -> Any:
    """Build and validate a config from plain JSON values; unknown keys are an error."""
    if not isinstance(values, dict):
        raise StudioError(f"a model config must be a JSON object, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise StudioError(
            f"unknown config option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    config = config_cls(**values)
    validate_config(config)
    return config


# ---------------------------------------------------------------- how a model is trained

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


@dataclass
class TrainingConfig:
    """How a model is fitted, apart from what it is: the optimiser and its settings.

    Each family subclasses it with its learning rates, one field per objective (the
    ``Objective.lr`` that names it), and its own defaults; a checkpoint's card records it beside
    the architecture's config, so a resumed run goes on as it was trained.
    """

    optimizer: str = option(
        "adam",
        choices=tuple(OPTIMIZERS),
        label="Optimiser",
        help="adamw also decays the weights towards 0 (by 1% of the learning rate a step)",
    )
    beta1: float = option(0.9, low=0.0, high=0.9999, label="β1", help="Adam's momentum")
    beta2: float = option(
        0.999, low=0.0, high=0.99999, label="β2", help="how long Adam remembers gradient scales"
    )

    def build(self, params: list[nn.Parameter], lr: str) -> torch.optim.Optimizer:
        """The optimiser of one objective, at the learning rate named ``lr``."""
        return OPTIMIZERS[self.optimizer](
            params, lr=getattr(self, lr), betas=(self.beta1, self.beta2)
        )

    def apply(self, optimizer: torch.optim.Optimizer, lr: str) -> None:
        """Set a live optimiser's learning rate and betas to this config's (a changed optimiser
        needs a new run)."""
        for group in optimizer.param_groups:
            group["lr"], group["betas"] = getattr(self, lr), (self.beta1, self.beta2)


# ---------------------------------------------------------------- slider axes


@dataclass(frozen=True)
class SliderAxes:
    """Slider directions in z: slider i reads ``vectors[i] @ centre(z)``. A model's own axes
    are orthonormal; named directions (``studio.directions``) are unit vectors only.

    A slider's value is z's coordinate along its unit direction, in standard deviations of the
    prior N(0, I); moving one slider moves z along its direction only. For a model whose picture
    is a cloud of codes, the sliders read and move the cloud's mean.
    """

    kind: str  # shown above the sliders
    vectors: np.ndarray  # k x latent_dim, unit rows
    labels: tuple[str, ...]
    helps: tuple[str, ...]

    @property
    def every_dimension(self) -> bool:
        """The sliders are all of z's own coordinates: raw ones would repeat them."""
        k, d = self.vectors.shape
        return k == d and bool(np.all(np.abs(self.vectors).max(1) == 1.0))

    def coords(self, z: np.ndarray) -> np.ndarray:
        return self.vectors @ _centre(z)

    def moved(self, z: np.ndarray, index: int, value: float) -> np.ndarray:
        return z + (value - self.coords(z)[index]) * self.vectors[index]


def _centre(z: np.ndarray) -> np.ndarray:
    """One code, or the mean code of a cloud."""
    return z if z.ndim == 1 else z.mean(0)


def unit_axes(kind: str, dims: list[int], latent_dim: int, helps: list[str]) -> SliderAxes:
    """Sliders along some of z's own coordinates."""
    return SliderAxes(
        kind=kind,
        vectors=np.eye(latent_dim)[dims],
        labels=tuple(f"z[{d}]" for d in dims),
        helps=tuple(helps),
    )


# ---------------------------------------------------------------- the shared model interface


class GenerativeModel(nn.Module):
    """What every family answers for itself, so that the renderer, the pages, the CLI and the
    bench never ask which family a model is:

    * drawing: ``draw(z, size)`` gives uint8 pictures at any size the model can draw, at its
      ``native_size`` by default; ``any_size`` says whether a larger size adds detail (a
      coordinate network) or only scales the native picture up; ``cloud`` says whether one
      picture shows many codes (a 2-D point model: each code is one point).
    * exploring: ``slider_axes`` (the directions worth a slider), ``knobs`` (options a person may
      turn while drawing), ``variant`` (the model those knobs describe), ``encodes``.
    * training: ``loss_terms``, ``objectives``, ``training_step``, ``preview`` (one picture of
      a run's progress) and the options the Train page offers (``TRAIN_KNOBS``).
    """

    family: ClassVar[str]  # "mlp" | "gan" | "vae": a label for people, never a switch
    FAMILY_TITLE: ClassVar[str]
    FAMILY_BLURB: ClassVar[str]
    DATASETS: ClassVar[tuple[str, ...]]  # what it trains on
    arch: ClassVar[str]  # registry name
    GENERATOR_TITLE: ClassVar[str] = "Convolutional: draws at its training size"
    Config: ClassVar[type]
    Training: ClassVar[type[TrainingConfig]]
    TERMS: ClassVar[tuple[LossTerm, ...]]
    FORMULA: ClassVar[str]  # the whole objective in LaTeX
    any_size: ClassVar[bool] = False
    cloud: ClassVar[bool] = False
    encodes: ClassVar[bool] = False  # has an encoder: a picture can be turned into its code
    conditional: ClassVar[bool] = False  # learns each picture's class: trains on labelled data
    half_precision: ClassVar[bool] = False  # may be served under bf16/fp16 autocast on a GPU
    DRAW_KNOBS: ClassVar[tuple[str, ...]] = ()  # config options that only change a drawing
    ART_KNOBS: ClassVar[tuple[str, ...]] = ()  # config options that draw a new random network
    TRAIN_KNOBS: ClassVar[tuple[str, ...]] = ()  # config options the Train page offers
    PREVIEW_CAPTION: ClassVar[str] = "Samples from a fixed z: the same codes at every refresh"

    def __init__(self, config: Any) -> None:
        super().__init__()
        validate_config(config)
        self.config = config

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def adapt_to(self, data: Dataset) -> None:
        """What a new model takes from its training data before the first step: nothing, unless
        the family says otherwise."""

    def conditions(self, data: Dataset) -> torch.Tensor | None:
        """What the model is told of each training example besides the picture (N x ...):
        nothing, unless it is ``conditional``."""
        return None

    @property
    def held_dims(self) -> int:
        """How many of a code's last numbers name a class rather than place a picture (a
        conditional model's one-hot); its own sliders leave them be."""
        return 0

    @property
    def data_shape(self) -> tuple[int, ...]:
        """The shape of one training example (and of one ``decode`` output)."""
        return (self.config.channels, self.config.size, self.config.size)

    @property
    def native_size(self) -> int:
        """The side of the pictures ``draw`` makes when no size is asked for."""
        return self.config.size

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one picture drawn at the native size."""
        return (self.config.channels, self.native_size, self.native_size)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- latent codes

    def sample_z(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latent codes from the prior N(0, I), reproducible for a seeded generator."""
        z = torch.randn(n, self.latent_dim, generator=generator)
        return z.to(self.device)

    def codes(self, n: int, seed: int) -> torch.Tensor:
        """The seed's n latent codes: the same everywhere a seed names a picture (the CLI, the
        pages, the zoo, the previews), drawn without touching the global RNG."""
        return self.sample_z(n, generator=torch.Generator().manual_seed(seed))

    def picture_codes(self, seed: int) -> torch.Tensor:
        """What the seed's picture is drawn from, as renderers and recipes take it: one code
        (latent_dim), or a cloud of them (as many as a recipe holds, up to ``CLOUD_CODES``)."""
        if self.cloud:
            return self.codes(min(CLOUD_CODES, MAX_Z // self.latent_dim), seed)
        return self.codes(1, seed)[0]

    # -- drawing

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images NCHW in [0, 1] (or N x 2 points) at the native size, for codes N x latent_dim."""
        raise NotImplementedError

    def draw(self, z: torch.Tensor, size: int | None = None, **options: Any) -> np.ndarray:
        """N x size x size x C uint8 pictures of the codes z (a cloud model: one picture of all
        of them). This default decodes at the native size and resizes (bicubic) to ``size``;
        ``options`` are the ``DRAW_KNOBS``, which a fixed-size model has none of."""
        images = to_uint8(self.decode(z))
        return resize(images, size) if size else images

    def pixel_work(self, options: dict[str, Any]) -> float:
        """Multiply-adds per pixel of a large picture drawn with these draw and art options;
        0 for a model that draws at its own size whatever the size asked (it resizes)."""
        return 0.0

    def samples(self, z: torch.Tensor) -> np.ndarray:
        """Raw samples for analysis: N x H x W x C uint8 pictures at the native size (a point
        model: float32 N x 2 points)."""
        return self.draw(z)

    @classmethod
    def train_knobs(cls) -> tuple[Knob, ...]:
        """The options the Train page offers (``TRAIN_KNOBS``), from the architecture's config
        or the training config, at their defaults."""
        config, training = cls.Config(), cls.Training()
        return tuple(
            knobs_of(config if hasattr(config, name) else training, (name,))[0]
            for name in cls.TRAIN_KNOBS
        )

    @classmethod
    def split_settings(cls, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Settings given together (``--set``, a Train-page form, an older card) as (the
        architecture's config, the training config)."""
        training = {f.name for f in dataclasses.fields(cls.Training)}
        return (
            {k: v for k, v in values.items() if k not in training},
            {k: v for k, v in values.items() if k in training},
        )

    def knobs(self) -> tuple[Knob, ...]:
        """The draw and art knobs, holding this model's own values."""
        return knobs_of(self.config, (*self.DRAW_KNOBS, *self.ART_KNOBS))

    def variant(self, changes: dict[str, Any], weight_seed: int | None) -> GenerativeModel:
        """The model that art knobs describe: another random network. Only models with
        ``ART_KNOBS`` have variants."""
        raise StudioError(f"a {self.arch} model has no art knobs to derive a variant from")

    def slider_axes(self, limit: int, probe: Callable[[], torch.Tensor]) -> SliderAxes:
        """The directions in z worth a slider, at most ``limit`` of them, most telling first;
        ``probe`` gives some of the model's own training data, for the models that need it.
        This default: z's first coordinates."""
        dims = list(range(min(self.latent_dim, limit)))
        helps = ["one coordinate of the picture's code z"] * len(dims)
        return unit_axes("Latent z", dims, self.latent_dim, helps)

    # -- training

    def loss_terms(self, batch: torch.Tensor, noise: Noise = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def objectives(self) -> tuple[Objective, ...]:
        raise NotImplementedError

    def training_step(
        self,
        batch: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        noise: Noise = None,
        conditions: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """One update of every objective; returns the step's loss terms (detached).
        ``conditions`` are the batch's rows of ``conditions(data)``, which only a
        ``conditional`` model reads."""
        (objective,) = self.objectives()
        optimizer = optimizers[objective.name]
        terms = self.loss_terms(batch, noise)
        optimizer.zero_grad(set_to_none=True)
        terms[objective.minimises].backward()
        optimizer.step()
        return {k: v.detach() for k, v in terms.items()}

    @torch.inference_mode()
    def preview(self, data: torch.Tensor) -> np.ndarray:
        """One RGB uint8 picture of a run's progress, drawn between steps; ``data`` is a few of
        the run's training examples. This default: ``PREVIEW_SAMPLES`` samples from a fixed z in
        a row."""
        return grid(self.draw(self.codes(PREVIEW_SAMPLES, PREVIEW_SEED)), columns=PREVIEW_SAMPLES)

    def upgrade_state(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The tensors of a checkpoint saved by an older version of this model, brought up to
        date before they are checked and loaded; as they are, unless a model says otherwise."""
        return tensors

    def parameters_of(self, modules: tuple[str, ...]) -> list[nn.Parameter]:
        return [p for name in modules for p in getattr(self, name).parameters()]

    def num_params(self) -> int:
        """The parameters training fits (a GAN's moving average of G is not counted twice)."""
        return sum(p.numel() for o in self.objectives() for p in self.parameters_of(o.modules))

    def term(self, key: str) -> LossTerm:
        return next(t for t in self.TERMS if t.key == key)
