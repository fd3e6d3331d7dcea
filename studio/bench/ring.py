"""Does the ring-of-8 GAN find every mode and keep them? ``python -m studio.bench.ring``.

Two ways the studio trains the ring, each as it really runs:

* ``cli``: ``python -m studio train --model gan --dataset toy2d`` with every default (the
  model's config and training config, the CLI's batch size), in the Trainer's own loop;
* ``classroom``: the Classroom's healthy preset in the page's loop (train for ``TRAIN_S``, then
  build and draw a frame), so its seconds are the audience's seconds.

Each run is judged from outside, with ``metrics.ring_coverage`` on ``SAMPLES`` points from a
fixed z (the zoo's protocol): at fixed step counts, which are the same on any machine, and at
wall-clock seconds, which are not (on two shared cores they are noisy: the load average is
printed). "Held" is the share of once-a-second readings at 8/8 over the last third of the time
budget: below 100% the count flickers. For the Classroom it also gives the share of frames whose
on-screen counts (``GanReadout``'s, a stricter rule, for the live G and for the average of its
weights) read 8/8 over that third. The judge reads the model's drawing generator: the average
of G's weights where the model keeps one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from studio import metrics
from studio.classroom import HEALTHY, TRAIN_S, GanLab, draw_gan
from studio.data.toy2d import modes
from studio.models import GenerativeModel, build_model
from studio.train import TrainSpec, load_training_data, model_config_for
from studio.trainer import Trainer

SAMPLES = 2500
SAMPLE_SEED = 0
ENDLESS = 10**12
SECONDS = (10.0, 30.0, 60.0)
STEPS = {"cli": (1000, 2000, 4000, 6000), "classroom": (500, 1000, 2000, 4000)}
SEEDS = 5
RING = modes("ring8")


def judge(model: GenerativeModel) -> dict:
    """``metrics.ring_coverage`` of ``SAMPLES`` points drawn from a fixed z."""
    return metrics.ring_coverage(metrics.generate(model, SAMPLES, SAMPLE_SEED), RING)


@dataclass
class Reading:
    step: int
    seconds: float
    modes: int
    on_mode_share: float


@dataclass
class RingRun:
    """One seed's run: the judge at the probe steps and seconds, and once a second."""

    seed: int
    at_step: dict[int, Reading] = field(default_factory=dict)
    at_seconds: dict[float, Reading] = field(default_factory=dict)
    every_second: list[Reading] = field(default_factory=list)
    # (seconds, modes on screen: the live G's, the average's) at every Classroom frame
    shown: list[tuple[float, int, int]] = field(default_factory=list)

    def held(self, budget_s: float) -> float:
        """The share of once-a-second readings at 8/8 over the last third of the budget."""
        tail = [r.modes == len(RING) for r in self.every_second if r.seconds >= budget_s * 2 / 3]
        return sum(tail) / max(1, len(tail))

    def shown_held(self, budget_s: float, column: int) -> float:
        """The share of frames whose on-screen count (1: the live G's, 2: the average's) reads
        8/8 over the last third of the budget."""
        tail = [row[column] == len(RING) for row in self.shown if row[0] >= budget_s * 2 / 3]
        return sum(tail) / max(1, len(tail))


class _Probes:
    """Reads the judge when a run passes a probe step, a probe second or a whole second."""

    def __init__(self, run: RingRun, steps: Sequence[int], seconds: Sequence[float]) -> None:
        self.run, self.steps, self.seconds = run, sorted(steps), sorted(seconds)
        self._next_second = 1.0

    @property
    def done(self) -> bool:
        return not self.steps and not self.seconds

    @property
    def next_step(self) -> int | None:
        return self.steps[0] if self.steps else None

    def after(self, model: GenerativeModel, step: int, elapsed: float) -> None:
        reading: Reading | None = None

        def read() -> Reading:
            nonlocal reading
            if reading is None:
                counted = judge(model)
                reading = Reading(step, elapsed, counted["modes_covered"], counted["on_mode_share"])
            return reading

        while self.steps and step >= self.steps[0]:
            self.run.at_step[self.steps.pop(0)] = read()
        while self.seconds and elapsed >= self.seconds[0]:
            self.run.at_seconds[self.seconds.pop(0)] = read()
        if elapsed >= self._next_second:
            self.run.every_second.append(read())
            self._next_second = int(elapsed) + 1.0


