"""The Classroom's targets, measured: ``python -m studio.bench.classroom``.

1. The ring-of-8 GAN with the default preset reaches 8/8 modes within 30 s.
2. The page redraws at 4 or more frames a second while training.
3. The 2-D VAE's latent map separates the classes visibly within 60 s; the measure is the
   leave-one-out 5-NN accuracy of the held-out codes (chance: 10%), "visibly" being 60% or more.

Each lab runs the page's own loop: train for ``TRAIN_S``, then build the frame and draw it (the
GAN's two pictures encoded as the JPEGs the page sends), so the clock includes everything the
page does on the server. That loop's rate bounds the page's redraw rate from above; with
``--url`` the bench also opens the running app in headless Chromium, presses Play and counts how
often the live picture really changes (the browser, Streamlit and the network included).

Times are wall-clock on whatever else the machine is doing; the load average is printed with
them. One intra-op thread by default: on two cores shared with a browser it is the faster.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from studio.bench.harness import launch_chromium
from studio.classroom import FRAME_S, PRESETS, TRAIN_S, GanLab, Lab, VaeLab, draw_gan

GAN_BUDGET_S = 30.0
VAE_BUDGET_S = 60.0
VAE_SEPARATED = 0.6  # 5-NN accuracy of the held-out codes; chance is 0.1
MIN_FPS = 4.0


@dataclass
class LabRun:
    reached_s: float | None  # wall time at which the target was first met
    reached_step: int | None
    best: float
    last: float  # the measure at the end of the budget
    held: float  # share of the last third's frames that meet the target
    frames: int
    steps: int
    wall_s: float

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.wall_s


def _encode(picture: np.ndarray) -> int:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=90)
    return buffer.tell()


def _run(
    lab: Lab, budget_s: float, measure: Callable[[Any], float], target: float
) -> tuple[LabRun, list]:
    """The page's loop for the whole budget: train for TRAIN_S, build and draw a frame, read
    the measure; every second, one (seconds, step, measure) point of the curve."""
    start = time.perf_counter()
    readings: list[tuple[float, int, float]] = []
    curve, next_point = [], 0.0
    while (wall := time.perf_counter() - start) < budget_s:
        lab.train_for(TRAIN_S)
        value = measure(lab)
        wall = time.perf_counter() - start
        readings.append((wall, lab.steps, value))
        if wall >= next_point:
            curve.append((round(wall, 1), lab.steps, round(value, 3)))
            next_point += 1.0
    reached = next(((w, s) for w, s, v in readings if v >= target), (None, None))
    tail = [v for w, _, v in readings if w >= budget_s * 2 / 3]
    run = LabRun(
        reached_s=reached[0],
        reached_step=reached[1],
        best=max(v for *_, v in readings),
        last=readings[-1][2],
        held=sum(v >= target for v in tail) / max(1, len(tail)),
        frames=len(readings),
        steps=lab.steps,
        wall_s=wall,
    )
    return run, curve


def _gan_frame(lab: GanLab) -> float:
    frame = lab.frame()
    for picture in draw_gan(frame):
        _encode(picture)
    return frame.readout.modes_covered


def _vae_frame(lab: VaeLab) -> float:
    return lab.frame().readout.knn_accuracy


def run_gan(budget_s: float = GAN_BUDGET_S, preset: str = "healthy") -> tuple[LabRun, list]:
    """The ring of 8 under a preset: modes covered, frame by frame."""
    return _run(GanLab(PRESETS[preset].settings), budget_s, _gan_frame, target=8)


def run_vae(budget_s: float = VAE_BUDGET_S) -> tuple[LabRun, list]:
    """The digits VAE at its defaults: the held-out codes' 5-NN accuracy, frame by frame."""
    return _run(VaeLab(), budget_s, _vae_frame, target=VAE_SEPARATED)


COUNT_REDRAWS_JS = """() => {
    window.__redraws = [];
    new MutationObserver(records => {
        if (records.some(r => r.target.tagName === 'IMG' && r.attributeName === 'src'))
            window.__redraws.push(performance.now());
    }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['src']});
}"""


def browser_fps(url: str, seconds: float = 20.0) -> tuple[float, int]:
    """Open the Classroom at ``url``, press Play, and count how often the live picture changes
    (a MutationObserver in the page notes each new image source; nothing polls)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(url)
        page.get_by_role("button", name="Play").first.wait_for(timeout=120_000)
        page.get_by_role("button", name="Play").first.click()
        page.get_by_role("button", name="Pause").first.wait_for(timeout=60_000)
        page.evaluate(COUNT_REDRAWS_JS)
        page.wait_for_timeout(seconds * 1000)
        times = page.evaluate("() => window.__redraws")
        page.get_by_role("button", name="Pause").first.click()
        browser.close()
    # Two pictures change per redraw; a redraw's changes land within a few milliseconds.
    redraws = [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > 30]
    if len(redraws) < 2:
        return 0.0, len(redraws)
    return (len(redraws) - 1) / ((redraws[-1] - redraws[0]) / 1000), len(redraws)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def _report(name: str, run: LabRun, target: str, unit: Callable[[float], str]) -> None:
    if run.reached_s is None:
        print(f"{name}: {target} not reached in {run.wall_s:.0f} s (best {unit(run.best)})")
    else:
        print(
            f"{name}: {target} first after {run.reached_s:.1f} s (step {run.reached_step:,}); "
            f"at {run.wall_s:.0f} s {unit(run.last)}, {target} in {run.held:.0%} of the last "
            "third's frames"
        )
    print(f"  {run.steps_per_s:.0f} steps/s and {run.fps:.1f} frames/s in the page's loop")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m studio.bench.classroom")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--url", help="a running app's Classroom page, to count real redraws")
    parser.add_argument("--skip-vae", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {_load()}")
    print(f"page loop: train {TRAIN_S * 1000:.0f} ms, then draw; redraws asked every {FRAME_S} s")

    gan, curve = run_gan()
    _report("GAN ring8, healthy", gan, "8/8 modes", lambda v: f"{v:.0f}/8 modes")
    print("  (seconds, step, modes): " + ", ".join(map(str, curve[:: max(1, len(curve) // 10)])))
    print(f"  server-side redraws: {gan.fps:.1f} frames/s (target ≥ {MIN_FPS:g}); {_load()}")
    if args.url:
        fps, redraws = browser_fps(args.url)
        print(f"  in the browser: {fps:.1f} frames/s ({redraws} redraws counted); {_load()}")
    if not args.skip_vae:
        vae, curve = run_vae()
        target = f"5-NN accuracy ≥ {VAE_SEPARATED:.0%}"
        _report("VAE 2-D latent, digits", vae, target, lambda v: f"accuracy {v:.0%}")
        print(
            "  (seconds, step, accuracy): "
            + ", ".join(map(str, curve[:: max(1, len(curve) // 10)]))
        )
    print(_load())


if __name__ == "__main__":
    main()
