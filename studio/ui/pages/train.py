"""The Train page: pick a model, data and a budget; watch the run live; keep what it made.

Left, the settings (every default comes from the model's own config). Right, the run: a
progress bar with the time left, Stop, a strip of samples from a fixed z and the loss panel.
The run trains in a process of its own (``studio.ui.live_run``); the right-hand side is a fragment
that redraws itself twice a second while the run lasts, so the rest of the page stays usable.
Below, the user's trained models can be renamed and deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from studio.checkpoints import ModelCard
from studio.data import linear_factors
from studio.data.folder import PICTURE_TYPES
from studio.data.image import TARGETS
from studio.data.toy2d import SHAPES as TOY_SHAPES
from studio.distributed import processes_available
from studio.errors import StudioError
from studio.library import (
    check_new_id,
    delete_model,
    discard_uploads,
    rename_model,
    save_uploads,
    user_models,
)
from studio.models import GenerativeModel, archs_for, datasets_of, families, model_class
from studio.models.base import MAX_SEED
from studio.train import TrainSpec, default_id, load_training_data
from studio.ui import live_run
from studio.ui.app_state import get_renderer
from studio.ui.hints import diagnose
from studio.ui.loss_panel import formula_legend, loss_charts, show_hints
from studio.ui.options import BATCH_SIZES, knob_widget

REFRESH_S = 0.5  # the live view's redraw period: the loss curves move at least twice a second
BUDGET_S = (10, 300)
DEFAULT_BUDGET_S = 30

UPLOAD = "upload"
UPLOADED = ("image", "folder")  # the datasets that read the user's own pictures
PICTURE_SIZES = {"image": ((32, 64, 128), 64), "folder": ((32, 64), 32)}  # choices, default
DATA_LABELS = {
    "image": "A built-in picture",
    "glyphs": "Glyphs: letters and digits, 32×32 gray",
    "shapes": "Shapes: coloured shapes, 32×32",
    "toy2d": "2-D points: the game in the plane",
    UPLOAD: "Your pictures: a .zip or several images",
}
UPLOAD_TYPES = (*PICTURE_TYPES, "zip")

PICK = "train_manage_pick"  # the model to select in "Your models" on the next run


@dataclass
class Request:
    """What the settings column asked for, before anything is checked or written."""

    family: str
    dataset: str
    data_options: dict[str, Any]
    model_config: dict[str, Any]
    seconds: int
    batch_size: int
    seed: int
    name: str
    arch: str
    uploads: list[tuple[str, bytes]] = field(default_factory=list)
    processes: int = 1


def page() -> None:
    st.title("Train")
    st.caption(
        "Teach a model on bundled data or your own pictures, and watch every term of its loss "
        "move while it learns. Finished models appear in Explore."
    )
    run = live_run.current_run()
    busy = run is not None and run.running
    settings, live = st.columns([1, 2], gap="large")
    with settings:
        request = _settings(disabled=busy)
        clicked = st.button(
            "Start training", key="train_start", type="primary", disabled=busy, width="stretch"
        )
        if clicked and _start(request):
            st.rerun()  # redraw the settings as locked while the run lasts
    with live:
        if run is None:
            _empty_state(model_class(request.arch))
        else:
            formula_legend(run.model_cls.TERMS, run.model_cls.FORMULA)
            st.fragment(_live_view, run_every=REFRESH_S if run.running else None)(run)
    st.divider()
    _your_models()


# ---------------------------------------------------------------- settings


def _settings(*, disabled: bool) -> Request:
    kinds = families()
    family = st.selectbox(
        "Model",
        list(kinds),
        format_func=lambda family: kinds[family].FAMILY_TITLE,
        key="train_family",
        disabled=disabled,
    )
    st.caption(kinds[family].FAMILY_BLURB)
    dataset = st.selectbox(
        "Data",
        _data_choices(family),
        format_func=DATA_LABELS.get,
        key=f"train_data_{family}",
        disabled=disabled,
    )
    trains_on = _dataset_name(family, dataset)
    data_options: dict[str, Any] = {}
    uploads: list[tuple[str, bytes]] = []
    if dataset == UPLOAD:
        single = trains_on == "image"
        files = st.file_uploader(
            "A picture to paint" if single else "A .zip of pictures, or several pictures",
            type=list(PICTURE_TYPES if single else UPLOAD_TYPES),
            accept_multiple_files=not single,
            key=f"train_upload_{family}",
            disabled=disabled,
        )
        files = [files] if single and files else files or []
        uploads = [(f.name, f.getvalue()) for f in files]
    elif dataset == "image":
        data_options["target"] = st.selectbox(
            "Picture", TARGETS, key="train_target", disabled=disabled
        )
    elif dataset == "toy2d":
        data_options["shape"] = st.selectbox(
            "Point cloud", TOY_SHAPES, key="train_toy_shape", disabled=disabled
        )
    arch = _network(family, trains_on, disabled=disabled)
    if trains_on in PICTURE_SIZES:
        sizes, default = PICTURE_SIZES[trains_on]
        data_options["size"] = st.select_slider(
            "Picture size (px)", sizes, default, key=f"train_{trains_on}_size", disabled=disabled
        )
    seconds = st.slider(
        "Time budget (seconds)",
        *BUDGET_S,
        DEFAULT_BUDGET_S,
        step=5,
        key="train_seconds",
        disabled=disabled,
    )
    told = _told(arch, dataset, disabled=disabled)
    with st.expander("Settings"):
        model_config = _knobs(model_class(arch), disabled=disabled) | told
        batch_size = st.select_slider(
            "Batch size", BATCH_SIZES, 64, key="train_batch", disabled=disabled
        )
        seed = int(st.number_input("Seed", 0, MAX_SEED, 0, key="train_seed", disabled=disabled))
        processes = _processes(disabled=disabled)
    name = st.text_input(
        "Name (optional)",
        key="train_name",
        disabled=disabled,
        placeholder=f"{family}-{trains_on}-<date>-<time>",
        help="lower-case letters, digits, '.', '_' or '-'",
    )
    return Request(
        family,
        dataset,
        data_options,
        model_config,
        seconds,
        batch_size,
        seed,
        name,
        arch,
        uploads,
        processes,
    )


def _network(family: str, dataset: str, *, disabled: bool) -> str:
    """Which of the family's networks to train, asked where it has more than one for the data."""
    archs = archs_for(family, dataset)
    if len(archs) == 1:
        return archs[0]
    return st.radio(
        "Network",
        archs,
        format_func=lambda arch: model_class(arch).GENERATOR_TITLE,
        key=f"train_arch_{family}",
        disabled=disabled,
        help="a coordinate network draws each pixel from its position, so its pictures come "
        "sharp at any size; it trains a few times slower. A network told the class learns the "
        "data's classes too: in Explore you pick the kind of shape or the character it draws",
    )


