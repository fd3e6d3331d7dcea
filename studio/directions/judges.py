"""Judges: what a picture shows, read back from its pixels, for the factors a dataset knows.

A judge turns pictures (N x C x H x W in [0, 1]) into readings, one column per factor. The
continuous ones are measured directly: a shape's size, position and hue from the moments of
its foreground; a glyph's weight and slant from the moments and edges of its ink. The class of
a picture (which shape, which character) comes from the feature classifier trained on the same
data (``studio.classifiers``), read as log-odds so that it moves smoothly. The same judge labels
a GAN's samples when its directions are found and scores every direction's step when they are
measured; ``verify`` checks it against the true factors of fresh labelled data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from studio.classifiers import FeatureNet, classifier_for, classifier_index, held_out
from studio.data import Dataset, data_classes, glyphs, shapes
from studio.data.shapes import BACKGROUND
from studio.errors import StudioError

CHUNK = 500  # pictures per classifier pass
EDGE = 0.5  # a pixel at least half covered is the shape's; a GAN's faint speckle is not


@dataclass(frozen=True)
class Factor:
    """One continuous factor a dataset knows: its direction's name and how to explain it."""

    name: str  # a direction's name: a short word, as ``--move NAME=AMOUNT`` takes it
    meaning: str  # what moving along it does, in a few words


SHAPE_FACTORS = (
    Factor("size", "smaller → larger"),
    Factor("x", "left → right"),
    Factor("y", "up → down"),
    Factor("hue-red", "cyan → red (the cosine of the hue)"),
    Factor("hue-lime", "violet → lime (the sine of the hue)"),
)
GLYPH_FACTORS = (
    Factor("weight", "light → bold (stroke thickness)"),
    Factor("slant", "upright → leaning right"),
)


@dataclass(frozen=True)
class Classes:
    """What a dataset's classes are called, as a set and as directions."""

    title: str  # the set: "kind of shape"
    prefix: str  # a direction's name is prefix + class: "star", "char-A" (a glyph 'x' is not x)


SHAPE_CLASSES = Classes(shapes.CLASS_TITLE, "")
GLYPH_CLASSES = Classes(glyphs.CLASS_TITLE, "char-")


@dataclass
class Judge:
    """Reads a dataset's factors from pictures: continuous factors, then one log-odds per class."""

    dataset: str
    factors: tuple[Factor, ...]
    classes: Classes
    class_names: tuple[str, ...]
    classifier: FeatureNet
    options: dict

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    @torch.inference_mode()
    def read(self, pictures: torch.Tensor) -> np.ndarray:
        """N x (continuous factors + classes) readings of pictures N x C x H x W in [0, 1]."""
        pictures = pictures.float().cpu()
        measured = _MEASURES[self.dataset](pictures)
        logits = torch.cat([self.classifier(chunk)[0] for chunk in pictures.split(CHUNK)])
        log_p = torch.log_softmax(logits.double(), 1)
        log_odds = log_p - torch.log((-torch.expm1(log_p)).clamp_min(1e-300))  # log p - log(1 - p)
        return np.concatenate([measured.double().numpy(), log_odds.numpy()], axis=1)

    def truth(self, data: Dataset) -> np.ndarray:
        """The same columns from labelled data's own factors: continuous, then one-hot classes."""
        if self.dataset == "shapes":
            hue = data.factors["hue"].double() * 2 * math.pi
            columns = [data.factors[k].double() for k in ("size", "x", "y")]
            columns += [torch.cos(hue), torch.sin(hue)]
        else:
            columns = [data.factors[k].double() for k in ("weight", "slant")]
        labels = data.labels if self.class_names == data.class_names else None
        if labels is None:
            raise StudioError(f"the judge's classes differ from this {data.name} data's")
        onehot = torch.nn.functional.one_hot(labels, len(self.class_names)).double()
        return torch.cat([torch.stack(columns, 1), onehot], 1).numpy()

    def verify(self, n: int = 2000) -> dict[str, float]:
        """How well it reads fresh labelled data: the correlation of each continuous reading with
        its true factor, and the classifier's accuracy."""
        data = held_out(self.dataset, self.options, n, which=1)
        readings, truth = self.read(data.x), self.truth(data)
        k = len(self.factors)
        scores = {
            f.name: round(float(np.corrcoef(readings[:, i], truth[:, i])[0, 1]), 3)
            for i, f in enumerate(self.factors)
        }
        predicted = readings[:, k:].argmax(1)
        scores["class accuracy"] = round(float((predicted == truth[:, k:].argmax(1)).mean()), 3)
        return scores


