"""How fast does the studio answer? A browser benchmark: ``python -m studio.bench.browser``.

Against a real ``streamlit run streamlit_app.py`` in headless Chromium it measures

- startup: from launching ``streamlit run`` to the first studio image painted;
- slider: an arrow key on Explore's first slider -> the new image painted *and* the app idle
  again (p50 / p95 over many moves);
- pad drag: new images painted per second while the pointer drags the pad's dot, and whether
  the last one is the final position's;
- the same slider moves while a training run is going on the Train page;
- with ``--against-toy``: first image and slider moves of Explore beside the one-slider toy app
  (``studio/ui/toy_app.py``), each on a fresh server, alternating, with the ratios; and
  Explore's moves while it trains, against the toy's idle ones.

Timing happens inside the page: the key's ``keydown`` timestamp starts the clock, a
MutationObserver sees the studio ``<img>`` get a new ``src``, its ``load`` plus one animation
frame is "painted", and the app root's ``data-test-script-state`` returning to ``notRunning``
is "idle". The server and the browser come from ``harness.py``, as in ``tests/test_e2e.py``.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.bench.harness import (
    APP,
    CHROMIUM,
    IMAGE,
    MODEL_PICKER,
    PAD,
    REPO,
    SLIDER,
    TRAIN_BUDGET,
    TRAIN_START,
    TRAIN_STOP,
    launch_chromium,
    serve,
    wait_for_studio_image,
    wait_idle,
)

TOY_APP = REPO / "studio" / "ui" / "toy_app.py"

# ---------------------------------------------------------------- one key press, timed in the page

# Resolves with {painted, idle} in ms after the next keydown: painted once the studio image has
# a new src that has loaded and a frame has been drawn, idle once the script run has finished.
ARM_JS = """
([imageSelector, timeoutMs]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const before = document.querySelector(imageSelector)?.src;
  window.__latency = new Promise((resolve) => {
    let t0 = null, painted = null, waitingFrame = false;
    const onKey = (event) => { t0 ??= event.timeStamp; };
    document.addEventListener("keydown", onKey, { capture: true, once: true });
    const done = (result) => {
      observer.disconnect(); clearInterval(poll); clearTimeout(giveUp); resolve(result);
    };
    const check = () => {
      if (t0 === null) return;
      const img = document.querySelector(imageSelector);
      if (painted === null && !waitingFrame && img && img.src !== before && img.complete
          && img.naturalWidth > 0) {
        waitingFrame = true;
        requestAnimationFrame(() => { painted = performance.now(); check(); });
      }
      if (painted !== null && app.getAttribute("data-test-script-state") === "notRunning") {
        done({ painted: painted - t0, idle: performance.now() - t0 });
      }
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, { subtree: true, childList: true, attributes: true });
    const poll = setInterval(check, 4);
    const giveUp = setTimeout(() => done({ painted: null, idle: null }), timeoutMs);
  });
}
"""


def press_and_time(page: Any, key: str, timeout_ms: float = 5_000) -> tuple[float, float] | None:
    """Press ``key`` on the focused element; (painted ms, idle ms), or None if nothing painted."""
    page.evaluate(ARM_JS, [IMAGE, timeout_ms])
    page.keyboard.press(key)
    result = page.evaluate("() => window.__latency")
    if result["painted"] is None:
        return None
    return result["painted"], result["idle"]


# ---------------------------------------------------------------- the measurements


def slider_moves(page: Any, moves: int) -> list[float]:
    """Milliseconds from arrow key to image painted and app idle, for ``moves`` moves."""
    page.locator(SLIDER).focus()
    timings = []
    for i in range(moves):
        key = "ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft"  # wander, stay in range
        result = press_and_time(page, key)
        if result is not None:
            timings.append(max(result))
        time.sleep(0.15)  # a person's pace between key presses, and a settled page
    return timings


# Collects, in window.__paints, the time each new studio image has decoded (ready to paint).
_COUNT_PAINTS_JS = """
(selector) => {
  window.__paints = [];
  const seen = new Set([document.querySelector(selector)?.src]);
  const observer = new MutationObserver(() => {
    const img = document.querySelector(selector);
    if (img && !seen.has(img.src)) {
      seen.add(img.src);
      img.decode().then(() => window.__paints.push(performance.now())).catch(() => {});
    }
  });
  observer.observe(document.body, { subtree: true, childList: true, attributes: true });
}
"""


@dataclass
class PadDrag:
    per_second: float  # new images painted per second while the pointer moved
    seconds: float
    final_matches: bool  # the image left on screen is the one its recipe (the URL) draws


def pad_drag(page: Any, seconds: float = 3.0) -> PadDrag:
    """Drag the pad's dot round a circle with pointer events for ``seconds``, counting the new
    images painted meanwhile; then check the last one against a fresh load of the page's URL,
    which draws the final position's picture from its recipe."""
    box = page.locator(PAD).bounding_box()
    cx, cy, radius = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] / 4
    page.evaluate(_COUNT_PAINTS_JS, IMAGE)
    page.mouse.move(cx, cy)
    page.mouse.down()
    began = page.evaluate("() => performance.now()")
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        angle = 2 * math.pi * elapsed / seconds
        page.mouse.move(cx + radius * math.sin(angle), cy - radius * (1 - math.cos(angle)))
        page.wait_for_timeout(8)  # ~100 pointer events a second, as a mouse sends them
    ended = page.evaluate("() => performance.now()")
    page.mouse.up()
    paints = page.evaluate("() => window.__paints")
    wait_idle(page)
    final = page.locator(IMAGE).get_attribute("src")
    page.goto(page.url)
    again = wait_for_studio_image(page)
    wait_idle(page)
    during = [t for t in paints if began <= t <= ended]
    duration = (ended - began) / 1000
    return PadDrag(len(during) / duration, duration, again == final)


