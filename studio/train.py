"""Training jobs: a run's recipe (``TrainSpec``) and ``run_training``, which turns it into a
checkpoint with its card. The loop itself is ``studio.trainer.Trainer``; the app runs the same
job in a process of its own (``studio.background``).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from studio.checkpoints import (
    ModelCard,
    check_id,
    find_card,
    load_checkpoint,
    model_lock,
    read_card,
    read_training_state,
    save_checkpoint,
    sweep_stale,
    user_models_dir,
)
from studio.data import Dataset, load_dataset
from studio.data.folder import skipped_note
from studio.device import pick_device
from studio.distributed import Rank, process_group, rank_device
from studio.errors import StudioError
from studio.models import GenerativeModel, arch_for, build_model, model_class
from studio.models.base import config_from_dict
from studio.models.coordinates import CoordinateDrawing
from studio.trainer import StepReport, Trainer, TrainingDiverged

# ---------------------------------------------------------------- recipes and jobs

UNSYNCED_BATCH_NORM = (
    "BatchNorm was not synchronised across processes: each normalised its own share of the "
    "batch, so this run is not the one-process run to float rounding, and the running "
    "statistics saved are rank 0's. torch's SyncBatchNorm runs only on GPUs, and the studio "
    "does not use it yet."
)


@dataclass
class TrainSpec:
    """Everything needed to reproduce a run; recorded on the model card."""

    family: str
    dataset: str
    data_options: dict[str, Any] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)
    steps: int | None = None
    seconds: float | None = None
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    id: str = ""
    data_path: str | None = None
    processes: int = 1  # each takes 1/processes of every batch (studio.distributed)
    arch: str = ""  # one of the family's architectures for the dataset; "": its first
    steepen: float = 1.0  # a coordinate model's edges made this many times narrower at the start

    @classmethod
    def from_record(cls, train: dict[str, Any]) -> TrainSpec:
        """The spec that a card's ``train`` record (the spec's fields and more) was made from."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in train.items() if k in known})

    @property
    def architecture(self) -> str:
        return arch_for(self.family, self.dataset, self.arch)

    def arguments(self) -> list[str]:
        """The ``python -m studio train`` arguments that rerun this recipe."""
        words = ["--model", self.family, "--dataset", self.dataset]
        if self.arch:
            words += ["--arch", self.arch]
        if self.data_path:
            words += ["--data", self.data_path]
        for flag, options in (("--data-option", self.data_options), ("--set", self.model_config)):
            for key, value in options.items():
                words += [flag, f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
        words += ["--steps", str(self.steps)] if self.steps else ["--seconds", f"{self.seconds:g}"]
        words += ["--batch-size", str(self.batch_size), "--seed", str(self.seed)]
        if self.device != "auto":
            words += ["--device", self.device]
        if self.processes > 1:
            words += ["--processes", str(self.processes)]
        if self.steepen != 1:
            words += ["--steepen", f"{self.steepen:g}"]
        if self.id:
            words += ["--id", self.id]
        return words

    def command(self) -> str:
        """The CLI line that reruns this recipe."""
        return f"python -m studio train {shlex.join(self.arguments())}"


def resumed_spec(card: ModelCard, given: dict[str, Any]) -> TrainSpec:
    """The run that resumes ``card``'s model: its recorded recipe, less its budget and id, with
    ``given``'s fields instead. Given options join the recorded ones; another dataset comes
    without the recorded data's options and path. A recorded steepening is done: it is not
    done again."""
    recorded = TrainSpec.from_record(card.train)
    same_data = given.get("dataset", recorded.dataset) == recorded.dataset
    return dataclasses.replace(
        recorded,
        **{"arch": card.arch, "data_path": recorded.data_path if same_data else None}
        | given
        | {
            "data_options": (recorded.data_options if same_data else {})
            | given.get("data_options", {}),
            "model_config": recorded.model_config | given.get("model_config", {}),
            "steps": given.get("steps"),
            "seconds": given.get("seconds"),
            "id": given.get("id", ""),
            "processes": 1,
            "steepen": given.get("steepen", 1.0),
        },
    )


@dataclass
class RunResult:
    card: ModelCard
    card_path: Path | None  # where the model is; None when no save anywhere worked
    reports: list[StepReport]
    stopped_early: bool
    error: str | None = None  # why training ended early (it diverged)
    save_error: str | None = None  # why the model is not where it was asked to go, and where it is


def load_training_data(spec: TrainSpec, model_config: dict[str, Any]) -> Dataset:
    options = dict(spec.data_options)
    for key in ("size", "channels"):
        if key in model_config:
            options.setdefault(key, model_config[key])
    return load_dataset(spec.dataset, seed=spec.seed, path=spec.data_path, **options)


def model_config_for(spec: TrainSpec, data: Dataset) -> dict[str, Any]:
    """The spec's config, with image size and channels (and, for a conditional model, the
    number of classes) taken from the data unless set."""
    config = dict(spec.model_config)
    if data.is_image:
        config.setdefault("channels", int(data.x.shape[1]))
        config.setdefault("size", int(data.x.shape[-1]))
    if model_class(spec.architecture).conditional and data.class_names:
        config.setdefault("classes", len(data.class_names))
    return config


def default_id(spec: TrainSpec) -> str:
    return f"{spec.family}-{spec.dataset}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def run_training(
    spec: TrainSpec,
    *,
    out_dir: Path | None = None,
    on_report: Callable[[StepReport], None] | None = None,
    trainer_ready: Callable[[Trainer], None] | None = None,
    resume: str | None = None,
    overwrite: bool = True,
    on_notice: Callable[[str], None] | None = None,
    rank: Rank | None = None,
) -> RunResult:
    """Train the recipe and save the model (also when stopped early or diverged).

    With ``resume`` (a model id or path), continue that run from its checkpoint and training
    state for the spec's budget; the result replaces it unless the spec names a new id. Without
    ``overwrite``, an id that already names a model in the folder is refused, unless it is the
    one being resumed. The id is checked, and locked against other runs, before any work starts.

    What the user should know but that stops nothing (pictures skipped, optimiser moments
    dropped) goes to ``on_notice`` as it is found and onto the card's notes. A save that fails
    (a full or read-only disk) leaves any earlier model as it was and keeps the run in a
    temporary folder: ``RunResult.save_error`` says so and where.

    ``rank``: this process's place in a run on several (``studio.distributed``); each runs this
    same job, and only rank 0 locks the id and saves (its ``RunResult.card_path``; the others'
    is None). Every process reads the data and the checkpoint it resumes from itself.
    """
    rank = rank or Rank()
    base_path = find_card(resume) if resume else None
    base_card = read_card(base_path) if base_path else None
    if base_card and base_card.family != spec.family:
        raise StudioError(
            f"'{base_card.id}' is a {base_card.family}: --model {spec.family} cannot resume it"
        )
    arch = spec.architecture  # a family that cannot train this way is said before any work
    if spec.steepen != 1 and not issubclass(model_class(arch), CoordinateDrawing):
        raise StudioError(
            f"--steepen narrows the edges of a model drawn at any size (gan-coord, vae-coord), "
            f"not of {arch}"
        )
    folder = Path(out_dir) if out_dir else user_models_dir()
    spec = dataclasses.replace(
        spec,
        id=check_id(spec.id or (base_card.id if base_card else default_id(spec))),
        processes=rank.world_size,
    )
    notices: list[str] = []

    def notice(text: str) -> None:
        notices.append(text)
        if on_notice:
            on_notice(text)

    with model_lock(folder, spec.id) if rank.writes else nullcontext():
        if rank.writes:
            sweep_stale(folder)
        card_path = folder / f"{spec.id}.json"
        continues_itself = base_path is not None and base_path.resolve() == card_path.resolve()
        if card_path.exists() and not (overwrite or continues_itself):
            raise StudioError(
                f"there is already a model called '{spec.id}' in {folder}; pick another name, "
                f"replace it (--overwrite) or continue it (--resume {spec.id})"
            )
        data = load_training_data(spec, spec.model_config)
        if data.problems:
            notice(f"{data.options['source']}: {skipped_note(data.problems, len(data))}")
        if base_path is not None:
            model, _ = load_checkpoint(base_path)
            state = _sound_moments(read_training_state(base_path, base_card), spec.id, notice)
            recorded = base_card.train.get("training", {})
        else:
            model_cls = model_class(arch)
            config, _ = model_cls.split_settings(model_config_for(spec, data))
            model = build_model(model_cls.arch, config, seed=spec.seed)
            state, recorded = None, {}
        check_data_fits(model, data)
        built, asked = model.split_settings(spec.model_config)
        if base_path is None:
            model.adapt_to(data)
        else:
            _refuse_rebuilding(model, built, spec.id)
        if spec.steepen != 1:
            model.steepen(spec.steepen)
        training = config_from_dict(model.Training, recorded | asked)
        device = rank_device(rank, pick_device(spec.device))
        if rank.world_size > 1 and any(isinstance(m, _BatchNorm) for m in model.modules()):
            notice(UNSYNCED_BATCH_NORM)
        with process_group(rank, device):
            trainer = Trainer(
                model,
                data.x,
                conditions=model.conditions(data),
                training=training,
                steps=spec.steps,
                seconds=spec.seconds,
                batch_size=spec.batch_size,
                seed=spec.seed,
                device=device,
                rank=rank,
            )
            if state is not None:
                trainer.load_training_state(state)
            if trainer_ready:
                trainer_ready(trainer)
            reports: list[StepReport] = []
            error = None
            start = time.perf_counter()
            try:
                for report in trainer:
                    reports.append(report)
                    if on_report:
                        on_report(report)
            except TrainingDiverged as err:
                error = str(err)
            wall = time.perf_counter() - start
        card = ModelCard(
            id=spec.id,
            arch=model.arch,
            family=model.family,
            config={},
            dataset={"name": data.name, "options": data.options},
            train=dataclasses.asdict(spec)
            | {
                "training": dataclasses.asdict(training),
                "objectives": [dataclasses.asdict(o) for o in model.objectives()],
            },
            seed=spec.seed,
            steps=trainer.step,
            wall_time_s=round(wall + (base_card.wall_time_s if base_card else 0.0), 3),
            device=str(device),
            command=spec.command(),
            final_terms=_final_terms(reports),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            notes=" ".join([*notices, *([error] if error else [])]),
        )
        model.eval()
        if not rank.writes:
            return RunResult(card, None, reports, trainer.stopped, error)
        saved, save_error = _save(model, card, folder, trainer.training_state())
    return RunResult(card, saved, reports, trainer.stopped, error, save_error)


