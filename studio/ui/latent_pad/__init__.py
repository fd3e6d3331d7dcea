"""A 2-D latent pad: drag a dot to move along two latent directions and see the image follow.

``st.slider`` reruns only on release (or on each arrow key), so dragging one gives no feedback
until the end. The pad sends throttled "move" triggers *while* it is dragged; each one reruns
only the fragment that holds it, so the image keeps up with the pointer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

_HERE = Path(__file__).parent
_HTML = (
    '<div class="latent-pad">'
    '<canvas tabindex="0" role="application"></canvas>'
    '<div class="legend"><span class="label-x"></span><span class="label-y"></span>'
    '<span class="readout"></span></div>'
    '<div class="hint">Drag the dot: the picture follows as you go. '
    "Click the pad to nudge it with the arrow keys (Shift for big steps).</div>"
    "</div>"
)
_pad = st.components.v2.component(
    "latent_pad",
    html=_HTML,
    css=(_HERE / "pad.css").read_text(encoding="utf-8"),
    js=(_HERE / "pad.js").read_text(encoding="utf-8"),
)


def latent_pad(
    x: float,
    y: float,
    *,
    x_label: str,
    y_label: str,
    on_move: Callable[[float, float], None],
    key: str,
    extent: float = 3.0,
    throttle_ms: int = 60,
) -> None:
    """Show the pad at (x, y) in [-extent, extent]^2; ``on_move(x, y)`` runs before each rerun."""

    def moved() -> None:
        move = st.session_state[key].get("move")
        if move:
            on_move(float(move["x"]), float(move["y"]))

    _pad(
        key=key,
        data={
            "x": round(x, 2),
            "y": round(y, 2),
            "x_label": x_label,
            "y_label": y_label,
            "extent": extent,
            "throttle_ms": throttle_ms,
        },
        on_move_change=moved,
        width=260,
    )