def knows_factors(dataset: str) -> bool:
    return dataset in _MEASURES


def judge_for(dataset: str, options: dict) -> Judge:
    """The judge of a model trained on ``dataset`` with ``options``; a StudioError for data
    whose factors no one knows (toy points, a folder of pictures, one image)."""
    if not knows_factors(dataset):
        raise StudioError(f"{dataset} data has no known factors to name directions by")
    net, card = classifier_for(dataset, options)
    names = data_classes(dataset, options).names
    classifier_index(card, names, dataset)  # refuses classes the classifier cannot label
    if dataset == "shapes":
        return Judge(dataset, SHAPE_FACTORS, SHAPE_CLASSES, names, net, dict(options))
    return Judge(dataset, GLYPH_FACTORS, GLYPH_CLASSES, names, net, dict(options))


# ---------------------------------------------------------------- measures from pixels


def _grid(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel centres as fractions of the side: u across (1 x 1 x W), v down (1 x H x 1)."""
    centres = (torch.arange(side, dtype=torch.float32) + 0.5) / side
    return centres.view(1, 1, -1), centres.view(1, -1, 1)


def _moments(weight: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Mass, centroid (u, v) and central second moments (uu, vv, uv) of N x H x W weights."""
    u, v = _grid(weight.shape[-1])
    mass = weight.sum((1, 2)).clamp_min(1e-6)
    cu, cv = (weight * u).sum((1, 2)) / mass, (weight * v).sum((1, 2)) / mass
    du, dv = u - cu.view(-1, 1, 1), v - cv.view(-1, 1, 1)
    uu, vv = (weight * du * du).sum((1, 2)) / mass, (weight * dv * dv).sum((1, 2)) / mass
    uv = (weight * du * dv).sum((1, 2)) / mass
    return mass, cu, cv, uu, vv, uv


def measure_shapes(pictures: torch.Tensor) -> torch.Tensor:
    """N x 5: size (the radius of the circle around the centroid that holds the shape, as the
    data defines it), centroid x and y, and the cosine and sine of the foreground's mean hue.

    A shapes picture is the background blended with one colour by the shape's coverage, so a
    pixel's distance from the background, over the image's largest, is its coverage; a pixel
    covered c reaches about (c - 1/2) pixels beyond its centre, which gives the radius below a
    pixel's size.
    """
    if pictures.shape[1] != 3:
        raise StudioError("the shapes judge reads colour pictures")
    side = pictures.shape[-1]
    distance = (pictures - torch.tensor(BACKGROUND).view(1, 3, 1, 1)).norm(dim=1)
    coverage = distance / distance.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1)
    _, cu, cv, *_ = _moments(coverage)
    u, v = _grid(side)
    reach = torch.hypot(u - cu.view(-1, 1, 1), v - cv.view(-1, 1, 1)) + (coverage - 0.5) / side
    size = (reach * (coverage > EDGE)).flatten(1).amax(1)
    inside = (coverage > 0.5).float().unsqueeze(1)
    colour = (pictures * inside).sum((2, 3)) / inside.sum((2, 3)).clamp_min(1)
    r, g, b = colour.unbind(1)
    hue = torch.atan2(math.sqrt(3) * (g - b), 2 * r - g - b)  # the hexagonal hue, as an angle
    return torch.stack([size, cu, cv, torch.cos(hue), torch.sin(hue)], 1)


def measure_glyphs(pictures: torch.Tensor) -> torch.Tensor:
    """N x 2: weight (the strokes' mean thickness in pixels: twice the ink's area over the
    length of its edges) and slant (how far the ink's x moves per unit of height, from its
    second moments: > 0 leans right)."""
    ink = pictures.mean(1)
    mass, _, _, _, vv, uv = _moments(ink)
    edges = (ink[:, 1:, :] - ink[:, :-1, :]).abs().sum((1, 2))
    edges = edges + (ink[:, :, 1:] - ink[:, :, :-1]).abs().sum((1, 2))
    weight = 2 * mass / edges.clamp_min(1e-6)
    slant = -uv / vv.clamp_min(1e-6)  # v grows downwards: a right lean pairs high v with low u
    return torch.stack([weight, slant], 1)


_MEASURES = {"shapes": measure_shapes, "glyphs": measure_glyphs}
