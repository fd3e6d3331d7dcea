"""Quality metrics that need no downloaded network.

* Fréchet distance (Heusel et al. 2017) and k-NN precision / recall (Kynkäänniemi et al. 2019,
  k = 3) in the feature space of a small classifier trained *here* on the same dataset. The
  numbers rank models on one dataset against each other and against a floor and a baseline;
  they are not comparable to Inception FID or to any published figure.
* VAE: the held-out ELBO, per image in nats and per dimension in bits, with its two terms.
* Mode coverage on the toy rings and grids (Metz et al. 2017): modes covered and the share of
  high-quality samples; and a looser ring judge, which asks only whether each mode is drawn.
* A GAN's diversity: the share of near-duplicate pairs among samples from a fixed z, which
  tells a generator that draws one picture for every z (mode collapse) from a healthy one.
* CPPN art: contrast and roughness, which tell a picture from a flat field or from noise.
* A model that draws at any size: whether its large pictures agree with its native one (box-
  filtered down, in dB) and how sharp their edges are against the native picture upscaled.

Everything runs on the CPU in float32 (float64 for the covariance maths), seeded, so a
recomputation on the same weights gives the same numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from studio.classifiers import FeatureNet
from studio.imaging import resize
from studio.models import GenerativeModel
from studio.models.vae import VAE, gaussian_kl_per_dim

CHUNK = 500  # images per forward pass when measuring

# ---------------------------------------------------------------- distances between feature sets


def _psd_eigenvalues(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of a symmetric PSD matrix, rounding-error negatives clipped to 0."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return values.clamp_min(0), vectors


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples).

    ||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2). The inner matrix
    is symmetric PSD, so its square root's trace is the sum of the roots of its eigenvalues.
    """
    a, b = a.double(), b.double()
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = _psd_eigenvalues(cov_a)
    root_a = vectors @ torch.diag(values.sqrt()) @ vectors.T
    cross, _ = _psd_eigenvalues(root_a @ cov_b @ root_a)
    mean_term = (a.mean(0) - b.mean(0)).square().sum()
    return float(mean_term + cov_a.trace() + cov_b.trace() - 2 * cross.sqrt().sum())


