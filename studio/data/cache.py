"""Build a generated set once, keep it on disk as safetensors and in memory for the process.

The key is a hash of (name, options, seed, VERSION), so a change to any of them is a new
file. Images are stored as bytes (they are built on a 1/255 grid, so nothing is lost).
Only tensors and JSON metadata are stored (no pickle), so a cache file can never run
code. A file that cannot be read, or was written for another key, is rebuilt without fuss,
and one that cannot be written (a full or read-only disk) is not kept: the cache only ever
saves time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from studio.data.base import Dataset
from studio.paths import atomic_write, studio_home

VERSION = 3  # bump when a cached set draws (or labels) different data for the same options and seed

Builder = Callable[[dict, int], Dataset]


def cached(name: str, options: dict, seed: int, build: Builder) -> Dataset:
    """``build(options, seed)``, from the process memo, else the disk cache, else built and saved."""
    spec = json.dumps(
        {"name": name, "options": options, "seed": seed, "version": VERSION}, sort_keys=True
    )
    path = cache_path(name, spec)
    shared = _load_or_build(path, spec, build)
    # Callers get their own tensors, so an in-place edit cannot leak into the next load.
    return replace(
        shared,
        x=shared.x.clone(),
        labels=None if shared.labels is None else shared.labels.clone(),
        factors={k: v.clone() for k, v in shared.factors.items()},
        options=dict(shared.options),
    )


def cache_path(name: str, spec: str) -> Path:
    digest = hashlib.sha256(spec.encode()).hexdigest()[:20]
    return studio_home() / "cache" / "datasets" / f"{name}-{digest}.safetensors"  # made on write


def clear_memo() -> None:
    """Forget what this process has loaded (the files on disk stay)."""
    _load_or_build.cache_clear()


@lru_cache(maxsize=4)  # keyed on the file's path too, so another studio folder is another entry
def _load_or_build(path: Path, spec: str, build: Builder) -> Dataset:
    dataset = _read(path, spec)
    if dataset is None:
        wanted = json.loads(spec)
        dataset = build(wanted["options"], wanted["seed"])
        _write(path, spec, dataset)
    return dataset


def _read(path: Path, spec: str) -> Dataset | None:
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            if meta.get("spec") != spec:
                return None
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        about = json.loads(meta["dataset"])
        return Dataset(
            name=about["name"],
            x=tensors["x"].float().div_(255) if tensors["x"].dtype == torch.uint8 else tensors["x"],
            labels=tensors.get("labels"),
            class_names=tuple(about["class_names"]),
            factors={
                key.removeprefix("factor."): value
                for key, value in tensors.items()
                if key.startswith("factor.")
            },
            options=about["options"],
        )
    except Exception:  # truncated, garbage, or another layout: whatever it is, build afresh
        return None


def _write(path: Path, spec: str, dataset: Dataset) -> None:
    # Images are multiples of 1/255 (``to_8bit``), so one byte each holds them exactly.
    x = dataset.x.mul(255).round().to(torch.uint8) if dataset.is_image else dataset.x
    tensors: dict[str, torch.Tensor] = {"x": x.contiguous()}
    if dataset.labels is not None:
        tensors["labels"] = dataset.labels.contiguous()
    # Cloned: a factor may share memory with labels (shapes' "shape"), which safetensors refuses.
    tensors.update({f"factor.{k}": v.clone() for k, v in dataset.factors.items()})
    about = {"name": dataset.name, "class_names": dataset.class_names, "options": dataset.options}
    metadata = {"spec": spec, "dataset": json.dumps(about)}
    # A full or read-only disk costs a rebuild next time, nothing more; safetensors reports a
    # failed write as its own error, not as OSError.
    with contextlib.suppress(OSError, SafetensorError):
        atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
