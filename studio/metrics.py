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

Everything runs on the CPU in float32 (float64 for the covariance maths), seeded, so a
recomputation on the same weights gives the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from studio.checkpoints import Card, check_weights, read_weights, weights_path, write_checkpoint
from studio.data import Dataset, load_dataset
from studio.errors import StudioError
from studio.models import GenerativeModel
from studio.models.vae import VAE, gaussian_kl_per_dim
from studio.paths import PRETRAINED_DIR

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


# ---------------------------------------------------------------- the feature classifier


class FeatureNet(nn.Module):
    """A small convnet: three stride-2 convolutions, one hidden layer (the features), two heads.

    The class head names the glyph or the shape; the optional factor head regresses
    standardised factors (a shape's size, position and hue), so that the features also see
    what a class label ignores and a Fréchet distance on them notices a wrong colour.
    """

    def __init__(
        self,
        *,
        channels: int,
        classes: int,
        factors: int = 0,
        width: int = 16,
        features: int = 128,
        size: int = 32,
    ) -> None:
        super().__init__()
        widths = [channels, width, 2 * width, 4 * width]
        blocks: list[nn.Module] = []
        for cin, cout in zip(widths, widths[1:], strict=False):
            blocks += [nn.Conv2d(cin, cout, 4, 2, 1), nn.ReLU()]
        self.body = nn.Sequential(
            *blocks, nn.Flatten(1), nn.Linear(widths[-1] * (size // 8) ** 2, features), nn.ReLU()
        )
        self.classify = nn.Linear(features, classes)
        self.regress = nn.Linear(features, factors) if factors else None

    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default initialisation of every layer, drawn from ``generator`` in the order
        the layers were built: what ``torch.manual_seed(seed)`` then ``FeatureNet(...)`` gives,
        without touching the global RNG that other threads share."""
        with torch.no_grad():
            for layer in self.modules():
                if isinstance(layer, nn.Conv2d | nn.Linear):
                    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                    bound = 1 / math.sqrt(layer.weight[0].numel())  # 1 / sqrt(fan_in)
                    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.body(x)
        return self.classify(h), None if self.regress is None else self.regress(h)

    @torch.inference_mode()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (N x features) for images N x C x H x W in [0, 1]."""
        return torch.cat([self.body(chunk) for chunk in x.split(CHUNK)])

    @torch.inference_mode()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self(chunk)[0].argmax(1) for chunk in x.split(CHUNK)])


@dataclass
class ClassifierRecipe:
    """How a feature classifier is trained; its data is drawn with its own seed."""

    name: str  # its id is classifier-<name>
    dataset: str
    data_options: dict[str, Any] = field(default_factory=dict)
    factors: tuple[str, ...] = ()  # dataset factors to regress; "hue" becomes cos and sin
    n: int = 12_000
    steps: int = 1500
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 100
    width: int = 16
    features: int = 128


CLASSIFIERS: dict[str, ClassifierRecipe] = {
    r.name: r
    for r in (
        ClassifierRecipe("glyphs", "glyphs"),
        # A digits-only set is drawn larger than the digits among 36 characters, so it gets its own.
        ClassifierRecipe("digits", "glyphs", {"charset": "digits"}),
        ClassifierRecipe("shapes", "shapes", factors=("size", "x", "y", "hue"), width=32),
    )
}
CLASSIFIER_DIR = PRETRAINED_DIR / "metrics"
HELD_OUT_SEEDS = (1001, 1002)  # the sets every metric is measured on; models train on seed 0


def data_kind(options: dict[str, Any]) -> dict[str, Any]:
    """A generated set's options less its seed and size: what makes two sets one distribution."""
    return {k: v for k, v in options.items() if k not in ("seed", "n")}


def held_out(dataset: str, options: dict[str, Any], n: int, which: int = 0) -> Dataset:
    """Fresh samples of a generated set that no model or classifier trained on."""
    return load_dataset(dataset, n=n, seed=HELD_OUT_SEEDS[which], **data_kind(options))


def _factor_targets(data: Dataset, names: tuple[str, ...]) -> torch.Tensor:
    columns = []
    for name in names:
        value = data.factors[name].float()
        if name == "hue":  # circular: 0.99 is next to 0.01
            columns += [torch.cos(2 * math.pi * value), torch.sin(2 * math.pi * value)]
        else:
            columns.append(value)
    return torch.stack(columns, dim=1) if columns else torch.zeros(len(data), 0)


@dataclass
class ClassifierCard(Card):
    """The JSON beside a classifier's weights: how to rebuild it and how good it is."""

    id: str
    dataset: str
    data_options: dict[str, Any]  # as the dataset resolved them, less seed and n
    net: dict[str, int]  # FeatureNet's keyword arguments
    class_names: list[str]
    recipe: dict[str, Any]
    held_out: dict[str, Any] = field(default_factory=dict)  # accuracy (and factor R^2)
    wall_time_s: float = 0.0
    torch_version: str = torch.__version__
    sha256: str = ""
    notes: str = ""


def classifier_path(name: str) -> Path:
    return CLASSIFIER_DIR / f"classifier-{name}.json"


