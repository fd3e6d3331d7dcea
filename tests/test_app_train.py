"""The Train page, driven through Streamlit's AppTest (the loss panel has tests/test_loss_panel.py).

A run really trains (the 2-D GAN, in a process of its own, as in the app); the test polls the
page with ``at.run()`` while it works, as a browser's refresh would.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from studio import checkpoints
from studio.checkpoints import list_cards
from studio.live_preview import sample_strip
from studio.paths import studio_dir
from studio.train import TrainSpec, run_training

APP = str(Path(__file__).resolve().parent.parent / "studio" / "ui" / "main.py")
TIMEOUT = 60
POLL_LIMIT_S = 60


@pytest.fixture
def no_pretrained(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", tmp_path / "no-pretrained")


def _train_page():
    from studio.ui.pages import train as train_page

    train_page.page()


def _page() -> AppTest:
    return AppTest.from_function(_train_page, default_timeout=TIMEOUT).run()


def _poll(at: AppTest, done) -> AppTest:
    """Rerun the page until ``done(at)``, as the live fragment would; bounded, never forever."""
    deadline = time.monotonic() + POLL_LIMIT_S
    while not done(at):
        assert time.monotonic() < deadline, "the page never reached the expected state"
        time.sleep(0.2)
        at.run()
        assert not at.exception, at.exception
    return at


def _choose(at: AppTest, family: str, data: str) -> AppTest:
    at.selectbox(key="train_family").set_value(family).run()
    return at.selectbox(key=f"train_data_{family}").set_value(data).run()


def _texts(elements) -> list[str]:
    return [e.value for e in elements]


def _png(colour=(10, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 40), colour).save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- the page


def test_the_page_starts_with_the_formula_and_nothing_running():
    at = _page()
    assert not at.exception
    assert at.button(key="train_start").label == "Start training"
    assert not at.button(key="train_start").disabled
    assert "train_stop" not in [b.key for b in at.button]
    assert r"\hat y" in at.latex[0].value  # the default family's (CPPN's) objective
    at.selectbox(key="train_family").set_value("vae").run()
    assert r"{\color{#4c78a8}\mathbb{E}_{q_\phi(z|x)}" in at.latex[0].value  # recon, coloured


def test_a_short_run_reports_its_terms_stops_and_is_listed(no_pretrained):
    at = _choose(_page(), "gan", "toy2d")
    at.text_input(key="train_name").input("ring-run")
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    assert at.button(key="train_start").disabled  # one run at a time

    def charts_with_steps(at):
        run = at.session_state["train_run"]
        return len(run.reports) >= 20 and len(at.get("vega_lite_chart")) == 6

    _poll(at, charts_with_steps)
    run = at.session_state["train_run"]
    assert {"log_d_real", "log_1m_d_fake", "value", "g_loss", "d_real", "d_fake"} <= set(
        run.latest.terms
    )
    assert at.get("progress") and at.image  # the bar and the sample strip
    at.button(key="train_stop").click().run()
    _poll(at, lambda at: not at.session_state["train_run"].running and at.success)
    assert "Stopped at step" in at.success[0].value and "ring-run" in at.success[0].value
    assert not at.button(key="train_start").disabled
    assert "train_stop" not in [b.key for b in at.button]
    assert len(at.get("vega_lite_chart")) == 6  # the curves stay after the run
    assert at.selectbox(key="train_manage_model").options == ["ring-run"]
    card = {c.id: c for c, _ in list_cards()}["ring-run"]
    assert 0 < card.steps < 10_000 and card.dataset["name"] == "toy2d"
    assert "--seconds 30" in card.command  # the default budget, recorded for a rerun
    at.button(key="train_close").click().run()
    assert "train_run" not in at.session_state and not at.get("vega_lite_chart")
    assert at.selectbox(key="train_manage_model").options == ["ring-run"]  # the model stays


def test_the_finished_model_appears_in_explore(no_pretrained):
    run_training(
        TrainSpec(
            family="gan",
            dataset="toy2d",
            data_options={"n": 256},
            steps=3,
            model_config={"width": 16},
            id="fresh-ring",
            device="cpu",
        )
    )
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    explore = at.selectbox(key="explore_model")
    assert explore.value == "fresh-ring" and explore.options[0].startswith("fresh-ring")


@pytest.mark.parametrize(
    ("family", "files", "says"),
    [
        ("vae", [("a.png", b"not a picture", "image/png")] * 3, "usable images"),
        ("gan", [("pics.zip", b"not a zip", "application/zip")], "not a readable zip archive"),
        (
            "gan",
            [("pics.zip", b"PK", "application/zip"), ("a.png", b"", "image/png")],
            "one .zip or several pictures",
        ),
        ("mlp", [("me.png", b"\x89PNG broken", "image/png")], "not a readable image"),
    ],
)
def test_bad_uploads_show_an_error_and_nothing_else_breaks(family, files, says):
    at = _choose(_page(), family, "upload")
    uploader = at.get("file_uploader")[0]
    uploader.set_value(files[0] if family == "mlp" else files)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert len(at.error) == 1 and says in at.error[0].value
    assert "train_run" not in at.session_state and not at.button(key="train_start").disabled
    assert list(studio_dir("uploads").iterdir()) == []  # the refused files were not kept
    assert [p for p in studio_dir("models").iterdir() if not p.name.startswith(".")] == []


def test_a_starting_mistake_is_shown_in_plain_words():
    at = _choose(_page(), "vae", "upload")
    at.button(key="train_start").click().run()
    assert not at.exception and "upload your pictures first" in at.error[0].value
    at = _choose(_page(), "gan", "toy2d")
    at.text_input(key="train_name").input("Not A Name!").run()
    at.button(key="train_start").click().run()
    assert "not a usable model id" in at.error[0].value


def test_models_can_be_renamed_and_deleted_from_the_page():
    run_training(
        TrainSpec(
            family="gan",
            dataset="toy2d",
            data_options={"n": 256},
            steps=2,
            model_config={"width": 16},
            id="first",
            device="cpu",
        )
    )
    at = _page()
    at.text_input(key="train_new_name").input("second")
    at.button(key="train_rename").click().run()
    assert not at.exception and not at.error
    assert at.selectbox(key="train_manage_model").options == ["second"]
    assert at.toast[0].value == "Renamed first to second."
    at.button(key="train_rename").click().run()  # no new name typed
    assert "not a usable model id" in at.error[0].value
    at.checkbox(key="train_delete_sure").check().run()
    at.button(key="train_delete").click().run()
    assert not at.exception
    assert "train_manage_model" not in [s.key for s in at.selectbox]
    assert [p for p in studio_dir("models").iterdir() if not p.name.startswith(".")] == []


# ---------------------------------------------------------------- the sample strip


def test_the_sample_strip_shows_samples_points_or_the_fit():
    from studio.models import build_model

    vae = build_model("vae", {"latent_dim": 4, "width": 4}).eval()
    glyphs = torch.rand(3, 1, 32, 32)
    strip = sample_strip(vae, glyphs)
    assert strip.dtype == np.uint8 and strip.shape[2] == 3
    assert strip.shape[1] > 7 * strip.shape[0]  # eight samples in a row
    np.testing.assert_array_equal(strip, sample_strip(vae, glyphs[:1]))  # the same fixed z
    gan = build_model("gan2d", {"width": 8}).eval()
    real = torch.full((5, 2), 2.0)  # drawn in the real points' blue, up and to the right
    ring = sample_strip(gan, real)
    assert ring.shape == (320, 320, 3)
    assert not np.array_equal(ring, sample_strip(gan, real[:0]))
    cppn = build_model("cppn", {"size": 16}).eval()
    target = torch.ones(1, 3, 16, 16)
    fit = sample_strip(cppn, target)
    assert fit.shape[1] > 1.8 * fit.shape[0] and (fit[40, 40] == 255).all()  # target first


def test_a_run_can_be_started_on_several_processes_where_the_machine_has_them(monkeypatch):
    """The control appears with more than one GPU or core, and its number reaches the command
    the run is started with (``tests/test_distributed.py`` runs one)."""
    from studio.ui import live_run
    from studio.ui.pages import train as train_page

    started = []
    monkeypatch.setattr(live_run, "start_run", lambda spec, model_cls: started.append(spec))
    monkeypatch.setattr(train_page, "processes_available", lambda: 1)
    assert "train_processes" not in [s.key for s in _page().select_slider]
    monkeypatch.setattr(train_page, "processes_available", lambda: 2)
    at = _choose(_page(), "gan", "toy2d")
    at.select_slider(key="train_processes").set_value(2).run()
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    assert started[0].processes == 2 and "--processes 2" in started[0].command()


def test_the_gan_and_the_vae_offer_a_coordinate_network_on_pictures(monkeypatch):
    """Its knobs replace the conv network's, and the run is started with its --arch."""
    from studio.ui import live_run

    started = []
    monkeypatch.setattr(live_run, "start_run", lambda *args: started.append(args))
    at = _choose(_page(), "gan", "toy2d")
    assert not at.radio  # one network for points
    at = _choose(at, "vae", "shapes")
    assert at.radio(key="train_arch_vae").options == [
        "Convolutional: draws at its training size",
        "MLP on the whole picture: draws at its training size",
        "Coordinate network: draws at any size",
    ]
    at.radio(key="train_arch_vae").set_value("vae-coord").run()
    assert at.selectbox(key="train_vae-coord_conditioning").value == "grid"
    assert at.selectbox(key="train_vae-coord_grid_norm").value == "none"
    assert at.selectbox(key="train_vae-coord_levels").value == "unit"
    at.selectbox(key="train_vae-coord_reading").set_value("spline").run()
    at.slider(key="train_vae-coord_samples").set_value(3).run()
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    ((spec, model_cls),) = started
    assert model_cls.arch == spec.architecture == "vae-coord"
    assert "--arch vae-coord" in spec.command()
    assert spec.model_config == {"reading": "spline", "samples": 3}
    at = _choose(at, "gan", "glyphs")
    at.radio(key="train_arch_gan").set_value("gan-coord").run()
    assert at.selectbox(key="train_gan-coord_grid_norm").value == "batch"  # as the DCGAN's G
    assert at.selectbox(key="train_gan-coord_levels").value == "data"


