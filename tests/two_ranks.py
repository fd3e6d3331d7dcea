"""One of the two processes of ``tests/test_distributed.py``, started with torchrun's
environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): ``python tests/two_ranks.py OUT`` runs
every in-library case and leaves its results in OUT/rank<RANK>.*. A script of its own, not a
function handed to multiprocessing: a spawned child re-runs the parent's __main__, which a
Streamlit AppTest earlier in the suite replaces.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from studio.data import load_dataset
from studio.distributed import Rank
from studio.models import build_model
from studio.train import TrainSpec, run_training
from studio.trainer import Trainer, TrainingDiverged

STEPS = 20
BATCH = 32
CASES = {  # arch -> (config, dataset, data options)
    "vae": ({"latent_dim": 4, "width": 8}, "glyphs", {"n": 256}),
    "gan2d": ({"width": 16}, "toy2d", {"n": 512}),
}


def trained(arch: str, rank: Rank | None = None, **budget) -> Trainer:
    config, dataset, options = CASES[arch]
    model = build_model(arch, config, seed=0)
    data = load_dataset(dataset, seed=0, **options).x
    return Trainer(
        model,
        data,
        batch_size=BATCH,
        seed=1,
        report_every=5,
        rank=rank,
        **(budget or {"steps": STEPS}),
    )


def chain_spec(**changes) -> TrainSpec:
    spec = TrainSpec(
        family="vae",
        dataset="glyphs",
        data_options={"n": 256},
        model_config=CASES["vae"][0],
        steps=10,
        batch_size=BATCH,
        seed=2,
        device="cpu",
    )
    return dataclasses.replace(spec, **changes)


def with_step_hook(trainer: Trainer, hook) -> None:
    """Call ``hook(step, terms)`` after each of ``trainer``'s steps; it may replace the terms."""
    real_step = trainer.model.training_step

    def step(batch, optimizers, noise, conditions):
        terms = real_step(batch, optimizers, noise, conditions)
        return hook(trainer.step + 1, terms) or terms

    trainer.model.training_step = step


def main(out: str) -> None:
    place, results = Rank.from_environment(), {}
    rank = place.rank
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    for arch in CASES:
        trainer = trained(arch, place)
        reports = list(trainer)
        state = {k: v.contiguous() for k, v in trainer.model.state_dict().items()}
        save_file(state, f"{out}/rank{rank}.{arch}.safetensors")
        results[arch] = [r.terms for r in reports]

    stopping = trained("vae", place, steps=100)
    with_step_hook(stopping, lambda step, terms: step == 7 and rank == 1 and stopping.stop())
    list(stopping)
    results["stop"] = {"step": stopping.step, "stopped": stopping.stopped}

    def poison(step, terms):
        if step == 8 and rank == 1:
            return terms | {"loss": torch.tensor(float("nan"))}

    diverging = trained("vae", place, steps=100)
    with_step_hook(diverging, poison)
    try:
        list(diverging)
    except TrainingDiverged as err:
        results["nan"] = {"message": str(err), "step": diverging.step}

    def slow(step, terms):
        if rank == 1:
            time.sleep(0.01)  # its clock runs out later than rank 0's

    timed = trained("vae", place, seconds=0.5)
    with_step_hook(timed, slow)
    list(timed)
    results["seconds"] = {"step": timed.step}

    resumed = run_training(chain_spec(), resume=f"{out}/chain.json", out_dir=Path(out), rank=place)
    results["resume"] = {"card_path": str(resumed.card_path), "notes": resumed.card.notes}

    dcgan = TrainSpec(
        family="gan",
        dataset="glyphs",
        data_options={"n": 64},
        model_config={"width": 8, "latent_dim": 8},
        steps=2,
        batch_size=8,
        device="cpu",
        id="dcgan",
    )
    results["dcgan_notes"] = run_training(dcgan, out_dir=Path(out), rank=place).card.notes
    dist.barrier()  # as studio.distributed.process_group leaves its group
    dist.destroy_process_group()
    Path(f"{out}/rank{rank}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
