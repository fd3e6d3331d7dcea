"""GANs: a DCGAN for 32x32 / 64x64 images and an MLP GAN for 2-D points.

Both play Goodfellow et al.'s (2014) minimax game,

    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],

with the discriminator returning logits l, D = sigmoid(l). Every term is computed in its
numerically stable form: log D = -softplus(-l) and log(1 - D) = -softplus(l).
The generator minimises the non-saturating loss -E_z[log D(G(z))] by default (§3 of the paper);
the saturating E_z[log(1 - D(G(z)))] is there for teaching why not.

With ``ema`` > 0 the model also keeps an exponential moving average of the generator's weights,
updated after every generator step, and draws with it (Karras et al. 2018; Yazici et al.
2019): the game keeps the live generator moving around an equilibrium, its average sits nearer
to it. On the shapes set, 8000 steps of the same run: FD 426 with the live generator, 227 with
the average. On the ring of 8 the live generator's points wobble on and off a mode while its
average's stay put; the Classroom draws the live generator, as the game is played, and counts
the average's modes beside it.

With ``r1`` > 0, D also pays Mescheder et al.'s (2018) R1 penalty, (γ/2) E_x[|grad_x D(x)|^2]
on real data, which makes the game converge where it would otherwise circle. On the ring of 8
it is what keeps every mode: without it G slowly starves one mode while fattening the others.
The ring GAN and the coordinate GAN pay it by default; the DCGANs do not (their shipped recipes
were made without).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.data.base import Dataset
from studio.errors import StudioError
from studio.imaging import scatter
from studio.models import register
from studio.models.base import (
    PREVIEW_SEED,
    GenerativeModel,
    LossTerm,
    Objective,
    SliderAxes,
    TrainingConfig,
    option,
    redefault,
)
from studio.models.coordinates import (
    CoordinateDrawing,
    CoordinateGenerator,
    CoordinateOptions,
)
from studio.models.ganspace import Directions, principal_directions
from studio.models.noise import Noise, normal

GAN_FORMULA = (
    r"\min_G \max_D V(D,G) = \mathbb{E}_{x\sim p_{data}}[\log D(x)]"
    r" + \mathbb{E}_{z\sim p(z)}[\log(1 - D(G(z)))]"
)
GAN_TERMS = (
    LossTerm(
        "log_d_real",
        "E_x[log D(x)]",
        r"\mathbb{E}_{x}[\log D(x)]",
        "how sure D is that real samples are real (0 is perfectly sure); D pushes it up",
        "higher",
    ),
    LossTerm(
        "log_1m_d_fake",
        "E_z[log(1 − D(G(z)))]",
        r"\mathbb{E}_{z}[\log(1 - D(G(z)))]",
        "how sure D is that generated samples are fake; D pushes it up, G pushes it down",
        "",
    ),
    LossTerm(
        "value",
        "V(D,G)",
        r"V(D,G)",
        "the game's value: the sum of the two terms above; D maximises it, G minimises it",
        "",
    ),
    LossTerm(
        "g_loss",
        "−E_z[log D(G(z))]",
        r"-\mathbb{E}_{z}[\log D(G(z))]",
        "the non-saturating generator loss, what G actually minimises by default",
        "lower",
    ),
    LossTerm(
        "g_loss_saturating",
        "E_z[log(1 − D(G(z)))] (G)",
        r"\mathbb{E}_{z}[\log(1 - D(G(z)))]",
        "the saturating generator loss from the minimax game; flat when D wins",
        "lower",
    ),
    LossTerm(
        "d_real",
        "mean D(x)",
        r"\mathbb{E}_x[D(x)]",
        "D's average probability that a real sample is real",
        "",
    ),
    LossTerm(
        "d_fake",
        "mean D(G(z))",
        r"\mathbb{E}_z[D(G(z))]",
        "D's average probability that a generated sample is real",
        "",
    ),
)


READ_BACK_TERMS = (
    LossTerm(
        "read_real",
        "D's read-back error on x",
        r"\mathrm{CE}(c, \hat c(x)) + \lVert s - \hat s(x) \rVert^2",
        "how far D's reading of a real picture is from what it shows (its class, its told "
        "factors); D learns to read by lowering it",
        "lower",
    ),
    LossTerm(
        "read_fake",
        "D's read-back error on G(z)",
        r"\mathrm{CE}(c, \hat c(G(z))) + \lVert s - \hat s(G(z)) \rVert^2",
        "how far D's reading of a generated picture is from what G was told; G lowers it",
        "lower",
    ),
)


def discriminator_terms(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The game's terms from D's logits on a real and a generated batch."""
    log_d_real = -F.softplus(-real_logits).mean()
    log_1m_d_fake = -F.softplus(fake_logits).mean()
    value = log_d_real + log_1m_d_fake
    return {
        "log_d_real": log_d_real,
        "log_1m_d_fake": log_1m_d_fake,
        "value": value,
        "d_loss": -value,
        "d_real": torch.sigmoid(real_logits).mean(),
        "d_fake": torch.sigmoid(fake_logits).mean(),
    }


