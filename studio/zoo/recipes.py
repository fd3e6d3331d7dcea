"""The zoo's table: every shipped model's recipe (or, for CPPN art, its config and seed) and
the quality bars its weights must clear."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace
from typing import Any

from studio import classifiers
from studio.errors import StudioError
from studio.train import TrainSpec

# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Bar:
    """A quality bar the shipped weights must clear: ``metric op value``."""

    metric: str
    op: str  # ">=" or "<="
    value: float

    def holds(self, measured: dict[str, Any]) -> bool:
        compare = operator.ge if self.op == ">=" else operator.le
        return compare(measured[self.metric], self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Entry:
    """One shipped model: a training recipe, or (CPPN art) a config and a seed."""

    id: str
    title: str
    why: str
    spec: TrainSpec | None = None
    finish: TrainSpec | None = None  # a last stretch, resuming the model ``spec`` trained
    art: dict[str, Any] = field(default_factory=dict)  # CPPN config of an untrained preset
    seed: int = 0
    bars: tuple[Bar, ...] = ()

    @property
    def command(self) -> str:
        if not self.spec:
            return f"python -m studio zoo rebuild {self.id}"
        resumed = self.finish and (
            f"python -m studio train --resume {self.id} --steepen {self.finish.steepen:g} "
            f"--steps {self.finish.steps}"
        )
        return " && ".join(filter(None, (self.spec.command(), resumed)))

    @property
    def stretches(self) -> tuple[TrainSpec, ...]:
        """The runs that train the model, each resuming the one before."""
        return tuple(filter(None, (self.spec, self.finish)))

    @property
    def steps(self) -> int:
        return sum(stretch.steps or 0 for stretch in self.stretches)


FD_BAR = Bar("fd_ratio_to_baseline", "<=", 0.2)
SIZES_BAR = Bar("psnr_across_sizes", ">=", 30.0)  # 512 px box-filtered to 32 px vs 32 px
ART_BARS = (Bar("contrast_min", ">=", 0.1), Bar("roughness_max", "<=", 0.5))


def _trained(
    id: str,
    title: str,
    why: str,
    family: str,
    dataset: str,
    *,
    steps: int,
    bars: tuple[Bar, ...],
    batch_size: int = 64,
    arch: str = "",
    steepen: tuple[float, int] | None = None,
    **options: Any,
) -> Entry:
    """A recipe; with ``steepen`` (factor, steps), its model's edges are then made ``factor``
    times narrower and it trains that many steps more (``train --resume --steepen``)."""
    data_options = options.pop("data_options", {})
    spec = TrainSpec(
        family=family,
        dataset=dataset,
        arch=arch,
        data_options=data_options,
        model_config=options,
        steps=steps,
        batch_size=batch_size,
        seed=0,
        id=id,
    )
    finish = replace(spec, steepen=steepen[0], steps=steepen[1]) if steepen else None
    return Entry(id=id, title=title, why=why, spec=spec, finish=finish, bars=bars)


def _art(id: str, title: str, seed: int, **config: Any) -> Entry:
    why = (
        "untrained art: random CPPN weights drawn from the seed, a configuration kept because "
        "it looks good; the latent z moves the picture"
    )
    return Entry(id=id, title=title, why=why, art=config, seed=seed, bars=ART_BARS)


ZOO: dict[str, Entry] = {
    e.id: e
    for e in (
        _trained(
            "vae-glyphs",
            "Glyph VAE (latent 16)",
            "smooth letterform space; sliders ordered by per-dimension KL",
            "vae",
            "glyphs",
            steps=3000,
            latent_dim=16,
            bars=(FD_BAR, Bar("recon_accuracy", ">=", 0.9)),
        ),
        _trained(
            "vae-glyphs-2d",
            "Digit VAE (latent 2)",
            "the classic latent map and manifold grid (Kingma & Welling's figure 4): each digit "
            "has its region of the plane. Digits only, since 36 classes blur together in 2-D",
            "vae",
            "glyphs",
            steps=6000,
            latent_dim=2,
            data_options={"charset": "digits"},
            bars=(FD_BAR,),
        ),
        _trained(
            "gan-glyphs",
            "Glyph DCGAN",
            "crisp samples; principal directions",
            "gan",
            "glyphs",
            steps=8000,
            width=32,
            data_options={"n": 30000},
            bars=(FD_BAR,),
        ),
        _trained(
            "vae-shapes",
            "Shapes VAE (latent 16)",
            "colour, size and position as directions",
            "vae",
            "shapes",
            steps=16000,
            latent_dim=16,
            data_options={"n": 50000},
            bars=(FD_BAR,),
        ),
        _trained(
            "gan-shapes",
            "Shapes DCGAN",
            "colour, size and position as directions",
            "gan",
            "shapes",
            steps=32000,
            width=32,
            # About as many numbers as the data has factors: in a z of 64 the GAN tangled them
            # (size's linear fit R² 0.22, the hue's 0.03; a slider taught from a few picks, ρ
            # 0.14-0.56); in a z of 8 its hue sliders work and a taught size slider reaches ρ
            # 0.79-0.86, and FD went from 12.6 to 10.4.
            latent_dim=8,
            data_options={"n": 50000},
            bars=(FD_BAR,),
        ),
        _trained(
            "gan-shapes-by-kind",
            "Shapes DCGAN, told the kind and the size",
            "a conditional GAN: each code names its kind of shape, so sliders and taught "
            "directions grow, move and colour a shape without turning it into another; and "
            "its first number is the size it is told, so size grows along a straight line",
            "gan",
            "shapes",
            arch="dcgan-classes",
            steps=24000,
            width=32,
            latent_dim=8,
            # The unconditional GAN folds size in its z: a linear fit explains 24% of it, a
            # quadratic one 75%, so no straight slider grows every shape (ρ 0.79-0.86).
            told="size",
            # D reads back the kind and the size (AC-GAN): told only, G drew its kind 60% of
            # the time and its size lay on the told axis at R² 0.36; read back, 73% and 0.72.
            read_back=1.0,
            data_options={"n": 50000},
            bars=(FD_BAR,),
        ),
        _trained(
            "vae-coord-glyphs",
            "Glyph VAE, drawn at any size",
            "the glyph VAE with a coordinate network for its decoder: each pixel is drawn from "
            "its position, so letters stay sharp at poster size",
            "vae",
            "glyphs",
            arch="vae-coord",
            steps=3000,
            latent_dim=16,
            # Read linearly, the grid left faint straight creases on its posters.
            reading="spline",
            bars=(FD_BAR, SIZES_BAR),
        ),
        _trained(
            "gan-coord-glyphs",
            "Glyph GAN, drawn at any size",
            "a coordinate-network generator against the DCGAN's discriminator: letters that "
            "stay sharp at poster size",
            "gan",
            "glyphs",
            arch="gan-coord",
            steps=8000,  # as many as gan-glyphs
            data_options={"n": 30000},
            levels="unit",  # pinned: trained before the GAN's levels became the data's
            bars=(FD_BAR, SIZES_BAR),
        ),
        _trained(
            "vae-coord-shapes",
            "Shapes VAE, drawn at any size",
            "the shapes VAE with a coordinate network for its decoder: outlines drawn from "
            "each pixel's position",
            "vae",
            "shapes",
            arch="vae-coord",
            steps=9000,
            latent_dim=16,
            # Read linearly, its 2048 px posters had creases along the grid's cells (1.21x).
            reading="spline",
            data_options={"n": 50000},
            bars=(FD_BAR, SIZES_BAR),
        ),
        _trained(
            "gan-coord-shapes",
            "Shapes GAN, drawn at any size",
            "a coordinate-network generator against the DCGAN's discriminator, on coloured shapes",
            "gan",
            "shapes",
            arch="gan-coord",
            # Trained in stretches with `zoo rebuild --continue`: FD 520 at 6,099 steps, 73.3 at
            # 14,248, 7.1 at 32,000 (gan-shapes': 328 at 3,000, 106 at 11,000, 10.4 at 32,000).
            steps=32000,
            # Its 512 px pictures then held 0.40x as many mid-edge pixels as bicubic's. Steepened
            # 3, 4 or 6 times, 1,500 steps on: 0.27x, 0.22x and 0.16x; FD 9.5, 8.5 and 15.9.
            steepen=(4.0, 1500),
            # Its shapes are a few cells of an 8 x 8 grid across: at 3,000 steps, FD 331 with
            # 8 x 8, 247 with 16 x 16 (296 read as a spline, 309 with 32 x 32).
            cells=16,
            data_options={"n": 50000},
            bars=(FD_BAR, SIZES_BAR),
        ),
        _trained(
            "gan-ring8",
            "Ring of 8 GAN (latent 2)",
            "the mode-coverage demo: does the GAN find all eight modes?",
            "gan",
            "toy2d",
            steps=2000,
            batch_size=256,
            data_options={"shape": "ring8"},
            # pinned: trained before the ring GAN's defaults moved to no momentum, an average and
            # the R1 penalty
            beta1=0.5,
            beta2=0.999,
            ema=0.0,
            r1=0.0,
            bars=(Bar("modes_covered", ">=", 8), Bar("high_quality_share", ">=", 0.8)),
        ),
        _trained(
            "mlp-sunset",
            "CPPN fitted to a sunset",
            "a CPPN trained to paint one picture: resolution-free, so it renders at any size",
            "mlp",
            "image",
            steps=6000,
            batch_size=1,
            data_options={"target": "sunset"},
            bars=(Bar("psnr", ">=", 30.0),),
        ),
        _art("mlp-prism", "Prism", 1, activation="tanh", init_std=3.0),
        _art("mlp-glass", "Stained glass", 6, activation="mix", init_std=2.5, z_scale=2.0),
        _art("mlp-lace", "Lace", 12, activation="gaussian", init_std=3.0, z_scale=2.0),
        _art("mlp-silver", "Silver", 4, activation="gaussian", init_std=2.5, depth=5, channels=1),
        _art("mlp-ink", "Ink", 13, activation="mix", init_std=2.5, depth=5, channels=1),
    )
}


def all_ids() -> list[str]:
    """The feature classifiers first (the image metrics need them), then every model."""
    return [*(f"classifier-{name}" for name in classifiers.CLASSIFIERS), *ZOO]


def entry(model_id: str) -> Entry:
    try:
        return ZOO[model_id]
    except KeyError:
        known = ", ".join(all_ids())
        raise StudioError(f"'{model_id}' is not in the zoo; choose one of {known}") from None


def classifier_name(model_id: str) -> str | None:
    name = model_id.removeprefix("classifier-")
    return name if name != model_id and name in classifiers.CLASSIFIERS else None
