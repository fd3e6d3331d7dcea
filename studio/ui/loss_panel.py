"""The live loss panel: a model's objective in LaTeX, every term colour-matched to its curve.

Reusable by any page: ``loss_panel(model_cls.TERMS, model_cls.FORMULA, reports)`` draws the
formula, one line per term (name, LaTeX, what it means, which way is good), a small chart per
term, the GAN's D(x) and D(G(z)) together on a probability axis, the VAE's KL per latent
dimension as bars, and plain-language hints when a run goes wrong. The pieces are public too
(``formula_legend``, ``loss_charts``, ``diagnose``), so a page can keep the static legend out
of the fragment that refreshes the charts.

Smoothing is TensorBoard's debiased exponential moving average; the raw curve stays behind it,
faint. Long runs are averaged into at most ``MAX_POINTS`` buckets before smoothing (the weight
is raised to the bucket size, so "0.9" means the same per step at any length), which keeps a
refresh cheap however many steps there are.

Log scale plots the magnitude on a log axis and keeps the sign: half of these terms are never
positive (log D(x), log(1 - D(G(z))), V(D, G), the VAE's reconstruction term are
log-probabilities), so a plain log axis could not draw them. An always-negative term is drawn as
-x on a reversed log axis labelled with minus signs, so "up" still means "higher"; a term that
crosses zero (the reconstruction term and ELBO with a Gaussian likelihood can) falls back to a
symmetric log axis (Vega-Lite's symlog: linear within a decade below its smallest magnitude).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from studio.models import LossTerm
from studio.trainer import StepReport
from studio.ui.hints import KL_ACTIVE_DIM, Hint, diagnose

# Vega's "tableau10", which reads on light and dark themes alike.
PALETTE = (
    "#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b",
    "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
)  # fmt: skip
PROBABILITY_KEYS = ("d_real", "d_fake")  # the GAN's D(x) and D(G(z)), drawn on one [0, 1] axis
KL_VECTOR = "kl_per_dim"
MAX_POINTS = 400
CHART_HEIGHT = 240  # pixels of the whole chart element, title and axes included
KL_TAIL = 20  # the KL bars show the mean over this many most recent steps: one step is noisy

# When a run goes wrong (thresholds are rules of thumb, checked over the last HINT_WINDOW steps).
BETTER = {
    "higher": "↑ higher is better",
    "lower": "↓ lower is better",
    "": "read it against the others",
}


# ---------------------------------------------------------------- colours and LaTeX


def term_colours(terms: Sequence[LossTerm]) -> dict[str, str]:
    """One palette colour per term, in the model's order (the same term, the same colour)."""
    return {term.key: PALETTE[i % len(PALETTE)] for i, term in enumerate(terms)}


def coloured_formula(formula: str, terms: Sequence[LossTerm], colours: dict[str, str]) -> str:
    """The formula with every term's LaTeX that appears in it wrapped in the term's colour.

    Longer pieces win, and each stretch of the formula is coloured at most once, so a term that
    contains another keeps its own colour.
    """
    taken = [False] * len(formula)
    spans: list[tuple[int, int, str]] = []
    for term in sorted(terms, key=lambda t: len(t.latex), reverse=True):
        start = formula.find(term.latex)
        while start >= 0:
            end = start + len(term.latex)
            if not any(taken[start:end]):
                spans.append((start, end, colours[term.key]))
                taken[start:end] = [True] * (end - start)
            start = formula.find(term.latex, end)
    out, last = [], 0
    for start, end, colour in sorted(spans):
        out += [formula[last:start], "{\\color{", colour, "}", formula[start:end], "}"]
        last = end
    out.append(formula[last:])
    return "".join(out)


def legend_line(term: LossTerm, colour: str) -> str:
    """One Markdown line: the term's LaTeX in its colour, what it means, which way is good."""
    swatch = f"$\\color{{{colour}}}\\blacksquare\\;{term.latex}$"
    return f"{swatch} &nbsp; {term.caption} · *{BETTER[term.better]}*"


# ---------------------------------------------------------------- series


