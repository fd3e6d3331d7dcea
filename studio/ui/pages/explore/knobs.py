"""The knobs of a model that has some (the CPPN's zoom and art knobs, a coordinate network's
anti-aliasing), held in session state.

Each widget is built from the model's config (``model.knobs()``), so its range is the one the
config accepts and a recipe's value always fits it. Opening a model, a recipe or pressing Reset
fills the knob states from the model's own config; the widgets then start from those states.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from studio.models import GenerativeModel
from studio.models.base import MAX_SEED, config_from_dict
from studio.ui.options import knob_widget

KNOB = "explore_knob_{}"
WEIGHT_SEED = "weight_seed"  # the Renderer option: draw a new random network from this seed
ART_NOTE = "; changing it draws a new random network (see Weights seed)"


def own_knobs(model: GenerativeModel) -> dict[str, Any]:
    """The model's own knob values: with these, it draws with its own weights."""
    own = {knob.name: knob.value for knob in model.knobs()}
    return (own | {WEIGHT_SEED: None}) if model.ART_KNOBS else own


def set_knobs(model: GenerativeModel, options: dict[str, Any] | None = None) -> None:
    """Put the model's own knob values in session state, or those ``options`` name (a recipe's,
    checked already), in the types its config holds: a link may write 60 for 60.0."""
    options = options or {}
    names = [knob.name for knob in model.knobs()]
    asked = {name: options[name] for name in names if name in options}
    config = config_from_dict(type(model.config), dataclasses.asdict(model.config) | asked)
    values = {name: getattr(config, name) for name in names}
    if model.ART_KNOBS:
        values[WEIGHT_SEED] = options.get(WEIGHT_SEED)
    for name, value in values.items():
        st.session_state[KNOB.format(name)] = value


def knob_options(model: GenerativeModel) -> dict[str, Any]:
    """The Renderer options: only the knobs moved away from the model's own."""
    moved = {}
    for name, own in own_knobs(model).items():
        value = st.session_state.get(KNOB.format(name), own)
        if value != own:
            moved[name] = value
    return moved


def knob_panel(model: GenerativeModel) -> None:
    """A widget per knob in two columns, and the weights seed when a knob draws a new network."""
    knobs = model.knobs()
    if not knobs:
        return
    with st.container(border=True):
        st.markdown("**Art knobs**" if model.ART_KNOBS else "**Drawing**")
        columns = st.columns(2)
        for i, knob in enumerate(knobs):
            with columns[i % 2]:
                note = ART_NOTE if knob.name in model.ART_KNOBS else ""
                knob_widget(knob, key=KNOB.format(knob.name), help_suffix=note)
        if model.ART_KNOBS:
            columns[len(knobs) % 2].number_input(
                "Weights seed",
                0,
                MAX_SEED,
                value=None,
                step=1,
                key=KNOB.format(WEIGHT_SEED),
                placeholder="own",
                help="empty: the model's own weights; a number draws a new random network",
            )
