"""A class on one server: ``python -m studio.bench.crowd --sessions 20``.

Does a Train-page run keep its pace while many people browse the same studio, and do they keep
theirs? Against a real ``streamlit run`` in headless Chromium:

1. alone: one session trains the GAN on glyphs from the Train page (its defaults, a 30 s
   budget) while nothing else happens;
2. beside a crowd: ``--sessions`` more sessions open Explore, then the first trains again
   while every other one moves its first slider once a second, each move timed in its page
   (keydown -> new image painted -> app idle, as in ``browser.py``).

The run's pace is its card's steps / wall time, so both runs are judged the same way. Also
printed: the moves' p50 / p95, moves that painted nothing, pages that never loaded or showed an
exception, and the server's peak memory (with any training process it started).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.bench.browser import ARM_JS
from studio.bench.harness import (
    CHROMIUM,
    IMAGE,
    SLIDER,
    TRAIN_START,
    TRAIN_STOP,
    launch_chromium,
    serve,
    wait_for_studio_image,
    wait_idle,
)
from studio.cards import ModelCard

MOVE_EVERY_S = 1.0
MOVE_TIMEOUT_MS = 30_000
LOAD_TIMEOUT_MS = 120_000
RUN_TIMEOUT_S = 600.0


@dataclass
class Pace:
    steps: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.steps / self.seconds

    def __str__(self) -> str:
        return f"{self.per_second:.1f} steps/s ({self.steps} steps in {self.seconds:.1f} s)"


# ---------------------------------------------------------------- the training session


def train_gan_on_glyphs(page: Any, models: Path, during: Any = None) -> Pace:
    """Start the Train page's GAN on glyphs (defaults), call ``during()`` until the run ends,
    and read its pace from the new card."""
    before = set(models.glob("*.json"))
    page.get_by_role("link", name="Train").click()
    wait_idle(page)
    page.locator(".st-key-train_family").click()
    page.get_by_role("option", name="GAN", exact=True).click()
    wait_idle(page)
    page.locator(TRAIN_START).click()
    page.locator(TRAIN_STOP).first.wait_for(timeout=60_000)
    deadline = time.perf_counter() + RUN_TIMEOUT_S
    while page.locator(TRAIN_STOP).count() and time.perf_counter() < deadline:
        if during is not None:
            during()
        else:
            time.sleep(0.5)
    (card_path,) = set(models.glob("*.json")) - before
    card = ModelCard.read(card_path)
    return Pace(card.steps, card.wall_time_s)


# ---------------------------------------------------------------- the crowd


class Crowd:
    """Sessions on Explore, each moving its first slider about once a ``MOVE_EVERY_S``."""

    def __init__(self, browser: Any, url: str, sessions: int) -> None:
        self.pages = [
            browser.new_page(viewport={"width": 1200, "height": 900}) for _ in range(sessions)
        ]
        self.loaded: list[Any] = []
        self.timings: list[float] = []
        self.unpainted = 0
        for page in self.pages:
            page.goto(url, wait_until="commit")
        for page in self.pages:
            try:
                wait_for_studio_image(page, timeout_ms=LOAD_TIMEOUT_MS)
                wait_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
                page.locator(SLIDER).focus()
                self.loaded.append(page)
            except Exception:  # noqa: BLE001 (playwright's timeout): counted, not fatal
                pass
        self._round = 0

    def move_once(self) -> None:
        """One move in every loaded page at once, then each one's time."""
        started = time.perf_counter()
        key = "ArrowRight" if (self._round // 5) % 2 == 0 else "ArrowLeft"
        self._round += 1
        for page in self.loaded:
            page.evaluate(ARM_JS, [IMAGE, MOVE_TIMEOUT_MS])
            page.keyboard.press(key)
        for page in self.loaded:
            result = page.evaluate("() => window.__latency")
            if result["painted"] is None:
                self.unpainted += 1
            else:
                self.timings.append(max(result["painted"], result["idle"]))
        time.sleep(max(0.0, MOVE_EVERY_S - (time.perf_counter() - started)))

    def exceptions(self) -> int:
        return sum(page.locator('[data-testid="stException"]').count() for page in self.pages)


# ---------------------------------------------------------------- memory


class PeakMemory:
    """The largest resident set of a process and its children, in MB, each time it is read."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0

    def read(self) -> float:
        pids = [self.pid, *_children(self.pid)]
        now = sum(_rss_mb(pid) for pid in pids)
        self.peak = max(self.peak, now)
        return now


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _percentiles(timings: list[float]) -> str:
    if len(timings) < 2:
        return "too few moves painted"
    p95 = statistics.quantiles(timings, n=20)[18]
    return f"p50 {statistics.median(timings):.0f} ms, p95 {p95:.0f} ms over {len(timings)} moves"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m studio.bench.crowd",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sessions", type=int, default=20, help="browsing sessions (default 20)")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="crowd-home-"))
    try:
        with sync_playwright() as playwright, serve(home) as server:
            browser = launch_chromium(playwright)
            memory = PeakMemory(server.process.pid)
            trainer = browser.new_page(viewport={"width": 1400, "height": 1000})
            trainer.goto(server.url)
            wait_for_studio_image(trainer, timeout_ms=LOAD_TIMEOUT_MS)
            alone = train_gan_on_glyphs(trainer, home / "models", during=memory.read)
            print(f"training alone: {alone}; load average {os.getloadavg()[0]:.1f}")
            crowd = Crowd(browser, server.url, args.sessions)
            print(f"{len(crowd.loaded)}/{args.sessions} sessions loaded Explore")
            crowd.move_once()  # warm
            crowd.timings.clear()

            def browse() -> None:
                crowd.move_once()
                memory.read()

            beside = train_gan_on_glyphs(trainer, home / "models", during=browse)
            print(
                f"training beside {len(crowd.loaded)} sessions: {beside}; "
                f"{beside.per_second / alone.per_second:.2f}x the pace alone; "
                f"load average {os.getloadavg()[0]:.1f}"
            )
            print(
                f"their slider moves -> image painted, app idle: {_percentiles(crowd.timings)}; "
                f"{crowd.unpainted} painted nothing within {MOVE_TIMEOUT_MS / 1000:.0f} s"
            )
            print(
                f"exceptions on any page: {crowd.exceptions()}; server memory peak "
                f"{memory.peak:.0f} MB (with its training process)"
            )
            browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
