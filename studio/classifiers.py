"""The small feature classifiers the image metrics need, trained here on the studio's own data
(``pretrained/metrics/``): their recipes, training, cards and loading, and the held-out data
they and the metrics are measured on."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from studio.checkpoints import Card, check_weights, read_weights, weights_path, write_checkpoint
from studio.data import Dataset, load_dataset
from studio.errors import StudioError
from studio.paths import PRETRAINED_DIR

CHUNK = 500  # images per forward pass when measuring


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
        "recipe to studio.classifiers.CLASSIFIERS and run `python -m studio zoo rebuild "
        "classifier-<name>`"
    )


def classifier_accuracy(net: FeatureNet, x: torch.Tensor, labels: torch.Tensor) -> float:
    return float((net.predict(x) == labels).double().mean())


def classifier_index(card: ClassifierCard, class_names: Sequence[str], data: str) -> torch.Tensor:
    """The classifier's index of each of a data set's classes (a digits-only glyph set's are a
    subset of the classifier's alphanumerics); a StudioError where it knows no such class."""
    missing = [c for c in class_names if c not in card.class_names]
    if missing:
        raise StudioError(f"{card.id} cannot label this {data} data (classes {missing})")
    return torch.tensor([card.class_names.index(c) for c in class_names])


def classifier_labels(card: ClassifierCard, data: Dataset) -> torch.Tensor:
    """A dataset's labels as the classifier's class indices."""
    if data.labels is None:
        raise StudioError(f"{card.id} cannot label this {data.name} data (it has no classes)")
    return classifier_index(card, data.class_names, data.name)[data.labels]
