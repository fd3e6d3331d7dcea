"""Training: one small, model-agnostic loop, and the job that turns a recipe into a checkpoint.

``Trainer`` runs a model's ``training_step`` for N steps or S seconds, seeded, and yields every
step's loss terms. To keep reporting off the hot path it synchronises with the device only every
``report_every`` steps (or a quarter second): the terms of the steps in between are stacked on
the device and copied to the host in one go. At each of those points it also checks that every
term is finite and, if so, keeps a copy of the weights; a NaN or inf restores that copy and
stops the run with a plain message.

``TrainSpec`` is a run's recipe (model, data, budget, seed) and ``run_training`` turns it into a
checkpoint with its card; ``BackgroundRun`` does the same on a thread and streams the reports
through a queue, for the app.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from studio.checkpoints import (
    ModelCard,
    find_card,
    load_checkpoint,
    save_checkpoint,
    user_models_dir,
)
from studio.data import Dataset, load_dataset
from studio.device import pick_device
from studio.errors import StudioError
from studio.models import GenerativeModel, arch_for, build_model, model_class
from studio.models.base import TrainingConfig, config_from_dict
from studio.paths import atomic_write_bytes

# ---------------------------------------------------------------- the loop


@dataclass
class StepReport:
    step: int  # 1-based count of finished steps
    elapsed: float  # seconds since the run started
    progress: float  # 0..1 of the budget
    terms: dict[str, float]  # the scalar loss terms
    vectors: dict[str, list[float]] = field(default_factory=dict)  # e.g. the VAE's KL per dim


class TrainingDiverged(StudioError):
    pass


class Trainer:
    def __init__(
        self,
        model: GenerativeModel,
        data: torch.Tensor,
        *,
        training: TrainingConfig | None = None,
        steps: int | None = None,
        seconds: float | None = None,
        batch_size: int = 64,
        seed: int = 0,
        device: str | torch.device = "cpu",
        report_every: int = 10,
        start_step: int = 0,
    ) -> None:
        if steps is None and seconds is None:
            raise StudioError("give a budget: a number of steps or of seconds")
        if steps is not None and steps < 1:
            raise StudioError(f"steps must be at least 1, got {steps}")
        if seconds is not None and not (0 < seconds <= 24 * 3600):
            raise StudioError(f"seconds must be between 0 and a day, got {seconds}")
        if batch_size < 1:
            raise StudioError(f"batch size must be at least 1, got {batch_size}")
        self.device = torch.device(device)
        self.model = model.to(self.device).train()
        self.data = data.to(self.device)
        self.steps, self.seconds = steps, seconds
        self.batch_size = batch_size
        self.report_every = report_every
        self.step = start_step
        self._start_step = start_step
        self._stop = threading.Event()
        # The run's own generators: the global RNG is shared with every other thread.
        self.noise = torch.Generator(device=self.device).manual_seed(seed)
        self.sampler = torch.Generator().manual_seed(seed)
        self.training = training or model.Training()
        self.optimizers = {
            o.name: self.training.build(model.parameters_of(o.modules), o.lr)
            for o in model.objectives()
        }
        self._last_good = self._snapshot()

    def retrain_with(self, training: TrainingConfig) -> None:
        """Go on with other learning rates or betas from the next step (the Classroom's sliders);
        the optimisers' moments are kept."""
        if training.optimizer != self.training.optimizer:
            raise StudioError("a run keeps its optimiser; start a new run to change it")
        self.training = training
        for objective in self.model.objectives():
            training.apply(self.optimizers[objective.name], objective.lr)

    def stop(self) -> None:
        """Ask the loop to finish after the current step (safe from any thread)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _batch(self) -> torch.Tensor:
        n = self.data.shape[0]
        if n <= self.batch_size:
            return self.data
        idx = torch.randint(n, (self.batch_size,), generator=self.sampler)
        return self.data[idx.to(self.device)]

    def _progress(self, elapsed: float) -> float:
        done = self.step - self._start_step
        parts = []
        if self.steps is not None:
            parts.append(done / self.steps)
        if self.seconds is not None:
            parts.append(elapsed / self.seconds)
        return min(1.0, max(parts))

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def __iter__(self) -> Iterator[StepReport]:
        start = time.perf_counter()
        last_sync = start
        pending: list[tuple[int, float, dict[str, torch.Tensor]]] = []
        while True:
            terms = self.model.training_step(self._batch(), self.optimizers, self.noise)
            self.step += 1
            now = time.perf_counter()
            pending.append((self.step, now - start, terms))
            finished = self._progress(now - start) >= 1.0 or self.stopped
            if finished or len(pending) >= self.report_every or now - last_sync > 0.25:
                yield from self._flush(pending)
                pending, last_sync = [], now
            if finished:
                return

    def _flush(self, pending: list) -> Iterator[StepReport]:
        """Copy the pending steps' terms to the host in one transfer, check them, report them."""
        keys = list(pending[0][2])
        flat = torch.cat([torch.cat([t[k].reshape(-1).float() for k in keys]) for *_, t in pending])
        values = flat.view(len(pending), -1).cpu()
        if not torch.isfinite(values).all():
            bad_row = int((~torch.isfinite(values)).any(1).nonzero()[0])
            self.model.load_state_dict(self._last_good)
            raise TrainingDiverged(
                f"training diverged at step {pending[bad_row][0]}: a loss term became NaN or "
                "infinite. The weights from before it were kept; try a lower learning rate."
            )
        self._last_good = self._snapshot()
        sizes = [pending[0][2][k].numel() for k in keys]
        for (step, elapsed, terms), row in zip(pending, values.tolist(), strict=True):
            report = StepReport(step, elapsed, self._progress(elapsed), {}, {})
            i = 0
            for key, size in zip(keys, sizes, strict=True):
                if terms[key].ndim == 0:
                    report.terms[key] = row[i]
                else:
                    report.vectors[key] = row[i : i + size]
                i += size
            yield report

    # -- resuming

    def training_state(self) -> dict[str, torch.Tensor]:
        """Optimiser moments and RNG states as flat tensors, so a run can resume exactly."""
        state = {
            "rng.noise": self.noise.get_state(),
            "rng.sampler": self.sampler.get_state(),
            "step": torch.tensor(self.step),
        }
        for name, opt in self.optimizers.items():
            for index, param_state in opt.state_dict()["state"].items():
                for key, value in param_state.items():
                    state[f"optim.{name}.{index}.{key}"] = torch.as_tensor(value).detach().cpu()
        return state

    def load_training_state(self, state: dict[str, torch.Tensor]) -> None:
        noise = state.get("rng.noise")
        if noise is None and self.device.type == "cpu":
            noise = state.get("rng.torch")  # saved before runs had their own noise generator
        if noise is not None:
            self.noise.set_state(noise)
        self.sampler.set_state(state["rng.sampler"])
        self.step = self._start_step = int(state["step"])
        for name, opt in self.optimizers.items():
            sd = opt.state_dict()
            for key, value in state.items():
                parts = key.split(".")
                if parts[0] == "optim" and parts[1] == name:
                    sd["state"].setdefault(int(parts[2]), {})[parts[3]] = value.to(self.device)
            opt.load_state_dict(sd)


# ---------------------------------------------------------------- recipes and jobs


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

    def command(self) -> str:
        """The CLI line that reruns this recipe."""
        parts = ["python -m studio train", f"--model {self.family}", f"--dataset {self.dataset}"]
        if self.data_path:
            parts.append(f"--data {shlex.quote(self.data_path)}")
        for key, value in self.data_options.items():
            parts.append(f"--data-option {shlex.quote(f'{key}={value}')}")
        for key, value in self.model_config.items():
            parts.append(f"--set {shlex.quote(f'{key}={value}')}")
        parts.append(f"--steps {self.steps}" if self.steps else f"--seconds {self.seconds:g}")
        parts += [f"--batch-size {self.batch_size}", f"--seed {self.seed}"]
        if self.device != "auto":
            parts.append(f"--device {self.device}")
        if self.id:
            parts.append(f"--id {self.id}")
        return " ".join(parts)


@dataclass
class RunResult:
    card: ModelCard
    card_path: Path
    reports: list[StepReport]
    stopped_early: bool
    error: str | None = None


def load_training_data(spec: TrainSpec, model_config: dict[str, Any]) -> Dataset:
    options = dict(spec.data_options)
    for key in ("size", "channels"):
        if key in model_config:
            options.setdefault(key, model_config[key])
    return load_dataset(spec.dataset, seed=spec.seed, path=spec.data_path, **options)


def model_config_for(spec: TrainSpec, data: Dataset) -> dict[str, Any]:
    """The spec's config, with image size and channels taken from the data unless set."""
    config = dict(spec.model_config)
    if data.is_image:
        config.setdefault("channels", int(data.x.shape[1]))
        config.setdefault("size", int(data.x.shape[-1]))
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
) -> RunResult:
    """Train the recipe and save the model (also when stopped early or diverged).

    With ``resume`` (a model id or path), continue that run from its checkpoint and training
    state for the spec's budget; the result replaces it unless the spec names a new id.
    """
    data = load_training_data(spec, spec.model_config)
    base_wall = 0.0
    if resume:
        model, base_card = load_checkpoint(resume)
        base_wall = base_card.wall_time_s
        state_path = training_state_path(find_card(resume))
        if not state_path.exists():
            raise StudioError(f"'{base_card.id}' has no saved training state to resume from")
        state = load_file(str(state_path))
        spec = dataclasses.replace(spec, id=spec.id or base_card.id)
        recorded = base_card.train.get("training", {})
    else:
        model_cls = model_class(arch_for(spec.family, spec.dataset))
        config, _ = model_cls.split_settings(model_config_for(spec, data))
        model = build_model(model_cls.arch, config, seed=spec.seed)
        state, recorded = None, {}
    check_data_fits(model, data)
    _, asked = model.split_settings(spec.model_config)
    training = config_from_dict(model.Training, recorded | asked)
    device = pick_device(spec.device)
    trainer = Trainer(
        model,
        data.x,
        training=training,
        steps=spec.steps,
        seconds=spec.seconds,
        batch_size=spec.batch_size,
        seed=spec.seed,
        device=device,
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
    spec = dataclasses.replace(spec, id=spec.id or default_id(spec))
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
        wall_time_s=round(wall + base_wall, 3),
        device=str(device),
        command=spec.command(),
        final_terms=_final_terms(reports),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        notes=error or "",
    )
    model.eval()
    card_path = save_checkpoint(model, card, out_dir)
    atomic_write_bytes(training_state_path(card_path), save(trainer.training_state()))
    return RunResult(card, card_path, reports, trainer.stopped, error)


