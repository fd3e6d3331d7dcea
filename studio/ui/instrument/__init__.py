"""The instrument: Explore's picture, its sliders and the 2-D pad, as one element in the page.

Each element a rerun redraws costs the browser 10-15 ms, whatever it is. A slider move that
redrew eight ``st.slider``s, the pad, the picture and the address bar answered in 1.8 times a
one-slider toy app's time. Here a move redraws one element: the picture comes in the
component's data, the sliders are native range inputs updated in place (keyboard and help as
any slider), and the component sets the address bar itself (``history.replaceState``: no
message of its own, and Back does not step through every move).

Moves come back as ``(group, index, value)``: "set slider ``index`` of ``group`` to ``value``",
in the order they were made. The browser is untrusted: anything else in a move is dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

Move = tuple[str, int, float]

_HERE = Path(__file__).parent
_HTML = (
    '<div class="studio-instrument">'
    '<div class="controls"></div>'
    '<div class="stage"><img class="picture" alt="">'
    '<div class="pad" hidden><canvas tabindex="0" role="application"></canvas>'
    '<div class="legend"><span class="label-x"></span><span class="label-y"></span>'
    '<span class="readout"></span></div>'
    '<div class="hint">Drag the dot: the picture follows as you go. '
    "Click the pad to nudge it with the arrow keys (Shift for big steps).</div></div>"
    "</div></div>"
)
# Not isolated in a shadow root: the page's own scripts and tests find the picture as any other.
_component = st.components.v2.component(
    "studio_instrument",
    html=_HTML,
    css=(_HERE / "instrument.css").read_text(encoding="utf-8"),
    js=(_HERE / "instrument.js").read_text(encoding="utf-8"),
    isolate_styles=False,
)
MAX_MOVES = 256  # in one trigger: more than every slider on screen


@dataclass(frozen=True)
class SliderGroup:
    """Sliders under one title, each a view onto z along one direction."""

    key: str  # names the group in the moves that come back
    title: str
    labels: Sequence[str]
    helps: Sequence[str]
    values: Sequence[float]
    note: str = ""
    fold: bool = False  # folded until clicked open (many sliders: one per kind of shape)
    step: float = 0.05
    columns: int = 1

    def as_data(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "note": self.note,
            "fold": self.fold,
            "step": self.step,
            "columns": self.columns,
            "sliders": [
                {"label": label, "help": help_text, "value": value}
                for label, help_text, value in zip(
                    self.labels, self.helps, self.values, strict=True
                )
            ],
        }


def read_moves(trigger: Any, groups: Sequence[SliderGroup], span: float) -> list[Move]:
    """The well-formed moves in a trigger from the browser, their values clipped to the span."""
    sizes = {group.key: len(group.labels) for group in groups}
    moves = trigger.get("moves") if isinstance(trigger, dict) else None
    if not isinstance(moves, list):
        return []
    found = []
    for move in moves[:MAX_MOVES]:
        if not (isinstance(move, list) and len(move) == 3):
            continue
        group, index, value = move
        if (
            isinstance(group, str)
            and isinstance(index, int)
            and not isinstance(index, bool)
            and 0 <= index < sizes.get(group, 0)
            and isinstance(value, int | float)
            and math.isfinite(value)
        ):
            found.append((group, index, min(span, max(-span, float(value)))))
    return found


def instrument(
    *,
    key: str,
    picture: str,
    width: int,
    alt: str,
    query: str,
    groups: Sequence[SliderGroup],
    pad_group: str | None,
    span: float,
    on_move: Callable[[list[Move]], None],
) -> None:
    """Show the picture (a URL, ``width`` px wide), the sliders of ``groups`` and, where
    ``pad_group`` names a group, a pad on its first two sliders; put ``query`` in the address
    bar as ``r``. ``on_move(moves)`` runs before the rerun that a move causes."""
    applied = f"{key}_seq"  # the last trigger applied, so the browser knows what is in flight

    def moved() -> None:
        trigger = st.session_state[key].get("move")
        seq = trigger.get("seq") if isinstance(trigger, dict) else None
        if isinstance(seq, int) and not isinstance(seq, bool):
            st.session_state[applied] = seq
        moves = read_moves(trigger, groups, span)
        if moves:
            on_move(moves)

    shown = {
        "image": picture,
        "width": width,
        "alt": alt,
        "query": query,
        "groups": [group.as_data() for group in groups],
        "pad": {"group": pad_group, "labels": _pad_labels(groups, pad_group)}
        if pad_group
        else None,
        "span": span,
        "seq": st.session_state.get(applied, 0),
    }
    # As one JSON string: Streamlit looks for dataframes among a dict's lists and dicts, and
    # the first look imports pandas (half a second before the first picture).
    _component(key=key, data={"json": json.dumps(shown)}, on_move_change=moved)


def _pad_labels(groups: Sequence[SliderGroup], pad_group: str) -> list[str]:
    (group,) = [g for g in groups if g.key == pad_group]
    return list(group.labels[:2])
