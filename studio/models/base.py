"""The interface every model in the zoo shares.

A model is an ``nn.Module`` with a typed config, a latent sampler, ``decode(z)`` and
``loss_terms(batch, noise)``, where ``noise`` is the generator its random draws come from (the
trainer's own, so that runs in other threads neither disturb nor are disturbed by it). Loss
terms are a dict of named tensors; each term's meaning travels with it as a ``LossTerm`` (label,
LaTeX, caption, which direction is good) so that pages can show the maths without hard-coding
it. ``objectives()`` says which optimiser minimises which term over which sub-modules; the
trainer builds one optimiser per objective.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from studio.errors import StudioError

Output = Literal["image", "points"]
MAX_SEED = 2**53 - 1  # seeds travel through browsers and JSON, whose numbers are exact up to here


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
    """One optimiser: it minimises ``terms[minimises]`` over the parameters of ``modules``."""

    name: str
    minimises: str
    modules: tuple[str, ...]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)


# ---------------------------------------------------------------- validated configs


def option(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[Any, ...] | None = None,
    help: str = "",
) -> Any:
    """A config field with its allowed range, checked by ``validate_config``."""
    return dataclasses.field(
        default=default, metadata={"low": low, "high": high, "choices": choices, "help": help}
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


# ---------------------------------------------------------------- the shared model interface


class GenerativeModel(nn.Module):
    family: ClassVar[str]  # "mlp" | "gan" | "vae"
    arch: ClassVar[str]  # registry name
    Config: ClassVar[type]
    TERMS: ClassVar[tuple[LossTerm, ...]]
    FORMULA: ClassVar[str]  # the whole objective in LaTeX
    output: ClassVar[Output] = "image"

    def __init__(self, config: Any) -> None:
        super().__init__()
        validate_config(config)
        self.config = config

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of ``decode``'s images."""
        return (self.config.channels, self.config.size, self.config.size)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def sample_z(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latent codes from the prior N(0, I), reproducible for a seeded generator."""
        z = torch.randn(n, self.latent_dim, generator=generator)
        return z.to(self.device)

    def codes(self, n: int, seed: int) -> torch.Tensor:
        """The seed's n latent codes: the same everywhere a seed names a picture (the CLI, the
        pages, the zoo, the previews), drawn without touching the global RNG."""
        return self.sample_z(n, generator=torch.Generator().manual_seed(seed))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images NCHW in [0, 1] (or N x 2 points) for latent codes z of shape N x latent_dim."""
        raise NotImplementedError

    def loss_terms(
        self, batch: torch.Tensor, noise: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def objectives(self) -> tuple[Objective, ...]:
        raise NotImplementedError

    def training_step(
        self,
        batch: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        noise: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """One update of every objective; returns the step's loss terms (detached)."""
        (objective,) = self.objectives()
        optimizer = optimizers[objective.name]
        terms = self.loss_terms(batch, noise)
        optimizer.zero_grad(set_to_none=True)
        terms[objective.minimises].backward()
        optimizer.step()
        return {k: v.detach() for k, v in terms.items()}

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
