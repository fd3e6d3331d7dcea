"""One training run on several processes (data parallel): torchrun's ranks, the process group,
and the gradient averaging that makes N processes with 1/N of the batch each take the step that
one process takes with all of it.

torchrun (or ``python -m studio train --processes N``, which starts the same through
``torch.distributed``'s launcher) tells each process its place in RANK, WORLD_SIZE and
LOCAL_RANK; ``Rank.from_environment`` reads them. Without them a run is one process and nothing
here is used.

Why the gradients are averaged by a hook on each optimiser rather than by wrapping modules in
``torch.nn.parallel.DistributedDataParallel``: DDP's mathematics is exactly this, an all-reduce
mean of the gradients before the optimiser steps, but its wrapper assumes one forward and one
backward of one module per step. A GAN's step runs D three times (real, fake, and inside G's
loss), steps two optimisers, and backpropagates G's loss through a frozen D; each family would
need its own wrapping, and ``training_step`` its own DDP variant. A pre-step hook on each
optimiser works for every family unchanged: it flattens that optimiser's gradients into one
bucket, all-reduces it once, and writes the mean back. What it gives up is DDP's overlap of the
all-reduce with the backward pass (buckets sent while later layers still compute): worth little
for the studio's small models on CPUs, more for large ones on GPUs.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from studio.errors import StudioError


@dataclass(frozen=True)
class Rank:
    """This process's place in a run: ``rank`` of ``world_size`` processes in all, and
    ``local_rank`` among those on its machine (which GPU it takes)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def writes(self) -> bool:
        """Rank 0 alone writes checkpoints, cards, progress and the app's events."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Rank:
        """The place torchrun gave this process (one process of one when it gave none)."""
        try:
            rank = cls(
                int(environ.get("RANK", 0)),
                int(environ.get("WORLD_SIZE", 1)),
                int(environ.get("LOCAL_RANK", 0)),
            )
        except ValueError:
            raise StudioError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers") from None
        if not 0 <= rank.rank < rank.world_size:
            raise StudioError(f"RANK {rank.rank} is not one of WORLD_SIZE {rank.world_size}")
        return rank


def processes_available() -> int:
    """How many processes a run on this machine can use: one per GPU where there are GPUs
    (``--device auto`` takes them), else one per core."""
    return torch.cuda.device_count() if torch.cuda.is_available() else cores()


def cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def rank_device(rank: Rank, device: torch.device) -> torch.device:
    """The device this rank trains on: one GPU per process, or the CPU."""
    if rank.world_size == 1 or device.type == "cpu":
        return device
    if device.type != "cuda":
        raise StudioError(
            f"a run on several processes trains on CPUs or CUDA GPUs, not {device.type}; "
            "use --device cpu"
        )
    if rank.local_rank >= torch.cuda.device_count():
        raise StudioError(
            f"{rank.local_rank + 1} processes on this machine but only "
            f"{torch.cuda.device_count()} GPUs: one GPU per process"
        )
    return torch.device("cuda", rank.local_rank)


@contextmanager
def process_group(rank: Rank, device: torch.device) -> Iterator[None]:
    """Inside, this process is in the run's process group (gloo on the CPU, NCCL on CUDA; the
    address from torchrun's MASTER_ADDR and MASTER_PORT). One process needs none, and a group
    that someone else joined is theirs to leave."""
    if rank.world_size == 1 or dist.is_initialized():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        "nccl" if device.type == "cuda" else "gloo", rank=rank.rank, world_size=rank.world_size
    )
    try:
        yield
        # Gloo's threads may still hold a step's last all-reduce; leaving while a partner's is
        # in flight can abort that process as it exits (SIGABRT, "terminate called ...").
        dist.barrier()
    finally:
        dist.destroy_process_group()


def average_gradients_before_step(optimizer: torch.optim.Optimizer, share: float) -> None:
    """From now on, before each step of ``optimizer``, every process's gradients become the sum
    over processes of ``share`` x its gradients: with ``share`` = this process's rows / the
    batch's rows, the gradient of the whole batch's mean loss. One all-reduce a step, of one
    flat bucket. Every process must hold gradients for the same parameters (the same code
    runs on each, so it does)."""

    def average(optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        grads = [
            p.grad
            for group in optimizer.param_groups
            for p in group["params"]
            if p.grad is not None
        ]
        if not grads:
            return
        bucket = torch.cat([g.reshape(-1) for g in grads]).mul_(share)
        dist.all_reduce(bucket)
        for grad, part in zip(grads, bucket.split([g.numel() for g in grads]), strict=True):
            grad.copy_(part.view_as(grad))

    optimizer.register_step_pre_hook(average)


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over every process of the run, in place (one all-reduce)."""
    dist.all_reduce(tensor)
    return tensor


# ---------------------------------------------------------------- starting the processes


def launch(processes: int, arguments: list[str]) -> int:
    """``python ARGUMENTS`` on ``processes`` processes of this machine, through
    torch.distributed's launcher as ``torchrun --standalone`` starts them; the exit status of
    the first that failed (whose one-line error is already on stderr), else 0.

    Each process gets an equal share of the cores (OMP_NUM_THREADS, unless set). The launcher
    starts them in sessions of their own, so Ctrl-C reaches the launcher alone; it passes it on
    as SIGTERM, which a training process takes as Stop (they finish together at their next
    meeting and rank 0 saves), and ends as an interrupt. The launcher's own log (which process
    it signalled, which failed) stays quiet: each process says what went wrong in its line.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    for name in ("torch.distributed.elastic", "torch.distributed.launcher"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores() // processes)))
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=processes,
        run_id=uuid.uuid4().hex,
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
    )
    try:
        elastic_launch(config, sys.executable)(*arguments)
    except ChildFailedError as err:
        return err.get_first_failure()[1].exitcode or 1
    except SignalException:
        raise KeyboardInterrupt from None
    return 0
