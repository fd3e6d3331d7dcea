"""Explore: pick a model, move through its latent space, keep and share what you find.

The page asks each model what it can do, never which family it is: the sliders are the model's
own (``studio.latent.slider_axes``), the knobs its config's (``model.knobs()``), and the tools
follow from ``cloud``, ``any_size`` and ``encodes``. Its parts, one concern a file:

* ``state``: the point on screen (z), the seed, and opening recipes from links, PNGs and the
  Gallery (``open_recipe``);
* ``picture``: the seed row, the actions, and the studio fragment: the instrument
  (``studio.ui.instrument``: picture, sliders and pad in one element);
* ``sliders``: which sliders there are, and the named directions' finder;
* ``knobs``: the knobs of a model that has some (the CPPN's);
* ``tools``: interpolate, grid, poster, open a PNG, start from a picture;
* ``keyframes``: the points kept for walks, and the Latent walk tool;
* ``teach``: the Teach a slider tool, directions from pictures marked more and less;
* ``card``: the model card.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from studio.checkpoints import ModelCard, list_cards
from studio.errors import StudioError
from studio.latent import slider_axes
from studio.models import model_class
from studio.ui.app_state import get_renderer
from studio.ui.pages.explore.card import show_card
from studio.ui.pages.explore.knobs import knob_panel
from studio.ui.pages.explore.picture import MAX_AXES, actions, seed_row, studio_fragment
from studio.ui.pages.explore.sliders import find_named
from studio.ui.pages.explore.state import (
    CHOSEN,
    MODEL,
    NOTICE,
    Z,
    current_z,
    fits,
    keep_keyframes,
    open_recipe,
    start_model,
    take_pending,
)
from studio.ui.pages.explore.tools import tools

__all__ = ["URL_PATH", "open_first_model", "open_recipe", "page"]

URL_PATH = "explore"
PREFERRED_DEFAULTS = ("gan-glyphs", "gan-shapes", "vae-glyphs", "vae-shapes")


def _draws_a_picture_per_code(card: ModelCard) -> bool:
    try:
        return not model_class(card.arch).cloud
    except StudioError:  # a model this version does not know: it will say so when opened
        return False


def _default_model(cards: list[ModelCard]) -> str:
    """A preferred pretrained model, else the first whose picture is not a cloud of points (a
    first sight that shows what the sliders do)."""
    ids = [c.id for c in cards]
    for preferred in PREFERRED_DEFAULTS:
        if preferred in ids:
            return preferred
    pictures = [c.id for c in cards if _draws_a_picture_per_code(c)]
    return (pictures or ids)[0]


def _model_label(cards: dict[str, ModelCard]) -> Callable[[str], str]:
    def label(model_id: str) -> str:
        card = cards[model_id]
        data = card.dataset.get("name", "")
        title = f"{card.title} ({card.id})" if card.title else card.id
        return f"{title}  ·  {card.family.upper()}{f' on {data}' if data else ''}"

    return label


def open_first_model() -> str | None:
    """Open the model a new session shows first and find its sliders (the server does, as it
    warms up); its id."""
    cards = [card for card, _ in list_cards()]
    if not cards:
        return None
    loaded = get_renderer().load(_default_model(cards))
    slider_axes(loaded, limit=MAX_AXES)
    return loaded.card.id


def _empty_state() -> None:
    st.title("Explore")
    st.info(
        "There are no models yet. Train one on the **Train** page (a minute or two on a "
        "laptop), or from a terminal:\n\n"
        "`python -m studio train --model vae --dataset glyphs --steps 500`\n\n"
        "It appears here as soon as it is saved.",
        icon=":material/draw:",
    )


def page() -> None:
    cards = {card.id: card for card, _ in list_cards()}
    if not cards:
        _empty_state()
        return
    renderer = get_renderer()
    take_pending(renderer)
    st.session_state.setdefault(MODEL, st.session_state.get(CHOSEN))
    if st.session_state.get(MODEL) not in cards:
        st.session_state[MODEL] = _default_model(list(cards.values()))
        st.session_state.pop(Z, None)

    def model_changed() -> None:
        st.session_state.pop(Z, None)  # a fresh start for the new model, just below

    title_col, pick_col, card_col = st.columns([2.4, 3.6, 2], vertical_alignment="bottom")
    title_col.title("Explore")
    model_id = pick_col.selectbox(
        "Model", list(cards), key=MODEL, on_change=model_changed, format_func=_model_label(cards)
    )
    st.session_state[CHOSEN] = model_id
    try:
        loaded = renderer.load(model_id)
    except StudioError as err:
        st.error(f"'{model_id}' cannot be opened: {err}")
        return
    if Z not in st.session_state or not fits(current_z(), loaded.model):
        start_model(loaded)
    card = card_col.popover(
        "Model card", icon=":material/info:", width="stretch", key="explore_card", on_change="rerun"
    )
    if card.open:
        with card:
            show_card(loaded)
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.error(notice, icon=":material/error:")
    seeds, buttons = st.columns([9, 11], gap="large", vertical_alignment="bottom")
    with seeds:
        seed_row(loaded)
    with buttons:
        actions(renderer, loaded)
    studio_fragment(renderer, loaded)
    knob_panel(loaded.model)
    find_named(loaded)
    tools(renderer, loaded)
    keep_keyframes(loaded)