def _refuse_rebuilding(model: GenerativeModel, asked: dict[str, Any], model_id: str) -> None:
    """A resumed run trains the network it resumes: a config option asked of it that would
    build another one is refused, where it would be quietly dropped."""
    built = dataclasses.asdict(model.config)
    wanted = dataclasses.asdict(config_from_dict(type(model.config), built | asked))
    changed = [f"{k}={built[k]} (asked {asked[k]})" for k in asked if wanted[k] != built[k]]
    if changed:
        raise StudioError(
            f"'{model_id}' was built with {', '.join(changed)}, which a resumed run cannot "
            "change; train a new model for that"
        )


def _sound_moments(
    state: dict[str, torch.Tensor], model_id: str, notice: Callable[[str], None]
) -> dict[str, torch.Tensor]:
    """The saved training state, less its optimiser moments when a diverged run left none or
    non-finite ones (resuming with those diverges at once); ``notice`` says so."""
    moments = [v for k, v in state.items() if k.startswith("optim.")]
    if moments and all(torch.isfinite(v).all() for v in moments):
        return state
    notice(
        f"'{model_id}' resumes with fresh optimiser moments: its last run diverged, so the "
        "moments it ended with were not kept."
    )
    return {k: v for k, v in state.items() if not k.startswith("optim.")}


