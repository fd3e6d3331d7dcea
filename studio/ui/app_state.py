"""State shared across the app: one Renderer per process, per-user state per session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from studio.inference import Renderer


@st.cache_resource(show_spinner=False)
def get_renderer() -> Renderer:
    """The process-wide Renderer: warm models and the render cache are shared by all sessions."""
    from studio.inference import Renderer

    return Renderer()
