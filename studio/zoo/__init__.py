"""The pretrained zoo: every shipped model's recipe in one table, and the commands that keep
the shipped files honest.

    python -m studio zoo rebuild [ID]   retrain (or redraw) from the recipe, measure, draw the sheet
    python -m studio zoo rebuild ID --continue   train the steps the run already there lacks
    python -m studio zoo verify [ID]    sha256, render, recompute the metrics, check the quality bars

Each model ships as ``pretrained/<id>.safetensors`` + ``<id>.json`` (its card, with the metrics
below) + ``<id>.png`` (a contact sheet: an 8x8 grid of samples, or for the ring GAN its samples
over the real data); a GAN or VAE that draws at any size also ships ``<id>-256.png`` (16 of its
samples at 256 px) and ``<id>-2048.png`` (the first as a poster). The feature classifiers the image metrics need live in
``pretrained/metrics/``. Every measurement runs on the CPU with fixed seeds, so ``verify``
recomputes the card's numbers to within ``REL_TOLERANCE`` / ``ABS_TOLERANCE``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from studio import classifiers
from studio.checkpoints import ModelCard, load_checkpoint, read_card, save_checkpoint
from studio.cli import TrainingProgress, stop_on_interrupt
from studio.errors import StudioError
from studio.models import build_model
from studio.paths import PRETRAINED_DIR, atomic_write_bytes, atomic_write_text
from studio.recipe import to_png
from studio.train import TrainSpec, run_training
from studio.trainer import Trainer
from studio.zoo.measure import contact_sheet, large_pictures, measure
from studio.zoo.recipes import ZOO, Entry, all_ids, classifier_name, entry

__all__ = ["ZOO", "all_ids", "entry", "measure", "rebuild", "verify"]

REL_TOLERANCE = 0.02  # verify: |recomputed - card| <= REL * |card| + ABS, for every metric
ABS_TOLERANCE = 1e-3
SHEET_TOLERANCE = 1.0  # verify: mean absolute difference of a redrawn sheet, in grey levels
TOLERANCE_NOTE = (
    f"zoo verify recomputes every metric on the CPU and accepts |recomputed - card| <= "
    f"{REL_TOLERANCE:g} * |card| + {ABS_TOLERANCE:g}"
)

# ---------------------------------------------------------------- rebuild


def rebuild(
    model_id: str,
    folder: Path = PRETRAINED_DIR,
    *,
    measure_only: bool = False,
    continued: bool = False,
    progress: TrainingProgress | None = None,
    trainer_ready: Callable[[Trainer], None] | None = None,
) -> Path:
    """Retrain (or redraw) a model from its recipe, measure it and draw its contact sheet.

    With ``measure_only`` the weights stay as they are; only the metrics and sheet are redone.
    With ``continued`` the model in ``folder`` must be a shorter run of the recipe, with its
    training state beside it: only the steps it lacks are trained, since a resumed run is the
    straight run step for step. A classifier id (``classifier-glyphs``) retrains that feature
    classifier instead; the image models measured with it then need ``measure_only`` rebuilds.
    ``progress`` shows the training steps. ``trainer_ready`` is handed the trainer before its
    first step: stopped there (the command line's Ctrl-C), the shorter run is saved and
    measured like a finished one, and ``continued`` takes it on later.
    """
    name = classifier_name(model_id)
    if name:
        if measure_only or continued:
            raise StudioError("a classifier is simply retrained, neither measured nor continued")
        return classifiers.save_classifier(
            *classifiers.train_classifier(classifiers.CLASSIFIERS[name])
        )
    e = entry(model_id)
    if continued and not e.spec:
        raise StudioError(f"{e.id} is drawn from a seed, not trained: there is nothing to continue")
    card_path = Path(folder) / f"{e.id}.json"
    if not measure_only:
        if e.spec:
            _train(e, card_path, continued, progress, trainer_ready)
        else:
            _draw_art(e, Path(folder))
    model, card = load_checkpoint(card_path)
    card.title, card.notes = e.title, e.why
    if e.spec:  # the card of the last run says the whole recipe, and the stretch it ended
        card.command = e.command
        card.train |= asdict(_stretch_at(e, card.steps))
    card.metrics = measure(model, card)
    card.metrics["protocol"] |= {"bars": [str(bar) for bar in e.bars], "tolerance": TOLERANCE_NOTE}
    atomic_write_bytes(sheet_path(card_path), to_png(contact_sheet(model, card)))
    for suffix, picture in large_pictures(model, card).items():
        atomic_write_bytes(card_path.with_name(f"{e.id}{suffix}.png"), to_png(picture))
    atomic_write_text(card_path, card.to_json())
    return card_path


def _train(
    e: Entry,
    card_path: Path,
    continued: bool,
    progress: TrainingProgress | None,
    trainer_ready: Callable[[Trainer], None] | None,
) -> None:
    """Train the stretches of ``e``'s recipe that the model at ``card_path`` lacks (all of them
    unless ``continued``); a stretch stopped before its end stops the rebuild there."""

    def ready(trainer: Trainer) -> None:
        for hook in (progress.start if progress else None, trainer_ready):
            if hook:
                hook(trainer)

    for spec, resume in _runs_left(e, card_path, _steps_done(e, card_path) if continued else 0):
        try:
            result = run_training(
                spec,
                out_dir=card_path.parent,
                resume=resume,
                on_report=progress,
                trainer_ready=ready,
            )
        finally:
            if progress:
                progress.close()
        if result.error:
            raise StudioError(f"{e.id}: {result.error}")
        if result.stopped_early:
            return


def _runs_left(e: Entry, card_path: Path, done: int) -> list[tuple[TrainSpec, str | None]]:
    """(spec, model to resume) for each run that takes the model from ``done`` steps to the
    end of ``e``'s recipe: the rest of the stretch it is in, then each stretch after it. A
    stretch already begun has had its steepening."""
    runs = []
    for start, end, stretch in _spans(e):
        if done < end:
            begun = max(done, start)
            spec = replace(
                stretch, steps=end - begun, steepen=stretch.steepen if done <= start else 1.0
            )
            runs.append((spec, str(card_path) if begun else None))
    return runs


def _stretch_at(e: Entry, steps: int) -> TrainSpec:
    """The stretch of ``e``'s recipe that a model trained ``steps`` steps ended in."""
    return next((stretch for _, end, stretch in _spans(e) if steps <= end), e.stretches[-1])


