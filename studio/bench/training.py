"""How much the Trainer costs: its steps per second against a bare PyTorch loop.

Both train the same model on the same batches with the same optimisers; the bare loop is the
textbook one written out by hand (sample a batch, compute the loss, backward, step), with none of
the Trainer's reporting, NaN guard or snapshots. The two alternate in rounds so that a busy
machine slows both alike; the ratio is Trainer / bare.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from studio.data import load_dataset
from studio.models import GenerativeModel, build_model
from studio.trainer import Trainer

CASES = {  # case -> (arch, config, dataset, data options, batch size)
    "mlp": ("cppn", {"size": 64}, "image", {"size": 64}, 1),
    "gan": ("dcgan", {}, "glyphs", {"n": 2048}, 64),
    "gan2d": ("gan2d", {}, "toy2d", {"n": 4096}, 256),
    "vae": ("vae", {}, "glyphs", {"n": 2048}, 64),
    "gan-coord": ("gan-coord", {}, "glyphs", {"n": 2048}, 64),
    "vae-coord": ("vae-coord", {}, "glyphs", {"n": 2048}, 64),
}
AGAINST = {"gan-coord": "gan", "vae-coord": "vae"}  # a coordinate network against the conv one


@dataclass
class TrainBenchRow:
    family: str
    arch: str
    batch_size: int
    trainer_steps_per_s: float
    bare_steps_per_s: float

    @property
    def ratio(self) -> float:
        return self.trainer_steps_per_s / self.bare_steps_per_s


def _adam(model: GenerativeModel) -> dict[str, torch.optim.Optimizer]:
    training = model.Training()
    return {
        o.name: training.build(model.parameters_of(o.modules), o.lr) for o in model.objectives()
    }


Step = Callable[[torch.Tensor, dict], None]


def _gan_step(model: GenerativeModel) -> Step:
    d = model.discriminator

    def step(x: torch.Tensor, opts: dict) -> None:
        x = model.to_d_space(x)
        fake = model.generate(torch.randn(x.shape[0], model.latent_dim), None)
        real_logits, fake_logits = d(x), d(fake.detach())
        d_loss = F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        opts["discriminator"].zero_grad()
        d_loss.backward()
        opts["discriminator"].step()
        out = d(fake)
        g_loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        opts["generator"].zero_grad()
        g_loss.backward()
        opts["generator"].step()
        if model.averaging:
            model.update_average()

    return step


def _one_loss_step(model: GenerativeModel) -> Step:
    (objective,) = model.objectives()

    def step(x: torch.Tensor, opts: dict) -> None:
        loss = model.loss_terms(x)[objective.minimises]
        opts[objective.name].zero_grad()
        loss.backward()
        opts[objective.name].step()

    return step


# The baseline is each family's loop as a tutorial writes it, by hand and apart from the
# studio's interface: a new family brings its own here.
TEXTBOOK_STEPS: dict[str, Callable[[GenerativeModel], Step]] = {
    "gan": _gan_step,
    "vae": _one_loss_step,
    "mlp": _one_loss_step,
}


def bare_step(model: GenerativeModel) -> Step:
    """The hand-written step of the model's family."""
    return TEXTBOOK_STEPS[model.family](model)


def _time_bare(model: GenerativeModel, data: torch.Tensor, batch: int, steps: int) -> float:
    step, opts = bare_step(model), _adam(model)
    start = time.perf_counter()
    for _ in range(steps):
        x = data if len(data) <= batch else data[torch.randint(len(data), (batch,))]
        step(x, opts)
    return steps / (time.perf_counter() - start)


def _time_trainer(model: GenerativeModel, data: torch.Tensor, batch: int, steps: int) -> float:
    trainer = Trainer(model, data, steps=steps, batch_size=batch)
    start = time.perf_counter()
    for _ in trainer:
        pass
    return steps / (time.perf_counter() - start)


def measure(family: str, *, steps: int = 40, rounds: int = 3) -> TrainBenchRow:
    arch, config, dataset, options, batch = CASES[family]
    data = load_dataset(dataset, **options).x
    model = build_model(arch, config, seed=0).train()
    _time_bare(model, data, batch, 3)  # warm-up
    trainer_rates, bare_rates = [], []
    for _ in range(rounds):
        trainer_rates.append(_time_trainer(model, data, batch, steps))
        bare_rates.append(_time_bare(model, data, batch, steps))
    return TrainBenchRow(
        family, arch, batch, statistics.median(trainer_rates), statistics.median(bare_rates)
    )


def report(*, as_json: bool = False) -> None:
    """``python -m studio bench --train``: one row per family, on the CPU."""
    rows = [measure(family) for family in CASES]
    if as_json:
        print(json.dumps([dataclasses.asdict(r) | {"ratio": round(r.ratio, 3)} for r in rows]))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu")
    print(
        f"{'family':<9} {'arch':<9} {'batch':>5} {'trainer it/s':>13} {'bare it/s':>10} "
        f"{'ratio':>6}"
    )
    for row in rows:
        print(
            f"{row.family:<9} {row.arch:<9} {row.batch_size:>5} "
            f"{row.trainer_steps_per_s:>13.1f} {row.bare_steps_per_s:>10.1f} {row.ratio:>6.2f}"
        )
    by_family = {row.family: row for row in rows}
    for family, conv in AGAINST.items():
        ours, theirs = by_family[family], by_family[conv]
        print(
            f"{family} / {theirs.arch} at batch {ours.batch_size}: "
            f"{ours.trainer_steps_per_s / theirs.trainer_steps_per_s:.2f}x the steps per second"
        )