def _told(arch: str, dataset: str, *, disabled: bool) -> dict[str, Any]:
    """For a network told the class, the data's factors it may be told too (``told``)."""
    factors = linear_factors(dataset)
    if not (model_class(arch).conditional and factors):
        return {}
    picked = st.multiselect(
        "Also told",
        factors,
        key=f"train_told_{dataset}",
        disabled=disabled,
        placeholder="only the class",
        help="each factor picked becomes the first numbers of z, smaller to larger: a slider "
        "that grows (or moves) every picture in a straight line, where a GAN left to find "
        "the factor itself may fold it",
    )
    return {"told": ",".join(picked)} if picked else {}


def _processes(*, disabled: bool) -> int:
    """How many processes to train on, offered where the machine has more than one GPU (or,
    without GPUs, more than one core)."""
    available = processes_available()
    if available < 2:
        return 1
    return st.select_slider(
        "Processes",
        list(range(1, available + 1)),
        1,
        key="train_processes",
        disabled=disabled,
        help="each takes a share of every batch (one GPU each, or CPU cores) and their "
        "gradients are averaged: the same run, sooner where there is hardware to share",
    )


def _data_choices(family: str) -> list[str]:
    """The family's datasets, with one choice to upload pictures for whichever reads them."""
    datasets = datasets_of(family)
    choices = [d for d in datasets if d != "folder"]
    return choices + [UPLOAD] if any(d in UPLOADED for d in datasets) else choices


