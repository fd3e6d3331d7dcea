"""The Train page: pick a model, data and a budget; watch the run live; keep what it made.

Left, the settings (every default comes from the model's own config). Right, the run: a
progress bar with the time left, Stop, a strip of samples from a fixed z and the loss panel.
The run trains on a background thread (``studio.ui.live_run``); the right-hand side is a fragment
that redraws itself twice a second while the run lasts, so the rest of the page stays usable.
Below, the user's trained models can be renamed and deleted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from studio.checkpoints import ModelCard
from studio.data import load_dataset
from studio.data.folder import PICTURE_TYPES
from studio.data.image import TARGETS
from studio.data.toy2d import SHAPES as TOY_SHAPES
from studio.errors import StudioError
from studio.imaging import to_uint8
from studio.library import (
    check_new_id,
    delete_model,
    discard_uploads,
    rename_model,
    save_uploads,
    user_models,
)
from studio.models import GenerativeModel, arch_for, model_class
from studio.train import TrainSpec, default_id
from studio.ui import live_run
from studio.ui.app_state import get_renderer
from studio.ui.loss_panel import diagnose, formula_legend, loss_charts, show_hints

REFRESH_S = 0.5  # the live view's redraw period: the loss curves move at least twice a second
BUDGET_S = (10, 300)
DEFAULT_BUDGET_S = 30

FAMILIES = {
    "mlp": ("MLP (CPPN)", "Paints one picture from its pixel coordinates."),
    "gan": ("GAN", "A generator and a discriminator play a game; the generator learns to draw."),
    "vae": ("VAE", "Encodes pictures into codes and decodes them, maximising the ELBO."),
}
UPLOAD = "upload"
DATA_CHOICES = {
    "mlp": ("image", UPLOAD),
    "gan": ("glyphs", "shapes", "toy2d", UPLOAD),
    "vae": ("glyphs", "shapes", UPLOAD),
}
DATA_LABELS = {
    "image": "A built-in picture",
    "glyphs": "Glyphs: letters and digits, 32×32 gray",
    "shapes": "Shapes: coloured shapes, 32×32",
    "toy2d": "2-D points: the game in the plane",
    UPLOAD: "Your pictures: a .zip or several images",
}
UPLOAD_TYPES = (*PICTURE_TYPES, "zip")

# The few knobs worth turning, per architecture; defaults and ranges come from its Config.
KNOBS = {
    "cppn": ("width", "depth", "activation"),
    "dcgan": ("latent_dim", "lr_g", "lr_d", "d_steps", "g_loss"),
    "gan2d": ("latent_dim", "lr_g", "lr_d", "d_steps", "g_loss"),
    "vae": ("latent_dim", "beta", "lr", "likelihood"),
}
KNOB_LABELS = {
    "width": ("Width", "units per hidden layer"),
    "depth": ("Depth", "hidden layers"),
    "activation": ("Activation", "the non-linearity f of every layer"),
    "latent_dim": ("Latent dimensions", "the size of z"),
    "lr_g": ("Generator learning rate", ""),
    "lr_d": ("Discriminator learning rate", "lower it when D wins outright"),
    "d_steps": ("D steps per G step", ""),
    "g_loss": ("Generator loss", "non-saturating is what G minimises in practice"),
    "beta": ("β (weight on the KL)", "above 1 trades reconstruction for tidier codes"),
    "lr": ("Learning rate", ""),
    "likelihood": ("Likelihood p(x|z)", "bernoulli suits gray, mostly black-or-white pictures"),
}
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2)
BATCH_SIZES = (16, 32, 64, 128, 256)
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
    uploads: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def arch(self) -> str:
        return arch_for(self.family, points=self.dataset == "toy2d")


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
    family = st.selectbox(
        "Model",
        list(FAMILIES),
        format_func=lambda family: FAMILIES[family][0],
        key="train_family",
        disabled=disabled,
    )
    st.caption(FAMILIES[family][1])
    dataset = st.selectbox(
        "Data",
        DATA_CHOICES[family],
        format_func=DATA_LABELS.get,
        key=f"train_data_{family}",
        disabled=disabled,
    )
    data_options: dict[str, Any] = {}
    uploads: list[tuple[str, bytes]] = []
    if dataset == UPLOAD:
        single = family == "mlp"
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
    if family == "mlp":
        data_options["size"] = st.select_slider(
            "Picture size (px)", (32, 64, 128), 64, key="train_mlp_size", disabled=disabled
        )
    elif dataset == UPLOAD:
        data_options["size"] = st.select_slider(
            "Picture size (px)", (32, 64), 32, key="train_upload_size", disabled=disabled
        )
    seconds = st.slider(
        "Time budget (seconds)",
        *BUDGET_S,
        DEFAULT_BUDGET_S,
        step=5,
        key="train_seconds",
        disabled=disabled,
    )
    arch = arch_for(family, points=dataset == "toy2d")
    with st.expander("Settings"):
        model_config = _knobs(arch, disabled=disabled)
        batch_size = st.select_slider(
            "Batch size", BATCH_SIZES, 64, key="train_batch", disabled=disabled
        )
        seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed", disabled=disabled))
    name = st.text_input(
        "Name (optional)",
        key="train_name",
        disabled=disabled,
        placeholder=f"{family}-{_dataset_name(family, dataset)}-<date>-<time>",
        help="lower-case letters, digits, '.', '_' or '-'",
    )
    return Request(
        family, dataset, data_options, model_config, seconds, batch_size, seed, name, uploads
    )


def _dataset_name(family: str, choice: str) -> str:
    """The dataset a data choice trains on: uploads are ``image`` for the CPPN, else ``folder``."""
    if choice != UPLOAD:
        return choice
    return "image" if family == "mlp" else "folder"


def _knobs(arch: str, *, disabled: bool) -> dict[str, Any]:
    """A widget per knob, seeded with the config's default; returns the values that differ."""
    fields = {f.name: f for f in dataclasses.fields(model_class(arch).Config)}
    changed = {}
    for name in KNOBS[arch]:
        f = fields[name]
        label, help_text = KNOB_LABELS[name]
        meta, key = f.metadata, f"train_{arch}_{name}"
        kwargs: dict[str, Any] = {
            "key": key,
            "disabled": disabled,
            "help": meta.get("help") or help_text or None,
        }
        if meta.get("choices"):
            value = st.selectbox(label, meta["choices"], **kwargs)
        elif name.startswith("lr"):
            options = sorted({*LEARNING_RATES, f.default})
            value = st.select_slider(label, options, f.default, format_func="{:g}".format, **kwargs)
        elif isinstance(f.default, int):
            value = int(
                st.number_input(label, int(meta["low"]), int(meta["high"]), f.default, **kwargs)
            )
        else:
            value = float(
                st.number_input(label, float(meta["low"]), float(meta["high"]), f.default, **kwargs)
            )
        if value != f.default:
            changed[name] = value
    return changed


