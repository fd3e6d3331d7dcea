"""The GAN lab's page: presets, data, settings, the live view of the plane and the loss."""

from __future__ import annotations

import dataclasses

import streamlit as st

from studio.classroom import (
    AVERAGE_DECAY,
    DEFAULT_PRESET,
    GRID_LINES,
    HIST_BINS,
    LATENT_SPAN,
    POINTS,
    PRESETS,
    GanLab,
    GanSettings,
    draw_gan,
)
from studio.data.toy2d import SHAPES
from studio.models.base import MAX_SEED
from studio.ui.loss_panel import loss_panel
from studio.ui.options import BATCH_SIZES
from studio.ui.pages.classroom.controls import (
    GAN,
    advance,
    get_lab,
    lr_slider,
    readouts,
    run_lab,
    setting_state,
)

SHAPE_LABELS = {
    "ring8": "Ring of 8 Gaussians",
    "grid25": "5 × 5 grid of Gaussians",
    "spiral": "Spiral",
    "moons": "Two moons",
}
GAN_WIDTHS = (16, 32, 64, 128, 256)
G_LOSSES = {
    "non_saturating": "non-saturating: −log D(G(z))",
    "saturating": "saturating: log(1 − D(G(z)))",
}


# ---------------------------------------------------------------- the GAN lab


def _gan() -> GanLab:
    return get_lab(GAN, lambda: GanLab(PRESETS[DEFAULT_PRESET].settings))


def _choose_preset() -> None:
    preset = PRESETS[st.session_state["classroom_gan_preset"]]
    lab = _gan()
    lab.settings = preset.settings
    lab.reset()
    st.session_state[GAN.playing] = False
    for field in dataclasses.fields(GanSettings):
        st.session_state[GAN.setting(field.name)] = getattr(preset.settings, field.name)


def gan_page(*, lesson: bool) -> None:
    lab = _gan()
    setting_state(GAN, lab.settings)
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
    run_lab(GAN, lab, _gan_view, _gan_loss)


def _gan_advanced() -> None:
    with st.expander("Advanced settings", expanded=False):
        left, middle, right = st.columns(3)
        with left:
            lr_slider(
                "Generator learning rate",
                GAN.setting("lr_g"),
                help="How big a step G takes along its gradient (Adam).",
            )
            lr_slider(
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
    advance(GAN, lab)
    frame = lab.frame()
    r = frame.readout
    cells = readouts(6)
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
