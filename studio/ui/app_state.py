"""State shared across the app: one Renderer per process, per-user state per session."""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from studio.render.renderer import Renderer


def torch_threads() -> int | None:
    """One intra-op thread on a machine of two cores or fewer; torch's default elsewhere.

    There the browser, Streamlit and a training run already share the cores, and OpenMP's
    second thread mostly waits for a core: measured on 2 busy cores, a 32 px DCGAN render at
    384 px took 6 ms on one thread and 19-390 ms on two, and a DCGAN training step 0.29 s
    against 1.9-2.5 s. Torch copies the setting into every thread started afterwards, so
    training runs started from the app get it too. ``OMP_NUM_THREADS`` still wins.
    """
    if os.environ.get("OMP_NUM_THREADS") or (os.cpu_count() or 1) > 2:
        return None
    return 1


@st.cache_resource(show_spinner=False)
def get_renderer() -> Renderer:
    """The process-wide Renderer: warm models and the render cache are shared by all sessions."""
    from studio.render.renderer import Renderer

    return Renderer(threads=torch_threads())


def opened_later(module: str) -> Callable[[], None]:
    """The ``page`` of a page module imported when the page first runs: the pages behind the
    first one (their charts bring altair and pandas, ~0.7 s of imports that hold the GIL and so
    the server's sending) must not delay the first picture."""

    def page() -> None:
        _frozen_import(module).page()

    return page


@st.cache_resource(show_spinner=False)
def _frozen_import(module: str) -> ModuleType:
    """A page module, imported once per process, its new objects then frozen like the startup
    heap's (``freeze_startup_heap``): imported after the freeze, they would be walked by every
    later run's collection."""
    imported = importlib.import_module(module)
    gc.collect()
    gc.freeze()
    return imported


_startup_frozen = False  # freeze_startup_heap has run in this process


def hold_collector() -> None:
    """Keep the cycle collector waiting until ``freeze_startup_heap``: the first run imports
    torch, which makes objects by the hundred thousand, and collecting while they were made
    delayed the first picture by 0.2-0.4 s (3.33-3.44 s against 3.51-3.84 s, alternating runs
    of four). Streamlit still collects after every run."""
    if not _startup_frozen:
        gc.disable()


@st.cache_resource(show_spinner=False)
def freeze_startup_heap() -> None:
    """Move everything imported so far (torch, numpy, Streamlit) out of the GC's reach, once.

    Streamlit runs a full ``gc.collect()`` after every script run; with torch loaded that walk
    holds the GIL for a long time. Measured on 2 busy cores, per slider move: server CPU
    190-200 ms without the freeze, 18-19 ms with it; move to painted, p50 340-400 ms against
    94-98 ms. Frozen objects are never freed by the cycle collector, so this is only for the
    long-lived startup heap; the post-run collection itself is kept (turning it off gained
    nothing measurable once the heap was frozen).

    The first optimiser a page builds imports ``torch._dynamo`` (~120k objects); imported after
    the freeze, it added tens of milliseconds to every later run of every page, so it is
    imported first. That import takes seconds, so the app calls this once the first page has
    drawn its picture. The collection first keeps the first run's cyclic garbage from being
    frozen for good.
    """
    import torch._dynamo  # noqa: F401

    global _startup_frozen
    gc.collect()
    gc.freeze()
    _startup_frozen = True
    gc.enable()