def r1_penalty(real: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """E_x[|grad_x D(x)|^2] on the real batch (the logits', so it stays finite where D is
    sure); ``real`` must have required grad before D saw it. Kept in the graph, so that D's
    step can differentiate it."""
    (slope,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return slope.pow(2).flatten(1).sum(1).mean()


def generator_terms(fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        "g_loss": F.softplus(-fake_logits).mean(),
        "g_loss_saturating": -F.softplus(fake_logits).mean(),
    }


# ---------------------------------------------------------------- the game

EMA_WARMUP = 10  # the average's decay ramps up as (1 + n) / (EMA_WARMUP + n) over its updates
LR_D_HELP = "lower it when D wins outright"
G_LOSS_HELP = "non-saturating is what G minimises in practice"
EMA_HELP = "decay of the moving average of G's weights that draws the samples (0: draw with G)"
UNLABELLED = "a conditional GAN learns from pictures whose classes are known"
TOLD_HELP = "factors of the data G is told besides the class, by name, e.g. size"
READ_HELP = (
    "weight of D reading back what G was told, the class and any told factor (AC-GAN); 0: none. "
    "On shapes, 1 made G draw the kind it is told 73% of the time (0: 60%), at a quarter the FD"
)
R1_HELP = "weight of the penalty on D's slope at real data (0: none); it keeps G's modes balanced"


def r1_option(default: float) -> Any:
    """The weight γ of the zero-centred gradient penalty (γ/2) E_x[|grad_x D(x)|^2] that D pays
    besides the game (Mescheder et al. 2018): where the data are, D must be flat, so G is not
    flung past them and D cannot keep a steep wall against a mode G has only half found."""
    return option(default, low=0.0, high=100.0, label="R1 penalty γ", help=R1_HELP)


class GAN(GenerativeModel):
    """The game and its training step; subclasses build ``generator`` and ``discriminator``, then
    call ``start_average``."""

    family = "gan"
    FAMILY_TITLE = "GAN"
    FAMILY_BLURB = "A generator and a discriminator play a game; the generator learns to draw."
    FORMULA = GAN_FORMULA
    TERMS = GAN_TERMS
    generator: nn.Module
    discriminator: nn.Module
    generator_ema: nn.Module  # only when averaging
    ema_updates: torch.Tensor  # only when averaging

    # -- the generator's moving average

    @property
    def averaging(self) -> bool:
        return self.config.ema > 0

    @property
    def drawing_generator(self) -> nn.Module:
        """The generator that draws samples: the moving average when the model keeps one."""
        return self.generator_ema if self.averaging else self.generator

    def start_average(self) -> None:
        """Begin the average as a copy of the freshly initialised generator (when averaging)."""
        if self.averaging:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def update_average(self) -> None:
        """average <- d * average + (1 - d) * generator, and BatchNorm statistics copied.

        d = min(ema, (1 + n) / (EMA_WARMUP + n)) after n updates, so that a short run's average
        is not held back by its random start. Computed on the device: no host sync per step.
        """
        n = self.ema_updates.float()
        decay = torch.clamp((1 + n) / (EMA_WARMUP + n), max=self.config.ema)
        average, live = self.generator_ema, self.generator
        for a, g in zip(average.parameters(), live.parameters(), strict=True):
            a.lerp_(g, 1 - decay)
        for a, g in zip(average.buffers(), live.buffers(), strict=True):
            a.copy_(g)
        self.ema_updates += 1

    def upgrade_state(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A checkpoint saved before the model kept an average: it starts from the generator."""
        if not self.averaging or "ema_updates" in tensors:
            return tensors
        prefix = "generator."
        start = {
            f"generator_ema.{k.removeprefix(prefix)}": v
            for k, v in tensors.items()
            if k.startswith(prefix)
        }
        return tensors | start | {"ema_updates": torch.zeros((), dtype=torch.int64)}

    # -- principal directions

    @property
    def z_layers(self) -> nn.Sequential:
        """The drawing generator's layers that take z, through its first non-linearity and
        beyond: what GANSpace reads."""
        return self.drawing_generator

    def principal_directions(
        self, components: int = 8, samples: int = 4096, seed: int = 0
    ) -> Directions:
        """GANSpace's directions in z for the generator that draws (``studio.models.ganspace``)."""
        return principal_directions(
            self.z_layers,
            self.latent_dim,
            components,
            samples=samples,
            seed=seed,
            held=self.held_dims,
        )

    def slider_axes(self, limit: int, probe: Any) -> SliderAxes:
        """The principal directions, made exactly orthonormal."""
        found = self.principal_directions(components=limit)
        # GANSpace's directions come from a regression and are not quite orthogonal;
        # Gram-Schmidt (QR) keeps the first exact and each later one independent of those before.
        q, r = np.linalg.qr(found.vectors.double().numpy().T)
        vectors = (q * np.sign(np.diag(r))).T
        return SliderAxes(
            kind="Principal directions (GANSpace)",
            vectors=vectors,
            labels=tuple(f"PC{i + 1}" for i in range(len(vectors))),
            helps=tuple(
                f"principal direction {i + 1}: {share:.0%} of the variation in the generator's "
                "first features"
                for i, share in enumerate(found.explained.tolist())
            ),
        )

    # -- the game

    def to_d_space(self, batch: torch.Tensor) -> torch.Tensor:
        """Data as the discriminator sees it (and as the generator draws it)."""
        return batch

    def generate(self, z: torch.Tensor, noise: Noise) -> torch.Tensor:
        """The live generator's samples as a training step makes them (in D's space); a
        generator with random draws of its own takes them from ``noise``."""
        return self.generator(z)

    def training_codes(
        self, n: int, noise: Noise, conditions: torch.Tensor | None, device: torch.device
    ) -> torch.Tensor:
        """The codes z of a step's fake batch, drawn from ``noise``; a conditional GAN's are
        told the batch's ``conditions`` (``ConditionalDCGAN``)."""
        return normal((n, self.latent_dim), noise, device=device)

    def judge(
        self, pictures: torch.Tensor, conditions: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logit for each picture, and what D reads off it where it reads back what G was
        told (``ConditionalDCGAN``): here, nothing."""
        return self.discriminator(pictures), None

    @property
    def read_back_weight(self) -> float:
        """The weight of D's reading back what G was told (``ConditionalDCGAN``): 0, none."""
        return 0.0

    def read_back_error(self, reading: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss_terms(
        self, batch: torch.Tensor, noise: Noise = None, conditions: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        batch = self.to_d_space(batch)
        z = self.training_codes(batch.shape[0], noise, conditions, batch.device)
        fake_logits, _ = self.judge(self.generate(z, noise), conditions)
        terms = discriminator_terms(self.judge(batch, conditions)[0], fake_logits)
        return terms | generator_terms(fake_logits)

    @property
    def g_minimises(self) -> str:
        return "g_loss_saturating" if self.config.g_loss == "saturating" else "g_loss"

    def objectives(self) -> tuple[Objective, ...]:
        return (
            Objective("discriminator", "d_loss", ("discriminator",), lr="lr_d"),
            Objective("generator", self.g_minimises, ("generator",), lr="lr_g"),
        )

    def training_step(
        self,
        batch: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        noise: Noise = None,
        conditions: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``d_steps`` discriminator updates, then one generator update on the last fake batch.

        D minimises the game's ``d_loss`` plus, with ``r1`` > 0, the R1 penalty (``r1_option``);
        the reported ``d_loss`` is the game's alone, comparable across settings.
        """
        opt_d, opt_g = optimizers["discriminator"], optimizers["generator"]
        gamma = self.config.r1
        real = self.to_d_space(batch)
        if gamma > 0:
            real = real.detach().requires_grad_(True)  # a view: the run's data stay as they are
        n = real.shape[0]
        for _ in range(self.config.d_steps):
            z = self.training_codes(n, noise, conditions, real.device)
            fake = self.generate(z, noise)
            real_logits, real_reading = self.judge(real, conditions)
            fake_logits, _ = self.judge(fake.detach(), conditions)
            d_terms = discriminator_terms(real_logits, fake_logits)
            d_loss = d_terms["d_loss"]
            if self.read_back_weight:
                d_terms["read_real"] = self.read_back_error(real_reading, conditions)
                d_loss = d_loss + self.read_back_weight * d_terms["read_real"]
            if gamma > 0:
                d_loss = d_loss + gamma / 2 * r1_penalty(real, real_logits)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()

        # D is frozen for G's step: its gradients would be computed for nothing.
        self.discriminator.requires_grad_(False)
        try:
            fake_logits, fake_reading = self.judge(fake, conditions)
            g_terms = generator_terms(fake_logits)
            g_loss = g_terms[self.g_minimises]
            if self.read_back_weight:
                g_terms["read_fake"] = self.read_back_error(fake_reading, conditions)
                g_loss = g_loss + self.read_back_weight * g_terms["read_fake"]
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
        finally:
            self.discriminator.requires_grad_(True)
        if self.averaging:
            self.update_average()
        return {k: v.detach() for k, v in (d_terms | g_terms).items()}


# ---------------------------------------------------------------- DCGAN for images


def _gan_training(lr: float, betas: tuple[float, float] = (0.5, 0.999)) -> type[TrainingConfig]:
    """A GAN's training config: a learning rate for each player, and Adam's betas, by default
    with momentum at 0.5, as the DCGAN paper found steadier than 0.9."""

    @dataclass
    class GANTraining(TrainingConfig):
        lr_g: float = option(lr, low=1e-6, high=1.0, log=True, label="Generator learning rate")
        lr_d: float = option(
            lr, low=1e-6, high=1.0, log=True, label="Discriminator learning rate", help=LR_D_HELP
        )
        beta1: float = option(betas[0], low=0.0, high=0.9999, label="β1", help="Adam's momentum")
        beta2: float = option(
            betas[1],
            low=0.0,
            high=0.99999,
            label="β2",
            help="how long Adam remembers gradient scales",
        )

    return GANTraining


@dataclass
class GameConfig:
    """What both GANs share: how the players take turns, what G minimises, and the average of
    G's weights that draws."""

    d_steps: int = option(1, low=1, high=10, step=1, label="D steps per G step")
    g_loss: str = option(
        "non_saturating",
        choices=("non_saturating", "saturating"),
        label="Generator loss",
        help=G_LOSS_HELP,
    )
    ema: float = option(0.999, low=0.0, high=0.9999, help=EMA_HELP)
    r1: float = r1_option(0.0)


@dataclass
class DCGANConfig(GameConfig):
    latent_dim: int = option(64, low=1, high=1024, label="Latent dimensions", help="the size of z")
    size: int = option(32, choices=(32, 64))
    channels: int = option(1, choices=(1, 3))
    width: int = option(32, low=8, high=512, help="feature maps of the last G layer (D: first)")


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


def _down(cin: int, cout: int, *, norm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, True))
    return layers


def dcgan_discriminator(c: DCGANConfig) -> nn.Sequential:
    """Strided convolutions from the picture down to 4 x 4, then one logit; ``width`` feature
    maps in the first layer, doubling at each halving."""
    widths = [c.width * 2**i for i in range({32: 3, 64: 4}[c.size])]  # e.g. 32, 64, 128
    d: list[nn.Module] = _down(c.channels, widths[0], norm=False)
    for cin, cout in zip(widths, widths[1:], strict=False):
        d += _down(cin, cout)
    d += [nn.Conv2d(widths[-1], 1, 4, 1, 0), nn.Flatten(0)]
    return nn.Sequential(*d)


@register
class DCGAN(GAN):
    """Radford et al. (2015): strided (transposed) convolutions, batch norm, ReLU / LeakyReLU."""

    arch = "dcgan"
    DATASETS = ("glyphs", "shapes", "folder")
    Config = DCGANConfig
    Training = _gan_training(2e-4)
    half_precision = True
    TRAIN_KNOBS = ("latent_dim", "lr_g", "lr_d", "d_steps", "g_loss")
    PREVIEW_CAPTION = "Samples from a fixed z, drawn by the moving average of G's weights"

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__(config)
        c = config
        ups = {32: 3, 64: 4}[c.size]  # 4x4 -> size
        widths = [c.width * 2 ** (ups - 1 - i) for i in range(ups)]  # e.g. 256, 128, 64
        g: list[nn.Module] = [
            nn.Unflatten(1, (self.latent_dim, 1, 1)),
            nn.ConvTranspose2d(self.latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for cin, cout in zip(widths, widths[1:], strict=False):
            g += _up(cin, cout)
        g += [nn.ConvTranspose2d(widths[-1], c.channels, 4, 2, 1), nn.Tanh()]
        self.generator = nn.Sequential(*g)

        self.discriminator = self.build_discriminator()
        self.apply(_dcgan_init)
        self.start_average()

    def build_discriminator(self) -> nn.Module:
        return dcgan_discriminator(self.config)

    def to_d_space(self, batch: torch.Tensor) -> torch.Tensor:
        return batch * 2 - 1  # [0, 1] images to the generator's tanh range

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (self.drawing_generator(z) + 1) / 2


# ---------------------------------------------------------------- conditional DCGAN


@dataclass
class ConditionalDCGANConfig(DCGANConfig):
    latent_dim: int = option(
        8,
        low=1,
        high=1024,
        label="Noise dimensions",
        help="the random part of z; what it is told (the class, any told factor) is the rest",
    )
    classes: int = option(5, low=2, high=256, help="how many classes the data has (from the data)")
    told: str = option("", help=TOLD_HELP)
    # Cards saved before read-back was on by default have no reader.
    read_back: float = option(
        1.0, low=0.0, high=10.0, label="Read-back weight", help=READ_HELP, before=0.0
    )

    @property
    def told_factors(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.told.split(",") if name.strip())


def normal_scores(values: torch.Tensor) -> torch.Tensor:
    """Each value's rank among ``values``, as the standard normal's quantile at that rank:
    Φ⁻¹((rank + ½) / N). Whatever the factor's own distribution, its codes are N(0, 1)."""
    ranks = values.argsort().argsort().double()
    return torch.special.ndtri((ranks + 0.5) / len(values)).float()


class ProjectionDiscriminator(nn.Module):
    """The DCGAN's discriminator judging a picture against what G was told (Miyato & Koyama
    2018): logit = w·φ(x) + (E c)·φ(x), with φ(x) its last 4 x 4 features and c the told
    factors' codes, then the class one-hot."""

    def __init__(self, config: ConditionalDCGANConfig) -> None:
        super().__init__()
        *features, last, _ = dcgan_discriminator(config)
        self.features = nn.Sequential(*features)
        self.last = last  # a 4 x 4 convolution to one logit: w·φ(x)
        told = len(config.told_factors) + config.classes
        self.embed = nn.Linear(told, last.in_channels * 16, bias=False)
        self.reader = nn.Linear(last.in_channels * 16, told) if config.read_back else None

    def forward(
        self, pictures: torch.Tensor, conditions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each picture's logit and, with a reader, what D reads off it, laid out as its
        conditions: each told factor's code, then a logit per class (Odena et al.'s auxiliary
        classifier, 2017). Both come from one pass through D's features."""
        phi = self.features(pictures)
        logits = self.last(phi).flatten() + (self.embed(conditions) * phi.flatten(1)).sum(1)
        return logits, None if self.reader is None else self.reader(phi.flatten(1))


@register
class ConditionalDCGAN(DCGAN):
    """Mirza & Osindero's (2014) conditional GAN: G draws a picture of the class it is given,
    and D judges each picture against its class. A code is z = (noise, the class one-hot), so
    a seed picks both and a recipe keeps both; the principal directions move the noise alone,
    so the class a picture is told stays as it is moved along them.

    Told factors of the data too (``told``, e.g. ``size``), G finds each at the front of z, as
    the factor's normal score (``normal_scores``): z stays N(0, I), and the factor grows along
    that axis by construction, where an unconditional GAN may fold it (shapes' size is).

    With ``read_back`` > 0, D also reads each picture's class and told factors (Odena et al.'s
    AC-GAN), and G is held to be read as what it was told. On shapes (``gan-shapes-by-kind``,
    told the kind and the size, read back) G draws the kind it is told 73% of the time, as the
    shapes classifier reads its pictures (chance: 20%; without the read-back, 60%), at FD 4.3
    (19.3). Its first number is a clean size slider (ρ 0.97, the class moving 12% as much),
    where the GAN told only the kind holds size on no line.
    """

    arch = "dcgan-classes"
    GENERATOR_TITLE = "Convolutional, told the class to draw"
    DATASETS = ("glyphs", "shapes")
    Config = ConditionalDCGANConfig
    TERMS = GAN_TERMS + READ_BACK_TERMS
    TRAIN_KNOBS = (*DCGAN.TRAIN_KNOBS, "read_back")
    conditional = True

    @property
    def free_dims(self) -> int:
        """The told factors' codes and the noise: the part of z drawn from N(0, I)."""
        return len(self.config.told_factors) + self.config.latent_dim

    @property
    def latent_dim(self) -> int:
        return self.free_dims + self.config.classes

    @property
    def held_dims(self) -> int:
        return self.config.classes

    def sample_z(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes: the told factors' and the noise from N(0, I), then a class drawn uniformly,
        one-hot."""
        free = torch.randn(n, self.free_dims, generator=generator)
        classes = torch.randint(self.config.classes, (n,), generator=generator)
        return torch.cat([free, self._one_hot(classes)], 1).to(self.device)

    def _one_hot(self, classes: torch.Tensor) -> torch.Tensor:
        return F.one_hot(classes, self.config.classes).float()

    def build_discriminator(self) -> nn.Module:
        return ProjectionDiscriminator(self.config)

    def conditions(self, data: Dataset) -> torch.Tensor:
        """Each example's told factors, as normal scores, then its class, one-hot."""
        if data.labels is None:
            raise StudioError(UNLABELLED)
        missing = [name for name in self.config.told_factors if name not in data.factors]
        if missing:
            known = ", ".join(data.factors) or "none"
            raise StudioError(
                f"{data.name} does not know its pictures' {missing[0]}: "
                f"the factors it knows are {known}"
            )
        scores = [normal_scores(data.factors[name])[:, None] for name in self.config.told_factors]
        return torch.cat([*scores, self._one_hot(data.labels)], 1)

    def training_codes(
        self, n: int, noise: Noise, conditions: torch.Tensor | None, device: torch.device
    ) -> torch.Tensor:
        """The batch's own conditions, each with fresh noise: G draws what D is shown."""
        if conditions is None:
            raise StudioError(UNLABELLED)
        told = len(self.config.told_factors)
        random = normal((n, self.config.latent_dim), noise, device=device)
        return torch.cat([conditions[:, :told], random, conditions[:, told:]], 1)

    def judge(
        self, pictures: torch.Tensor, conditions: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.discriminator(pictures, conditions)

    @property
    def read_back_weight(self) -> float:
        return self.config.read_back

    def read_back_error(self, reading: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """The cross-entropy of D's class reading against the told class, plus the squared
        error of its reading of each told factor's code."""
        told = len(self.config.told_factors)
        error = F.cross_entropy(reading[:, told:], conditions[:, told:].argmax(1))
        return error + (reading[:, :told] - conditions[:, :told]).pow(2).sum(1).mean()


@dataclass
class CoordinateGANConfig(DCGANConfig, CoordinateOptions):
    # Without it D soon wins outright against this generator (D(G(z)) ~ 0.001): on glyphs at
    # 1,500 steps, FD 1,857 at 0, 1,352 at 0.1, 1,376 at 1 (the DCGAN: 1,086).
    r1: float = r1_option(0.1)
    # On glyphs at 3,000 steps, FD 753 with batch norm; without, 1,466-1,821 at 1,500 steps and
    # 1,924 at 4,000. Its edges at 512 px: 0.22x as many mid-edge pixels as bicubic, not 0.31x.
    grid_norm: str = redefault(CoordinateOptions, "grid_norm", "batch", before="none")
    levels: str = redefault(CoordinateOptions, "levels", "data", before="unit")


@register
class CoordinateGAN(CoordinateDrawing, GAN):
    """A coordinate generator (``studio.models.coordinates``) against the DCGAN's
    discriminator, which judges its pictures at the training size: pictures at any size."""

    arch = "gan-coord"
    DATASETS = ("glyphs", "shapes", "folder")
    Config = CoordinateGANConfig
    Training = _gan_training(2e-4)
    TRAIN_KNOBS = (
        "latent_dim",
        "conditioning",
        "grid_norm",
        "reading",
        "levels",
        "samples",
        "lr_g",
        "lr_d",
    )
    PREVIEW_CAPTION = DCGAN.PREVIEW_CAPTION
    generator: CoordinateGenerator

    def __init__(self, config: CoordinateGANConfig) -> None:
        super().__init__(config)
        c = config
        self.generator = CoordinateGenerator(c.latent_dim, c.channels, c.size, c)
        self.discriminator = dcgan_discriminator(c)
        self.discriminator.apply(_dcgan_init)
        self.start_average()

    @property
    def painter(self) -> CoordinateGenerator:
        return self.drawing_generator

    @property
    def z_layers(self) -> nn.Sequential:
        return self.drawing_generator.from_z

    def to_d_space(self, batch: torch.Tensor) -> torch.Tensor:
        return batch * 2 - 1

    def generate(self, z: torch.Tensor, noise: Noise) -> torch.Tensor:
        return self.to_d_space(self.generator.sample(z, noise))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.drawing_generator(z)


def _dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's N(0, 0.02) weights (a projection's class embedding too); batch-norm
    scales N(1, 0.02). A blueprint on the
    meta device has no values to draw (and drawing there would load torch's compiler)."""
    if any(p.is_meta for p in module.parameters(recurse=False)):
        return
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# ---------------------------------------------------------------- MLP GAN for 2-D points


POINTS_SIZE = 512  # px of a point model's picture
PREVIEW_POINTS = 1000
PREVIEW_PX = 320


@dataclass
class GAN2DConfig(GameConfig):
    latent_dim: int = option(2, low=1, high=256, label="Latent dimensions", help="the size of z")
    width: int = option(128, low=4, high=1024)
    depth: int = option(3, low=1, high=8, help="hidden layers of G and of D")
    r1: float = r1_option(1.0)  # 0.1 kept the modes as well; the DCGANs' stays 0, untried


def _mlp(din: int, width: int, depth: int, dout: int, act: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(din if i == 0 else width, width), act()]
    layers.append(nn.Linear(width if depth else din, dout))
    return nn.Sequential(*layers)


@register
class GAN2D(GAN):
    """The teaching GAN: points in the plane, small MLPs on both sides."""

    arch = "gan2d"
    DATASETS = ("toy2d",)
    Config = GAN2DConfig
    # No momentum, and a short memory of gradient scales: momentum carries a player past the
    # equilibrium the game circles (Gidel et al. 2019). On the ring of 8 at the CLI's batch of
    # 64, five seeds kept 3-7 modes after 6,000 steps with Adam's (0.5, 0.999), 7-8 with these;
    # the config's R1 penalty keeps all 8, each mode at 9.5% of the samples or more (a fair share
    # is 12.5%) from step 1,000 to 9,000 on all five, where without it one mode starved to under
    # 2% on all five at some point (python -m studio.bench.ring; the README has the figures).
    Training = _gan_training(1e-3, betas=(0.0, 0.9))
    cloud = True
    TRAIN_KNOBS = ("latent_dim", "lr_g", "lr_d", "d_steps", "g_loss")
    PREVIEW_CAPTION = "Generated points (orange) over the data (blue)"

    def __init__(self, config: GAN2DConfig) -> None:
        super().__init__(config)
        c = config
        self.generator = _mlp(c.latent_dim, c.width, c.depth, 2, nn.ReLU)
        self.discriminator = nn.Sequential(_mlp(2, c.width, c.depth, 1, nn.ReLU), nn.Flatten(0))
        self.start_average()

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (2,)

    @property
    def native_size(self) -> int:
        return POINTS_SIZE

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, POINTS_SIZE, POINTS_SIZE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.drawing_generator(z)

    def samples(self, z: torch.Tensor) -> np.ndarray:
        return self.decode(z).float().cpu().numpy()

    def draw(self, z: torch.Tensor, size: int | None = None, **options: Any) -> np.ndarray:
        """One scatter picture of every code's point: 1 x size x size x 3."""
        points = self.decode(z).float().cpu().numpy()
        return scatter(points, size=size or POINTS_SIZE)[None]

    @torch.inference_mode()
    def preview(self, data: torch.Tensor) -> np.ndarray:
        """Generated points over some of the real ones."""
        points = self.decode(self.codes(PREVIEW_POINTS, PREVIEW_SEED)).float().cpu().numpy()
        return scatter(points, real=data.cpu().numpy(), size=PREVIEW_PX)
