"""State shared across the app: one Renderer per process, per-user state per session."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from studio.inference import Renderer


@st.cache_resource(show_spinner=False)
def get_renderer() -> Renderer:
    """The process-wide Renderer: warm models and the render cache are shared by all sessions."""
    from studio.inference import Renderer

    return Renderer()


@st.cache_resource(show_spinner=False)
def freeze_startup_heap() -> None:
    """Move everything imported so far (torch, numpy, Streamlit) out of the GC's reach, once.

    Streamlit runs a full ``gc.collect()`` after every script run; with torch loaded that walk
    holds the GIL for ~100 ms, which is most of a slider move's budget. Frozen objects are
    never freed by the cycle collector, so this is only for the long-lived startup heap.
    """
    gc.freeze()