def _kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Each row's distance to its k-th nearest other row."""
    return torch.cdist(x, x).kthvalue(k + 1, dim=1).values  # k + 1: a row is its own 0-th


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Kynkäänniemi et al. (2019): the share of fake samples inside the real manifold
    (the union of balls reaching each real sample's k-th neighbour), and vice versa."""
    real, fake = real.double(), fake.double()
    distance = torch.cdist(fake, real)  # F x R
    inside_real = distance <= _kth_neighbour_radius(real, k)[None, :]  # fake f in real r's ball
    inside_fake = distance <= _kth_neighbour_radius(fake, k)[:, None]  # real r in fake f's ball
    return float(inside_real.any(1).double().mean()), float(inside_fake.any(0).double().mean())


# ---------------------------------------------------------------- measuring a generative model


@torch.inference_mode()
def generate(model: GenerativeModel, n: int, seed: int) -> torch.Tensor:
    """n samples (images or points) from the prior, reproducible for a seed."""
    return torch.cat([model.decode(chunk) for chunk in model.codes(n, seed).split(CHUNK)])


def pixel_gaussian_baseline(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """The naive model: independent per-pixel Gaussians with the data's mean and variance,
    clipped to [0, 1]."""
    noise = torch.randn((n, *x.shape[1:]), generator=torch.Generator().manual_seed(seed))
    return (x.mean(0) + x.std(0) * noise).clamp(0, 1)


def sample_quality(
    samples: torch.Tensor,
    classifier: FeatureNet,
    real_a: torch.Tensor,
    real_b: torch.Tensor,
    baseline: torch.Tensor,
    k: int = 3,
) -> dict[str, float]:
    """Fréchet distances to held-out set B of: held-out set A (the floor), the samples, and the
    baseline; and the samples' precision and recall against B."""
    reference = classifier.features(real_b)
    fake = classifier.features(samples)
    fd = {
        "fd_real_vs_real": frechet_distance(classifier.features(real_a), reference),
        "fd_samples": frechet_distance(fake, reference),
        "fd_baseline": frechet_distance(classifier.features(baseline), reference),
    }
    precision, recall = precision_recall(reference, fake, k)
    return fd | {
        "fd_ratio_to_baseline": fd["fd_samples"] / fd["fd_baseline"],
        "precision": precision,
        "recall": recall,
    }


@torch.inference_mode()
def vae_evidence(model: VAE, x: torch.Tensor, seed: int) -> dict[str, float]:
    """The held-out ELBO and its terms per image (nats), one posterior draw per image, and
    the ELBO in bits per dimension. A Bernoulli likelihood on grey levels makes these cross
    entropies, comparable between models here, not with discrete-data likelihoods."""
    generator = torch.Generator().manual_seed(seed)
    recon, kl = [], []
    for chunk in x.split(CHUNK):
        mu, logvar = model.encode(chunk)
        z = mu + torch.randn(mu.shape, generator=generator) * (0.5 * logvar).exp()
        recon.append(model.log_likelihood(chunk, model.logits(z)))
        kl.append(gaussian_kl_per_dim(mu, logvar).sum(1))
    recon_nats, kl_nats = float(torch.cat(recon).mean()), float(torch.cat(kl).mean())
    elbo = recon_nats - kl_nats
    return {
        "elbo_nats": elbo,
        "recon_nats": recon_nats,
        "kl_nats": kl_nats,
        "bits_per_dim": -elbo / (x[0].numel() * math.log(2)),
    }


@torch.inference_mode()
def reconstructions(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """decode(mu(x)): the VAE's best guess of each image."""
    return torch.cat([model.decode(model.encode(chunk)[0]) for chunk in x.split(CHUNK)])


def mode_coverage(
    points: torch.Tensor,
    centres: torch.Tensor,
    std: float,
    *,
    sigmas: float = 3.0,
    min_fair_share: float = 0.25,
) -> dict[str, Any]:
    """Metz et al. (2017)'s ring benchmark. A sample is high quality when it lies within
    ``sigmas`` standard deviations of its nearest mode; a mode is covered when it holds at least
    ``min_fair_share`` of its fair share (n / K) of high-quality samples."""
    distance, nearest = torch.cdist(points.double(), centres.double()).min(1)
    good = distance <= sigmas * std
    counted = _count_modes(nearest, good, len(centres), min_fair_share * len(points) / len(centres))
    return {
        "modes_covered": counted["modes_covered"],
        "modes_total": counted["modes_total"],
        "high_quality_share": counted["on_mode_share"],
        "mode_shares": counted["mode_shares"],
    }


def ring_coverage(
    points: torch.Tensor,
    centres: torch.Tensor,
    *,
    radius_tolerance: float = 0.1,
    angle_tolerance_deg: float = 10.0,
    min_share: float = 0.02,
) -> dict[str, Any]:
    """Modes of a ring (centres on one circle about the origin) that a generator draws at all.

    A sample sits on a mode when its distance from the origin is within ``radius_tolerance`` of
    the ring's radius and its angle within ``angle_tolerance_deg`` of the mode's; a mode is
    covered when at least ``min_share`` of all samples sit on it. Looser than ``mode_coverage``
    (on ring8 its 3 std are 3% of the radius): it asks whether each mode is drawn, not how
    sharply, so a count that flickers under it is the game dropping a mode, not blur.
    """
    points, centres = points.double(), centres.double()
    radius = float(centres.norm(dim=1).mean())
    angle = torch.atan2(points[:, 1], points[:, 0])[:, None]
    mode_angle = torch.atan2(centres[:, 1], centres[:, 0])[None, :]
    apart = torch.remainder(angle - mode_angle + math.pi, 2 * math.pi) - math.pi  # n x K
    off_angle, nearest = apart.abs().min(1)
    on = ((points.norm(dim=1) - radius).abs() <= radius_tolerance * radius) & (
        off_angle <= math.radians(angle_tolerance_deg)
    )
    return _count_modes(nearest, on, len(centres), min_share * len(points))


def _count_modes(
    nearest: torch.Tensor, on: torch.Tensor, modes: int, min_count: float
) -> dict[str, Any]:
    """Modes that at least ``min_count`` of the samples ``on`` a mode sit on."""
    counts = torch.bincount(nearest[on], minlength=modes)
    return {
        "modes_covered": int((counts >= min_count).sum()),
        "modes_total": modes,
        "on_mode_share": float(on.double().mean()),
        "mode_shares": [round(float(c) / len(nearest), 4) for c in counts],
    }


NEAR_DUPLICATE = 0.1  # a pair this much closer than two real examples typically are


def near_duplicate_share(
    samples: torch.Tensor, real: torch.Tensor, *, closeness: float = NEAR_DUPLICATE
) -> float:
    """The share of pairs among ``samples`` (N x D features) that are near-duplicates: closer
    than ``closeness`` times the median distance between two of ``real`` (M x D, the same
    features of real examples). Measured against the data, so any feature space will do.

    Real glyphs and shapes, and the shipped GANs' samples, read 0-0.5% (64 samples, classifier
    features); a generator that draws one picture for every z reads 100%.
    """
    median = _pair_distances(real).median().clamp_min(1e-12)
    return float((_pair_distances(samples) < closeness * median).double().mean())


def _pair_distances(x: torch.Tensor) -> torch.Tensor:
    """The n(n - 1)/2 distances between distinct rows."""
    x = x.flatten(1).double()
    i, j = torch.triu_indices(len(x), len(x), 1)
    return torch.cdist(x, x)[i, j]


def art_measures(images: torch.Tensor) -> dict[str, float]:
    """Contrast and roughness of N x C x H x W images, worst case over the batch.

    Contrast is the spatial std of each channel, averaged over channels (a flat field, of any
    colour, has 0). Roughness is the mean absolute difference between neighbouring pixels over
    that std: white noise has 2/sqrt(pi) ~ 1.13; smooth art drawn at a few hundred pixels is far
    below it.
    """
    std = images.flatten(2).std(2)  # N x C
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().flatten(2).mean(2)
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().flatten(2).mean(2)
    roughness = ((dx + dy) / 2).mean(1) / std.mean(1).clamp_min(1e-8)
    return {"contrast_min": float(std.mean(1).min()), "roughness_max": float(roughness.max())}


def psnr(drawn: torch.Tensor, target: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1]."""
    mse = float((drawn - target).square().mean())
    return 10 * math.log10(1 / max(mse, 1e-12))


# ---------------------------------------------------------------- pictures at any size

EDGE_CONTRAST = 0.25  # pictures whose strongest channel spans less than this have no edges to judge


def mid_edge_share(images: torch.Tensor) -> float:
    """The share of pixels caught mid-edge in N x C x H x W images in [0, 1]: in each picture's
    channel of widest range (2nd to 98th percentile, at least ``EDGE_CONTRAST``), the pixels
    between 10% and 90% of the way from its dark to its bright level. A sharp edge has few."""
    flat = images.flatten(2).float()
    lo, hi = torch.quantile(flat, torch.tensor([0.02, 0.98]), dim=2)  # each N x C
    channel = (hi - lo).argmax(1)
    rows = torch.arange(len(images))
    lo, hi, values = lo[rows, channel], hi[rows, channel], flat[rows, channel]
    judged = (hi - lo) >= EDGE_CONTRAST
    if not judged.any():
        return float("nan")
    level = (values - lo[:, None]) / (hi - lo).clamp_min(1e-8)[:, None]
    mid = ((level > 0.1) & (level < 0.9)).float().mean(1)
    return float(mid[judged].mean())


def box_down(images: torch.Tensor, size: int) -> torch.Tensor:
    """N x C x H x W images averaged over square blocks down to size x size (H a multiple)."""
    return torch.nn.functional.avg_pool2d(images, images.shape[-1] // size)


def size_measures(native: np.ndarray, large: np.ndarray) -> dict[str, float]:
    """How one model's pictures at a large size (N x S x S x C uint8, S a multiple of the native
    size) agree with its native ones (N x s x s x C): the large ones box-filtered down to the
    native size against the native ones (PSNR, dB), and their share of mid-edge pixels against
    the native ones' upscaled bicubically to S (``edge_ratio``: at most 0.25 is edges at least
    four times narrower)."""
    small, big = _floats(native), _floats(large)
    upscaled = _floats(resize(native, large.shape[1]))
    sharp, soft = mid_edge_share(big), mid_edge_share(upscaled)
    return {
        "psnr_across_sizes": psnr(box_down(big, small.shape[-1]), small),
        "mid_edge_share": sharp,
        "mid_edge_share_bicubic": soft,
        "edge_ratio": sharp / soft,
    }


def _floats(pictures: np.ndarray) -> torch.Tensor:
    """N x H x W x C uint8 pictures as N x C x H x W floats in [0, 1]."""
    return torch.from_numpy(pictures).permute(0, 3, 1, 2).float() / 255