def bucketed(
    reports: Sequence[StepReport], keys: Sequence[str], max_points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray, int]:
    """(steps, values, bucket): each term's values averaged over buckets of ``bucket`` reports.

    ``values`` is len(keys) x m; a key missing from a report reads as NaN.
    """
    table = np.array(
        [[r.step, *(r.terms.get(k, math.nan) for k in keys)] for r in reports], dtype=np.float64
    ).reshape(len(reports), len(keys) + 1)
    bucket = max(1, math.ceil(len(table) / max_points))
    usable = len(table) // bucket * bucket
    head = table[:usable].reshape(-1, bucket, table.shape[1]).mean(axis=1)
    if usable < len(table):
        head = np.vstack([head, table[usable:].mean(axis=0)])
    return head[:, 0], head[:, 1:].T, bucket


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA: the first point is the first value, not a pull towards 0."""
    out = np.empty_like(values, dtype=np.float64)
    acc = norm = 0.0
    for i, value in enumerate(values):
        acc = weight * acc + (1 - weight) * value
        norm = weight * norm + (1 - weight)
        out[i] = acc / norm if norm else value
    return out


def symlog_constant(values: np.ndarray) -> float:
    """A decade below the smallest non-zero magnitude: below it the axis is linear."""
    magnitudes = np.abs(values[np.isfinite(values) & (values != 0)])
    if magnitudes.size == 0:
        return 1.0
    return float(10 ** (math.floor(math.log10(magnitudes.min())) - 1))


@dataclass(frozen=True)
class YScale:
    """How a term goes up its chart: ``sign`` times its values on a linear, log or symlog axis."""

    type: Literal["linear", "log", "symlog"] = "linear"
    sign: float = 1.0  # -1: an always-negative term, drawn as -x on a reversed log axis
    constant: float = 1.0  # symlog: the axis is linear within this distance of zero

    def scale(self) -> alt.Scale:
        if self.type == "log":
            return alt.Scale(type="log", reverse=self.sign < 0)
        if self.type == "symlog":
            return alt.Scale(type="symlog", constant=self.constant, zero=False)
        return alt.Scale(zero=False)

    def axis(self) -> alt.Axis:
        """A negated term's axis puts the minus back; Vega leaves some log ticks unlabelled, and
        those stay blank rather than show a lone minus."""
        if self.sign < 0:
            return alt.Axis(labelExpr="datum.label ? '−' + datum.label : ''")
        return alt.Axis()


LINEAR = YScale()


def log_axis(values: np.ndarray) -> YScale:
    """The log axis for drawing ``values``, sign preserved.

    Positive terms: a log axis. Negative terms: -x on a reversed log axis labelled with a minus,
    so up is still up. Terms that cross (or touch) zero: a symmetric log axis.
    """
    finite = values[np.isfinite(values)]
    if finite.size and (finite > 0).all():
        return YScale("log")
    if finite.size and (finite < 0).all():
        return YScale("log", sign=-1.0)
    return YScale("symlog", constant=symlog_constant(values))


# ---------------------------------------------------------------- charts
#
# Each chart is described in Altair once per look (colour, y scale, smoothing, ...), compiled to
# a Vega-Lite dict that is checked against the schema, and cached; a redraw only fills in its
# data and title. Building and checking the Altair objects on every redraw would cost several
# times the rest of a redraw, and redraws share the Python interpreter with the live training.

CACHED_LOOKS = 256
SERIES = "series"  # the dataset a chart's template draws from


def chart_template(build: Callable[..., alt.TopLevelMixin]) -> Callable[..., dict[str, Any]]:
    """``build``'s chart compiled to a Vega-Lite dict, validated, and cached by ``build``'s
    (hashable) arguments; without the 300 x 300 view of Altair's default theme, which Streamlit
    replaces with the page's width and the height it is given."""

    @functools.lru_cache(maxsize=CACHED_LOOKS)
    @functools.wraps(build)
    def compiled(*args: Any) -> dict[str, Any]:
        spec = build(*args).to_dict()
        spec.pop("config", None)
        return spec

    return compiled