def _dataset_name(family: str, choice: str) -> str:
    """The dataset a data choice trains on: an upload goes to the family's reader of pictures."""
    if choice != UPLOAD:
        return choice
    return next(d for d in datasets_of(family) if d in UPLOADED)


def _knobs(model_cls: type[GenerativeModel], *, disabled: bool) -> dict[str, Any]:
    """A widget per Train-page knob of the model, seeded with its config's default; returns the
    values that differ."""
    changed = {}
    for knob in model_cls.train_knobs():
        value = knob_widget(knob, key=f"train_{model_cls.arch}_{knob.name}", disabled=disabled)
        if value != knob.value:
            changed[knob.name] = value
    return changed


# ---------------------------------------------------------------- starting a run


def _start(request: Request) -> bool:
    """Check the request, keep any uploads, start the run; a user's mistake is shown, not raised."""
    data_path: Path | None = None
    try:
        uploaded = request.dataset == UPLOAD
        dataset = _dataset_name(request.family, request.dataset)
        spec = TrainSpec(
            family=request.family,
            dataset=dataset,
            data_options=request.data_options,
            model_config=request.model_config,
            seconds=request.seconds,
            batch_size=request.batch_size,
            seed=request.seed,
            device="auto",
            processes=request.processes,
            arch=request.arch if request.arch != archs_for(request.family, dataset)[0] else "",
        )
        spec.id = check_new_id(request.name or default_id(spec))
        if uploaded:
            if not request.uploads:
                raise StudioError("upload your pictures first (a .zip, or several images)")
            single = spec.dataset == "image"
            data_path = save_uploads(spec.id, request.uploads, single=single)
            spec.data_path = str(data_path)
            with st.spinner("Reading your pictures…"):
                load_training_data(spec, spec.model_config)  # bad pictures: said before a start
    except StudioError as err:
        if data_path is not None:
            discard_uploads(data_path)
        st.error(str(err))
        return False
    live_run.start_run(spec, model_class(request.arch))
    return True


# ---------------------------------------------------------------- the run


def _empty_state(model_cls: type[GenerativeModel]) -> None:
    formula_legend(model_cls.TERMS, model_cls.FORMULA)
    st.info(
        "Choose a model, its data and a budget, then press **Start training**. The run's "
        "samples and every term of its loss appear here as it learns."
    )


def _live_view(run: live_run.SessionRun) -> None:
    """Progress, Stop, samples and curves; reruns itself every REFRESH_S while the run lasts."""
    run.poll()
    if run.running:
        _progress(run)
        for notice in run.job.notices:  # the card keeps them too: shown by _outcome at the end
            st.info(notice, icon=":material/info:")
    else:
        _outcome(run)
    if run.job.preview is not None:
        image = run.job.preview.picture
        step = run.latest.step if run.latest else 0
        st.image(
            image,
            caption=f"{run.model_cls.PREVIEW_CAPTION} · step {step:,}",
            width="stretch" if image.shape[1] > image.shape[0] * 2 else 360,
        )
    show_hints(diagnose(run.reports, error=run.job.error, diversity=run.diversity))
    loss_charts(run.model_cls.TERMS, run.reports, key="train_loss")
    if not run.running and not run.shown_end:
        run.shown_end = True
        st.rerun()  # the whole page: Start is usable again and the new model is listed


