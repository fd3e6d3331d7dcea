"""The Classroom: a GAN and a VAE learning live in front of the class.

In the spirit of GAN Lab and TensorFlow Playground. The labs themselves are plain objects in
``studio.classroom``, one per session; this page steps them. While a lab plays, its view is a
fragment that reruns itself every ``FRAME_S``: it trains for ``TRAIN_S`` (never longer), then
draws the new state, so the page stays responsive and the picture moves several times a second.
The loss panel, shared with the Train page, refreshes in its own, slower fragment.

"Lesson" hides the advanced controls so only presets, data, play/pause/step/reset and β remain;
"Large type" enlarges everything for a projector.
"""

from __future__ import annotations

import streamlit as st
import torch

from studio.ui import app_state
from studio.ui.pages.classroom.controls import pause_both
from studio.ui.pages.classroom.gan import gan_page
from studio.ui.pages.classroom.vae import vae_page

LABS = {"gan": "GAN in 2-D", "vae": "VAE with a 2-D latent"}
LAB = "classroom_lab"
LESSON = "classroom_lesson"
LARGE = "classroom_large"
LARGE_TYPE_CSS = """<style>
html { font-size: 22px; }
[data-testid="stCaptionContainer"] { font-size: 0.9rem; }
</style>"""


def page() -> None:
    _follow_thread_policy()
    st.session_state.setdefault(LESSON, False)
    st.session_state.setdefault(LARGE, False)
    if st.session_state[LARGE]:
        st.html(LARGE_TYPE_CSS)
    st.title("Classroom")
    st.caption(
        "Watch a GAN and a VAE learn, live, on this computer. Pick a preset, press Play, "
        "and pause or step through it to talk about what you see."
    )
    which, lesson, large = st.columns([2, 1, 1], vertical_alignment="bottom")
    lab = which.segmented_control(
        "Lab",
        list(LABS),
        format_func=LABS.get,
        key=LAB,
        default="gan",
        required=True,
        on_change=pause_both,
        help="Switching pauses the lab you leave; it keeps its state for when you come back.",
    )
    lesson.toggle(
        "Lesson",
        key=LESSON,
        help="Hide the advanced controls: presets, data, play, pause, step and reset remain.",
    )
    large.toggle("Large type", key=LARGE, help="Bigger text and numbers for a projector.")
    if lab == "gan":
        gan_page(lesson=st.session_state[LESSON])
    else:
        vae_page(lesson=st.session_state[LESSON])


def _follow_thread_policy() -> None:
    """The labs train in this script thread, so it needs the app's torch thread count (one on a
    two-core machine) even when no other page has set it yet: a second torch thread on busy
    cores mostly waits, and slowed the 2-D GAN's steps many times over."""
    threads = app_state.torch_threads()
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
