"""The VAE lab's page: β and settings, the latent map, the decoded grid, rate and distortion."""

from __future__ import annotations

import math

import streamlit as st

from studio.classroom import (
    GLYPHS,
    KNN_K,
    RD_EVERY,
    VaeLab,
)
from studio.models.base import MAX_SEED
from studio.ui.loss_panel import loss_panel
from studio.ui.options import BATCH_SIZES
from studio.ui.pages.classroom.charts import latent_map, rate_distortion
from studio.ui.pages.classroom.controls import (
    VAE,
    advance,
    get_lab,
    lr_slider,
    readouts,
    run_lab,
    setting_state,
)

BETAS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
LATENT_MAP_PX = 420
RATE_DISTORTION_PX = 260


# ---------------------------------------------------------------- the VAE lab


def _vae() -> VaeLab:
    return get_lab(VAE, VaeLab)


def vae_page(*, lesson: bool) -> None:
    lab = _vae()
    setting_state(VAE, lab.settings)
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
    run_lab(VAE, lab, _vae_view, _vae_loss)


def _vae_advanced() -> None:
    with st.expander("Advanced settings", expanded=False):
        left, middle, right = st.columns(3)
        with left:
            lr_slider("Learning rate", VAE.setting("lr"), help="Adam's step size.")
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
    advance(VAE, lab)
    frame = lab.frame()
    r = frame.readout
    cells = readouts(4)
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
