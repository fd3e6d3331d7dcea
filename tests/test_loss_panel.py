"""The loss panel: its maths (buckets, smoothing, the log axis), its charts, its hints, and the
whole panel driven through Streamlit's AppTest with made-up runs."""

from __future__ import annotations

import json
import math

import altair as alt
import numpy as np
import pyarrow as pa
import pytest
from altair.utils.schemapi import SchemaValidationError, debug_mode
from streamlit.testing.v1 import AppTest

from studio.models import model_class
from studio.trainer import StepReport
from studio.ui import hints
from studio.ui import loss_panel as lp

TIMEOUT = 60


def _vae_reports(n: int, *, kl_scale: float = 1.0) -> list[StepReport]:
    reports = []
    for step in range(1, n + 1):
        kl = [kl_scale * 2.0 / (d + 1) for d in range(4)] + [0.0] * 4
        recon = -500.0 + step
        reports.append(
            StepReport(
                step,
                step * 0.01,
                step / n,
                {"recon": recon, "kl": sum(kl), "elbo": recon - sum(kl), "loss": sum(kl) - recon},
                {"kl_per_dim": kl},
            )
        )
    return reports


def _gan_reports(n: int, *, d_real: float, d_fake: float) -> list[StepReport]:
    terms = {
        "log_d_real": math.log(d_real),
        "log_1m_d_fake": math.log(1 - d_fake),
        "value": math.log(d_real) + math.log(1 - d_fake),
        "g_loss": -math.log(d_fake),
        "g_loss_saturating": math.log(1 - d_fake),
        "d_real": d_real,
        "d_fake": d_fake,
    }
    return [StepReport(s, s * 0.01, s / n, dict(terms)) for s in range(1, n + 1)]


def _panel_script(arch: str, reports: list) -> None:
    from studio.models import model_class
    from studio.ui.loss_panel import loss_panel

    cls = model_class(arch)
    loss_panel(cls.TERMS, cls.FORMULA, reports, key="p")


