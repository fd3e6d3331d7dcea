"""The VAE lab's charts: Altair specs compiled once, filled with each redraw's data."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from studio.classroom import (
    VaeFrame,
)
from studio.ui.loss_panel import PALETTE, SERIES, chart_template, with_data

# ---------------------------------------------------------------- charts


def latent_map(frame: VaeFrame) -> dict[str, Any]:
    """The held-out codes coloured by class, with the decoded square outlined."""
    codes = pd.DataFrame(
        {
            "z1": frame.codes[:, 0].round(3),
            "z2": frame.codes[:, 1].round(3),
            "digit": np.asarray(frame.class_names)[frame.labels],
        }
    )
    far = float(np.quantile(np.abs(frame.codes), 0.99)) if len(codes) else 0.0
    reach = max(frame.span + 1, math.ceil(far))  # whole units, so the view rarely jumps
    return with_data(_latent_map_template(tuple(frame.class_names), reach, frame.span), codes)


@chart_template
def _latent_map_template(class_names: tuple[str, ...], reach: float, span: float) -> alt.LayerChart:
    scale = alt.Scale(domain=[-reach, reach], nice=False)
    x, y = alt.X("z1:Q", title="z₁", scale=scale), alt.Y("z2:Q", title="z₂", scale=scale)
    s = span
    corners = ((-s, -s), (s, -s), (s, s), (-s, s), (-s, -s))
    square = (
        alt.Chart(alt.Data(values=[{"z1": a, "z2": b, "i": i} for i, (a, b) in enumerate(corners)]))
        .mark_line(color="#888888", strokeDash=[4, 4])
        .encode(x, y, order="i:Q")
    )
    codes = (
        alt.Chart(alt.NamedData(SERIES))
        .mark_circle(size=28, opacity=0.85)
        .encode(
            x,
            y,
            alt.Color(
                "digit:N",
                scale=alt.Scale(domain=list(class_names), range=list(PALETTE)),
                legend=alt.Legend(orient="right", title="digit"),
            ),
            tooltip=[
                alt.Tooltip("digit:N"),
                alt.Tooltip("z1:Q", format=".2f"),
                alt.Tooltip("z2:Q", format=".2f"),
            ],
        )
    )
    return alt.layer(square, codes)


def rate_distortion(frame: VaeFrame) -> dict[str, Any]:
    """The training path in the (rate, distortion) plane, coloured by β; now is ringed."""
    path = pd.DataFrame(
        [(p.step, p.rate, p.distortion, p.beta) for p in frame.path],
        columns=["step", "rate", "distortion", "beta"],
    )
    return with_data(_rate_distortion_template(), path)


@chart_template
def _rate_distortion_template() -> alt.LayerChart:
    base = alt.Chart().encode(
        alt.X("rate:Q", title="rate: KL (nats)"),
        alt.Y(
            "distortion:Q",
            title="distortion: −E[log p(x|z)] (nats)",
            scale=alt.Scale(zero=False),
        ),
    )
    tooltip = [
        alt.Tooltip("step:Q"),
        alt.Tooltip("beta:Q", title="β"),
        alt.Tooltip("rate:Q", format=".2f"),
        alt.Tooltip("distortion:Q", format=".1f"),
    ]
    path = base.mark_line(color="#666666", strokeWidth=1).encode(order="step:Q")
    points = base.mark_circle(size=30).encode(
        alt.Color("beta:Q", title="β", scale=alt.Scale(type="log", scheme="viridis")),
        tooltip=tooltip,
    )
    now = (
        base.mark_point(size=220, strokeWidth=2.5, color="#ffffff")
        .encode(tooltip=tooltip)
        .transform_window(rank="rank()", sort=[alt.SortField("step", order="descending")])
        .transform_filter("datum.rank == 1")
    )
    return alt.layer(path, points, now, data=alt.NamedData(SERIES))
