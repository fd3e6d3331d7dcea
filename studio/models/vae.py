"""VAEs: a convolutional one and an MLP one, with a Gaussian posterior q(z|x).

Trained by maximising the evidence lower bound (Kingma & Welling 2013, eq. 3),

    ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z))  <=  log p(x),

with q(z|x) = N(mu(x), diag sigma^2(x)), p(z) = N(0, I), z = mu + sigma * eps. Every term is
reported per example, in nats: the reconstruction term is summed over pixels, the KL over latent
dimensions (its closed form, 0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2), is never negative).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from studio.models import register
from studio.models.base import (
    GenerativeModel,
    LossTerm,
    Objective,
    SliderAxes,
    TrainingConfig,
    option,
    unit_axes,
)
from studio.models.coordinates import CoordinateDrawing, CoordinateGenerator, CoordinateOptions
from studio.models.noise import Noise, normal

VAE_TERMS = (
    LossTerm(
        "recon",
        "E_q[log p(x|z)]",
        r"\mathbb{E}_{q_\phi(z|x)}[\log p_\theta(x|z)]",
        "how well the decoder redraws x from its code (nats; closer to 0 is better)",
        "higher",
    ),
    LossTerm(
        "kl",
        "KL(q(z|x) ‖ p(z))",
        r"D_{KL}(q_\phi(z|x)\,\|\,p(z))",
        "how far the codes stray from the prior N(0, I) (nats; never negative)",
        "lower",
    ),
    LossTerm(
        "elbo",
        "ELBO",
        r"\mathbb{E}_{q}[\log p(x|z)] - D_{KL}(q(z|x)\,\|\,p(z))",
        "the evidence lower bound on log p(x): reconstruction minus KL",
        "higher",
    ),
    LossTerm(
        "loss",
        "−(recon − β·KL)",
        r"-\big(\mathbb{E}_{q}[\log p(x|z)] - \beta D_{KL}\big)",
        "what the optimiser minimises: the negative β-weighted ELBO",
        "lower",
    ),
)


def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) for each example and dimension, in nats."""
    return 0.5 * (mu * mu + logvar.exp() - 1.0 - logvar)


@dataclass
class VAETraining(TrainingConfig):
    lr: float = option(1e-3, low=1e-6, high=1.0, log=True, label="Learning rate")


@dataclass
class VAEConfig:
    latent_dim: int = option(16, low=1, high=1024, label="Latent dimensions", help="the size of z")
    size: int = option(32, choices=(32, 64))
    channels: int = option(1, choices=(1, 3))
    width: int = option(32, low=4, high=512, help="feature maps of the first conv / MLP units / 8")
    likelihood: str = option(
        "bernoulli",
        choices=("bernoulli", "gaussian"),
        label="Likelihood p(x|z)",
        help="bernoulli suits gray, mostly black-or-white pictures",
    )
    sigma: float = option(0.1, low=1e-3, high=10.0, help="std of the Gaussian likelihood")
    beta: float = option(
        1.0,
        low=0.0,
        high=1000.0,
        label="β (weight on the KL)",
        help="weight on the KL term: above 1 trades reconstruction for tidier codes",
    )


