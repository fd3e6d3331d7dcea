"""The model card: what a model is, what it was trained on, how well, and how to make it again."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from studio.directions import kept_factor_directions
from studio.library import CONTACT_SHEET_SUFFIXES
from studio.render.loaded import LoadedModel


def _contact_sheet(card_path: Path) -> Path | None:
    stem = card_path.with_suffix("")
    sheets = (stem.with_name(stem.name + suffix) for suffix in CONTACT_SHEET_SUFFIXES)
    return next((p for p in sheets if p.exists()), None)


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A Markdown table; pipes inside cells (as in p(x|z)) are escaped."""
    lines = [header, tuple("---" for _ in header), *rows]
    return "\n".join(
        "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |" for cells in lines
    )


def _named_directions(loaded: LoadedModel) -> None:
    """How cleanly each named direction moves its factor, where they are found."""
    directions, _ = kept_factor_directions(loaded)
    measured = [d for d in directions or () if d.cleanliness]
    if not measured:
        return
    rows = [
        (
            d.name,
            f"{d.cleanliness.rho:.2f}",
            f"{d.cleanliness.crosstalk:.0%} ({d.cleanliness.worst})",
            "clean" if d.cleanliness.clean else "misses",
        )
        for d in measured
    ]
    clean = sum(d.cleanliness.clean for d in measured)
    st.markdown(f"**Named directions**: {clean} of {len(measured)} clean")
    st.caption(
        f"Each moved +{measured[0].cleanliness.step:g} units from "
        f"{measured[0].cleanliness.starts} random codes: ρ is how steadily its factor follows "
        "(clean ≥ 0.9), and the most any other factor moves, as a share of it (clean < 25%)."
    )
    st.markdown(_table(rows, ("direction", "ρ", "others move", "")))


def show_card(loaded: LoadedModel) -> None:
    card, model = loaded.card, loaded.model
    st.markdown(
        f"**{card.title or card.id}** — {model.FAMILY_TITLE} ({card.arch}), "
        f"{model.num_params():,} parameters, latent size {model.latent_dim}"
    )
    if card.notes:
        st.caption(card.notes)
    data = card.dataset
    options = ", ".join(f"{k} {v}" for k, v in data.get("options", {}).items())
    st.markdown(
        f"Trained on **{data.get('name', 'no data')}**{f' ({options})' if options else ''} "
        f"for {card.steps:,} steps ({card.wall_time_s:.0f} s on {card.device}), seed {card.seed}."
    )
    sheet = _contact_sheet(loaded.path)
    if sheet:
        st.image(str(sheet), caption="Contact sheet: samples from the finished model")
    if card.final_terms:
        terms = {t.key: t for t in model.TERMS}
        rows = [
            (
                terms[k].label if k in terms else k,
                f"{v:.4g}",
                terms[k].caption if k in terms else "",
            )
            for k, v in card.final_terms.items()
        ]
        st.markdown("**Final loss terms** (mean of the last steps)")
        st.markdown(_table(rows, ("term", "value", "what it means")))
    scalars = {k: v for k, v in card.metrics.items() if isinstance(v, int | float | str)}
    if scalars:
        rows = [
            (k.replace("_", " "), f"{v:.4g}" if isinstance(v, float) else str(v))
            for k, v in scalars.items()
        ]
        st.markdown("**Metrics**")
        st.markdown(_table(rows, ("metric", "value")))
    details = {k: v for k, v in card.metrics.items() if k not in scalars}
    if details:
        st.json(details, expanded=False)
    _named_directions(loaded)
    if card.command:
        st.markdown("**Reproduce it**")
        st.code(card.command, language="bash", wrap_lines=True)
    st.caption(f"weights sha256 {loaded.sha256[:16]}…  ·  {loaded.path}")