def start_training(page: Any) -> None:
    """Start a run on the Train page (its longest budget) and come back to Explore.

    Navigation goes through the sidebar, so it stays one session and the run goes on.
    """
    page.get_by_role("link", name="Train").click()
    budget = page.locator(TRAIN_BUDGET)
    budget.focus()
    budget.press("End")
    wait_idle(page)
    page.locator(TRAIN_START).click()
    page.locator(TRAIN_STOP).first.wait_for(timeout=60_000)
    page.get_by_role("link", name="Explore").click()
    wait_for_studio_image(page)
    wait_idle(page)


def stop_training(page: Any) -> None:
    page.get_by_role("link", name="Train").click()
    page.locator(TRAIN_STOP).first.click()
    wait_idle(page)


def choose_model(page: Any, model: str, timeout: float = 60.0) -> bool:
    """Pick ``model`` in Explore's model box; False when the app has no such model."""
    if _current_model(page) == model:
        return True
    page.locator(MODEL_PICKER).click()
    option = page.get_by_role("option").filter(has_text=model)
    if not option.count():
        return False
    option.first.click()
    deadline = time.perf_counter() + timeout
    while _current_model(page) != model and time.perf_counter() < deadline:
        time.sleep(0.1)
    wait_for_studio_image(page)
    wait_idle(page)
    return _current_model(page) == model


def _current_model(page: Any) -> str | None:
    from studio.recipe import Recipe

    query = page.evaluate("() => new URL(location.href).searchParams.get('r')")
    return Recipe.from_query(query).model if query else None


def _summary(label: str, timings: list[float], attempted: int) -> str:
    if not timings:
        return f"{label}: nothing painted in {attempted} moves"
    return (
        f"{label}: p50 {statistics.median(timings):.0f} ms, p95 {p95(timings):.0f} ms, "
        f"max {max(timings):.0f} ms ({len(timings)}/{attempted} moves painted)"
    )


def p95(timings: list[float]) -> float:
    """Within the figures seen (inclusive): a few moves must not extrapolate past their max."""
    if len(timings) < 2:
        return timings[0]
    return statistics.quantiles(timings, n=20, method="inclusive")[18]


# ---------------------------------------------------------------- against the toy app


@dataclass
class AppFigures:
    """One app's first images (s) and slider moves (ms), over every round."""

    name: str
    path: Path
    first_images: list[float] = field(default_factory=list)
    moves: list[float] = field(default_factory=list)
    moves_while_training: list[float] = field(default_factory=list)  # the studio only