class VAE(GenerativeModel):
    """The ELBO and its terms; subclasses build ``encoder`` (x -> features) and ``decoder``."""

    family = "vae"
    FAMILY_TITLE = "VAE"
    FAMILY_BLURB = "Encodes pictures into codes and decodes them, maximising the ELBO."
    DATASETS = ("glyphs", "shapes", "folder")
    encodes = True
    half_precision = True
    TRAIN_KNOBS = ("latent_dim", "beta", "lr", "likelihood")
    FORMULA = (
        r"\log p_\theta(x) \ge \mathrm{ELBO}(x) = \mathbb{E}_{q_\phi(z|x)}[\log p_\theta(x|z)]"
        r" - D_{KL}(q_\phi(z|x)\,\|\,p(z))"
    )
    TERMS = VAE_TERMS
    Config = VAEConfig
    Training = VAETraining
    encoder: nn.Module
    decoder: nn.Module
    to_stats: nn.Linear  # features -> (mu, logvar)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior's (mu, logvar), each N x latent_dim."""
        mu, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's logits of p(x|z): sigmoid gives Bernoulli probabilities or Gaussian
        means."""
        return self.decoder(z)

    def training_logits(self, z: torch.Tensor, noise: Noise) -> torch.Tensor:
        """The logits as a training step computes them; a decoder with random draws of its own
        takes them from ``noise``."""
        return self.logits(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))

    @torch.inference_mode()
    def kl_per_dim(self, data: torch.Tensor) -> torch.Tensor:
        """The mean KL(q(z|x) || p(z)) of each latent dimension over ``data``, in nats: a
        dimension near 0 carries nothing, the decoder ignores it."""
        total = torch.zeros(self.latent_dim, dtype=torch.float64)
        for batch in torch.as_tensor(data, dtype=torch.float32).split(256):
            mu, logvar = self.encode(batch.to(self.device))
            total += gaussian_kl_per_dim(mu, logvar).double().sum(0).cpu()
        return total / max(len(data), 1)

    def slider_axes(self, limit: int, probe: Callable[[], torch.Tensor]) -> SliderAxes:
        """The dimensions that carry most KL over some of the training data, most first."""
        kl = self.kl_per_dim(probe()).tolist()
        dims = sorted(range(self.latent_dim), key=lambda d: (-kl[d], d))[:limit]
        helps = [
            f"carries {kl[d]:.2f} nats of KL over the data (a dimension near 0 carries nothing: "
            "the decoder ignores it)"
            for d in dims
        ]
        kind = "Dimensions, most informative first (KL per dimension)"
        return unit_axes(kind, dims, self.latent_dim, helps)

    def log_likelihood(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per example, summed over pixels (nats), from the decoder's logits."""
        if self.config.likelihood == "bernoulli":
            ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        else:
            mean = torch.sigmoid(logits)
            s = self.config.sigma
            ll = -0.5 * ((x - mean) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        return ll.flatten(1).sum(1)

    def loss_terms(self, batch: torch.Tensor, noise: Noise = None) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(batch)
        eps = normal(tuple(mu.shape), noise, device=mu.device, dtype=mu.dtype)
        z = mu + eps * (0.5 * logvar).exp()  # the reparameterisation trick
        recon = self.log_likelihood(batch, self.training_logits(z, noise)).mean()
        kl_dim = gaussian_kl_per_dim(mu, logvar).mean(0)
        kl = kl_dim.sum()
        elbo = recon - kl
        return {
            "recon": recon,
            "kl": kl,
            "elbo": elbo,
            "loss": -(recon - self.config.beta * kl),
            "kl_per_dim": kl_dim,
        }

    def objectives(self) -> tuple[Objective, ...]:
        return (Objective("vae", "loss", ("encoder", "to_stats", "decoder")),)


# ---------------------------------------------------------------- conv VAE


def conv_encoder(c: VAEConfig) -> tuple[nn.Sequential, list[int]]:
    """Strided convolutions from the picture down to 4 x 4 features, flattened, and the feature
    maps of each layer: ``width``, doubling at each halving."""
    widths = [c.width * 2**i for i in range({32: 3, 64: 4}[c.size])]  # e.g. 32, 64, 128
    layers: list[nn.Module] = []
    for cin, cout in zip([c.channels, *widths], widths, strict=False):
        layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.SiLU()]
    return nn.Sequential(*layers, nn.Flatten(1)), widths


@register
class ConvVAE(VAE):
    arch = "vae"

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        c = config
        self.encoder, widths = conv_encoder(c)
        self.to_stats = nn.Linear(widths[-1] * 16, 2 * c.latent_dim)
        rev = widths[::-1]
        dec: list[nn.Module] = [
            nn.Linear(c.latent_dim, rev[0] * 16),
            nn.SiLU(),
            nn.Unflatten(1, (rev[0], 4, 4)),
        ]
        for cin, cout in zip(rev, rev[1:], strict=False):
            dec += [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.SiLU()]
        dec.append(nn.ConvTranspose2d(rev[-1], c.channels, 4, 2, 1))
        self.decoder = nn.Sequential(*dec)


# ---------------------------------------------------------------- MLP VAE


@register
class MLPVAE(VAE):
    arch = "vae-mlp"
    GENERATOR_TITLE = "MLP on the whole picture: draws at its training size"

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        c = config
        pixels = c.channels * c.size * c.size
        hidden = c.width * 8
        self.encoder = nn.Sequential(
            nn.Flatten(1),
            nn.Linear(pixels, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
        )
        self.to_stats = nn.Linear(hidden, 2 * c.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(c.latent_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, pixels),
            nn.Unflatten(1, (c.channels, c.size, c.size)),
        )


# ---------------------------------------------------------------- coordinate VAE

PROBABILITY_EPS = 1e-6  # a footprint's mean probability is kept this far from 0 and 1


@dataclass
class CoordinateVAEConfig(VAEConfig, CoordinateOptions):
    pass


@register
class CoordinateVAE(CoordinateDrawing, VAE):
    """The conv encoder, and a coordinate generator (``studio.models.coordinates``) as the
    decoder: each pixel's probability is the mean of the generator's over its footprint, and
    pictures come at any size."""

    arch = "vae-coord"
    Config = CoordinateVAEConfig
    TRAIN_KNOBS = (
        "latent_dim",
        "beta",
        "conditioning",
        "grid_norm",
        "reading",
        "levels",
        "samples",
        "lr",
    )
    decoder: CoordinateGenerator

    def __init__(self, config: CoordinateVAEConfig) -> None:
        super().__init__(config)
        c = config
        self.encoder, widths = conv_encoder(c)
        self.to_stats = nn.Linear(widths[-1] * 16, 2 * c.latent_dim)
        self.decoder = CoordinateGenerator(c.latent_dim, c.channels, c.size, c)

    @property
    def painter(self) -> CoordinateGenerator:
        return self.decoder

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return torch.logit(self.decoder(z), eps=PROBABILITY_EPS)

    def training_logits(self, z: torch.Tensor, noise: Noise) -> torch.Tensor:
        return torch.logit(self.decoder.sample(z, noise), eps=PROBABILITY_EPS)
