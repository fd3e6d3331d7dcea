"""The Classroom page driven through Streamlit's AppTest: play, pause, step, reset, the presets,
lesson mode, large type and the VAE lab; then the VAE lab's two charts on made-up frames. Every
``at.run()`` while playing is one redraw of the live view (a short burst of training, then the
pictures), as the browser's timer would ask."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
import torch
from streamlit.testing.v1 import AppTest

from studio.classroom import DEFAULT_PRESET, PRESETS, RD_EVERY, RatePoint, VaeFrame
from studio.models.base import MAX_SEED
from studio.ui.loss_panel import PALETTE, SERIES
from studio.ui.options import BATCH_SIZES, LEARNING_RATES
from studio.ui.pages.classroom.charts import latent_map, rate_distortion

TIMEOUT = 120


def _classroom():
    from studio.ui.pages import classroom

    classroom.page()


def _page() -> AppTest:
    at = AppTest.from_function(_classroom, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _lab(at: AppTest, name: str = "gan"):
    return at.session_state[f"classroom_{name}"]


def _chart_rows(at: AppTest) -> list[int]:
    """The rows of data each chart on the page was sent, in page order."""
    return [
        pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_all().num_rows
        for chart in at.get("vega_lite_chart")
    ]


def test_the_page_opens_on_the_gan_lab_paused_at_step_zero():
    at = _page()
    assert at.segmented_control(key="classroom_lab").value == "gan"
    assert at.button(key="classroom_gan_play").label == "Play"
    assert _metric(at, "Step") == "0" and _metric(at, "Modes") == "0 / 8"
    assert len(at.image) == 2  # the data space and the generator's manifold
    assert at.info[0].value == PRESETS[DEFAULT_PRESET].lesson
    assert r"\min_G \max_D" in at.latex[0].value  # the loss panel's formula
    assert all(m.help for m in at.metric)  # every readout explains itself on hover


def test_play_trains_at_every_redraw_pause_stops_and_step_takes_exactly_one_step():
    at = _page()
    at.button(key="classroom_gan_play").click()
    _run(at)
    assert at.session_state["classroom_gan_playing"] is True
    assert at.button(key="classroom_gan_play").label == "Pause"
    after_one = _lab(at).steps
    assert after_one > 0
    _run(at)  # the timer's next redraw
    assert _lab(at).steps > after_one
    assert int(_metric(at, "Step").replace(",", "")) == _lab(at).steps

    at.button(key="classroom_gan_play").click()
    _run(at)
    paused = _lab(at).steps
    assert at.session_state["classroom_gan_playing"] is False
    _run(at)
    assert _lab(at).steps == paused

    at.button(key="classroom_gan_step").click()
    _run(at)
    assert _lab(at).steps == paused + 1
    assert at.session_state["classroom_gan_playing"] is False

    at.button(key="classroom_gan_reset").click()
    _run(at)
    assert _lab(at).steps == 0 and _metric(at, "Step") == "0"


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_sets_its_settings_and_plays(preset):
    at = _page()
    if preset == DEFAULT_PRESET:  # choosing the preset already chosen changes nothing
        at.selectbox(key="classroom_gan_preset").set_value("vanishing")
        _run(at)
    at.button(key="classroom_gan_play").click()
    _run(at)
    at.selectbox(key="classroom_gan_preset").set_value(preset)
    _run(at)
    lab = _lab(at)
    assert lab.settings == PRESETS[preset].settings
    assert lab.steps == 0 and at.session_state["classroom_gan_playing"] is False
    assert at.info[0].value == PRESETS[preset].lesson
    assert at.radio(key="classroom_gan_g_loss").value == PRESETS[preset].settings.g_loss
    at.button(key="classroom_gan_play").click()
    _run(at)
    assert lab.steps > 0 and not at.error


def test_a_live_setting_keeps_the_run_and_a_structural_one_starts_afresh():
    at = _page()
    at.button(key="classroom_gan_step").click()
    _run(at)
    at.select_slider(key="classroom_gan_lr_d").set_value(2e-4)
    _run(at)
    lab = _lab(at)
    assert lab.steps == 1 and lab.trainer.optimizers["discriminator"].param_groups[0]["lr"] == 2e-4
    at.select_slider(key="classroom_gan_width").set_value(32)
    _run(at)
    assert lab.steps == 0 and lab.model.config.width == 32
    assert at.toast and "starts again" in at.toast[0].value
    at.selectbox(key="classroom_gan_shape").set_value("spiral")
    _run(at)
    assert lab.settings.shape == "spiral" and _metric(at, "Modes") == "—"


def test_lesson_mode_hides_the_advanced_controls_and_keeps_their_values():
    at = _page()
    at.selectbox(key="classroom_gan_preset").set_value("d_wins")
    _run(at)
    assert at.expander and at.slider(key="classroom_gan_d_steps").value == 5
    at.toggle(key="classroom_lesson").set_value(True)
    _run(at)
    assert not at.expander
    assert "classroom_gan_lr_g" not in [w.key for w in at.select_slider]
    assert [s.key for s in at.selectbox] == ["classroom_gan_preset", "classroom_gan_shape"]
    assert _lab(at).settings == PRESETS["d_wins"].settings  # hidden, not forgotten
    at.toggle(key="classroom_lesson").set_value(False)
    _run(at)
    assert at.slider(key="classroom_gan_d_steps").value == 5


def test_the_advanced_settings_offer_the_same_choices_as_the_train_page():
    at = _page()
    assert at.select_slider(key="classroom_gan_batch_size").options == [str(b) for b in BATCH_SIZES]
    learning_rates = at.select_slider(key="classroom_gan_lr_g").options
    assert {f"{lr:g}" for lr in LEARNING_RATES} <= set(learning_rates)
    assert at.number_input(key="classroom_gan_seed").max == MAX_SEED


def test_large_type_enlarges_the_text_for_a_projector():
    at = _page()
    assert not at.html
    at.toggle(key="classroom_large").set_value(True)
    _run(at)
    assert "font-size: 22px" in at.html[0].value


def test_a_diverging_run_pauses_and_says_so():
    at = _page()
    at.button(key="classroom_gan_play").click()
    _run(at)
    with torch.no_grad():
        _lab(at).model.generator[0].weight.fill_(math.nan)
    _run(at)
    assert at.session_state["classroom_gan_playing"] is False
    assert any("diverged" in e.value for e in at.error)


def test_the_vae_lab_plays_steps_and_takes_a_new_beta_at_once():
    at = _page()
    at.segmented_control(key="classroom_lab").set_value("vae")
    _run(at)
    assert "classroom_gan_play" not in [b.key for b in at.button]
    assert _metric(at, "Step") == "0" and _metric(at, "Rate (KL)") == "—"
    assert len(at.get("vega_lite_chart")) == 2 and len(at.image) == 1  # map, path; manifold
    lab = _lab(at, "vae")
    assert _chart_rows(at)[:2] == [len(lab.held_out.labels), 0]  # every code; no path yet
    at.button(key="classroom_vae_play").click()
    _run(at)
    _run(at)
    assert lab.steps > 0 and at.session_state["classroom_vae_playing"] is True
    at.select_slider(key="classroom_vae_beta").set_value(8.0)
    _run(at)
    assert lab.model.config.beta == 8.0
    at.button(key="classroom_vae_step").click()
    _run(at)
    assert at.session_state["classroom_vae_playing"] is False
    assert "%" in _metric(at, "Classes apart")
    for _ in range(RD_EVERY):  # at least one point on the rate–distortion path
        lab.step()
    _run(at)
    assert _chart_rows(at)[1] == len(lab.path) > 0


def _frame(codes: np.ndarray, path: list[RatePoint]) -> VaeFrame:
    return VaeFrame(
        codes=codes,
        labels=np.arange(len(codes)) % 3,
        class_names=("a", "b", "c"),
        manifold=np.zeros((4, 4, 1), np.uint8),
        span=2.5,
        path=path,
        readout=None,
    )


def test_the_latent_map_colours_codes_by_class_and_outlines_the_decoded_square():
    codes = np.array([[0.0, 0.0], [1.0, -1.0], [6.2, 0.5]], np.float32)
    spec = latent_map(_frame(codes, []))
    square, dots = spec["layer"]
    assert spec["datasets"][SERIES]["digit"].tolist() == ["a", "b", "c"]
    colour = dots["encoding"]["color"]["scale"]
    assert colour == {"domain": ["a", "b", "c"], "range": list(PALETTE)}
    assert {(c["z1"], c["z2"]) for c in square["data"]["values"]} == {
        (a, b) for a in (-2.5, 2.5) for b in (-2.5, 2.5)
    }
    assert dots["encoding"]["x"]["scale"]["domain"] == [-6, 6]  # reaches the far code
    near = latent_map(_frame(codes[:2], []))["layer"][1]["encoding"]["x"]["scale"]["domain"]
    assert near == [-3.5, 3.5]  # the square and a margin


def test_the_rate_distortion_path_is_coloured_by_beta_and_rings_the_latest_point():
    path = [RatePoint(20 * i, 5.0 - i, 100.0 + i, 2.0**i) for i in range(1, 6)]
    spec = rate_distortion(_frame(np.zeros((0, 2), np.float32), path))
    line, points, now = spec["layer"]
    assert spec["datasets"][SERIES]["step"].tolist() == [20, 40, 60, 80, 100]
    assert line["encoding"]["order"]["field"] == "step"
    assert points["encoding"]["color"]["scale"] == {"scheme": "viridis", "type": "log"}
    assert now["transform"][-1] == {"filter": "datum.rank == 1"}
    assert now["transform"][0]["sort"] == [{"field": "step", "order": "descending"}]