def _save(
    model: GenerativeModel, card: ModelCard, folder: Path, training_state: dict[str, torch.Tensor]
) -> tuple[Path | None, str | None]:
    """Save into ``folder``; when that fails (a full or read-only disk), into a new folder under
    the system's temporary folder. Where the run is (None: nowhere), and what went wrong."""
    try:
        return save_checkpoint(model, card, folder, training_state=training_state), None
    except OSError as err:
        why = (
            f"could not save '{card.id}' in {folder} ({err.strerror or err}); nothing there changed"
        )
    aside = None
    try:
        aside = Path(tempfile.mkdtemp(prefix=f"latent-studio-{card.id}-"))
        card_path = save_checkpoint(model, card, aside, training_state=training_state)
    except (OSError, StudioError) as err:
        if aside:
            shutil.rmtree(aside, ignore_errors=True)
        reason = getattr(err, "strerror", None) or err
        return (
            None,
            f"{why}, and the run could not be kept in {tempfile.gettempdir()} either ({reason})",
        )
    return card_path, f"{why}. The run is kept in {aside}: move its files into {folder} later"


def _final_terms(reports: list[StepReport], window: int = 20) -> dict[str, float]:
    """The mean of each term over the last steps: one step's value is too noisy to record."""
    tail = reports[-window:]
    if not tail:
        return {}
    return {k: round(sum(r.terms[k] for r in tail) / len(tail), 6) for k in tail[0].terms}


def check_data_fits(model: GenerativeModel, data: Dataset) -> None:
    shape = tuple(data.x.shape[1:])
    if shape != model.data_shape:
        raise StudioError(
            f"the data's examples have shape {shape} but a {model.arch} model learns from "
            f"{model.data_shape}: {_shape_words(model.data_shape)}"
        )
    if model.conditional and len(data.class_names) != model.config.classes:
        raise StudioError(
            f"a {model.arch} model draws {model.config.classes} classes, and {data.name} has "
            f"{len(data.class_names)}: train it on data with as many"
        )


def _shape_words(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return "2-D points (toy2d)"
    return "images of (channels, height, width)"