def cli_run(seed: int, steps: Sequence[int], seconds: Sequence[float]) -> RingRun:
    """``python -m studio train --model gan --dataset toy2d --seed SEED`` in the Trainer's loop,
    built as ``run_training`` builds it; reporting every step so that a probe step's reading is
    of that step's weights (a sync per step: a little slower than the CLI's every tenth)."""
    spec = TrainSpec(family="gan", dataset="toy2d", seed=seed)
    data = load_training_data(spec, spec.model_config)
    model = build_model(spec.architecture, model_config_for(spec, data), seed=seed)
    trainer = Trainer(
        model, data.x, steps=ENDLESS, batch_size=spec.batch_size, seed=seed, report_every=1
    )
    run = RingRun(seed)
    probes = _Probes(run, steps, seconds)
    for report in trainer:
        probes.after(model, report.step, report.elapsed)
        if probes.done:
            break
    return run


def classroom_run(seed: int, steps: Sequence[int], seconds: Sequence[float]) -> RingRun:
    """The healthy preset in the Classroom page's loop: train for ``TRAIN_S`` (stopping at a
    probe step), then build the frame and draw it, as the page does between redraws."""
    lab = GanLab(dataclasses.replace(HEALTHY, seed=seed))
    run = RingRun(seed)
    probes = _Probes(run, steps, seconds)
    start = time.perf_counter()
    while not probes.done:
        to_probe = probes.next_step - lab.steps if probes.next_step else ENDLESS
        lab.train_for(TRAIN_S, max_steps=to_probe)
        frame = lab.frame()
        draw_gan(frame)
        elapsed = time.perf_counter() - start
        r = frame.readout
        run.shown.append((elapsed, r.modes_covered, r.average_modes_covered))
        probes.after(lab.model, lab.steps, elapsed)
    return run


SETUPS: dict[str, Callable[[int, Sequence[int], Sequence[float]], RingRun]] = {
    "cli": cli_run,
    "classroom": classroom_run,
}


# ---------------------------------------------------------------- the report


def _row(label: str, readings: list[Reading], *, timed: bool = False) -> str:
    modes_ = " ".join(str(r.modes) for r in readings)
    share = sum(r.on_mode_share for r in readings) / len(readings)
    steps = " ".join(str(r.step) for r in readings) if timed else ""
    return f"| {label} | {modes_} | {share:.1%} | {steps} |"


def report(setup: str, runs: list[RingRun], steps: Sequence[int], seconds: Sequence[float]) -> str:
    """A Markdown table: modes per seed and the mean share of samples on a mode, by probe."""
    budget = max(seconds)
    lines = [
        f"**{setup}** (seeds {', '.join(str(r.seed) for r in runs)})",
        "",
        "| at | modes per seed | on a mode | steps reached |",
        "|---|---|---|---|",
    ]
    lines += [_row(f"step {n}", [r.at_step[n] for r in runs]) for n in steps]
    lines += [_row(f"{s:g} s", [r.at_seconds[s] for r in runs], timed=True) for s in seconds]
    held = " ".join(f"{r.held(budget):.0%}" for r in runs)
    lines.append(f"| 8/8 held, last third | {held} | | |")
    if all(r.shown for r in runs):
        for column, whose in ((1, "live G"), (2, "averaged G")):
            shown = " ".join(f"{r.shown_held(budget, column):.0%}" for r in runs)
            lines.append(f"| 8/8 on screen ({whose}), last third | {shown} | | |")
    return "\n".join(lines)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.bench.ring", description=__doc__)
    parser.add_argument("--setups", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    parser.add_argument("--seeds", type=int, default=SEEDS, help="seeds 0 .. N-1")
    parser.add_argument("--seconds", type=float, nargs="+", default=SECONDS)
    parser.add_argument("--steps", type=int, nargs="+", help="default: per setup, STEPS")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {_load()}\n")
    for setup in args.setups:
        steps = args.steps or STEPS[setup]
        runs = [SETUPS[setup](seed, steps, args.seconds) for seed in range(args.seeds)]
        print(report(setup, runs, steps, args.seconds))
        print(f"\n{_load()}\n", flush=True)


if __name__ == "__main__":
    main()