def _progress(run: live_run.SessionRun) -> None:
    bar, stop = st.columns([5, 1], vertical_alignment="bottom")
    report = run.latest
    if report is None:
        bar.progress(0.0, text="Starting: loading the data and building the model…")
    else:
        left = run.seconds_left()
        eta = f" · about {left:.0f} s left" if left is not None else ""
        bar.progress(
            report.progress,
            text=f"{report.progress:.0%} · step {report.step:,} · {report.elapsed:.0f} s{eta}",
        )
    if stop.button(
        "Stop",
        key="train_stop",
        icon=":material/stop:",
        width="stretch",
        help="Stop now and keep the model as it is",
    ):
        live_run.stop_run()
        st.toast("Stopping after this step; the model so far is kept.")


def _outcome(run: live_run.SessionRun) -> None:
    """How the run ended (a user's mistake, such as bad data, is shown by the hints below)."""
    result = run.job.result
    if result is None and run.job.error is None:
        st.error("The run ended unexpectedly; the details are in the server log.")
    elif result is not None and result.save_error:
        st.error(f"The run finished but could not be saved where it belongs: {result.save_error}")
    elif result is not None:
        card = result.card
        where = "It is in Explore now, with its card."
        if card.notes and not result.error:  # a divergence is said just below, and in the hints
            st.info(card.notes, icon=":material/info:")
        if result.error:
            st.warning(f"Saved **{card.id}** with the weights from before it diverged. {where}")
        elif result.stopped_early:
            st.success(
                f"Stopped at step {card.steps:,}; the model so far is saved as **{card.id}**. "
                f"{where}"
            )
        else:
            st.success(
                f"Saved **{card.id}**: {card.steps:,} steps in {card.wall_time_s:.0f} s. {where}"
            )
        with st.expander("Rerun it from a terminal"):
            st.code(card.command, language="bash")
    if st.button("Close", key="train_close", help="Clear this run from the page; its model stays"):
        live_run.forget_run()
        st.rerun()


# ---------------------------------------------------------------- the user's models


def _your_models() -> None:
    st.subheader("Your models")
    cards = user_models()
    if not cards:
        st.caption("Models you train are kept in your studio folder and listed here.")
        return
    by_id = {card.id: card for card in cards}
    if st.session_state.get(PICK) in by_id:  # a rename just happened: keep its model selected
        st.session_state["train_manage_model"] = st.session_state.pop(PICK)
    picked = st.selectbox("Model", list(by_id), key="train_manage_model")
    card = by_id[picked]
    st.caption(_card_line(card))
    rename_col, delete_col = st.columns(2, vertical_alignment="bottom")
    with rename_col:
        new_id = st.text_input("New name", key="train_new_name", placeholder=card.id)
        if st.button("Rename", key="train_rename"):
            _manage(lambda: rename_model(card.id, new_id), card.id, new_id.strip())
    with delete_col:
        sure = st.checkbox(f"Yes, delete {card.id} and its files", key="train_delete_sure")
        if st.button("Delete", key="train_delete", disabled=not sure):
            _manage(lambda: delete_model(card.id), card.id, None)


def _card_line(card: ModelCard) -> str:
    data = card.dataset.get("name", "?")
    terms = ", ".join(f"{k} {v:.4g}" for k, v in list(card.final_terms.items())[:4])
    return (
        f"{card.arch} on {data} · {card.steps:,} steps · {card.wall_time_s:.0f} s · "
        f"{card.created}" + (f" · {terms}" if terms else "")
    )


def _manage(action: Callable[[], object], old_id: str, new_id: str | None) -> None:
    """Rename (to ``new_id``) or delete, then let the renderer drop the old id."""
    try:
        action()
    except StudioError as err:
        st.error(str(err))
        return
    get_renderer().forget(old_id)
    for key in ("train_new_name", "train_delete_sure"):
        st.session_state.pop(key, None)
    if new_id:
        st.session_state[PICK] = new_id
    st.toast(f"Renamed {old_id} to {new_id}." if new_id else f"Deleted {old_id}.")
    st.rerun()
