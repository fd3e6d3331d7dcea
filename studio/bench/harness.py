"""A real studio in a real browser: ``streamlit run`` on a free port and Debian's Chromium.

Shared by the browser bench (``browser.py``), the Classroom bench and ``tests/test_e2e.py``, so
the test drives the app exactly as the figures in the README were measured. The selectors are
the ``st-key-*`` classes of the widgets' keys; a page that renames a key breaks them all here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTRUMENT = ".st-key-explore_instrument"  # Explore's picture, sliders and pad
# The picture; on a model's first opening it comes alone, before the sliders are found
IMAGE = f"{INSTRUMENT} img, .st-key-explore_first_sight img"
SLIDER = f'{INSTRUMENT} input[type="range"] >> nth=0'  # the model's first own slider
PAD = f"{INSTRUMENT} canvas"
MODEL_PICKER = ".st-key-explore_model"
SEED = ".st-key-explore_seed"
MORE = ".st-key-explore_more summary"
POSTER_STOP = ".st-key-explore_poster_stop button"
TRAIN_BUDGET = '.st-key-train_seconds input[type="range"]'
TRAIN_START = ".st-key-train_start button"
TRAIN_STOP = ".st-key-train_stop button"


# ---------------------------------------------------------------- the server


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    started: float  # perf_counter() just before ``streamlit run`` was launched
    log: Path
    answered: float = 0.0  # perf_counter() when its health check first answered


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(
    home: Path, *, env: dict[str, str] | None = None, timeout: float = 60.0, app: Path = APP
) -> Iterator[Server]:
    """``streamlit run streamlit_app.py`` (or ``app``) on a free localhost port with
    ``STUDIO_HOME=home``."""
    port = free_port()
    log = home / "streamlit.log"
    home.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
    ]
    full_env = os.environ | {"STUDIO_HOME": str(home)} | (env or {})
    started = time.perf_counter()
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO, env=full_env, stdout=log_file, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}/", process, started, log)
    try:
        _wait_healthy(server, timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(server: Server, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{server.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(server.url + "_stcore/health", timeout=1) as response:
                if response.status == 200:
                    server.answered = time.perf_counter()
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"streamlit did not answer within {timeout:.0f} s")


# ---------------------------------------------------------------- the browser


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless and offline (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_for_studio_image(
    page: Any, *, other_than: str | None = None, timeout_ms: float = 30_000
) -> str:
    """Wait until the studio image has loaded, with a src other than ``other_than`` when given
    (the picture has changed); returns its src."""
    page.wait_for_function(
        "([selector, before]) => { const img = document.querySelector(selector);"
        " return img && img.src !== before && img.complete && img.naturalWidth > 0; }",
        arg=[IMAGE, other_than],
        timeout=timeout_ms,
    )
    return page.locator(IMAGE).get_attribute("src")


def wait_idle(page: Any, timeout_ms: float = 30_000) -> None:
    """Wait until the app's script run has finished (its root says ``notRunning``)."""
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'",
        timeout=timeout_ms,
    )