def test_the_gan_offers_a_network_told_the_class_where_the_data_has_classes(monkeypatch):
    from studio.ui import live_run
    from studio.ui.pages import train as train_page

    started = []
    monkeypatch.setattr(live_run, "start_run", lambda *args: started.append(args))
    at = _choose(_page(), "gan", "shapes")
    told = "Convolutional, told the class to draw"
    assert told in at.radio(key="train_arch_gan").options
    at.radio(key="train_arch_gan").set_value("dcgan-classes").run()
    assert at.number_input(key="train_dcgan-classes_latent_dim").value == 8
    assert at.multiselect(key="train_told_shapes").options == ["size", "x", "y"]
    at.multiselect(key="train_told_shapes").select("size").run()
    assert at.number_input(key="train_dcgan-classes_read_back").value == 1.0
    at.number_input(key="train_dcgan-classes_read_back").set_value(0.5).run()
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error
    ((spec, model_cls),) = started
    assert model_cls.conditional and "--arch dcgan-classes" in spec.command()
    assert spec.model_config["told"] == "size" and "--set told=size" in spec.command()
    assert "--set read_back=0.5" in spec.command()  # D reads back what G is told
    pictures = _choose(_page(), "gan", train_page.UPLOAD)  # the user's own: no classes known
    assert told not in pictures.radio(key="train_arch_gan").options
