"""Config options as widgets, and the choices every page offers for training settings.

A model's config says what each option accepts (``studio.models.base.option``); the widget is
built from that, so a page's slider and the validator behind it cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.models import Knob

LEARNING_RATES = (1e-5, 3e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2)
BATCH_SIZES = (16, 32, 64, 128, 256, 512)


def knob_widget(knob: Knob, *, key: str, help_suffix: str = "", **kwargs: Any) -> Any:
    """The widget for one option, starting at ``knob.value`` (or at the value a page already put
    in ``st.session_state[key]``); returns its value."""
    first = key not in st.session_state  # else the state holds the value, and must not be fought
    held = knob.value if first else st.session_state[key]
    common = {"key": key, "help": (knob.help + help_suffix) or None, **kwargs}
    if knob.choices is not None:
        options = list(dict.fromkeys([*knob.choices, held]))
        names = knob.names or {}
        if first:
            common["index"] = options.index(held)
        return st.selectbox(
            knob.label, options, format_func=lambda v: names.get(v, str(v)), **common
        )
    if first:
        common["value"] = held
    if knob.log:
        options = sorted({*_ratio_steps(knob), held})
        return st.select_slider(knob.label, options, format_func="{:g}".format, **common)
    kind = type(knob.value)
    low, high = kind(knob.low), kind(knob.high)
    if knob.step is None:
        return kind(st.number_input(knob.label, low, high, **common))
    return st.slider(knob.label, low, high, step=kind(knob.step), **common)


def _ratio_steps(knob: Knob) -> list[float]:
    """The values a ratio-walked option offers within its range: the learning rates, or powers
    of two for whole numbers."""
    if isinstance(knob.value, int):
        steps, power = [], 1
        while power <= knob.high:
            if power >= knob.low:
                steps.append(power)
            power *= 2
        return steps
    return [lr for lr in LEARNING_RATES if knob.low <= lr <= knob.high]
