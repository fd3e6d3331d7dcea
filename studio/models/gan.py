"""GANs: a DCGAN for 32x32 / 64x64 images and an MLP GAN for 2-D points.

Both play Goodfellow et al.'s (2014) minimax game,

    min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],

with the discriminator returning logits l, D = sigmoid(l). Every term is computed in its
numerically stable form: log D = -softplus(-l) and log(1 - D) = -softplus(l).
The generator minimises the non-saturating loss -E_z[log D(G(z))] by default (§3 of the paper);
the saturating E_z[log(1 - D(G(z)))] is there for teaching why not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from studio.models import register
from studio.models.base import GenerativeModel, LossTerm, Objective, option

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


def generator_terms(fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        "g_loss": F.softplus(-fake_logits).mean(),
        "g_loss_saturating": -F.softplus(fake_logits).mean(),
    }


class GAN(GenerativeModel):
    """The game and its training step; subclasses build ``generator`` and ``discriminator``."""

    family = "gan"
    FORMULA = GAN_FORMULA
    TERMS = GAN_TERMS
    generator: nn.Module
    discriminator: nn.Module

    def to_d_space(self, batch: torch.Tensor) -> torch.Tensor:
        """Data as the discriminator sees it (and as the generator draws it)."""
        return batch

    def loss_terms(
        self, batch: torch.Tensor, noise: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        batch = self.to_d_space(batch)
        z = torch.randn(batch.shape[0], self.latent_dim, device=batch.device, generator=noise)
        fake_logits = self.discriminator(self.generator(z))
        terms = discriminator_terms(self.discriminator(batch), fake_logits)
        return terms | generator_terms(fake_logits)

    @property
    def g_minimises(self) -> str:
        return "g_loss_saturating" if self.config.g_loss == "saturating" else "g_loss"

    def objectives(self) -> tuple[Objective, ...]:
        c = self.config
        return (
            Objective("discriminator", "d_loss", ("discriminator",), lr=c.lr_d, betas=(0.5, 0.999)),
            Objective("generator", self.g_minimises, ("generator",), lr=c.lr_g, betas=(0.5, 0.999)),
        )

    def training_step(
        self,
        batch: torch.Tensor,
        optimizers: dict[str, torch.optim.Optimizer],
        noise: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """``d_steps`` discriminator updates, then one generator update on the last fake batch."""
        opt_d, opt_g = optimizers["discriminator"], optimizers["generator"]
        batch = self.to_d_space(batch)
        n = batch.shape[0]
        for _ in range(self.config.d_steps):
            z = torch.randn(n, self.latent_dim, device=batch.device, generator=noise)
            fake = self.generator(z)
            d_terms = discriminator_terms(
                self.discriminator(batch), self.discriminator(fake.detach())
            )
            opt_d.zero_grad(set_to_none=True)
            d_terms["d_loss"].backward()
            opt_d.step()

        # D is frozen for G's step: its gradients would be computed for nothing.
        self.discriminator.requires_grad_(False)
        try:
            g_terms = generator_terms(self.discriminator(fake))
            opt_g.zero_grad(set_to_none=True)
            g_terms[self.g_minimises].backward()
            opt_g.step()
        finally:
            self.discriminator.requires_grad_(True)
        return {k: v.detach() for k, v in (d_terms | g_terms).items()}


# ---------------------------------------------------------------- DCGAN for images


@dataclass
class DCGANConfig:
    latent_dim: int = option(64, low=1, high=1024)
    size: int = option(32, choices=(32, 64))
    channels: int = option(1, choices=(1, 3))
    width: int = option(32, low=8, high=512, help="feature maps of the last G layer (D: first)")
    lr_g: float = option(2e-4, low=1e-6, high=1.0)
    lr_d: float = option(2e-4, low=1e-6, high=1.0)
    d_steps: int = option(1, low=1, high=10)
    g_loss: str = option("non_saturating", choices=("non_saturating", "saturating"))


def _up(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


def _down(cin: int, cout: int, *, norm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, True))
    return layers


@register
class DCGAN(GAN):
    """Radford et al. (2015): strided (transposed) convolutions, batch norm, ReLU / LeakyReLU."""

    arch = "dcgan"
    Config = DCGANConfig

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__(config)
        c = config
        ups = {32: 3, 64: 4}[c.size]  # 4x4 -> size
        widths = [c.width * 2 ** (ups - 1 - i) for i in range(ups)]  # e.g. 256, 128, 64
        g: list[nn.Module] = [
            nn.Unflatten(1, (c.latent_dim, 1, 1)),
            nn.ConvTranspose2d(c.latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for cin, cout in zip(widths, widths[1:], strict=False):
            g += _up(cin, cout)
        g += [nn.ConvTranspose2d(widths[-1], c.channels, 4, 2, 1), nn.Tanh()]
        self.generator = nn.Sequential(*g)

        rev = widths[::-1]
        d: list[nn.Module] = _down(c.channels, rev[0], norm=False)
        for cin, cout in zip(rev, rev[1:], strict=False):
            d += _down(cin, cout)
        d += [nn.Conv2d(rev[-1], 1, 4, 1, 0), nn.Flatten(0)]
        self.discriminator = nn.Sequential(*d)
        self.apply(_dcgan_init)

    def to_d_space(self, batch: torch.Tensor) -> torch.Tensor:
        return batch * 2 - 1  # [0, 1] images to the generator's tanh range

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (self.generator(z) + 1) / 2


def _dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's N(0, 0.02) weights; batch-norm scales N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# ---------------------------------------------------------------- MLP GAN for 2-D points


@dataclass
class GAN2DConfig:
    latent_dim: int = option(2, low=1, high=256)
    width: int = option(128, low=4, high=1024)
    depth: int = option(3, low=1, high=8, help="hidden layers of G and of D")
    lr_g: float = option(1e-3, low=1e-6, high=1.0)
    lr_d: float = option(1e-3, low=1e-6, high=1.0)
    d_steps: int = option(1, low=1, high=10)
    g_loss: str = option("non_saturating", choices=("non_saturating", "saturating"))


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
    Config = GAN2DConfig
    output = "points"

    def __init__(self, config: GAN2DConfig) -> None:
        super().__init__(config)
        c = config
        self.generator = _mlp(c.latent_dim, c.width, c.depth, 2, nn.ReLU)
        self.discriminator = nn.Sequential(_mlp(2, c.width, c.depth, 1, nn.ReLU), nn.Flatten(0))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        raise AttributeError("a 2-D GAN draws points, not images")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)
