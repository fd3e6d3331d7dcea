"""The server warms up the studio while the first browser is still loading the page.

Streamlit runs none of a script before a browser connects, so a session's first run used to
import torch and open the first model only once the page had loaded. ``streamlit run
streamlit_app.py`` serves an ``st.App`` instead, and its lifespan starts this warm-up as the
server starts: by the time the page asks, the imports are done and the model the first page
shows is open, its sliders found.
"""

from __future__ import annotations

import threading
import time
import webbrowser
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import streamlit as st

from studio.errors import StudioError
from studio.ui import app_state

_imported = threading.Event()
_starting = threading.Lock()
_thread: threading.Thread | None = None


@asynccontextmanager
async def lifespan(_app: Any) -> AsyncIterator[None]:
    """The ``st.App`` lifespan: the warm-up runs beside the server, which answers at once, and
    the person's browser opens on the studio meanwhile."""
    start()
    open_browser()
    yield


def open_browser() -> None:
    """Open the studio in the person's browser, unless the server is headless: ``streamlit run``
    does that for a plain script, not for an ``st.App``."""
    if st.get_option("server.headless"):
        return
    address = st.get_option("server.address")  # the studio's own config: 127.0.0.1
    if address in ("", "0.0.0.0", "::"):  # every interface: this machine by its name
        address = st.get_option("browser.serverAddress")
    path = st.get_option("server.baseUrlPath").strip("/")
    webbrowser.open(f"http://{address}:{st.get_option('server.port')}/{path}")


def start() -> None:
    """Warm up in a thread of its own, once per process; it prints one line when done."""
    global _thread
    with _starting:
        if _thread is None:
            _thread = threading.Thread(
                target=lambda: print(warm(), flush=True), name="studio-warm-up", daemon=True
            )
            _thread.start()


def wait_for_imports() -> None:
    """A session's script: wait until the warm-up has imported the first page, if it is under
    way (two threads importing the same modules at once can deadlock on their locks)."""
    if _thread is not None:
        _imported.wait()


def warm() -> str:
    """Import the first page, open its first model and find its sliders; say how long that
    took."""
    started = time.perf_counter()
    app_state.hold_collector()  # as a session's first run does (see freeze_startup_heap)
    try:
        from studio.ui.pages import explore
    finally:
        _imported.set()  # a failed import is the session's to report, by importing it again
    try:
        opened = f"{explore.open_first_model() or 'no model yet'} open"
    except StudioError as err:  # the page will say so too, to the person
        opened = f"the first model cannot be opened: {err}"
    return f"  Latent Studio warmed up in {time.perf_counter() - started:.1f} s ({opened})."
