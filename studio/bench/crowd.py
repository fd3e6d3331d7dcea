"""A class on one server: ``python -m studio.bench.crowd --sessions 20``.

Does a Train-page run keep its pace while a class uses the same studio, and do the others keep
theirs? Against a real ``streamlit run`` in headless Chromium:

1. alone: one session trains the GAN on glyphs from the Train page (its defaults, a 30 s
   budget) with nothing else happening; then one session moves a slider ``--moves`` times;
2. a class: ``--sessions`` more sessions open: ``--classroom`` of them play the Classroom's GAN,
   ``--movers`` move Explore's first slider ``--rate`` times a second each (a move is skipped
   while the session's last one is still drawing), the rest look at Explore; then the first
   session trains again.

Each move is timed in its page (keydown -> new image painted -> app idle, as in ``browser.py``).
The run's pace is its card's steps / wall time, so both runs are judged alike. Also printed:
pages that never loaded, showed an exception, or whose picture changed without a move of their
own (cross-talk), and the server's peak memory with the training process it started.

Issue 16's figure: ``--sessions 20``; issue 14's class: ``--sessions 30 --movers 10 --rate 2``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.bench.browser import ARM_JS, p95, slider_moves
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

MOVE_TIMEOUT_MS = 30_000
LOAD_TIMEOUT_MS = 120_000
RUN_TIMEOUT_S = 600.0
CLASSROOM_PLAY = ".st-key-classroom_gan_play button"
# After a move is armed, its result lands in window.__moved (null until then).
_ARMED_RESULT_JS = (
    "() => { window.__moved = null; window.__latency.then(r => window.__moved = r); }"
)


@dataclass
class Pace:
    steps: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.steps / self.seconds

    def __str__(self) -> str:
        return f"{self.per_second:.1f} steps/s ({self.steps} steps in {self.seconds:.1f} s)"


def train_gan_on_glyphs(page: Any, models: Path, during: Callable[[], None]) -> Pace:
    """Start the Train page's GAN on glyphs (its defaults), call ``during()`` until the run
    ends, and read its pace from the new card."""
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
        during()
    (card_path,) = set(models.glob("*.json")) - before
    card = ModelCard.read(card_path)
    return Pace(card.steps, card.wall_time_s)


# ---------------------------------------------------------------- the class


class Mover:
    """A session moving its first slider: five steps right, five left, and so on."""

    def __init__(self, page: Any) -> None:
        self.page, self.moves, self.pending = page, 0, False

    def move(self, timings: list[float]) -> bool:
        """Collect the last move's time if it has finished, then press again; False (and no
        press) while the last move is still drawing or has given up."""
        if self.pending:
            result = self.page.evaluate("() => window.__moved")
            if result is None:
                return False
            self.pending = False
            if result["painted"] is not None:
                timings.append(max(result["painted"], result["idle"]))
        self.page.evaluate(ARM_JS, [IMAGE, MOVE_TIMEOUT_MS])
        self.page.evaluate(_ARMED_RESULT_JS)
        self.page.keyboard.press("ArrowRight" if (self.moves // 5) % 2 == 0 else "ArrowLeft")
        self.moves += 1
        self.pending = True
        return True


class Class:
    """``sessions`` browser sessions on one server, split as the module's docstring says."""

    def __init__(self, browser: Any, url: str, sessions: int, classroom: int, movers: int):
        pages = [browser.new_page(viewport={"width": 1200, "height": 900}) for _ in range(sessions)]
        for i, page in enumerate(pages):
            page.goto(url + ("classroom" if i < classroom else ""), wait_until="commit")
        self.pages, self.loaded = pages, []
        for i, page in enumerate(pages):
            try:
                if i < classroom:
                    page.locator(CLASSROOM_PLAY).first.click(timeout=LOAD_TIMEOUT_MS)
                else:
                    wait_for_studio_image(page, timeout_ms=LOAD_TIMEOUT_MS)
                    wait_idle(page, timeout_ms=LOAD_TIMEOUT_MS)
                    page.locator(SLIDER).focus()
                self.loaded.append(page)
            except Exception:  # noqa: BLE001 (playwright's timeout): counted, not fatal
                pass
        explorers = [page for page in pages[classroom:] if page in self.loaded]
        self.movers = [Mover(page) for page in explorers[:movers]]
        self.idle = explorers[movers:]
        self.idle_pictures = [page.locator(IMAGE).get_attribute("src") for page in self.idle]
        self.timings: list[float] = []
        self.skipped = 0
        self._turn = 0

    def next_move(self) -> None:
        """One mover's turn (round robin)."""
        if self.movers:
            mover = self.movers[self._turn % len(self.movers)]
            self._turn += 1
            if not mover.move(self.timings):
                self.skipped += 1

    def cross_talk(self) -> int:
        """Sessions that moved nothing but whose picture changed."""
        now = [page.locator(IMAGE).get_attribute("src") for page in self.idle]
        return sum(a != b for a, b in zip(self.idle_pictures, now, strict=True))

    def exceptions(self) -> int:
        return sum(page.locator('[data-testid="stException"]').count() for page in self.pages)


