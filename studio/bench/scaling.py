"""Training on 1, 2, ... processes of this machine: steps/s and images/s of each family.

Every run has all of the machine's cores: P processes of cores/P threads each (OMP_NUM_THREADS),
so that 2 x 1 thread is weighed against 1 x 2 threads, the same cores split two ways; one
process of one thread is measured too, the unit of per-core efficiency. Each runs in fresh
processes started as ``train --processes`` starts them, one family at a time; the timing starts
after a warm-up and a barrier, and ends when all processes have agreed to finish.

Two ratios: ``same cores``, steps/s against one process with all the cores (1.0: splitting
the cores among processes costs nothing), and ``efficiency``, steps/s against processes x
threads times one thread's (1.0: every core adds a whole core's steps). The CPPN fits one
picture a batch, which cannot be shared: it runs on one process only.

``python -m studio bench --train --processes 1 2``; each process runs ``python -m
studio.bench.scaling FAMILY SECONDS OUT`` and rank 0 writes its figures to OUT as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from studio import distributed
from studio.bench.training import CASES
from studio.data import load_dataset
from studio.distributed import Rank, launch, process_group
from studio.errors import StudioError
from studio.models import build_model
from studio.trainer import Trainer

SECONDS = 3.0  # timed training per family and process count
WARM_UP_S = 0.5


@dataclass
class ScalingRow:
    family: str
    arch: str
    batch_size: int  # the whole batch, shared among the processes
    processes: int
    threads: int  # each process's
    steps_per_s: float
    same_cores: float  # steps/s against one process with all the cores
    efficiency: float  # steps/s against (processes x threads) x one thread's

    @property
    def images_per_s(self) -> float:
        return self.steps_per_s * self.batch_size


def measure_this_rank(family: str, seconds: float) -> float:
    """Steps/s of ``family`` trained for ``seconds`` on this process's place in the run."""
    rank = Rank.from_environment()
    arch, config, dataset, options, batch = CASES[family]
    data = load_dataset(dataset, **options).x
    model = build_model(arch, config, seed=0)
    cpu = torch.device("cpu")
    with process_group(rank, cpu):
        list(Trainer(model, data, seconds=WARM_UP_S, batch_size=batch, rank=rank))
        trainer = Trainer(model, data, seconds=seconds, batch_size=batch, rank=rank)
        if rank.world_size > 1:
            dist.barrier()
        start = time.perf_counter()
        for _ in trainer:
            pass
        return trainer.step / (time.perf_counter() - start)


def _steps_per_s(family: str, processes: int, threads: int, seconds: float) -> float:
    """Steps/s of ``family`` on ``processes`` fresh processes of ``threads`` threads each."""
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="latent-studio-scaling-") as folder:
            out = Path(folder) / "rank0.json"
            arguments = ["-m", "studio.bench.scaling", family, f"{seconds:g}", str(out)]
            status = launch(processes, arguments)
            if status != 0:
                raise StudioError(f"the {family} run on {processes} processes failed ({status})")
            return json.loads(out.read_text())["steps_per_s"]
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


def measure(processes: list[int], seconds: float = SECONDS) -> list[ScalingRow]:
    cores = distributed.cores()
    shapes = [(1, cores), (1, 1)] + [(n, max(1, cores // n)) for n in processes if n > 1]
    rows = []
    for family, (arch, _, _, _, batch) in CASES.items():
        # Fewer examples a batch than processes: nothing to share.
        rates = {
            (count, threads): _steps_per_s(family, count, threads, seconds)
            for count, threads in dict.fromkeys(shapes)
            if count <= batch
        }
        for (count, threads), rate in rates.items():
            same_cores = rate / rates[1, cores]
            efficiency = rate / (count * threads * rates[1, 1])
            rows.append(
                ScalingRow(family, arch, batch, count, threads, rate, same_cores, efficiency)
            )
    return rows


def report(processes: list[int], *, as_json: bool = False) -> None:
    """``python -m studio bench --train --processes 1 2``: a row per family, process count and
    threads (one process is always measured, with all the cores and with one)."""
    rows = measure(processes)
    if as_json:
        print(
            json.dumps(
                [dataclasses.asdict(r) | {"images_per_s": round(r.images_per_s, 1)} for r in rows]
            )
        )
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(
        f"torch {torch.__version__}, cpu, {distributed.cores()} cores split among the processes "
        f"(load average {load})"
    )
    print(
        f"{'family':<7} {'arch':<6} {'batch':>5} {'procs':>5} {'threads':>7} {'steps/s':>8} "
        f"{'images/s':>9} {'same cores':>10} {'efficiency':>10}"
    )
    for r in rows:
        print(
            f"{r.family:<7} {r.arch:<6} {r.batch_size:>5} {r.processes:>5} {r.threads:>7} "
            f"{r.steps_per_s:>8.1f} {r.images_per_s:>9.0f} {r.same_cores:>10.2f} "
            f"{r.efficiency:>10.2f}"
        )


if __name__ == "__main__":
    family_name, budget, result = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
    rate = measure_this_rank(family_name, budget)
    if Rank.from_environment().writes:
        result.write_text(json.dumps({"steps_per_s": rate}))
