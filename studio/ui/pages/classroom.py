"""The Classroom: a GAN and a VAE learning live in front of the class.

In the spirit of GAN Lab and TensorFlow Playground. The labs themselves are plain objects in
``studio.classroom``, one per session; this page steps them. While a lab plays, its view is a
fragment that reruns itself every ``FRAME_S``: it trains for ``TRAIN_S`` (never longer), then
draws the new state, so the page stays responsive and the picture moves several times a second.
The loss panel, shared with the Train page, refreshes in its own, slower fragment.

"Lesson" hides the advanced controls so only presets, data, play/pause/step/reset and β remain;
"Large type" enlarges everything for a projector.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch

from studio.classroom import (
    AVERAGE_DECAY,
    DEFAULT_PRESET,
    FRAME_S,
    GLYPHS,
    GRID_LINES,
    HIST_BINS,
    KNN_K,
    LATENT_SPAN,
    POINTS,
    PRESETS,
    RD_EVERY,
    TRAIN_S,
    GanLab,
    GanSettings,
    Lab,
    VaeFrame,
    VaeLab,
    draw_gan,
)
from studio.data.toy2d import SHAPES
from studio.models.base import MAX_SEED
from studio.ui import app_state
from studio.ui.loss_panel import PALETTE, SERIES, chart_template, loss_panel, with_data
from studio.ui.options import BATCH_SIZES, LEARNING_RATES

LOSS_REFRESH_S = 1.0

LABS = {"gan": "GAN in 2-D", "vae": "VAE with a 2-D latent"}
LAB = "classroom_lab"
LESSON = "classroom_lesson"
LARGE = "classroom_large"
LARGE_TYPE_CSS = """<style>
html { font-size: 22px; }
[data-testid="stCaptionContainer"] { font-size: 0.9rem; }
</style>"""

SHAPE_LABELS = {
    "ring8": "Ring of 8 Gaussians",
    "grid25": "5 × 5 grid of Gaussians",
    "spiral": "Spiral",
    "moons": "Two moons",
}
GAN_WIDTHS = (16, 32, 64, 128, 256)
BETAS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
G_LOSSES = {
    "non_saturating": "non-saturating: −log D(G(z))",
    "saturating": "saturating: log(1 − D(G(z)))",
}
LATENT_MAP_PX = 420
RATE_DISTORTION_PX = 260


def page() -> None:
    _follow_thread_policy()
    st.session_state.setdefault(LESSON, False)
    st.session_state.setdefault(LARGE, False)
    if st.session_state[LARGE]:
        st.html(LARGE_TYPE_CSS)
    st.title("Classroom")
    st.caption(
        "Watch a GAN and a VAE learn, live, on this computer. Pick a preset, press Play, "
        "and pause or step through it to talk about what you see."
    )
    which, lesson, large = st.columns([2, 1, 1], vertical_alignment="bottom")
    lab = which.segmented_control(
        "Lab",
        list(LABS),
        format_func=LABS.get,
        key=LAB,
        default="gan",
        required=True,
        on_change=_pause_both,
        help="Switching pauses the lab you leave; it keeps its state for when you come back.",
    )
    lesson.toggle(
        "Lesson",
        key=LESSON,
        help="Hide the advanced controls: presets, data, play, pause, step and reset remain.",
    )
    large.toggle("Large type", key=LARGE, help="Bigger text and numbers for a projector.")
    if lab == "gan":
        _gan_page(lesson=st.session_state[LESSON])
    else:
        _vae_page(lesson=st.session_state[LESSON])


def _follow_thread_policy() -> None:
    """The labs train in this script thread, so it needs the app's torch thread count (one on a
    two-core machine) even when no other page has set it yet: a second torch thread on busy
    cores mostly waits, and slowed the 2-D GAN's steps many times over."""
    threads = app_state.torch_threads()
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------- state shared by both labs


@dataclasses.dataclass(frozen=True)
class LabKeys:
    """Where one lab keeps its state in the session."""

    name: str

    @property
    def lab(self) -> str:
        return f"classroom_{self.name}"

    @property
    def playing(self) -> str:
        return f"classroom_{self.name}_playing"

    def setting(self, field: str) -> str:
        return f"classroom_{self.name}_{field}"


GAN, VAE = LabKeys("gan"), LabKeys("vae")


def _pause_both() -> None:
    for keys in (GAN, VAE):
        st.session_state[keys.playing] = False


def _get_lab(keys: LabKeys, build: Callable[[], Lab]) -> Any:
    if keys.lab not in st.session_state:
        with st.spinner("Setting up the lab…"):
            st.session_state[keys.lab] = build()
        st.session_state[keys.playing] = False
    return st.session_state[keys.lab]