# ---------------------------------------------------------------- memory


class PeakMemory:
    """The largest resident set of a process and its children, in MB, over every ``read()``."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0

    def read(self) -> None:
        pids = [self.pid, *_children(self.pid)]
        self.peak = max(self.peak, sum(_rss_mb(pid) for pid in pids))


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
    return (
        f"p50 {statistics.median(timings):.0f} ms, p95 {p95(timings):.0f} ms over "
        f"{len(timings)} moves"
    )


def _paced(action: Callable[[], None], every: float) -> Callable[[], None]:
    """``action`` then a sleep to the next multiple of ``every`` seconds."""

    def paced() -> None:
        started = time.perf_counter()
        action()
        time.sleep(max(0.0, every - (time.perf_counter() - started)))

    return paced


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m studio.bench.crowd",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sessions", type=int, default=20, help="the class, besides the trainer")
    parser.add_argument("--classroom", type=int, default=2, help="of them, playing the Classroom")
    parser.add_argument("--movers", type=int, default=10, help="of them, moving a slider")
    parser.add_argument("--rate", type=float, default=1.0, help="moves per second per mover")
    parser.add_argument("--moves", type=int, default=30, help="one session's moves alone")
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
            alone = train_gan_on_glyphs(trainer, home / "models", _paced(memory.read, 0.5))
            print(f"training alone: {alone}; load average {os.getloadavg()[0]:.1f}")
            one = browser.new_page(viewport={"width": 1200, "height": 900})
            one.goto(server.url)
            wait_for_studio_image(one, timeout_ms=LOAD_TIMEOUT_MS)
            slider_moves(one, 5)
            print(f"one session's slider alone: {_percentiles(slider_moves(one, args.moves))}")
            one.close()

            crowd = Class(browser, server.url, args.sessions, args.classroom, args.movers)
            print(
                f"{len(crowd.loaded)}/{args.sessions} sessions loaded: {args.classroom} in the "
                f"Classroom, {len(crowd.movers)} moving, {len(crowd.idle)} looking"
            )

            def browse() -> None:
                crowd.next_move()
                memory.read()

            tick = 1.0 / (args.rate * max(1, len(crowd.movers)))
            beside = train_gan_on_glyphs(trainer, home / "models", _paced(browse, tick))
            print(
                f"training beside them: {beside}, {beside.per_second / alone.per_second:.2f}x "
                f"the pace alone; load average {os.getloadavg()[0]:.1f}"
            )
            print(
                f"their slider moves -> image painted, app idle: {_percentiles(crowd.timings)}; "
                f"{crowd.skipped} turns skipped while a move was still drawing"
            )
            print(
                f"exceptions on any page: {crowd.exceptions()}; cross-talk: {crowd.cross_talk()} "
                f"of {len(crowd.idle)} looking sessions saw their picture change; server memory "
                f"peak {memory.peak:.0f} MB (with its training process)"
            )
            browser.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
