"""How a shipped model is measured: on the CPU with fixed seeds, by the protocol for what it
learned, and its contact sheet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from studio import classifiers, metrics
from studio.checkpoints import ModelCard
from studio.data import load_dataset
from studio.data.toy2d import mode_std, modes
from studio.errors import StudioError
from studio.imaging import grid, scatter
from studio.models import GenerativeModel
from studio.zoo.recipes import ART_BARS

SAMPLES = 2000  # generated and held-out images per Fréchet distance / precision-recall
POINTS = 2500  # generated points for the ring benchmark
SAMPLE_SEED = 0
ART_SIZE = 128  # CPPN art is measured at this resolution; roughness depends on it
ART_SAMPLES = 16
LARGE_SIZE = 512  # a model that draws at any size is compared with itself at this size
LARGE_SAMPLES = 8
FID_NOTE = (
    "Fréchet distance and precision/recall are measured in the feature space of a small "
    "classifier trained in this project on the same dataset (pretrained/metrics/): they rank "
    "models here and are NOT comparable to Inception FID or published numbers."
)


# ---------------------------------------------------------------- measuring


def measure(model: GenerativeModel, card: ModelCard) -> dict[str, Any]:
    """The card's metrics, computed from the weights on the CPU with fixed seeds, by the
    protocol for what the model learned: points (mode coverage), one picture or none (art
    measures), or a set of pictures (classifier features)."""
    model = model.cpu().eval()
    return _protocol(card)(model, card)


def _protocol(card: ModelCard) -> Callable[[GenerativeModel, ModelCard], dict[str, Any]]:
    protocol = {"toy2d": _ring_metrics, "image": _cppn_metrics, None: _cppn_metrics}
    return protocol.get(card.dataset.get("name"), _image_metrics)


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in values.items()}


def _ring_metrics(model: GenerativeModel, card: ModelCard) -> dict[str, Any]:
    shape = card.dataset["options"]["shape"]
    centres = modes(shape)
    if centres is None:
        raise StudioError(f"toy2d '{shape}' has no modes to count")
    points = metrics.generate(model, POINTS, SAMPLE_SEED)
    protocol = {
        "samples": POINTS,
        "sample_seed": SAMPLE_SEED,
        "rule": "high quality: within 3 std of the nearest mode (Metz et al. 2017); a mode is "
        "covered when it holds at least a quarter of its fair share (n/8) of them",
    }
    return {"protocol": protocol} | _rounded(
        metrics.mode_coverage(points, centres, mode_std(shape))
    )


def _cppn_metrics(model: GenerativeModel, card: ModelCard) -> dict[str, Any]:
    with torch.inference_mode():
        art = model.render(model.codes(ART_SAMPLES, SAMPLE_SEED), ART_SIZE, ART_SIZE)
    protocol = {
        "samples": ART_SAMPLES,
        "sample_seed": SAMPLE_SEED,
        "size": ART_SIZE,
        "rule": "contrast: each sample's per-channel pixel std; roughness: its mean absolute "
        "difference between neighbouring pixels over that std (white noise ~1.13); the worst "
        "sample of each is reported. Art presets must be neither flat nor noise: "
        + ", ".join(map(str, ART_BARS)),
    }
    measured = metrics.art_measures(art)
    if card.dataset:
        target = load_dataset("image", **card.dataset["options"]).x
        with torch.inference_mode():
            size = target.shape[-1]
            drawn = model.render(torch.zeros(1, model.latent_dim), size, size)
        measured["psnr"] = metrics.psnr(drawn, target)
        protocol["psnr"] = "of the render at z = 0 against the target, in dB"
    return {"protocol": protocol} | _rounded(measured)


def _image_metrics(model: GenerativeModel, card: ModelCard) -> dict[str, Any]:
    name, options = card.dataset["name"], card.dataset["options"]
    classifier, classifier_card = classifiers.classifier_for(name, options)
    real_a = classifiers.held_out(name, options, SAMPLES, 0)
    real_b = classifiers.held_out(name, options, SAMPLES, 1)
    baseline = metrics.pixel_gaussian_baseline(
        load_dataset(name, **options).x, SAMPLES, SAMPLE_SEED
    )
    samples = metrics.generate(model, SAMPLES, SAMPLE_SEED)
    measured = metrics.sample_quality(samples, classifier, real_a.x, real_b.x, baseline)
    protocol = {
        "samples": SAMPLES,
        "sample_seed": SAMPLE_SEED,
        "held_out": {"seeds": list(classifiers.HELD_OUT_SEEDS), "n": SAMPLES},
        "classifier": classifier_card.id,
        "classifier_sha256": classifier_card.sha256,
        "k": 3,
        "note": FID_NOTE,
        "fd": "fd_real_vs_real: held-out set A vs B (the floor); fd_samples: samples vs B; "
        "fd_baseline: independent per-pixel Gaussians with the training data's mean and "
        "variance, clipped to [0, 1], vs B",
    }
    if model.encodes:
        measured |= metrics.vae_evidence(model, real_a.x, SAMPLE_SEED)
        recon = metrics.reconstructions(model, real_a.x)
        labels = classifiers.classifier_labels(classifier_card, real_a)
        measured["recon_accuracy"] = classifiers.classifier_accuracy(classifier, recon, labels)
        measured["real_accuracy"] = classifiers.classifier_accuracy(classifier, real_a.x, labels)
        protocol["elbo"] = (
            f"on held-out set A, one posterior draw per image; {model.config.likelihood} "
            "likelihood on pixel values in [0, 1], so a bound for comparing models here, not a "
            "discrete likelihood: nats per image, bits/dim = -ELBO / (C*H*W ln 2)"
        )
        protocol["recon_accuracy"] = (
            "the classifier's accuracy on decode(mu(x)) of held-out set A; real_accuracy is its "
            "accuracy on the images themselves"
        )
    if model.any_size:
        measured |= _size_metrics(model)
        protocol["sizes"] = (
            f"{LARGE_SAMPLES} samples drawn at {LARGE_SIZE} px and at the native size: "
            "psnr_across_sizes is the large ones box-filtered down against the native ones (dB); "
            "edge_ratio is the large ones' share of mid-edge pixels (10-90% of the way from "
            "dark to bright in the channel of widest range) over that of the native ones "
            "upscaled bicubically"
        )
    return {"protocol": protocol} | _rounded(measured)


def _size_metrics(model: GenerativeModel) -> dict[str, float]:
    z = model.codes(LARGE_SAMPLES, SAMPLE_SEED)
    with torch.inference_mode():
        return metrics.size_measures(model.draw(z), model.draw(z, LARGE_SIZE))


def contact_sheet(model: GenerativeModel, card: ModelCard) -> np.ndarray:
    """An 8x8 grid of samples; for 2-D points, the samples over the real data."""
    model = model.cpu().eval()
    if card.dataset.get("name") == "toy2d":
        points = metrics.generate(model, POINTS, SAMPLE_SEED).numpy()
        real = classifiers.held_out("toy2d", card.dataset["options"], POINTS)
        return scatter(points, real=real.x.numpy(), size=512)
    with torch.inference_mode():
        return grid(model.draw(model.codes(64, SAMPLE_SEED)), columns=8)


LARGE_SHEET = (256, 16)  # a model that draws at any size: 16 samples at 256 px beside its sheet
POSTER = 2048  # and one of them as a poster


def large_pictures(model: GenerativeModel, card: ModelCard) -> dict[str, np.ndarray]:
    """For a model that learned a set of pictures and draws at any size, what its sheet at the
    native size cannot show: its first samples at 256 px (4 x 4) and the first as a 2048 px
    poster, keyed by the file suffix they ship under; for any other model, nothing."""
    if not (model.any_size and _protocol(card) is _image_metrics):
        return {}
    model = model.cpu().eval()
    size, count = LARGE_SHEET
    z = model.codes(count, SAMPLE_SEED)
    with torch.inference_mode():
        return {
            f"-{size}": grid(model.draw(z, size), columns=4),
            f"-{POSTER}": model.draw(z[:1], POSTER)[0],
        }