def _final_terms(reports: list[StepReport], window: int = 20) -> dict[str, float]:
    """The mean of each term over the last steps: one step's value is too noisy to record."""
    tail = reports[-window:]
    if not tail:
        return {}
    return {k: round(sum(r.terms[k] for r in tail) / len(tail), 6) for k in tail[0].terms}


def training_state_path(card_path: Path) -> Path:
    return card_path.with_suffix(".train.safetensors")


def check_data_fits(model: GenerativeModel, data: Dataset) -> None:
    shape = tuple(data.x.shape[1:])
    if shape != model.data_shape:
        raise StudioError(
            f"the data's examples have shape {shape} but a {model.arch} model learns from "
            f"{model.data_shape}: {_shape_words(model.data_shape)}"
        )


def _shape_words(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return "2-D points (toy2d)"
    return "images of (channels, height, width)"


# ---------------------------------------------------------------- background runs (for the app)

BACKGROUND_NICE = 10
PREVIEW_EXAMPLES = 1000  # training examples a preview may show beside the samples


def _lower_thread_priority() -> None:
    """Let the app's threads and the browser win the CPU from a run training beside them.

    Measured on 2 busy cores, a slider move during a run went from 270-310 ms (p50) to
    170-190 ms. Linux schedules threads one by one, so this renices the calling thread only;
    elsewhere it would renice the whole process, so it does nothing there.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


class BackgroundRun:
    """``run_training`` on a daemon thread; reports arrive on ``self.reports`` (a queue).

    With ``preview``, the training thread also calls ``preview(model, examples)`` between steps
    (model in eval mode, under inference mode; ``examples`` the first ``PREVIEW_EXAMPLES`` of the
    training data) every ``preview_every`` seconds and once at the end, and
    keeps the latest result in ``self.preview`` (drawn at step ``self.preview_step``). Only the thread that trains the weights can
    read them without a race, and ``preview`` must not touch the global RNG, so the run stays
    reproducible.
    """

    def __init__(
        self,
        spec: TrainSpec,
        *,
        out_dir: Path | None = None,
        preview: Callable[[GenerativeModel, torch.Tensor], Any] | None = None,
        preview_every: float = 2.0,
    ) -> None:
        self.spec = spec
        self.reports: queue.Queue[StepReport] = queue.Queue()
        self.result: RunResult | None = None
        self.error: str | None = None
        self.preview: Any = None
        self.preview_step = 0  # the step the latest preview was drawn at, set after it
        self._make_preview, self._preview_every = preview, preview_every
        self._last_preview = -float("inf")
        self._trainer: Trainer | None = None
        self._stop_requested = False
        self._thread = threading.Thread(
            target=self._run, kwargs={"out_dir": out_dir or user_models_dir()}, daemon=True
        )

    def start(self) -> BackgroundRun:
        self._thread.start()
        return self

    def _ready(self, trainer: Trainer) -> None:
        self._trainer = trainer
        if self._stop_requested:
            trainer.stop()

    def _run(self, out_dir: Path) -> None:
        _lower_thread_priority()
        try:
            self.result = run_training(
                self.spec, out_dir=out_dir, on_report=self._report, trainer_ready=self._ready
            )
            self.error = self.result.error
            self._publish_preview()
        except StudioError as err:
            self.error = str(err)

    def _report(self, report: StepReport) -> None:
        self.reports.put(report)
        if time.perf_counter() - self._last_preview >= self._preview_every:
            self._publish_preview()

    def _publish_preview(self) -> None:
        if self._make_preview is None or self._trainer is None:
            return
        model, examples = self._trainer.model, self._trainer.data[:PREVIEW_EXAMPLES]
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                self.preview = self._make_preview(model, examples)
            self.preview_step = self._trainer.step
        finally:
            model.train(was_training)
        self._last_preview = time.perf_counter()

    def stop(self) -> None:
        self._stop_requested = True
        if self._trainer:
            self._trainer.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def drain(self) -> list[StepReport]:
        out = []
        while True:
            try:
                out.append(self.reports.get_nowait())
            except queue.Empty:
                return out
