"""The pretrained zoo: every shipped model's recipe in one table, and the commands that keep
the shipped files honest.

    python -m studio zoo rebuild [ID]   retrain (or redraw) from the recipe, measure, draw the sheet
    python -m studio zoo verify [ID]    sha256, render, recompute the metrics, check the quality bars

Each model ships as ``pretrained/<id>.safetensors`` + ``<id>.json`` (its card, with the metrics
below) + ``<id>.png`` (a contact sheet: an 8x8 grid of samples, or for the ring GAN its samples
over the real data). The feature classifiers the image metrics need live in
``pretrained/metrics/``. Every measurement runs on the CPU with fixed seeds, so ``verify``
recomputes the card's numbers to within ``REL_TOLERANCE`` / ``ABS_TOLERANCE``.
"""

from __future__ import annotations

import argparse
import operator
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from studio import metrics
from studio.checkpoints import ModelCard, load_checkpoint, save_checkpoint
from studio.data import load_dataset
from studio.data.toy2d import mode_std, modes
from studio.errors import StudioError
from studio.imaging import grid, scatter
from studio.models import GenerativeModel, build_model
from studio.paths import PRETRAINED_DIR, atomic_write_bytes, atomic_write_text
from studio.recipe import to_png
from studio.train import TrainSpec, run_training

SAMPLES = 2000  # generated and held-out images per Fréchet distance / precision-recall
POINTS = 2500  # generated points for the ring benchmark
SAMPLE_SEED = 0
ART_SIZE = 128  # CPPN art is measured at this resolution; roughness depends on it
ART_SAMPLES = 16
REL_TOLERANCE = 0.02  # verify: |recomputed - card| <= REL * |card| + ABS, for every metric
ABS_TOLERANCE = 1e-3
SHEET_TOLERANCE = 1.0  # verify: mean absolute difference of a redrawn sheet, in grey levels
TOLERANCE_NOTE = (
    f"zoo verify recomputes every metric on the CPU and accepts |recomputed - card| <= "
    f"{REL_TOLERANCE:g} * |card| + {ABS_TOLERANCE:g}"
)
FID_NOTE = (
    "Fréchet distance and precision/recall are measured in the feature space of a small "
    "classifier trained in this project on the same dataset (pretrained/metrics/): they rank "
    "models here and are NOT comparable to Inception FID or published numbers."
)

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
    art: dict[str, Any] = field(default_factory=dict)  # CPPN config of an untrained preset
    seed: int = 0
    bars: tuple[Bar, ...] = ()

    @property
    def command(self) -> str:
        return self.spec.command() if self.spec else f"python -m studio zoo rebuild {self.id}"


FD_BAR = Bar("fd_ratio_to_baseline", "<=", 0.2)
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
    **options: Any,
) -> Entry:
    data_options = options.pop("data_options", {})
    spec = TrainSpec(
        family=family,
        dataset=dataset,
        data_options=data_options,
        model_config=options,
        steps=steps,
        batch_size=batch_size,
        seed=0,
        id=id,
    )
    return Entry(id=id, title=title, why=why, spec=spec, bars=bars)


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
            data_options={"n": 50000},
            bars=(FD_BAR,),
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
            # pinned: trained before the ring GAN's defaults moved to no momentum and an average
            beta1=0.5,
            beta2=0.999,
            ema=0.0,
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
    return [*(f"classifier-{name}" for name in metrics.CLASSIFIERS), *ZOO]


def entry(model_id: str) -> Entry:
    try:
        return ZOO[model_id]
    except KeyError:
        known = ", ".join(all_ids())
        raise StudioError(f"'{model_id}' is not in the zoo; choose one of {known}") from None


def _classifier_name(model_id: str) -> str | None:
    name = model_id.removeprefix("classifier-")
    return name if name != model_id and name in metrics.CLASSIFIERS else None


# ---------------------------------------------------------------- measuring