def train_classifier(recipe: ClassifierRecipe) -> tuple[FeatureNet, ClassifierCard]:
    """Train a feature classifier (Adam, cosine-decayed) and measure it on held-out data."""
    start = time.perf_counter()
    data = load_dataset(recipe.dataset, n=recipe.n, seed=recipe.seed, **recipe.data_options)
    if data.labels is None:
        raise StudioError(f"{recipe.dataset} has no labels to train a classifier on")
    targets = _factor_targets(data, recipe.factors)
    mean = targets.mean(0)
    std = targets.std(0).clamp_min(1e-6) if recipe.factors else torch.ones(0)
    targets = (targets - mean) / std
    kwargs = {
        "channels": int(data.x.shape[1]),
        "classes": len(data.class_names),
        "factors": int(targets.shape[1]),
        "width": recipe.width,
        "features": recipe.features,
        "size": int(data.x.shape[-1]),
    }
    with torch.device("meta"):  # built without weights, so nothing is drawn from the global RNG
        net = FeatureNet(**kwargs)
    net = net.to_empty(device="cpu")
    # Two streams from the one seed, the weights' and the batches', as the shipped classifiers
    # were trained: retraining a recipe gives back its weights.
    net.reset_parameters(torch.Generator().manual_seed(recipe.seed))
    sampler = torch.Generator().manual_seed(recipe.seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, recipe.steps)
    for _ in range(recipe.steps):
        index = torch.randint(len(data), (recipe.batch_size,), generator=sampler)
        logits, factors = net(data.x[index])
        loss = F.cross_entropy(logits, data.labels[index])
        if factors is not None:
            loss = loss + F.mse_loss(factors, targets[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()

    test = held_out(recipe.dataset, recipe.data_options, 2000)
    scores: dict[str, Any] = {
        "n": len(test),
        "seed": HELD_OUT_SEEDS[0],
        "accuracy": round(classifier_accuracy(net, test.x, test.labels), 4),
    }
    if recipe.factors:
        with torch.inference_mode():
            predicted = net(test.x)[1]
        truth = (_factor_targets(test, recipe.factors) - mean) / std
        r2 = 1 - (predicted - truth).square().mean(0) / truth.var(0)
        scores["factor_r2"] = round(float(r2.mean()), 4)
    card = ClassifierCard(
        id=f"classifier-{recipe.name}",
        dataset=recipe.dataset,
        data_options=data_kind(data.options),
        net=kwargs,
        class_names=list(data.class_names),
        recipe=dataclasses.asdict(recipe),
        held_out=scores,
        wall_time_s=round(time.perf_counter() - start, 1),
        notes="Feature extractor for this project's Fréchet distance and precision/recall; its "
        "numbers are not comparable to Inception FID.",
    )
    return net, card


def save_classifier(net: FeatureNet, card: ClassifierCard) -> Path:
    """Weights and card, written as a model checkpoint is (atomically, the card last)."""
    path = classifier_path(card.id.removeprefix("classifier-"))
    write_checkpoint(path, net, card)
    return path


def load_classifier(name: str) -> tuple[FeatureNet, ClassifierCard]:
    """A shipped feature classifier, its sha256 and tensors checked as a model's are."""
    card = _read_classifier_card(name)
    path = weights_path(classifier_path(name))
    with torch.device("meta"):  # no weights drawn from the global RNG: a training thread may ask
        net = FeatureNet(**card.net)
    tensors = read_weights(path, card.sha256)
    check_weights(net, tensors, path.name)
    net.load_state_dict(tensors, assign=True)
    return net.eval(), card


def _read_classifier_card(name: str) -> ClassifierCard:
    path = classifier_path(name)
    if not path.exists():
        raise StudioError(
            f"no feature classifier '{name}'; `python -m studio zoo rebuild classifier-{name}` "
            "trains one"
        )
    return ClassifierCard.read(path)


def classifier_for(dataset: str, options: dict[str, Any]) -> tuple[FeatureNet, ClassifierCard]:
    """The classifier trained on the same kind of data as a model: same set, same options."""
    for name, recipe in CLASSIFIERS.items():
        if recipe.dataset == dataset and classifier_path(name).exists():
            card = _read_classifier_card(name)
            if card.data_options == data_kind(options):
                return load_classifier(name)
    raise StudioError(
        f"no feature classifier was trained on {dataset} with {data_kind(options)}; add a "
        "recipe to studio.metrics.CLASSIFIERS and run `python -m studio zoo rebuild "
        "classifier-<name>`"
    )


def classifier_accuracy(net: FeatureNet, x: torch.Tensor, labels: torch.Tensor) -> float:
    return float((net.predict(x) == labels).double().mean())


def classifier_labels(card: ClassifierCard, data: Dataset) -> torch.Tensor:
    """A dataset's labels as the classifier's class indices (a digits-only glyph set is a
    subset of the classifier's alphanumerics)."""
    missing = [c for c in data.class_names if c not in card.class_names]
    if data.labels is None or missing:
        raise StudioError(f"{card.id} cannot label this {data.name} data (classes {missing})")
    index = torch.tensor([card.class_names.index(c) for c in data.class_names])
    return index[data.labels]


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
        recon.append(model.log_likelihood(chunk, model.decoder(z)))
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
