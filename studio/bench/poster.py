"""One CPPN poster in a process of its own, for the render bench's peak-memory row.

    python -m studio.bench.poster CARD DEVICE THREADS SIZE

prints ``seconds cpu_seconds resident_kib_before peak_kib`` on one line. Linux's ``ru_maxrss``
survives exec, so a child of a large bench process reported the parent's 630-740 MB; ``VmHWM``
in ``/proc/self/status`` is this process's own.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import torch

from studio.render.renderer import Renderer


def resident_kib() -> float:
    """Resident memory now, KiB (Linux only: NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 1024
    except OSError:
        return float("nan")


def peak_kib() -> float:
    """This process's high-water mark of resident memory, KiB."""
    try:
        with open("/proc/self/status") as status:
            return float(status.read().split("VmHWM:")[1].split()[0])
    except (OSError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; bytes on macOS
        return peak / 1024 if sys.platform == "darwin" else peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.bench.poster", description=__doc__)
    parser.add_argument("card", help="the CPPN's card (a path or a model id)")
    parser.add_argument("device")
    parser.add_argument("threads", type=int)
    parser.add_argument("size", type=int)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    renderer = Renderer(device=args.device, cache_mb=0)
    loaded = renderer.load(args.card)
    before = resident_kib()
    start, start_cpu = time.perf_counter(), time.process_time()
    renderer.poster(args.card, np.zeros(loaded.model.latent_dim), args.size)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(seconds, cpu, before, peak_kib())


if __name__ == "__main__":
    main()