def _spans(e: Entry) -> Iterator[tuple[int, int, TrainSpec]]:
    """(first step, last step, spec) of each stretch of ``e``'s recipe, in turn."""
    end = 0
    for stretch in e.stretches:
        start, end = end, end + stretch.steps
        yield start, end, stretch


def _steps_done(e: Entry, card_path: Path) -> int:
    """The steps of the shorter run of ``e``'s recipe at ``card_path``; anything else is refused."""
    card = read_card(card_path)
    ran = TrainSpec.from_record(card.train)
    stretch = _stretch_at(e, card.steps)
    if replace(ran, steps=stretch.steps) != stretch or card.steps >= e.steps:
        raise StudioError(
            f"{e.id}: the model in {card_path.parent} is not a shorter run of its recipe "
            f"({card.steps} steps of '{card.command}'); rebuild it without --continue"
        )
    return card.steps


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
        net, card = classifiers.load_classifier(name)
    except StudioError as err:
        check.problems.append(str(err))
        return check
    test = classifiers.held_out(card.dataset, card.data_options, card.held_out["n"])
    check.measured = {
        "accuracy": round(classifiers.classifier_accuracy(net, test.x, test.labels), 4)
    }
    check.problems += compare_metrics({"accuracy": card.held_out["accuracy"]}, check.measured)
    check.seconds = time.perf_counter() - start
    return check


def verify(ids: list[str] | None = None, folder: Path = PRETRAINED_DIR) -> list[Check]:
    """Check the named models (default: the classifiers, then every model in the zoo)."""
    checks = []
    for model_id in ids or all_ids():
        name = classifier_name(model_id)
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
    """Rebuild each model asked; Ctrl-C stops the one training after its step, saves it as a
    shorter run that ``--continue`` takes on, and rebuilds no more."""
    ids = [args.id] if args.id else all_ids()
    for model_id in ids:
        start = time.perf_counter()
        progress = TrainingProgress(sys.stderr)
        with stop_on_interrupt(progress.write) as watch:
            path = rebuild(
                model_id,
                measure_only=args.measure_only,
                continued=args.continued,
                progress=progress,
                trainer_ready=watch,
            )
        print(f"rebuilt {model_id} in {time.perf_counter() - start:.0f} s: {path}")
        e = ZOO.get(model_id)  # None: a classifier
        if e and e.spec and (steps := read_card(path).steps) < e.steps:
            print(
                f"stopped at step {steps:,} of {e.steps:,}: "
                f"python -m studio zoo rebuild {model_id} --continue takes it on"
            )
            break
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