def _panel(arch: str, reports: list[StepReport]) -> AppTest:
    at = AppTest.from_function(_panel_script, args=(arch, reports), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def _charts(at: AppTest) -> dict[str, tuple[dict, pa.Table]]:
    """Every chart on the page as Streamlit sends it (its spec and its dataset), by its title
    without the latest value; the KL bars, untitled, under ""."""
    charts = {}
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        (dataset,) = chart.proto.datasets
        title = spec.get("title", {}).get("text", "").split("   ")[0]
        charts[title] = spec, pa.ipc.open_stream(dataset.data.data).read_all()
    return charts


def _y_scales(spec: dict) -> list[dict]:
    return [layer["encoding"]["y"].get("scale", {}) for layer in spec["layer"]]


# ---------------------------------------------------------------- the whole panel


def test_the_gan_panel_draws_a_chart_per_term_in_its_colour_and_the_probabilities_together():
    gan = model_class("gan2d")
    colours = lp.term_colours(gan.TERMS)
    charts = _charts(_panel("gan2d", _gan_reports(2000, d_real=0.7, d_fake=0.3)))
    probabilities, p_table = charts.pop("D(x) and D(G(z)); at 0.5 D cannot tell")
    curves = [t for t in gan.TERMS if t.key not in lp.PROBABILITY_KEYS]
    assert set(charts) == {t.label for t in curves}
    for term in curves:
        spec, table = charts[term.label]
        assert spec["title"]["color"] == colours[term.key]
        assert {layer["mark"]["color"] for layer in spec["layer"]} == {colours[term.key]}
        assert table.num_rows == 400 <= lp.MAX_POINTS  # 2000 steps in buckets of 5
    assert len({spec["title"]["color"] for spec, _ in charts.values()}) == len(curves)
    colour = probabilities["layer"][0]["encoding"]["color"]
    assert colour["scale"]["range"] == [colours["d_real"], colours["d_fake"]]
    assert set(p_table.column("term").to_pylist()) == set(colour["scale"]["domain"])
    assert probabilities["layer"][0]["encoding"]["y"]["scale"]["domain"] == [0, 1]


def test_the_log_toggle_puts_every_curve_on_a_log_axis_that_keeps_its_sign():
    labels = {t.key: t.label for t in model_class("gan2d").TERMS}
    at = _panel("gan2d", _gan_reports(300, d_real=0.7, d_fake=0.3))
    spec, _ = _charts(at)[labels["g_loss"]]
    assert _y_scales(spec) == [{"zero": False}] * 2
    at.toggle(key="p_log").set_value(True).run()
    assert not at.exception
    charts = _charts(at)
    spec, table = charts[labels["log_d_real"]]  # log D(x) < 0: drawn as -log D(x), up still up
    assert _y_scales(spec) == [{"type": "log", "reverse": True}] * 2
    assert "'−' + datum.label" in spec["layer"][0]["encoding"]["y"]["axis"]["labelExpr"]
    assert min(table.column("raw").to_pylist()) > 0
    spec, _ = charts[labels["g_loss"]]  # -log D(G(z)) > 0: a plain log axis
    assert _y_scales(spec) == [{"type": "log", "reverse": False}] * 2


def test_the_vae_panel_draws_every_term_the_kl_bars_and_survives_the_toggles():
    at = _panel("vae", _vae_reports(900))
    charts = _charts(at)
    assert len(charts) == 5  # recon, kl, elbo, loss + the KL bars
    captions = " ".join(c.value for c in at.caption)
    assert "4 of 8 dimensions carry information" in captions
    bars, table = charts[""]
    assert table.column("dim").to_pylist() == [f"z{i}" for i in range(1, 9)]
    assert table.column("active").to_pylist() == [True] * 4 + [False] * 4
    assert bars["encoding"]["opacity"]["condition"][0]["test"] == "datum.active"
    at.toggle(key="p_log").set_value(True).run()
    at.slider(key="p_smoothing").set_value(0.0).run()
    assert not at.exception and len(at.get("vega_lite_chart")) == 5
    charts = _charts(at)
    del charts[""]
    assert all(len(spec["layer"]) == 1 for spec, _ in charts.values())  # no smoothed curve


# ---------------------------------------------------------------- colours and charts


def test_colours_match_between_formula_legend_and_curves():
    vae = model_class("vae")
    colours = lp.term_colours(vae.TERMS)
    assert len(set(colours.values())) == len(vae.TERMS)
    formula = lp.coloured_formula(vae.FORMULA, vae.TERMS, colours)
    recon, kl = vae.TERMS[0], vae.TERMS[1]
    assert f"{{\\color{{{colours['recon']}}}{recon.latex}}}" in formula
    assert f"{{\\color{{{colours['kl']}}}{kl.latex}}}" in formula
    assert formula.replace(f"{{\\color{{{colours['recon']}}}", "").count("color") == 1
    assert colours["kl"] in lp.legend_line(kl, colours["kl"])
    steps, values, _ = lp.bucketed(_vae_reports(10), ["kl"])
    chart = lp.term_chart(kl, colours["kl"], steps, values[0], values[0], log=False, smoothed=True)
    assert {layer["mark"]["color"] for layer in chart["layer"]} == {colours["kl"]}
    assert chart["title"]["color"] == colours["kl"]


def test_a_redraw_reuses_the_compiled_chart_and_swaps_only_data_and_title():
    term = model_class("vae").TERMS[1]
    steps, ones = np.arange(1, 6), np.ones(5)
    first = lp.term_chart(term, "#123456", steps, ones, ones, log=True, smoothed=True)
    later = lp.term_chart(term, "#123456", steps, 2 * ones, 3 * ones, log=True, smoothed=True)
    assert first["layer"] is later["layer"]  # compiled once, not rebuilt
    assert first["title"]["text"].endswith(" 1") and later["title"]["text"].endswith(" 3")
    assert later["data"] == {"name": lp.SERIES}
    assert later["datasets"][lp.SERIES]["raw"].tolist() == [2.0] * 5


def test_infinities_become_gaps_in_the_curve():
    term = model_class("vae").TERMS[1]
    values = np.array([1.0, math.inf, -math.inf, 2.0])
    chart = lp.term_chart(term, "#123456", np.arange(4), values, values, log=False, smoothed=False)
    assert chart["datasets"][lp.SERIES]["raw"].isna().tolist() == [False, True, True, False]


def test_charts_are_checked_against_the_vega_lite_schema_when_compiled():
    with debug_mode(False):  # Altair would otherwise catch it already here
        chart = alt.Chart(alt.NamedData(lp.SERIES)).mark_line(interpolate="wiggly")
    with pytest.raises(SchemaValidationError):
        lp.chart_template(lambda: chart)()


# ---------------------------------------------------------------- series and axes


def test_long_runs_are_bucketed_and_smoothing_is_debiased():
    reports = [StepReport(s, 0, 0, {"a": float(s % 2)}) for s in range(1, 1001)]
    steps, values, bucket = lp.bucketed(reports, ["a", "missing"])
    assert bucket == 3 and len(steps) == math.ceil(1000 / 3) <= lp.MAX_POINTS
    assert steps[0] == 2 and values[0][0] == pytest.approx(2 / 3)
    assert np.isnan(values[1]).all()
    assert lp.smooth(np.array([5.0, 5.0, 5.0]), 0.9).tolist() == [5.0, 5.0, 5.0]
    assert lp.smooth(np.array([1.0, 0.0]), 0.5).tolist() == pytest.approx([1.0, 1 / 3])


def test_log_axes_keep_the_sign():
    assert lp.log_axis(np.array([0.001, 0.5, 20.0])) == lp.YScale("log")  # three decades
    assert lp.log_axis(np.array([-600.0, -120.0])) == lp.YScale("log", sign=-1.0)
    crossing = lp.log_axis(np.array([-3.0, 0.02, 4.0]))
    assert crossing.type == "symlog" and crossing.constant == pytest.approx(0.001)
    assert lp.log_axis(np.array([0.0, 1.0])).type == "symlog"  # touching zero
    assert lp.LINEAR.scale().to_dict() == {"zero": False}
    assert lp.YScale("log", sign=-1.0).scale().to_dict() == {"type": "log", "reverse": True}


# ---------------------------------------------------------------- hints


def test_hints_name_what_went_wrong():
    assert hints.diagnose(_gan_reports(200, d_real=0.7, d_fake=0.4)) == []
    (hint,) = hints.diagnose(_gan_reports(200, d_real=0.99, d_fake=0.01))
    assert hint.level == "warning" and "discriminator is winning outright" in hint.text
    assert hints.diagnose(_gan_reports(50, d_real=0.99, d_fake=0.01)) == []  # still warming up
    (hint,) = hints.diagnose(_vae_reports(300, kl_scale=0.001))
    assert "KL term has collapsed" in hint.text
    assert hints.diagnose(_vae_reports(300)) == []
    (hint,) = hints.diagnose([], error="training diverged at step 12: a loss term became NaN")
    assert hint.level == "error" and "NaN" in hint.text


def _readings(*shares: float, every: int = 50) -> list[hints.DiversityReading]:
    return [hints.DiversityReading((i + 1) * every, share) for i, share in enumerate(shares)]


def test_the_mode_collapse_alarm_wants_varied_samples_to_have_become_one_picture():
    (hint,) = hints.diagnose([], diversity=_readings(1.0, 0.3, 0.02, 0.01, 0.8, 0.97))
    assert hint.level == "warning" and "same picture for every z: 97%" in hint.text
    assert "At step 200 only 1% were" in hint.text and "mode collapse" in hint.text
    # A fresh generator draws one blur for every z until it learns: that is no collapse.
    assert hints.diagnose([], diversity=_readings(1.0, 1.0, 0.6, 0.2, 0.0)) == []
    assert hints.diagnose([], diversity=_readings(1.0, 1.0, 1.0)) == []
    # One collapsed preview is a blip; two in a row are the alarm.
    assert hints.diagnose([], diversity=_readings(0.0, 0.0, 0.9)) == []
    assert hints.diagnose([], diversity=_readings(0.0, 0.0, 0.9, 0.4)) == []
    # Still one picture after the warm-up: stuck, though it never varied.
    (hint,) = hints.diagnose([], diversity=_readings(1.0, 1.0, every=hints.DIVERSITY_WARMUP_STEPS))
    assert "not varied since the start" in hint.text