def with_data(
    template: dict[str, Any], series: pd.DataFrame, *, title: str | None = None
) -> dict[str, Any]:
    """A compiled template with this redraw's series (Streamlit sends it as Arrow) and title.

    Templates are shared between redraws and sessions, so only the top level is copied and
    nothing below it is changed.
    """
    spec = {**template, "datasets": {SERIES: series}}
    if title is not None:
        spec["title"] = {**template["title"], "text": title}
    return spec


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` as floats with ±inf turned into NaN, which the chart leaves out."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def term_chart(
    term: LossTerm,
    colour: str,
    steps: np.ndarray,
    raw: np.ndarray,
    shown: np.ndarray,
    *,
    log: bool,
    smoothed: bool,
) -> dict[str, Any]:
    """One term's curve: raw (faint when smoothed) under smoothed, titled with its latest value."""
    y = log_axis(raw) if log else LINEAR
    series = pd.DataFrame(
        {
            "step": steps.astype(np.int64),
            "raw": _finite(y.sign * raw),
            "value": _finite(y.sign * shown),
        }
    )
    title = f"{term.label}   {shown[-1]:.4g}" if len(shown) else term.label
    return with_data(_term_template(colour, y, smoothed), series, title=title)


@chart_template
def _term_template(colour: str, y: YScale, smoothed: bool) -> alt.LayerChart:
    x = alt.X("step:Q", title="step")
    y_encoding = {"title": None, "scale": y.scale(), "axis": y.axis()}
    layers = [
        alt.Chart()
        .mark_line(color=colour, opacity=0.25 if smoothed else 1.0, strokeWidth=1.5, clip=True)
        .encode(x, alt.Y("raw:Q", **y_encoding))
    ]
    if smoothed:
        layers.append(
            alt.Chart()
            .mark_line(color=colour, strokeWidth=2.2, clip=True)
            .encode(x, alt.Y("value:Q", **y_encoding))
        )
    title = alt.Title("", color=colour, anchor="start")
    return alt.layer(*layers, data=alt.NamedData(SERIES), title=title)


def probability_chart(
    terms: Sequence[LossTerm],
    colours: dict[str, str],
    steps: np.ndarray,
    shown: dict[str, np.ndarray],
) -> dict[str, Any]:
    """The GAN's D(x) and D(G(z)) on one [0, 1] axis, with the equilibrium at 0.5 marked."""
    labels = {t.key: t.label for t in terms}
    order = tuple(labels[k] for k in shown)
    series = pd.DataFrame(
        {
            "step": np.tile(steps.astype(np.int64), len(shown)),
            "term": np.repeat(order, len(steps)),
            "p": _finite(np.concatenate(list(shown.values()))),
        }
    )
    template = _probability_template(order, tuple(colours[k] for k in shown))
    return with_data(template, series)


@chart_template
def _probability_template(order: tuple[str, ...], colours: tuple[str, ...]) -> alt.LayerChart:
    lines = (
        alt.Chart(alt.NamedData(SERIES))
        .mark_line(strokeWidth=2.2)
        .encode(
            alt.X("step:Q", title="step"),
            alt.Y("p:Q", title=None, scale=alt.Scale(domain=[0, 1])),
            alt.Color(
                "term:N",
                sort=list(order),
                scale=alt.Scale(domain=list(order), range=list(colours)),
                legend=alt.Legend(orient="top", title=None),
            ),
        )
    )
    equilibrium = (
        alt.Chart(alt.Data(values=[{"p": 0.5}]))
        .mark_rule(strokeDash=[4, 4], opacity=0.6)
        .encode(alt.Y("p:Q"))
    )
    title = alt.Title("D(x) and D(G(z)); at 0.5 D cannot tell", anchor="start")
    return alt.layer(lines, equilibrium, title=title)


def kl_bars(kl: Sequence[float] | np.ndarray, colour: str) -> dict[str, Any]:
    """One bar per latent dimension, in index order so bars keep their place between refreshes."""
    kl = _finite(kl)
    series = pd.DataFrame(
        {"dim": [f"z{i + 1}" for i in range(len(kl))], "kl": kl, "active": kl >= KL_ACTIVE_DIM}
    )
    return with_data(_kl_template(colour), series)


@chart_template
def _kl_template(colour: str) -> alt.Chart:
    return (
        alt.Chart(alt.NamedData(SERIES))
        .mark_bar(color=colour)
        .encode(
            alt.X("dim:O", sort=None, title="latent dimension"),
            alt.Y("kl:Q", title="KL (nats)"),
            opacity=alt.when("datum.active").then(alt.value(1.0)).otherwise(alt.value(0.35)),
            tooltip=[alt.Tooltip("dim:N"), alt.Tooltip("kl:Q", format=".3f")],
        )
    )


# ---------------------------------------------------------------- Streamlit


def formula_legend(terms: Sequence[LossTerm], formula: str) -> None:
    """The objective in LaTeX and one coloured line per term, saying what it means."""
    colours = term_colours(terms)
    st.latex(coloured_formula(formula, terms, colours))
    st.markdown("  \n".join(f":small[{legend_line(term, colours[term.key])}]" for term in terms))


def loss_charts(
    terms: Sequence[LossTerm], reports: Sequence[StepReport], *, key: str = "loss"
) -> None:
    """Smoothing and log-scale toggles, then a chart per term (and the GAN / VAE extras)."""
    colours = term_colours(terms)
    left, right = st.columns(2)
    weight = left.slider(
        "Smoothing",
        0.0,
        0.99,
        0.6,
        0.01,
        key=f"{key}_smoothing",
        help="Exponential moving average over steps; 0 shows the raw values.",
    )
    log = right.toggle(
        "Log scale",
        key=f"{key}_log",
        help="Log of the magnitude, keeping the sign: always-negative terms are drawn on a "
        "reversed log axis, terms that cross zero on a symmetric one.",
    )
    if not reports:
        st.caption("The curves appear with the first steps.")
        return
    present = [t for t in terms if t.key in reports[-1].terms]
    steps, values, bucket = bucketed(reports, [t.key for t in present])
    shown = {
        t.key: smooth(v, weight**bucket) if weight else v
        for t, v in zip(present, values, strict=True)
    }
    specs = [
        term_chart(t, colours[t.key], steps, raw, shown[t.key], log=log, smoothed=weight > 0)
        for t, raw in zip(present, values, strict=True)
        if t.key not in PROBABILITY_KEYS
    ]
    probabilities = {k: shown[k] for k in PROBABILITY_KEYS if k in shown}
    if probabilities:
        specs.append(probability_chart(present, colours, steps, probabilities))
    columns = st.columns(2 if len(specs) in (2, 4) else min(3, len(specs)))
    for i, spec in enumerate(specs):
        with columns[i % len(columns)]:
            st.vega_lite_chart(spec=spec, width="stretch", height=CHART_HEIGHT)
    kl_tail = [r.vectors[KL_VECTOR] for r in reports[-KL_TAIL:] if KL_VECTOR in r.vectors]
    if kl_tail:
        kl = np.mean(kl_tail, axis=0)
        active = int((kl >= KL_ACTIVE_DIM).sum())
        st.markdown("**KL per latent dimension**")
        st.vega_lite_chart(
            spec=kl_bars(kl, colours.get("kl", PALETTE[1])), width="stretch", height=CHART_HEIGHT
        )
        st.caption(
            f"{active} of {len(kl)} dimensions carry information about x (KL ≥ {KL_ACTIVE_DIM} "
            "nats); a dimension near 0 is unused: its code is just the prior N(0, 1). "
            f"Mean over the last {len(kl_tail)} steps."
        )


def show_hints(hints: Sequence[Hint]) -> None:
    for hint in hints:
        (st.error if hint.level == "error" else st.warning)(hint.text)


def loss_panel(
    terms: Sequence[LossTerm],
    formula: str,
    reports: Sequence[StepReport],
    *,
    error: str | None = None,
    key: str = "loss",
) -> None:
    """The whole panel: formula and legend, toggles and charts, hints."""
    formula_legend(terms, formula)
    show_hints(diagnose(reports, error=error))
    loss_charts(terms, reports, key=key)