# ---------------------------------------------------------------- starting a run


def _start(request: Request) -> bool:
    """Check the request, keep any uploads, start the run; a user's mistake is shown, not raised."""
    data_path: Path | None = None
    try:
        uploaded = request.dataset == UPLOAD
        spec = TrainSpec(
            family=request.family,
            dataset=_dataset_name(request.family, request.dataset),
            data_options=request.data_options,
            model_config=request.model_config,
            seconds=request.seconds,
            batch_size=request.batch_size,
            seed=request.seed,
            device="auto",
        )
        spec.id = check_new_id(request.name or default_id(spec))
        if uploaded:
            if not request.uploads:
                raise StudioError("upload your pictures first (a .zip, or several images)")
            data_path = save_uploads(spec.id, request.uploads, single=request.family == "mlp")
            spec.data_path = str(data_path)
        with st.spinner("Reading the data…"):
            preview_data = _preview_data(spec)
    except StudioError as err:
        if data_path is not None:
            discard_uploads(data_path)
        st.error(str(err))
        return False
    live_run.start_run(spec, model_class(request.arch), **preview_data)
    return True


def _preview_data(spec: TrainSpec) -> dict[str, np.ndarray]:
    """What the sample strip shows beside the model's output: real points, or the target.

    Loading the user's pictures here also checks them before a thread is started.
    """
    if spec.dataset == "toy2d":
        data = load_dataset("toy2d", seed=spec.seed, **spec.data_options)
        return {"real": data.x[: live_run.PREVIEW_POINTS].numpy()}
    if spec.dataset == "image":
        data = load_dataset("image", path=spec.data_path, seed=spec.seed, **spec.data_options)
        return {"target": to_uint8(data.x)[0]}
    if spec.dataset == "folder":
        load_dataset("folder", path=spec.data_path, seed=spec.seed, **spec.data_options)
    return {}


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
    else:
        _outcome(run)
    if run.job.preview is not None:
        image = run.job.preview
        step = run.latest.step if run.latest else 0
        st.image(
            image,
            caption=f"{_strip_caption(run.model_cls)} · step {step:,}",
            width="stretch" if image.shape[1] > image.shape[0] * 2 else 360,
        )
    show_hints(diagnose(run.reports, error=run.job.error))
    loss_charts(run.model_cls.TERMS, run.reports, key="train_loss")
    if not run.running and not run.shown_end:
        run.shown_end = True
        st.rerun()  # the whole page: Start is usable again and the new model is listed


def _strip_caption(model_cls: type[GenerativeModel]) -> str:
    if model_cls.output == "points":
        return "Generated points (orange) over the data (blue)"
    if model_cls.family == "mlp":
        return "The target, and the network's drawing of it"
    if model_cls.family == "gan":
        return "Samples from a fixed z, drawn by the moving average of G's weights"
    return "Samples from a fixed z: the same codes at every refresh"


def _progress(run: live_run.SessionRun) -> None:
    bar, stop = st.columns([5, 1], vertical_alignment="bottom")
    report = run.latest
    if report is None:
        bar.progress(0.0, text="Loading the data and building the model…")
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
    elif result is not None:
        card = result.card
        where = "It is in Explore now, with its card."
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
