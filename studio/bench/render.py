"""``python -m studio bench``: the renderer's speed beside the naive way and a bare forward.

For every pretrained model (or the ones named with ``--models``), warmed up first:

    miss       one render of a z never seen (the slider moved): load check, forward, uint8
    hit        the same render again: a cache lookup
    batch64    64 new z in one call (a grid); per_second counts images
    naive      what many Streamlit demos do per request: build the model, load its checkpoint
               (``load_checkpoint``: also hashes and checks it), forward, convert
    naive-lean the same with the bare minimum: card, ``build_model``, ``load_state_dict``
    bare       ``model.decode(z)`` alone on a warm model as ``load_checkpoint`` gives it (none of
               the renderer's serving tweaks): what a render is measured against
    size-SIZE  a render of a new z at SIZE x SIZE (256, 512, 1024, 4096), by a model that
               draws at any size (a CPPN, a coordinate GAN or VAE)
    poster-4096  a 4096 x 4096 poster of such a model in a fresh process, with its peak
               resident memory

A point model's picture is a scatter of ``POINT_SAMPLES`` z, so its cases draw that many. Rows
give wall-clock percentiles and the p50 of CPU time, the steadier figure on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from studio.bench import training
from studio.checkpoints import list_cards, load_checkpoint, read_card, weights_path
from studio.errors import StudioError
from studio.models import build_model
from studio.paths import PRETRAINED_DIR
from studio.render.renderer import Renderer

POINT_SAMPLES = 512
ANY_SIZES = (256, 512, 1024, 4096)
POSTER_SIZE = 4096
TARGETS = {"render/bare": 1.3, "naive/render": 20.0}

# ---------------------------------------------------------------- timing


def time_calls(
    call: Callable[[int], Any], *, repeat: int, budget_s: float, warmup: int = 3
) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``call(i)`` for i = warmup, warmup + 1, ... (i picks a fresh
    input): ``repeat`` calls, or fewer when ``budget_s`` runs out (at least 3).

    CPU time (all of this process's threads) is the steadier figure on a shared machine.
    """
    for i in range(warmup):
        call(i)
    wall: list[float] = []
    cpu: list[float] = []
    started = time.perf_counter()
    while len(wall) < repeat and (len(wall) < 3 or time.perf_counter() - started < budget_s):
        i = warmup + len(wall)
        start, start_cpu = time.perf_counter(), time.process_time()
        call(i)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def row(
    model: str,
    case: str,
    device: torch.device,
    seconds: tuple[list[float], list[float]],
    items: int = 1,
) -> dict:
    wall, cpu = seconds
    p50 = float(np.percentile(wall, 50))
    return {
        "model": model,
        "case": case,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "p50_ms": round(p50 * 1e3, 4),
        "p95_ms": round(float(np.percentile(wall, 95)) * 1e3, 4),
        "per_second": round(items / p50, 2),
        "cpu_p50_ms": round(float(np.percentile(cpu, 50)) * 1e3, 4),
    }


# ---------------------------------------------------------------- the ways to draw


def naive_render(
    card_path: Path, z: torch.Tensor, device: torch.device, *, verify: bool = True
) -> np.ndarray:
    """One request the naive way: build the model and load its checkpoint, then draw.

    ``verify``: load with ``load_checkpoint``, this project's loader, which also hashes the file
    and checks every tensor (1.3-2x the time of the lean way on the zoo's small models).
    Without it: read the card, build the model, ``load_state_dict``, the floor of the naive way.
    """
    if verify:
        model, _ = load_checkpoint(card_path, device=device)
    else:
        card = read_card(card_path)
        model = build_model(card.arch, card.config)
        model.load_state_dict(load_file(weights_path(card_path)))
        model = model.to(device).eval()
    z = z.to(device)
    with torch.no_grad():
        return model.draw(z)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure_model(
    renderer: Renderer,
    model_id: str,
    *,
    repeat: int,
    budget_s: float,
    sizes: tuple[int, ...],
) -> list[dict]:
    loaded = renderer.load(model_id)
    model, device = loaded.model, renderer.device
    points = model.cloud
    per_render = POINT_SAMPLES if points else 1
    rng = np.random.default_rng(0)
    pool = rng.standard_normal((repeat + 8, per_render, model.latent_dim)).astype(np.float32)

    def fresh(i: int) -> np.ndarray:
        return pool[i] if points else pool[i, 0]

    def timed(case: str, call: Callable[[int], Any], items: int = 1, reps: int = repeat) -> dict:
        seconds = time_calls(call, repeat=reps, budget_s=budget_s, warmup=min(3, reps))
        return row(model_id, case, device, seconds, items)

    rows = [timed("miss", lambda i: renderer.render(model_id, fresh(i)))]
    seen = fresh(0)
    rows.append(timed("hit", lambda i: renderer.render(model_id, seen)))
    if not points:
        batches = rng.standard_normal((repeat + 8, 64, model.latent_dim)).astype(np.float32)
        rows.append(timed("batch64", lambda i: renderer.render(model_id, batches[i]), items=64))

    bare, _ = load_checkpoint(loaded.path, device=device)
    tensors = torch.from_numpy(pool).to(device)

    def bare_forward(i: int) -> None:
        with torch.inference_mode():
            bare.decode(tensors[i] if points else tensors[i, :1])
        _sync(device)

    def naive(verify: bool) -> Callable[[int], Any]:
        return lambda i: naive_render(loaded.path, tensors[i], device, verify=verify)

    rows += [
        timed("bare", bare_forward),
        timed("naive", naive(True)),
        timed("naive-lean", naive(False)),
    ]

    def at_size(size: int) -> Callable[[int], Any]:
        return lambda i: renderer.render(model_id, fresh(i), size=size)

    if model.any_size:
        for size in sizes:
            reps = max(1, min(repeat, 2**22 // size**2))  # 4096 px: once
            rows.append(timed(f"size-{size}", at_size(size), reps=reps))
        if POSTER_SIZE in sizes:
            rows.append(poster_memory(loaded.path, model_id, device))
    return rows


# ---------------------------------------------------------------- poster memory


def poster_memory(
    card_path: Path, model_id: str, device: torch.device, size: int = POSTER_SIZE
) -> dict:
    """Time and peak resident memory of one poster, measured by ``poster.py`` in a fresh
    process (torch's allocations escape tracemalloc; the kernel's high-water mark sees them
    all, and a fresh process's mark is not this large one's)."""
    argv = [str(card_path), str(device), str(torch.get_num_threads()), str(size)]
    # The repository on the child's path, so ``-m`` finds the studio from any working folder.
    root, python_path = str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")
    done = subprocess.run(
        [sys.executable, "-m", "studio.bench.poster", *argv],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [root, python_path]))},
    )
    if done.returncode:
        tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise StudioError(f"the poster measurement of {model_id} failed: {tail[0]}")
    seconds, cpu, before_kib, peak_kib = map(float, done.stdout.split())
    result = row(model_id, f"poster-{size}", device, ([seconds], [cpu]))
    result["peak_mb"] = round(peak_kib / 1024, 1)  # the process's high-water mark
    result["loaded_mb"] = round(before_kib / 1024, 1)  # resident just before the poster
    return result