def measure(model: GenerativeModel, card: ModelCard) -> dict[str, Any]:
    """The card's metrics, computed from the weights on the CPU with fixed seeds, by the
    protocol for what the model learned: points (mode coverage), one picture or none (art
    measures), or a set of pictures (classifier features)."""
    model = model.cpu().eval()
    protocol = {"toy2d": _ring_metrics, "image": _cppn_metrics, None: _cppn_metrics}
    return protocol.get(card.dataset.get("name"), _image_metrics)(model, card)


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
    classifier, classifier_card = metrics.classifier_for(name, options)
    real_a = metrics.held_out(name, options, SAMPLES, 0)
    real_b = metrics.held_out(name, options, SAMPLES, 1)
    baseline = metrics.pixel_gaussian_baseline(
        load_dataset(name, **options).x, SAMPLES, SAMPLE_SEED
    )
    samples = metrics.generate(model, SAMPLES, SAMPLE_SEED)
    measured = metrics.sample_quality(samples, classifier, real_a.x, real_b.x, baseline)
    protocol = {
        "samples": SAMPLES,
        "sample_seed": SAMPLE_SEED,
        "held_out": {"seeds": list(metrics.HELD_OUT_SEEDS), "n": SAMPLES},
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
        labels = metrics.classifier_labels(classifier_card, real_a)
        measured["recon_accuracy"] = metrics.classifier_accuracy(classifier, recon, labels)
        measured["real_accuracy"] = metrics.classifier_accuracy(classifier, real_a.x, labels)
        protocol["elbo"] = (
            f"on held-out set A, one posterior draw per image; {model.config.likelihood} "
            "likelihood on pixel values in [0, 1], so a bound for comparing models here, not a "
            "discrete likelihood: nats per image, bits/dim = -ELBO / (C*H*W ln 2)"
        )
        protocol["recon_accuracy"] = (
            "the classifier's accuracy on decode(mu(x)) of held-out set A; real_accuracy is its "
            "accuracy on the images themselves"
        )
    return {"protocol": protocol} | _rounded(measured)


def contact_sheet(model: GenerativeModel, card: ModelCard) -> np.ndarray:
    """An 8x8 grid of samples; for 2-D points, the samples over the real data."""
    model = model.cpu().eval()
    if card.dataset.get("name") == "toy2d":
        points = metrics.generate(model, POINTS, SAMPLE_SEED).numpy()
        real = metrics.held_out("toy2d", card.dataset["options"], POINTS)
        return scatter(points, real=real.x.numpy(), size=512)
    with torch.inference_mode():
        return grid(model.draw(model.codes(64, SAMPLE_SEED)), columns=8)


# ---------------------------------------------------------------- rebuild


def rebuild(model_id: str, folder: Path = PRETRAINED_DIR, *, measure_only: bool = False) -> Path:
    """Retrain (or redraw) a model from its recipe, measure it and draw its contact sheet.

    With ``measure_only`` the weights stay as they are; only the metrics and sheet are redone.
    A classifier id (``classifier-glyphs``) retrains that feature classifier instead; the
    image models measured with it then need ``measure_only`` rebuilds.
    """
    name = _classifier_name(model_id)
    if name:
        if measure_only:
            raise StudioError("--measure-only is for models; a classifier is simply retrained")
        return metrics.save_classifier(*metrics.train_classifier(metrics.CLASSIFIERS[name]))
    e = entry(model_id)
    card_path = Path(folder) / f"{e.id}.json"
    if not measure_only:
        if e.spec:
            result = run_training(e.spec, out_dir=Path(folder))
            if result.error:
                raise StudioError(f"{e.id}: {result.error}")
        else:
            _draw_art(e, Path(folder))
    model, card = load_checkpoint(card_path)
    card.title, card.notes = e.title, e.why
    card.metrics = measure(model, card)
    card.metrics["protocol"] |= {"bars": [str(bar) for bar in e.bars], "tolerance": TOLERANCE_NOTE}
    atomic_write_bytes(sheet_path(card_path), to_png(contact_sheet(model, card)))
    atomic_write_text(card_path, card.to_json())
    return card_path


def _draw_art(e: Entry, folder: Path) -> None:
    model = build_model("cppn", e.art)
    model.reset_parameters(torch.Generator().manual_seed(e.seed))
    card = ModelCard(
        id=e.id,
        arch=model.arch,
        family=model.family,
        config={},
        seed=e.seed,
        steps=0,
        device="cpu",
        command=e.command,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    save_checkpoint(model.eval(), card, folder)


def sheet_path(card_path: Path) -> Path:
    return card_path.with_suffix(".png")


# ---------------------------------------------------------------- verify


@dataclass
class Check:
    """What ``verify`` found for one model or classifier; no problems means it passed."""

    id: str
    problems: list[str] = field(default_factory=list)
    measured: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def within_tolerance(measured: float, recorded: float) -> bool:
    return abs(measured - recorded) <= REL_TOLERANCE * abs(recorded) + ABS_TOLERANCE


def compare_metrics(recorded: dict[str, Any], measured: dict[str, Any]) -> list[str]:
    """A line for each scalar metric on the card that the recomputation does not reproduce."""
    problems = []
    for key, value in recorded.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if key not in measured:
            problems.append(f"{key} is on the card but was not recomputed")
        elif not within_tolerance(measured[key], value):
            problems.append(f"{key} recomputes to {measured[key]:.6g}, the card says {value:.6g}")
    return problems


def verify_model(e: Entry, folder: Path = PRETRAINED_DIR) -> Check:
    """Load (sha256, tensor names, shapes, finiteness), re-measure, redraw, check the bars."""
    start = time.perf_counter()
    check = Check(e.id)
    card_path = Path(folder) / f"{e.id}.json"
    try:
        model, card = load_checkpoint(card_path)
        check.measured = measure(model, card)
        sheet = contact_sheet(model, card)
    except StudioError as err:
        check.problems.append(str(err))
        return check
    if card.command != e.command:
        check.problems.append(f"the card's command is not the zoo recipe's: {card.command}")
    recorded_sha = card.metrics.get("protocol", {}).get("classifier_sha256")
    if recorded_sha and recorded_sha != check.measured["protocol"]["classifier_sha256"]:
        check.problems.append("the metrics were measured with another feature classifier")
    check.problems += compare_metrics(card.metrics, check.measured)
    check.problems += [
        f"quality bar {bar} not met: {check.measured[bar.metric]:.4g}"
        for bar in e.bars
        if not bar.holds(check.measured)
    ]
    check.problems += _compare_sheet(sheet_path(card_path), sheet)
    check.seconds = time.perf_counter() - start
    return check


def _compare_sheet(path: Path, drawn: np.ndarray) -> list[str]:
    try:
        with Image.open(path) as image:
            shipped = np.asarray(image.convert("RGB" if drawn.shape[-1] == 3 else "L"))
    except OSError:
        return [f"the contact sheet {path.name} is missing or unreadable"]
    shipped = shipped.reshape(shipped.shape[0], shipped.shape[1], -1)
    if shipped.shape != drawn.shape:
        return [f"the contact sheet {path.name} is {shipped.shape}, a redraw is {drawn.shape}"]
    difference = float(np.abs(shipped.astype(np.float64) - drawn).mean())
    if difference > SHEET_TOLERANCE:
        return [f"a redraw differs from {path.name} by {difference:.2f} grey levels on average"]
    return []


def verify_classifier(name: str) -> Check:
    """Load a feature classifier (sha256 checked) and re-measure its held-out accuracy."""
    start = time.perf_counter()
    check = Check(f"classifier-{name}")
    try:
        net, card = metrics.load_classifier(name)
    except StudioError as err:
        check.problems.append(str(err))
        return check
    test = metrics.held_out(card.dataset, card.data_options, card.held_out["n"])
    check.measured = {"accuracy": round(metrics.classifier_accuracy(net, test.x, test.labels), 4)}
    check.problems += compare_metrics({"accuracy": card.held_out["accuracy"]}, check.measured)
    check.seconds = time.perf_counter() - start
    return check


def verify(ids: list[str] | None = None, folder: Path = PRETRAINED_DIR) -> list[Check]:
    """Check the named models (default: the classifiers, then every model in the zoo)."""
    checks = []
    for model_id in ids or all_ids():
        name = _classifier_name(model_id)
        checks.append(verify_classifier(name) if name else verify_model(entry(model_id), folder))
    return checks


# ---------------------------------------------------------------- the command line

HEADLINE = (
    "fd_ratio_to_baseline",
    "precision",
    "recall",
    "recon_accuracy",
    "bits_per_dim",
    "modes_covered",
    "high_quality_share",
    "contrast_min",
    "roughness_max",
    "psnr",
    "accuracy",
)


def cmd_rebuild(args: argparse.Namespace) -> int:
    ids = [args.id] if args.id else all_ids()
    for model_id in ids:
        start = time.perf_counter()
        path = rebuild(model_id, measure_only=args.measure_only)
        print(f"rebuilt {model_id} in {time.perf_counter() - start:.0f} s: {path}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    checks = verify(args.ids)
    for check in checks:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in check.measured.items() if k in HEADLINE)
        print(f"{'ok  ' if check.ok else 'FAIL'} {check.id:<16} {check.seconds:5.1f} s  {shown}")
        for problem in check.problems:
            print(f"       {problem}")
    failed = sum(not c.ok for c in checks)
    print(
        f"{len(checks) - failed} of {len(checks)} passed" + (f", {failed} failed" if failed else "")
    )
    return 1 if failed else 0


def add_parser(commands: argparse._SubParsersAction) -> None:
    """``python -m studio zoo rebuild [ID]`` and ``zoo verify [ID ...]``."""
    zoo = commands.add_parser("zoo", help="rebuild or verify the pretrained models")
    actions = zoo.add_subparsers(dest="zoo_command", required=True, metavar="ACTION")
    rebuild_parser = actions.add_parser(
        "rebuild", help="retrain a model from its recipe (default: all), measure it, draw its sheet"
    )
    rebuild_parser.add_argument("id", nargs="?", help="a zoo id or classifier-<name>")
    rebuild_parser.add_argument(
        "--measure-only",
        action="store_true",
        help="keep the weights; redo only the metrics and the sheet",
    )
    rebuild_parser.set_defaults(handler=cmd_rebuild)
    verify_parser = actions.add_parser(
        "verify", help="check sha256, render, recompute the metrics and the quality bars"
    )
    verify_parser.add_argument("ids", nargs="*", metavar="ID", help="default: all")
    verify_parser.set_defaults(handler=cmd_verify)
