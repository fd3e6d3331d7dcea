"""Config options as widgets, and the choices every page offers for training settings.

A model's config says what each option accepts (``studio.models.base.option``); the widget is
built from that, so a page's slider and the validator behind it cannot drift apart.
"""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from studio.models import Knob

MANTISSAS = (1, 1.5, 2, 3, 4, 5, 6, 8)
BATCH_SIZES = (16, 32, 64, 128, 256, 512)


def ratio_steps(low: float, high: float) -> tuple[float, ...]:
    """Round numbers from ``low`` to ``high`` spaced by roughly equal ratios (1, 1.5, 2, 3, 4,
    5, 6, 8 in each decade): how learning rates and zooms are best walked."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    values = (float(f"{m}e{e}") for e in range(first, last + 1) for m in MANTISSAS)
    return tuple(v for v in values if low <= v <= high)


LEARNING_RATES = ratio_steps(1e-5, 1e-2)


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


def _ratio_steps(knob: Knob) -> tuple[float, ...]:
    """The values a ratio-walked option offers within its range: round numbers, or powers of
    two for whole numbers (widths)."""
    if isinstance(knob.value, int):
        return tuple(2**e for e in range(knob.high.bit_length()) if knob.low <= 2**e <= knob.high)
    return ratio_steps(knob.low, knob.high)
