"""The named directions of the shipped zoo, found afresh and measured: which are clean, which miss.

    python -m studio.bench.directions [--models ID ...] [--ship]

First each judge is checked on fresh labelled data (how well its readings follow the true
factors), then every shipped GAN and VAE on data with known factors gets its directions found
and measured (``studio.directions.factors``), one table row each. ``--ship`` keeps them in
``pretrained/directions/<id>.safetensors``, where the app and the CLI read them instead of
finding them at first use.
"""

from __future__ import annotations

import argparse
import time

import torch

from studio.checkpoints import list_cards
from studio.directions import SHIPPED_DIR
from studio.directions.factors import find_factor_directions
from studio.directions.judges import judge_for
from studio.directions.store import directions_bytes
from studio.errors import StudioError
from studio.paths import PRETRAINED_DIR, atomic_write_bytes
from studio.render.renderer import Renderer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.bench.directions", description=__doc__)
    parser.add_argument("--models", nargs="+", metavar="ID", help="default: the shipped zoo")
    parser.add_argument("--ship", action="store_true", help="keep them in pretrained/directions")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    renderer = Renderer(cache_mb=0)
    ids = args.models or [c.id for c, path in list_cards() if path.parent == PRETRAINED_DIR]
    judged: set[str] = set()
    print("| model | direction | ρ | others move | worst other | verdict |")
    print("|---|---|---|---|---|---|")
    for model_id in ids:
        loaded = renderer.load(model_id)
        data = loaded.card.dataset
        try:
            judge = judge_for(data.get("name", ""), data.get("options", {}))
        except StudioError:
            continue
        key = f"{judge.dataset} {sorted(judge.options.items())}"
        if key not in judged:
            judged.add(key)
            print(f"judge of {judge.dataset} {judge.options}: {judge.verify()}")
        start = time.perf_counter()
        found = find_factor_directions(loaded.model, judge)
        for d in found:
            c = d.cleanliness
            verdict = "clean" if c.clean else "**misses**"
            print(
                f"| {model_id} | {d.name} | {c.rho:.2f} | {c.crosstalk:.0%} | {c.worst} | {verdict} |"
            )
        clean = sum(d.cleanliness.clean for d in found)
        print(f"{model_id}: {clean} of {len(found)} clean, {time.perf_counter() - start:.0f} s")
        if args.ship:
            path = SHIPPED_DIR / f"{model_id}.safetensors"
            atomic_write_bytes(path, directions_bytes(found, loaded.sha256))


if __name__ == "__main__":
    main()
