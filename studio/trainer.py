"""The training loop: one small, model-agnostic ``Trainer``.

It runs a model's ``training_step`` for N steps or S seconds, seeded, and yields every step's
loss terms. To keep reporting off the hot path it synchronises with the device only every
``report_every`` steps (or a quarter second): the terms of the steps in between are stacked on
the device and copied to the host in one go. At each of those points it checks that every term
is finite and below ``ABSURD``; at most every ``HEALTH_EVERY_S`` (and at the end) it also checks
the weights, the optimisers' moments and the model's outputs for fixed codes, and if all are
sound keeps a copy of the weights. A run that fails a check is restored to that copy, its
optimisers' moments (as sick as the weights by then) are dropped, and it stops with a plain
message.

On several processes (``studio.distributed``) each takes its share of every batch and of its
noise, and the optimisers step on gradients averaged over all of them: the run is the
one-process run, to float rounding. The processes meet only where every one of them reaches the
same step, every ``report_every`` steps and at the end of a step budget, never on a clock: there
one all-reduce carries the loss terms (averaged, so every process reports the same ones), the
health figures and whether any process wants to finish (its time is up, or Stop was asked), so
that all finish, or diverge, together at the same step.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import NoReturn

import torch

from studio.distributed import Rank, average_gradients_before_step, sum_over_ranks
from studio.errors import StudioError
from studio.models import GenerativeModel
from studio.models.base import TrainingConfig
from studio.models.noise import NoiseShare

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


# A loss term, weight or output this far from zero is a run blowing up, even while finite: the
# zoo's weights stay under 10 and its losses under 1e3, and a 2-D GAN's points at 1e9 are noise.
ABSURD = 1e8
HEALTH_EVERY_S = 0.25
PROBE_CODES = 8  # fixed codes whose outputs the health check draws


def _largest(tensors: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """The largest magnitude in any of the tensors (0 for none), NaN when one holds a NaN."""
    peaks = [t.detach().abs().amax().float() for t in tensors if t.numel()]
    return torch.stack(peaks).amax() if peaks else torch.zeros((), device=device)


class Trainer:
    def __init__(
        self,
        model: GenerativeModel,
        data: torch.Tensor,
        *,
        conditions: torch.Tensor | None = None,
        training: TrainingConfig | None = None,
        steps: int | None = None,
        seconds: float | None = None,
        batch_size: int = 64,
        seed: int = 0,
        device: str | torch.device = "cpu",
        report_every: int = 10,
        start_step: int = 0,
        rank: Rank | None = None,
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
        self.conditions = None if conditions is None else conditions.to(self.device)
        self.steps, self.seconds = steps, seconds
        self.batch_size = batch_size
        self.report_every = report_every
        self.rank = rank or Rank()
        self._rows = self._share_of_batch()
        self.step = start_step
        self._start_step = start_step
        self._stop = threading.Event()
        self._probe = model.codes(PROBE_CODES, 0)
        # The run's own generators: the global RNG is shared with every other thread.
        self.noise = torch.Generator(device=self.device).manual_seed(seed)
        self.sampler = torch.Generator().manual_seed(seed)
        self._noise = self.noise  # what steps draw from: on several processes, a share of it
        self.training = training or model.Training()
        self.optimizers = {
            o.name: self.training.build(model.parameters_of(o.modules), o.lr)
            for o in model.objectives()
        }
        if self.distributed:
            self._noise = NoiseShare(self.noise, self._rows.start, self._batch_rows)
            for optimizer in self.optimizers.values():
                average_gradients_before_step(optimizer, self._weight)
        self._last_good = (self.step, self._snapshot())
        self._last_health = time.perf_counter()

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

    @property
    def distributed(self) -> bool:
        return self.rank.world_size > 1

    @property
    def _batch_rows(self) -> int:
        return min(self.data.shape[0], self.batch_size)

    @property
    def _weight(self) -> float:
        """This process's rows as a share of the batch: its weight in every average."""
        return (self._rows.stop - self._rows.start) / self._batch_rows

    def _share_of_batch(self) -> slice:
        """The rows of each batch this process takes: all of them on one process, on several
        a contiguous share as even as the batch allows."""
        processes = self.rank.world_size
        if self._batch_rows < processes:
            raise StudioError(
                f"{processes} processes need at least {processes} examples a batch, one each; "
                f"this run has {self._batch_rows}"
            )
        bounds = [self._batch_rows * r // processes for r in range(processes + 1)]
        return slice(bounds[self.rank.rank], bounds[self.rank.rank + 1])

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This process's rows of the step's batch, and their conditions where the run has them.
        Every process draws the same indices (the sampler starts from the same seed on each),
        so the shares make up the batch one process would draw, and the sampler's state does
        not depend on how many there are."""
        n = self.data.shape[0]
        if n <= self.batch_size:
            rows: slice | torch.Tensor = self._rows
        else:
            idx = torch.randint(n, (self.batch_size,), generator=self.sampler)
            rows = idx[self._rows].to(self.device)
        return self.data[rows], None if self.conditions is None else self.conditions[rows]

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
            batch, conditions = self._batch()
            terms = self.model.training_step(batch, self.optimizers, self._noise, conditions)
            self.step += 1
            now = time.perf_counter()
            pending.append((self.step, now - start, terms))
            finished = self._progress(now - start) >= 1.0 or self.stopped
            if self._sync_due(finished, len(pending), now - last_sync):
                # On several processes every sync is thorough: whether it is must be agreed.
                thorough = finished or self.distributed or now - self._last_health >= HEALTH_EVERY_S
                finished = yield from self._flush(pending, thorough=thorough, finished=finished)
                pending, last_sync = [], now
                if finished:
                    return

    def _sync_due(self, finished: bool, pending: int, since_sync: float) -> bool:
        """One process syncs at the end, every ``report_every`` steps and every quarter second;
        several only where all reach the same step, and learn there whether to finish."""
        if self.distributed:
            budget_spent = self.steps is not None and self.step - self._start_step >= self.steps
            return pending >= self.report_every or budget_spent
        return finished or pending >= self.report_every or since_sync > 0.25

    def _flush(
        self, pending: list, *, thorough: bool, finished: bool
    ) -> Generator[StepReport, None, bool]:
        """Copy the pending steps' terms (and, ``thorough``, the health figures) to the host in
        one transfer, check them, report them; returns whether the run is finished (on several
        processes: whether any of them is)."""
        keys = list(pending[0][2])
        flat = torch.cat([torch.cat([t[k].reshape(-1).float() for k in keys]) for *_, t in pending])
        health = self._health() if thorough else flat[:0]
        if self.distributed:
            # Terms weighted by share sum to the batch's; health figures (the same weights and
            # moments on every process, but each its own BatchNorm statistics) to their mean,
            # NaN when any is NaN; the last two: how many processes were asked to stop, and how
            # many want to finish (Stop, or their time is up).
            wishes = torch.tensor([float(self.stopped), float(finished)], device=self.device)
            packet = torch.cat([flat * self._weight, health / self.rank.world_size, wishes])
            host = sum_over_ranks(packet).cpu()
            if host[-2] > 0:
                self.stop()  # so that every process's result says it was stopped early
            finished, host = bool(host[-1] > 0), host[:-2]
        else:
            host = torch.cat([flat, health]).cpu()
        values = host[: flat.numel()].view(len(pending), -1)
        self._check(values, [step for step, *_ in pending], host[flat.numel() :].tolist())
        if thorough:
            self._last_good = (self.step, self._snapshot())
            self._last_health = time.perf_counter()
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
        return finished

    @torch.no_grad()
    def _health(self) -> torch.Tensor:
        """The largest magnitude among the weights, the outputs for ``PROBE_CODES`` fixed codes
        and the optimisers' moments: three numbers, still on the device (NaN when any is NaN)."""
        was_training = self.model.training
        self.model.eval()  # eval: a batch-norm layer must not learn from the probe
        try:
            outputs = self.model.decode(self._probe)
        finally:
            self.model.train(was_training)
        moments = [
            value
            for optimizer in self.optimizers.values()
            for state in optimizer.state.values()
            for value in state.values()
            if torch.is_tensor(value) and value.is_floating_point() and value.dim() > 0
        ]
        parts = [list(self.model.parameters()), [outputs], moments]
        return torch.stack([_largest(tensors, self.device) for tensors in parts])

    def _check(self, values: torch.Tensor, steps: list[int], health: list[float]) -> None:
        """Raise TrainingDiverged, restoring the last sound weights, if anything is unsound."""
        sound = torch.isfinite(values) & (values.abs() <= ABSURD)
        if not sound.all():
            row = int((~sound).any(1).nonzero()[0])
            worst = values[row][~sound[row]][0].item()
            what = "became NaN or infinite" if not math.isfinite(worst) else f"reached {worst:.3g}"
            self._diverge(steps[row], f"a loss term {what}")
        if not health:
            return
        weights, outputs, moments = health
        named = [(weights, "the weights"), (outputs, "the model's outputs")]
        for value, name in [*named, (moments, "the optimiser's moments")]:
            if not math.isfinite(value):
                self._diverge(steps[-1], f"{name} became NaN or infinite")
        for value, name in named:  # moments hold squared gradients: large is not yet wrong
            if value > ABSURD:
                self._diverge(steps[-1], f"{name} grew to {value:.3g}")

    def _diverge(self, step: int, what: str) -> NoReturn:
        good_step, weights = self._last_good
        self.model.load_state_dict(weights)
        self.step = good_step
        for optimizer in self.optimizers.values():
            optimizer.state.clear()  # a resumed or continued run starts its moments afresh
        raise TrainingDiverged(
            f"training diverged at step {step}: {what}. The weights from step {good_step} were "
            "kept; try a lower learning rate."
        )

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
        self._last_good = (self.step, self._last_good[1])
        for name, opt in self.optimizers.items():
            sd = opt.state_dict()
            for key, value in state.items():
                parts = key.split(".")
                if parts[0] == "optim" and parts[1] == name:
                    sd["state"].setdefault(int(parts[2]), {})[parts[3]] = value.to(self.device)
            opt.load_state_dict(sd)