def _set_playing(keys: LabKeys, playing: bool) -> None:
    st.session_state[keys.playing] = playing


def _single_step(keys: LabKeys) -> None:
    st.session_state[keys.playing] = False
    st.session_state[keys.lab].step()


def _reset(keys: LabKeys) -> None:
    st.session_state[keys.playing] = False
    st.session_state[keys.lab].reset()


def _transport(keys: LabKeys) -> None:
    """Play/Pause, Step and Reset: callbacks, so the state changes before the page redraws."""
    playing = st.session_state[keys.playing]
    play, step, reset = st.columns(3)
    play.button(
        "Pause" if playing else "Play",
        key=f"{keys.lab}_play",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        type="primary",
        width="stretch",
        on_click=_set_playing,
        args=(keys, not playing),
        help="Train continuously and redraw several times a second; press again to pause.",
    )
    step.button(
        "Step",
        key=f"{keys.lab}_step",
        icon=":material/skip_next:",
        width="stretch",
        on_click=_single_step,
        args=(keys,),
        help="Pause, then take exactly one training step (for the GAN: the D steps, then one "
        "G step).",
    )
    reset.button(
        "Reset",
        key=f"{keys.lab}_reset",
        icon=":material/restart_alt:",
        width="stretch",
        on_click=_reset,
        args=(keys,),
        help="Start again from freshly initialised networks (same settings and seed).",
    )


def _setting_state(keys: LabKeys, settings: Any) -> None:
    """Give every setting's widget its value from the lab unless it already has one (a widget
    that was hidden in lesson mode lost its state, so it comes back with the lab's value)."""
    for field in dataclasses.fields(settings):
        st.session_state.setdefault(keys.setting(field.name), getattr(settings, field.name))


def _settings_from_widgets(keys: LabKeys, settings: Any) -> Any:
    """The lab's settings with every shown widget's value in place."""
    shown = {
        f.name: st.session_state[keys.setting(f.name)]
        for f in dataclasses.fields(settings)
        if keys.setting(f.name) in st.session_state
    }
    return dataclasses.replace(settings, **shown)


def _apply(keys: LabKeys, lab: Lab, settings: Any) -> None:
    if lab.update(settings):
        st.session_state[keys.playing] = False
        st.toast("New settings, new networks: the lab starts again from step 0.")


def _live(keys: LabKeys, view: Callable[[], None], loss: Callable[[], None]) -> None:
    playing = st.session_state[keys.playing]
    st.fragment(view, run_every=FRAME_S if playing else None)()
    st.divider()
    st.fragment(loss, run_every=LOSS_REFRESH_S if playing else None)()


def _advance(keys: LabKeys, lab: Lab) -> None:
    """While playing, train for one frame's share of time; a diverged run pauses the lab."""
    if not st.session_state[keys.playing]:
        return
    lab.train_for(TRAIN_S)
    if lab.error:
        st.session_state[keys.playing] = False
        st.rerun(scope="app")  # stops the timer that reruns this fragment


def _lr_slider(label: str, key: str, *, help: str) -> None:
    options = sorted({*LEARNING_RATES, st.session_state[key]})
    st.select_slider(label, options, key=key, format_func="{:g}".format, help=help)


# ---------------------------------------------------------------- the GAN lab


def _gan() -> GanLab:
    return _get_lab(GAN, lambda: GanLab(PRESETS[DEFAULT_PRESET].settings))


def _choose_preset() -> None:
    preset = PRESETS[st.session_state["classroom_gan_preset"]]
    lab = _gan()
    lab.settings = preset.settings
    lab.reset()
    st.session_state[GAN.playing] = False
    for field in dataclasses.fields(GanSettings):
        st.session_state[GAN.setting(field.name)] = getattr(preset.settings, field.name)


def _gan_page(*, lesson: bool) -> None:
    lab = _gan()
    _setting_state(GAN, lab.settings)
    st.session_state.setdefault("classroom_gan_preset", DEFAULT_PRESET)
    preset_col, data_col = st.columns(2)
    preset = preset_col.selectbox(
        "Preset",
        list(PRESETS),
        format_func=lambda name: PRESETS[name].title,
        key="classroom_gan_preset",
        on_change=_choose_preset,
        help="Settings that show one thing about GAN training; choosing one starts afresh.",
    )
    data_col.selectbox(
        "Data",
        SHAPES,
        format_func=SHAPE_LABELS.get,
        key=GAN.setting("shape"),
        help="The real points the generator learns to imitate. Changing it starts afresh.",
    )
    st.info(PRESETS[preset].lesson, icon=":material/school:")
    if not lesson:
        _gan_advanced()
    _apply(GAN, lab, _settings_from_widgets(GAN, lab.settings))
    _transport(GAN)
    _live(GAN, _gan_view, _gan_loss)


