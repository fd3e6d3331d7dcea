"""What a training run shows while it learns: the sample strip and, for an image GAN, how varied
its samples are, which the loss panel's mode-collapse alarm reads.

Drawn by the process that trains, between steps, since only it can read the weights without a
race; ``studio.background`` sends the result to the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from studio import classifiers, metrics
from studio.errors import StudioError
from studio.models import GenerativeModel
from studio.train import TrainSpec, load_training_data

PREVIEW_TILE_PX = 128
DIVERSITY_SAMPLES = 64  # 2,016 pairs: enough to tell one picture from a few from many
DIVERSITY_SEED = 1  # the fixed z whose samples are compared (the strip's is PREVIEW_SEED)


@dataclass(frozen=True)
class LivePreview:
    picture: np.ndarray  # the sample strip, H x W x 3 uint8
    near_duplicates: float | None  # metrics.near_duplicate_share of a fixed z's samples


class LivePreviewer:
    """The sample strip and, for an image GAN, the share of near-duplicate pairs among
    ``DIVERSITY_SAMPLES`` samples from a fixed z, in the shipped feature classifier's space when
    one was trained on this kind of data (else in pixels), against the run's own examples.

    A few milliseconds every few seconds, on the thread that owns the weights; nothing here
    draws from the global RNG (the classifier is loaded without initialising weights).
    """

    def __init__(self, spec: TrainSpec) -> None:
        self.spec = spec
        self._features: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._real: torch.Tensor | None = None  # the examples' features: the same every call

    def __call__(self, model: GenerativeModel, examples: torch.Tensor) -> LivePreview:
        return LivePreview(sample_strip(model, examples), self.near_duplicates(model, examples))

    def near_duplicates(self, model: GenerativeModel, examples: torch.Tensor) -> float | None:
        """None for what is not an image GAN: points, a VAE, a CPPN fitting one picture."""
        if model.family != "gan" or len(model.data_shape) != 3:
            return None
        if self._features is None or self._real is None:
            self._features = feature_space(self.spec)
            self._real = self._features(examples[:DIVERSITY_SAMPLES].float().cpu())
        samples = model.decode(model.codes(DIVERSITY_SAMPLES, DIVERSITY_SEED)).float().cpu()
        return metrics.near_duplicate_share(self._features(samples), self._real)


def feature_space(spec: TrainSpec) -> Callable[[torch.Tensor], torch.Tensor]:
    """The features of the classifier trained on this run's kind of data, else the pixels."""
    if any(recipe.dataset == spec.dataset for recipe in classifiers.CLASSIFIERS.values()):
        data = load_training_data(spec, spec.model_config)  # the run's own, from the memo
        try:
            return classifiers.classifier_for(data.name, data.options)[0].features
        except StudioError:
            pass  # none fits these options (or none is installed): pixels will do
    return lambda x: x.flatten(1)


def sample_strip(model: GenerativeModel, examples: torch.Tensor) -> np.ndarray:
    """The model's preview (``GenerativeModel.preview``), small samples upscaled (nearest) to
    about ``PREVIEW_TILE_PX`` so their pixels stay crisp."""
    return upscale(model.preview(examples), max(1, PREVIEW_TILE_PX // model.native_size))


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """H x W x C uint8 enlarged by a whole factor (nearest), gray made RGB for the browser."""
    image = image.repeat(factor, 0).repeat(factor, 1)
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