def against_toy(playwright: Any, model: str, moves: int, rounds: int, train: bool) -> int:
    """Explore and the toy app (``toy_app.py``), each on a fresh server, alternating which goes
    first, ``rounds`` times: first image after ``streamlit run`` and ``moves`` slider moves;
    then, with ``train``, the studio's ``moves`` more while a training run goes on."""
    studio, toy = AppFigures("studio", APP), AppFigures("toy app", TOY_APP)
    browser = launch_chromium(playwright)
    for round_ in range(rounds):
        for app in (studio, toy) if round_ % 2 == 0 else (toy, studio):
            home = Path(tempfile.mkdtemp(prefix="latency-home-"))
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                with serve(home, app=app.path) as server:
                    page.goto(server.url)
                    wait_for_studio_image(page)
                    app.first_images.append(time.perf_counter() - server.started)
                    wait_idle(page)
                    if app is studio and not choose_model(page, model):
                        print(f"error: no model '{model}' in the app", file=sys.stderr)
                        return 2
                    slider_moves(page, 5)  # warm: first renders, caches
                    app.moves += slider_moves(page, moves)
                    if app is studio and train:
                        start_training(page)
                        app.moves_while_training += slider_moves(page, moves)
                        stop_training(page)
            finally:
                page.close()
                shutil.rmtree(home, ignore_errors=True)
            print(f"round {round_ + 1}, {app.name}: load average {os.getloadavg()[0]:.1f}")
    browser.close()
    for app in (studio, toy):
        print(
            f"{app.name}: first image {statistics.median(app.first_images):.2f} s (median of "
            f"{rounds}); "
            + _summary("slider move -> image painted, app idle", app.moves, moves * rounds)
        )
    if train:
        print(_summary("studio while training", studio.moves_while_training, moves * rounds))
    if studio.moves and toy.moves:
        toy_p50 = statistics.median(toy.moves)
        training = studio.moves_while_training
        print(
            "studio / toy: "
            f"first image {statistics.median(studio.first_images) / statistics.median(toy.first_images):.2f}x, "
            f"p50 {statistics.median(studio.moves) / toy_p50:.2f}x, "
            f"p95 {p95(studio.moves) / p95(toy.moves):.2f}x"
            + (
                f", p50 while training {statistics.median(training) / toy_p50:.2f}x the toy's "
                "idle p50 (targets: 1.0x, 1.0x, 1.2x, 1.5x)"
                if training
                else " (targets: 1.0x, 1.0x, 1.2x)"
            )
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m studio.bench.browser",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="gan-glyphs", help="the pretrained model to explore")
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--no-train", action="store_true", help="skip the during-training run")
    parser.add_argument(
        "--against-toy",
        action="store_true",
        help="Explore beside the one-slider toy app (toy_app.py), alternating, with ratios",
    )
    parser.add_argument("--rounds", type=int, default=2, help="with --against-toy (default 2)")
    parser.add_argument(
        "--studio-home",
        type=Path,
        help="use this studio folder, where the training run is saved too "
        "(default: a fresh temporary one)",
    )
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    if args.against_toy:
        with sync_playwright() as playwright:
            return against_toy(
                playwright, args.model, args.moves, args.rounds, train=not args.no_train
            )
    home = args.studio_home or Path(tempfile.mkdtemp(prefix="latency-home-"))
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            with serve(home) as server:
                page.goto(server.url)
                wait_for_studio_image(page)
                first_image = time.perf_counter() - server.started
                wait_idle(page)
                print(
                    f"startup: `streamlit run` -> first image painted in {first_image:.2f} s "
                    f"(server up after {server.answered - server.started:.2f} s)"
                )
                if not choose_model(page, args.model):
                    print(
                        f"error: no model '{args.model}' in the app; choose one with --model "
                        "(`python -m studio list` shows them)",
                        file=sys.stderr,
                    )
                    return 2
                print(
                    f"model: {args.model}; load average {os.getloadavg()[0]:.1f} on "
                    f"{os.cpu_count()} CPUs"
                )
                slider_moves(page, 5)  # warm: first renders, caches, JIT
                timings = slider_moves(page, args.moves)
                print(_summary("slider move -> image painted, app idle", timings, args.moves))
                drag = pad_drag(page)
                print(
                    f"pad drag: {drag.per_second:.1f} new images painted per second over "
                    f"{drag.seconds:.1f} s of pointer moves (target >= 15); the last one is "
                    f"the final position's: {'yes' if drag.final_matches else 'NO'}"
                )
                if not args.no_train:
                    start_training(page)
                    during = slider_moves(page, args.moves)
                    print(_summary("  ... while training", during, args.moves))
                    stop_training(page)
            browser.close()
    finally:
        if not args.studio_home:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