def _gan_advanced() -> None:
    with st.expander("Advanced settings", expanded=False):
        left, middle, right = st.columns(3)
        with left:
            _lr_slider(
                "Generator learning rate",
                GAN.setting("lr_g"),
                help="How big a step G takes along its gradient (Adam).",
            )
            _lr_slider(
                "Discriminator learning rate",
                GAN.setting("lr_d"),
                help="How big a step D takes; lower it when D wins outright.",
            )
        with middle:
            st.slider(
                "D steps per G step",
                1,
                10,
                key=GAN.setting("d_steps"),
                help="Discriminator updates before each generator update.",
            )
            st.select_slider(
                "Batch size",
                BATCH_SIZES,
                key=GAN.setting("batch_size"),
                help="Real points (and as many generated ones) per step.",
            )
        with right:
            st.select_slider(
                "Network width",
                GAN_WIDTHS,
                key=GAN.setting("width"),
                help=f"Units in each of the {GanSettings.depth} hidden layers of G and of D. "
                "Changing it starts afresh.",
            )
            st.radio(
                "Generator loss",
                list(G_LOSSES),
                format_func=G_LOSSES.get,
                key=GAN.setting("g_loss"),
                help="Non-saturating is what G minimises in practice; the saturating loss of the "
                "original minimax game goes flat when D is sure G's points are fake.",
            )
        st.number_input(
            "Seed",
            0,
            MAX_SEED,
            key=GAN.setting("seed"),
            help="Initial weights, data and batches; the same seed replays the same run. "
            "Changing it starts afresh.",
        )


def _gan_view() -> None:
    lab = _gan()
    _advance(GAN, lab)
    frame = lab.frame()
    r = frame.readout
    cells = st.columns(6)
    cells[0].metric("Step", f"{r.step:,}", help="Training steps so far: D steps, then a G step.")
    if r.modes_covered is not None:
        cells[1].metric(
            "Modes",
            f"{r.modes_covered} / {r.modes_total}",
            help="Modes covered: those holding at least a quarter of their fair share of the "
            f"high-quality samples (Metz et al. 2017), out of {POINTS:,} generated points.",
        )
        cells[2].metric(
            "Modes, averaged G",
            f"{r.average_modes_covered} / {r.modes_total}",
            help="The same count for a generator whose weights are the moving average of G's "
            f"over the last ~{1 / (1 - AVERAGE_DECAY):.0f} steps. The game keeps G's points "
            "wobbling on and off a mode; the average sits nearer the equilibrium, so this count "
            "stays put once G has found the modes.",
        )
        cells[3].metric(
            "On target",
            f"{r.high_quality_share:.0%}",
            help="High-quality samples: generated points within 3 standard deviations of a "
            "mode's centre.",
        )
    else:
        for cell, label in zip(
            cells[1:4], ("Modes", "Modes, averaged G", "On target"), strict=True
        ):
            cell.metric(label, "—", help="Only the ring and the grid have modes to count.")
    cells[4].metric(
        "JS divergence",
        f"{r.js_bits:.2f} bits",
        help=f"Jensen–Shannon divergence between the real and the generated densities, "
        f"estimated from {HIST_BINS}×{HIST_BINS} histograms over the view, lightly blurred. "
        f"0 means the same, 1 disjoint; two real samples of this size read "
        f"{r.js_floor_bits:.3f}.",
    )
    cells[5].metric(
        "D(x) · D(G(z))",
        f"{r.d_real:.2f} · {r.d_fake:.2f}",
        help="D's mean probability that real points are real, and that generated ones are. "
        "At 0.5 · 0.5 D cannot tell them apart.",
    )
    data_space, manifold = draw_gan(frame)
    left, right = st.columns(2)
    left.image(data_space, width="stretch", output_format="JPEG")
    left.caption(
        "**Data space.** White: real points. Orange: the generator's points G(z) for the same "
        f"{POINTS:,} codes z every frame. Background: the discriminator's D(x), green where it "
        "says 'real', purple where it says 'fake', dark where it cannot tell; the white line "
        "is D(x) = 0.5, its decision boundary."
    )
    right.image(manifold, width="stretch", output_format="JPEG")
    right.caption(
        f"**The generator's manifold.** Orange: G's image of a {GRID_LINES}×{GRID_LINES} grid "
        f"of codes spanning [−{LATENT_SPAN:g}, {LATENT_SPAN:g}]² of the 2-D latent space, "
        f"warped to fit the data. Blue arrows: the gradient G receives there, "
        f"−∂(G's loss)/∂x, the way its next step moves those points. Arrows grow with the "
        f"gradient and level off, so a flat loss shows none (mean gradient now {r.push:.3g})."
    )
    if lab.error:
        st.error(lab.error)


