"""What both labs share on the page: their session keys, play/pause/step/reset, and settings
widgets that apply at once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from studio.classroom import (
    FRAME_S,
    TRAIN_S,
    Lab,
)
from studio.ui.options import LEARNING_RATES

LOSS_REFRESH_S = 1.0


# ---------------------------------------------------------------- state shared by both labs


@dataclasses.dataclass(frozen=True)
class LabKeys:
    """Where one lab keeps its state in the session."""

    name: str

    @property
    def lab(self) -> str:
        return f"classroom_{self.name}"

    @property
    def playing(self) -> str:
        return f"classroom_{self.name}_playing"

    def setting(self, field: str) -> str:
        return f"classroom_{self.name}_{field}"


GAN, VAE = LabKeys("gan"), LabKeys("vae")


def readouts(count: int) -> list[DeltaGenerator]:
    """Places for a lab's readouts side by side, each as wide as it needs: where the screen is
    too narrow for them all (a projector at 1024 px), they wrap onto a second line rather than
    cut their numbers short."""
    row = st.container(horizontal=True, gap="medium")
    return [row.container(width="content") for _ in range(count)]


def pause_both() -> None:
    for keys in (GAN, VAE):
        st.session_state[keys.playing] = False


def get_lab(keys: LabKeys, build: Callable[[], Lab]) -> Any:
    if keys.lab not in st.session_state:
        with st.spinner("Setting up the lab…"):
            st.session_state[keys.lab] = build()
        st.session_state[keys.playing] = False
    return st.session_state[keys.lab]


def _set_playing(keys: LabKeys, playing: bool) -> None:
    st.session_state[keys.playing] = playing


def _single_step(keys: LabKeys) -> None:
    st.session_state[keys.playing] = False
    st.session_state[keys.lab].step()


def _reset(keys: LabKeys) -> None:
    st.session_state[keys.playing] = False
    st.session_state[keys.lab].reset()


def _transport(keys: LabKeys) -> None:
    """Play/Pause, Step and Reset: callbacks, so the state changes before the page redraws."""
    playing = st.session_state[keys.playing]
    play, step, reset = st.columns(3)
    play.button(
        "Pause" if playing else "Play",
        key=f"{keys.lab}_play",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        type="primary",
        width="stretch",
        on_click=_set_playing,
        args=(keys, not playing),
        help="Train continuously and redraw several times a second; press again to pause.",
    )
    step.button(
        "Step",
        key=f"{keys.lab}_step",
        icon=":material/skip_next:",
        width="stretch",
        on_click=_single_step,
        args=(keys,),
        help="Pause, then take exactly one training step (for the GAN: the D steps, then one "
        "G step).",
    )
    reset.button(
        "Reset",
        key=f"{keys.lab}_reset",
        icon=":material/restart_alt:",
        width="stretch",
        on_click=_reset,
        args=(keys,),
        help="Start again from freshly initialised networks (same settings and seed).",
    )


def setting_state(keys: LabKeys, settings: Any) -> None:
    """Give every setting's widget its value from the lab unless it already has one (a widget
    that was hidden in lesson mode lost its state, so it comes back with the lab's value)."""
    for field in dataclasses.fields(settings):
        st.session_state.setdefault(keys.setting(field.name), getattr(settings, field.name))


def _settings_from_widgets(keys: LabKeys, settings: Any) -> Any:
    """The lab's settings with every shown widget's value in place."""
    shown = {
        f.name: st.session_state[keys.setting(f.name)]
        for f in dataclasses.fields(settings)
        if keys.setting(f.name) in st.session_state
    }
    return dataclasses.replace(settings, **shown)


def _apply(keys: LabKeys, lab: Lab, settings: Any) -> None:
    if lab.update(settings):
        st.session_state[keys.playing] = False
        st.toast("New settings, new networks: the lab starts again from step 0.")


def _live(keys: LabKeys, view: Callable[[], None], loss: Callable[[], None]) -> None:
    playing = st.session_state[keys.playing]
    st.fragment(view, run_every=FRAME_S if playing else None)()
    st.divider()
    st.fragment(loss, run_every=LOSS_REFRESH_S if playing else None)()


def run_lab(keys: LabKeys, lab: Lab, view: Callable[[], None], loss: Callable[[], None]) -> None:
    """The lab under its controls: the widgets' settings applied, the transport, the live view
    and loss."""
    _apply(keys, lab, _settings_from_widgets(keys, lab.settings))
    _transport(keys)
    _live(keys, view, loss)


def advance(keys: LabKeys, lab: Lab) -> None:
    """While playing, train for one frame's share of time; a diverged run pauses the lab."""
    if not st.session_state[keys.playing]:
        return
    lab.train_for(TRAIN_S)
    if lab.error:
        st.session_state[keys.playing] = False
        st.rerun(scope="app")  # stops the timer that reruns this fragment


def lr_slider(label: str, key: str, *, help: str) -> None:
    options = sorted({*LEARNING_RATES, st.session_state[key]})
    st.select_slider(label, options, key=key, format_func="{:g}".format, help=help)