# ---------------------------------------------------------------- the command


def pretrained_ids() -> list[str]:
    return [card.id for card, path in list_cards() if path.parent == PRETRAINED_DIR]


def _ratio(cases: dict[str, dict], top: str, bottom: str) -> str:
    wall = cases[top]["p50_ms"] / cases[bottom]["p50_ms"]
    cpu = cases[top]["cpu_p50_ms"] / max(cases[bottom]["cpu_p50_ms"], 1e-6)
    return f"{wall:.2f}x (cpu {cpu:.2f}x)"


def ratios(rows: list[dict]) -> list[str]:
    """render/bare and naive/render per image model and thread count, wall (and CPU) p50."""
    lines = []
    by_key: dict[tuple[str, int], dict[str, dict]] = {}
    for r in rows:
        by_key.setdefault((r["model"], r["threads"]), {})[r["case"]] = r
    for (model, threads), cases in by_key.items():
        if "batch64" not in cases:  # a point model: its render is a matplotlib scatter
            continue
        lines.append(
            f"  {model:<24} threads {threads}  render/bare {_ratio(cases, 'miss', 'bare')}, "
            f"target <= {TARGETS['render/bare']}x;  naive/render {_ratio(cases, 'naive', 'miss')}"
            f", lean {_ratio(cases, 'naive-lean', 'miss')}, target >= "
            f"{TARGETS['naive/render']:.0f}x;  hit {cases['hit']['p50_ms']:.3f} ms"
        )
    return lines


def print_table(rows: list[dict], device: torch.device) -> None:
    threads = sorted({r["threads"] for r in rows})
    print(f"device {device}  torch {torch.__version__}  {os.cpu_count()} CPUs  threads {threads}")
    print(
        f"{'model':<24} {'case':<12} {'thr':>3} {'p50 ms':>10} {'p95 ms':>10} {'per s':>10} "
        f"{'cpu ms':>10}"
    )
    for r in rows:
        extra = (
            f"  peak RSS {r['peak_mb']} MB (before: {r['loaded_mb']} MB)" if "peak_mb" in r else ""
        )
        print(
            f"{r['model']:<24} {r['case']:<12} {r['threads']:>3} {r['p50_ms']:>10.3f} "
            f"{r['p95_ms']:>10.3f} {r['per_second']:>10.1f} {r['cpu_p50_ms']:>10.3f}{extra}"
        )
    print("ratios (p50):")
    print("\n".join(ratios(rows)))


def cmd_bench(args: argparse.Namespace) -> int:
    if args.repeat < 1 or not args.budget > 0 or any(t < 1 for t in args.threads or []):
        raise StudioError("--repeat and --threads must be at least 1, --budget more than 0")
    if args.processes and not args.train:
        raise StudioError("--processes measures training: add --train")
    if args.train and args.processes:
        from studio.bench import scaling

        scaling.report(args.processes, as_json=args.json)
        return 0
    if args.train:
        for threads in args.threads or [torch.get_num_threads()]:
            torch.set_num_threads(threads)
            training.report(as_json=args.json)
        return 0
    model_ids = args.models or pretrained_ids()
    if not model_ids:
        print(
            "nothing to measure: pretrained/ holds no models yet. Name some with "
            "--models ID_OR_PATH ... (train one with `python -m studio train`)",
            file=sys.stderr,
        )
        if args.json:
            print("[]")
        return 0
    sizes = tuple(s for s in ANY_SIZES if not args.quick or s <= 1024)
    rows: list[dict] = []
    device = None
    for threads in args.threads or [torch.get_num_threads()]:
        torch.set_num_threads(threads)
        renderer = Renderer(device=args.device)
        device = renderer.device
        for model_id in model_ids:
            rows += measure_model(
                renderer, model_id, repeat=args.repeat, budget_s=args.budget, sizes=sizes
            )
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print_table(rows, device)
    return 0