def _gan_loss() -> None:
    lab = _gan()
    model = lab.model
    loss_panel(model.TERMS, model.FORMULA, lab.reports, error=lab.error, key="classroom_gan_loss")


# ---------------------------------------------------------------- the VAE lab


def _vae() -> VaeLab:
    return _get_lab(VAE, VaeLab)


def _vae_page(*, lesson: bool) -> None:
    lab = _vae()
    _setting_state(VAE, lab.settings)
    st.info(
        f"A VAE with a 2-D latent space learns {GLYPHS:,} digit glyphs. Left: where it puts "
        "held-out digits in its latent plane. Right: what it draws at each point of that plane. "
        "Raise β and watch the codes crowd towards the prior and the drawings blur; at large β "
        "the codes stop carrying information (posterior collapse).",
        icon=":material/school:",
    )
    st.select_slider(
        "β (weight on the KL term)",
        BETAS,
        key=VAE.setting("beta"),
        format_func="{:g}".format,
        help="The loss is −(reconstruction − β·KL). β = 1 is the ELBO; above 1 trades "
        "reconstruction for codes closer to the prior N(0, I). Applies from the next step.",
    )
    if not lesson:
        _vae_advanced()
    _apply(VAE, lab, _settings_from_widgets(VAE, lab.settings))
    _transport(VAE)
    _live(VAE, _vae_view, _vae_loss)


def _vae_advanced() -> None:
    with st.expander("Advanced settings", expanded=False):
        left, middle, right = st.columns(3)
        with left:
            _lr_slider("Learning rate", VAE.setting("lr"), help="Adam's step size.")
        with middle:
            st.select_slider(
                "Batch size", BATCH_SIZES, key=VAE.setting("batch_size"), help="Images per step."
            )
        with right:
            st.number_input(
                "Seed",
                0,
                MAX_SEED,
                key=VAE.setting("seed"),
                help="Initial weights, data and batches. Changing it starts afresh.",
            )


def _vae_view() -> None:
    lab = _vae()
    _advance(VAE, lab)
    frame = lab.frame()
    r = frame.readout
    cells = st.columns(4)
    cells[0].metric("Step", f"{r.step:,}", help="Training steps so far.")
    cells[1].metric(
        "Classes apart",
        f"{r.knn_accuracy:.0%}",
        help=f"How well the latent map separates the digits: the share of held-out codes "
        f"whose {KNN_K} nearest other codes are mostly of the same digit (leave-one-out k-NN "
        f"accuracy). Chance is {r.chance:.0%}.",
    )
    cells[2].metric(
        "Rate (KL)",
        _nats(r.rate),
        help="KL(q(z|x) ‖ p(z)) per image: how much the codes say about each image. Near 0: "
        f"posterior collapse. Mean over the last {RD_EVERY} steps.",
    )
    cells[3].metric(
        "Distortion",
        _nats(r.distortion),
        help="−E_q[log p(x|z)] per image: how badly the decoder redraws an image from its code. "
        f"Mean over the last {RD_EVERY} steps.",
    )
    left, right = st.columns(2)
    with left:
        st.vega_lite_chart(spec=latent_map(frame), width="stretch", height=LATENT_MAP_PX)
        st.caption(
            f"**Latent map.** Each dot is a held-out digit's code μ(x), coloured by digit (hover "
            f"for it). Classes apart when the colours form islands. The square is the region "
            f"decoded on the right, [−{frame.span:g}, {frame.span:g}]²."
        )
    with right:
        st.image(frame.manifold, width="stretch", clamp=True)
        st.caption(
            "**Decoded manifold.** What the decoder draws at each point of an even grid over "
            "the square on the left (z₁ left to right, z₂ bottom to top)."
        )
    st.vega_lite_chart(spec=rate_distortion(frame), width="stretch", height=RATE_DISTORTION_PX)
    st.caption(
        f"**Rate–distortion.** Every point is the mean of {RD_EVERY} training steps, coloured "
        "by the β it trained with; the ringed one is now. Down is better reconstruction, left "
        "is less information in the codes. Raising β slides the model left and up along the "
        "trade-off; at rate ≈ 0 the posterior has collapsed onto the prior."
    )
    if lab.error:
        st.error(lab.error)


def _vae_loss() -> None:
    lab = _vae()
    model = lab.model
    loss_panel(model.TERMS, model.FORMULA, lab.reports, error=lab.error, key="classroom_vae_loss")


def _nats(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f} nats"


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
