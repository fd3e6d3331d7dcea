"""Explore: pick a model, move through its latent space, keep and share what you find.

The point on screen is one latent vector ``z`` in ``st.session_state``, and every slider is a
view onto it. A model's sliders are orthonormal directions that matter (a GAN's principal
directions, a VAE's dimensions in order of KL, the CPPN's own z); the prior is N(0, I), so a
slider's value is z's coordinate along its unit direction, in standard deviations. Moving one
slider moves z along its direction only. Whatever changes z marks the sliders stale, and the
fragment re-syncs them from z just before drawing them, skipping the one the user is moving so
that a held arrow key is never answered with an older value.

A 2-D point GAN draws one picture of many points, so for it "z" is a cloud of codes (one
seed's samples) and the sliders move the whole cloud: which part of the plane does this part
of latent space make?

What is on screen is always ``render_recipe(recipe)``: the very recipe that goes into the URL,
the PNG and the Gallery, so opening any of them reproduces the image pixel for pixel.
"""

from __future__ import annotations

import base64
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
import torch
from PIL import Image

from studio.checkpoints import ModelCard, list_cards
from studio.data.folder import EXTENSIONS, open_image
from studio.errors import StudioError
from studio.gallery import add_favourite
from studio.imaging import grid
from studio.latent import encode, kl_order, principal_directions, walk
from studio.library import CONTACT_SHEET_SUFFIXES
from studio.models import GenerativeModel
from studio.recipe import MAX_Z, Recipe, recipe_from_png, to_png
from studio.render.loaded import LoadedModel
from studio.render.renderer import Renderer
from studio.ui.app_state import get_renderer
from studio.ui.latent_pad import latent_pad

URL_PATH = "explore"
DISPLAY_SIZE = 384  # px: what is shown, downloaded and kept
MAX_AXES = 8  # sliders in view; every dimension is under "Raw dimensions"
SPAN = 3.0  # sliders run over +-3 standard deviations of the prior
STEP = 0.05
MAX_SEED = 2**53 - 1  # seeds travel through the browser, whose numbers are exact up to here
CLOUD = 256  # codes drawn at once by a 2-D point model
POSTER_SIZES = (1024, 2048, 4096)
PREFERRED_DEFAULTS = ("gan-glyphs", "gan-shapes", "vae-glyphs", "vae-shapes")

# Session-state keys, and the patterns of the widget keys the sliders and knobs use.
MODEL = "explore_model"
Z = "explore_z"
SEED = "explore_seed"
SIZE = "explore_size"
KEPT = "explore_kept"  # {"A": z, "B": z}
PENDING = "explore_pending"  # a Recipe to open on the next run (from the Gallery or an upload)
NOTICE = "explore_notice"  # a plain-words error to show once
RESULTS = "explore_results"  # the tools' outputs (grid, walk ...) for the current model
SHOWN = "explore_shown"  # {"png": the PNG on screen}, for the download button
STALE = "explore_stale"  # z changed: re-sync the sliders, all but the widget key stored here
URL_CHECKED = "explore_url_checked"
AXIS = "explore_axis_{}"
DIM = "explore_dim_{}"
KNOB = "explore_knob_{}"


# ---------------------------------------------------------------- the art knobs (CPPN)


@dataclass(frozen=True)
class Knob:
    name: str  # the Renderer option
    label: str
    help: str
    widget: str  # the Streamlit command: "slider", "selectbox", "segmented_control" ...
    kwargs: dict[str, Any]


ARCHITECTURE_NOTE = "; changing it draws a new random network (see Weights seed)"
KNOBS = (
    Knob("scale", "Zoom", "how far out the coordinates reach: small is smooth, large is busy",
         "slider", {"min_value": 0.5, "max_value": 20.0, "step": 0.1}),
    Knob("depth", "Depth", "hidden layers: more fold the pattern more often" + ARCHITECTURE_NOTE,
         "slider", {"min_value": 1, "max_value": 12, "step": 1}),
    Knob("width", "Width", "units per hidden layer" + ARCHITECTURE_NOTE,
         "select_slider", {"options": (8, 16, 32, 64, 128)}),
    Knob("activation", "Activation", "the non-linearity f in y = f(xW + b)" + ARCHITECTURE_NOTE,
         "selectbox", {"options": ("tanh", "sin", "gaussian", "relu", "mix")}),
    Knob("init_std", "Contrast", "spread of the random weights" + ARCHITECTURE_NOTE,
         "slider", {"min_value": 0.1, "max_value": 5.0, "step": 0.05}),
    Knob("channels", "Colour", "colour or grey" + ARCHITECTURE_NOTE, "segmented_control",
         {"options": (3, 1), "format_func": {3: "colour", 1: "grey"}.get, "required": True}),
)  # fmt: skip


def _knob_defaults(card: ModelCard) -> dict[str, Any]:
    """The checkpoint's own knobs: with these, the model draws with its own weights."""
    return {knob.name: card.config[knob.name] for knob in KNOBS} | {"weight_seed": None}


def _set_knobs(values: dict[str, Any]) -> None:
    for name, value in values.items():
        st.session_state[KNOB.format(name)] = value


def _knob_options(loaded: LoadedModel) -> dict[str, Any]:
    """The Renderer options: only the knobs moved away from the checkpoint's own."""
    if loaded.model.family != "mlp":
        return {}
    defaults = _knob_defaults(loaded.card)
    values = {name: st.session_state[KNOB.format(name)] for name in defaults}
    return {k: v for k, v in values.items() if v != defaults[k]}


def _knob_widget(column: Any, knob: Knob, own: Any) -> None:
    """The knob's widget, its range stretched to hold the checkpoint's own value and the
    current one (a recipe may bring any value the model accepts)."""
    kwargs = dict(knob.kwargs)
    held = {own, st.session_state.get(KNOB.format(knob.name), own)}
    if "options" in kwargs:
        options = (*kwargs["options"], *(h for h in held if h not in kwargs["options"]))
        kwargs["options"] = tuple(sorted(options)) if knob.widget == "select_slider" else options
    else:
        kwargs["min_value"] = min(kwargs["min_value"], *held)
        kwargs["max_value"] = max(kwargs["max_value"], *held)
    getattr(column, knob.widget)(knob.label, key=KNOB.format(knob.name), help=knob.help, **kwargs)


# ---------------------------------------------------------------- slider axes


@dataclass(frozen=True)
class Axes:
    """Orthonormal slider directions: slider i reads ``vectors[i] @ centre(z)``."""

    kind: str  # shown above the sliders
    vectors: np.ndarray  # k x latent_dim, orthonormal rows
    labels: tuple[str, ...]
    helps: tuple[str, ...]

    @property
    def every_dimension(self) -> bool:
        """The sliders are all of z's own coordinates: raw ones would repeat them."""
        k, d = self.vectors.shape
        return k == d and bool(np.all(np.abs(self.vectors).max(1) == 1.0))

    def coords(self, z: np.ndarray) -> np.ndarray:
        return self.vectors @ _centre(z)

    def moved(self, z: np.ndarray, index: int, value: float) -> np.ndarray:
        return z + (value - self.coords(z)[index]) * self.vectors[index]


def _centre(z: np.ndarray) -> np.ndarray:
    """One code, or the mean code of a point model's cloud."""
    return z if z.ndim == 1 else z.mean(0)


def _unit_axes(kind: str, dims: list[int], latent_dim: int, helps: list[str]) -> Axes:
    return Axes(
        kind=kind,
        vectors=np.eye(latent_dim)[dims],
        labels=tuple(f"z[{d}]" for d in dims),
        helps=tuple(helps),
    )


@st.cache_data(show_spinner="Finding the directions that matter…", max_entries=32)
def _axes(model_id: str, sha256: str) -> Axes:
    """A model's sliders; cached per weights (``sha256`` is in the cache key for that)."""
    loaded = get_renderer().load(model_id)
    model = loaded.model
    d = model.latent_dim
    if model.family == "gan":
        found = principal_directions(loaded, components=min(MAX_AXES, d))
        # GANSpace's directions come from a regression and are not quite orthogonal;
        # Gram-Schmidt (QR) keeps the first exact and each later one independent of those before.
        q, r = np.linalg.qr(found.vectors.double().numpy().T)
        vectors = (q * np.sign(np.diag(r))).T
        explained = found.explained.tolist()
        return Axes(
            kind="Principal directions (GANSpace)",
            vectors=vectors,
            labels=tuple(f"PC{i + 1}" for i in range(len(vectors))),
            helps=tuple(
                f"principal direction {i + 1}: {share:.0%} of the variation in the generator's "
                "first features"
                for i, share in enumerate(explained)
            ),
        )
    if model.family == "vae":
        order, kl = kl_order(model, _vae_probe_data(loaded))
        dims = order[:MAX_AXES]
        return _unit_axes(
            "Dimensions, most informative first (KL per dimension)",
            dims,
            d,
            [f"carries {kl[i]:.2f} nats of KL: near 0, the decoder ignores it" for i in dims],
        )
    dims = list(range(min(d, MAX_AXES)))
    return _unit_axes("Latent z", dims, d, ["one coordinate of the picture's code z"] * len(dims))


def _vae_probe_data(loaded: LoadedModel) -> torch.Tensor:
    """A few hundred of the VAE's own training images, to measure each dimension's KL on."""
    from studio.data import load_dataset

    dataset = loaded.card.dataset
    options = {k: v for k, v in dataset.get("options", {}).items() if k != "seed"}
    options["n"] = min(int(options.get("n", 512)), 512)
    try:
        return load_dataset(dataset["name"], **options).x
    except (StudioError, KeyError, TypeError, ValueError):
        # The card's data is not here (a folder moved away): the model's own samples will do.
        with torch.inference_mode():
            return loaded.model.decode(loaded.model.sample_z(256))


# ---------------------------------------------------------------- models and their cards


def _default_model(cards: list[ModelCard]) -> str:
    ids = [c.id for c in cards]
    for preferred in PREFERRED_DEFAULTS:
        if preferred in ids:
            return preferred
    images = [c.id for c in cards if c.arch != "gan2d"]
    return (images or ids)[0]


def _model_label(cards: dict[str, ModelCard]) -> Callable[[str], str]:
    def label(model_id: str) -> str:
        card = cards[model_id]
        data = card.dataset.get("name", "")
        title = f"{card.title} ({card.id})" if card.title else card.id
        return f"{title}  ·  {card.family.upper()}{f' on {data}' if data else ''}"

    return label


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


def _show_card(loaded: LoadedModel) -> None:
    card, model = loaded.card, loaded.model
    kind = (
        card.family.upper() if card.arch == card.family else f"{card.arch} ({card.family.upper()})"
    )
    st.markdown(
        f"**{card.title or card.id}** — {kind}, {model.num_params():,} parameters, "
        f"latent size {model.latent_dim}"
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
    if card.command:
        st.markdown("**Reproduce it**")
        st.code(card.command, language="bash", wrap_lines=True)
    st.caption(f"weights sha256 {loaded.sha256[:16]}…  ·  {loaded.path}")


# ---------------------------------------------------------------- session state


def _z() -> np.ndarray:
    return np.asarray(st.session_state[Z], dtype=np.float64)


def _slider_value(value: float, step: float = 0.01) -> float:
    return float(np.clip(round(round(value / step) * step, 2), -SPAN, SPAN))


def _set_z(z: np.ndarray, moved: str = "") -> None:
    """Store z; the sliders follow on the fragment's next run (all but ``moved``, the one moving)."""
    st.session_state[Z] = z.tolist()
    st.session_state[STALE] = moved


def _sync(values: dict[str, float]) -> None:
    """Set slider states that differ from ``values``, before the sliders are drawn."""
    moved = st.session_state.get(STALE, "")
    for key, value in values.items():
        if key != moved and st.session_state.get(key) != value:
            st.session_state[key] = value


def _seed_z(loaded: LoadedModel, seed: int) -> np.ndarray:
    """The seed's code (as ``python -m studio render --seed`` draws it), or its cloud."""
    model = loaded.model
    n = min(CLOUD, MAX_Z // model.latent_dim) if model.output == "points" else 1
    z = model.sample_z(n, generator=torch.Generator().manual_seed(seed)).cpu().double().numpy()
    return z if model.output == "points" else z[0]


def _fits(z: np.ndarray, model: GenerativeModel) -> bool:
    """z is one code for this model (or, for a point model, a cloud of them)."""
    points = model.output == "points"
    return z.ndim == (2 if points else 1) and z.shape[-1] == model.latent_dim


def _start_model(loaded: LoadedModel) -> None:
    """Fresh state for a model: the current seed's z, the model's own knobs, display size."""
    st.session_state.setdefault(SEED, 0)
    st.session_state[SIZE] = DISPLAY_SIZE
    st.session_state[KEPT] = {}
    st.session_state[RESULTS] = {}
    st.session_state[SHOWN] = {}
    if loaded.model.family == "mlp":
        _set_knobs(_knob_defaults(loaded.card))
    _set_z(_seed_z(loaded, st.session_state[SEED]))


def open_recipe(recipe: Recipe) -> None:
    """Ask Explore to open ``recipe`` on its next run (the Gallery and dropped PNGs do)."""
    st.session_state[PENDING] = recipe


def _apply_recipe(renderer: Renderer, recipe: Recipe) -> None:
    renderer.render_recipe(recipe)  # refuses other weights, a bad z or bad options, in words
    if recipe.options.get("weight_seed", 0) > MAX_SEED:
        raise StudioError(f"its weights seed is above {MAX_SEED}, more than this page can hold")
    loaded = renderer.load(recipe.model)
    st.session_state[MODEL] = recipe.model
    seed = recipe.options.get("seed")
    if isinstance(seed, int) and 0 <= seed <= MAX_SEED:
        st.session_state[SEED] = seed
    _start_model(loaded)
    st.session_state[SIZE] = recipe.size if recipe.size <= 1024 else DISPLAY_SIZE
    if loaded.model.family == "mlp":
        own = _knob_defaults(loaded.card)
        _set_knobs(own | {k: v for k, v in recipe.options.items() if k in own})
    z = np.asarray(recipe.z, dtype=np.float64)
    _set_z(z.reshape(-1, loaded.model.latent_dim) if loaded.model.output == "points" else z)


def _take_pending(renderer: Renderer) -> None:
    """Open a recipe handed over by another page, or (once a session) the one in the URL."""
    recipe = st.session_state.pop(PENDING, None)
    if recipe is None and not st.session_state.get(URL_CHECKED):
        st.session_state[URL_CHECKED] = True
        query = st.query_params.get("r")
        if query:
            try:
                recipe = Recipe.from_query(query)
            except StudioError as err:
                st.session_state[NOTICE] = f"The link's picture could not be opened: {err}"
    if recipe is not None:
        try:
            _apply_recipe(renderer, recipe)
        except StudioError as err:
            st.session_state[NOTICE] = f"That picture could not be opened: {err}"


# ---------------------------------------------------------------- the studio (one fragment)


def _axis_sliders(axes: Axes) -> None:
    def moved(index: int) -> None:
        key = AXIS.format(index)
        _set_z(axes.moved(_z(), index, st.session_state[key]), moved=key)

    coords = axes.coords(_z())
    _sync({AXIS.format(i): _slider_value(v, STEP) for i, v in enumerate(coords)})

    for i, (label, help_text) in enumerate(zip(axes.labels, axes.helps, strict=True)):
        st.slider(
            label,
            -SPAN,
            SPAN,
            step=STEP,
            key=AXIS.format(i),
            help=help_text,
            on_change=moved,
            args=(i,),
        )


def _raw_sliders(latent_dim: int) -> None:
    def moved(dim: int) -> None:
        z = _z()
        key = DIM.format(dim)
        z[..., dim] += st.session_state[key] - _centre(z)[dim]
        _set_z(z, moved=key)

    raw = st.expander(f"Raw dimensions ({latent_dim})", key="explore_raw", on_change="rerun")
    if not raw.open:
        return
    with raw:
        _sync({DIM.format(j): _slider_value(v) for j, v in enumerate(_centre(_z()))})
        columns = st.columns(2)
        for j in range(latent_dim):
            columns[j % 2].slider(
                f"z[{j}]", -SPAN, SPAN, step=0.01, key=DIM.format(j), on_change=moved, args=(j,)
            )


def _pad(axes: Axes) -> None:
    def moved(x: float, y: float) -> None:
        _set_z(axes.moved(axes.moved(_z(), 0, x), 1, y))

    x, y = np.clip(axes.coords(_z())[:2], -SPAN, SPAN)
    latent_pad(
        float(x),
        float(y),
        x_label=axes.labels[0],
        y_label=axes.labels[1],
        on_move=moved,
        key="explore_pad",
        extent=SPAN,
    )


def _knobs(loaded: LoadedModel) -> None:
    own = _knob_defaults(loaded.card)
    with st.container(border=True):
        st.markdown("**Art knobs**")
        left, right = st.columns(2)
        for i, knob in enumerate(KNOBS):
            _knob_widget(left if i % 2 == 0 else right, knob, own[knob.name])
        left.number_input(
            "Weights seed",
            0,
            MAX_SEED,
            value=None,
            step=1,
            key=KNOB.format("weight_seed"),
            placeholder="own",
            help="empty: the model's own weights; a number draws a new random network",
        )


def _seed_row(loaded: LoadedModel) -> None:
    def reseed() -> None:
        _set_z(_seed_z(loaded, st.session_state[SEED]))

    def surprise() -> None:
        st.session_state[SEED] = secrets.randbelow(1_000_000)
        reseed()

    def reset() -> None:
        if loaded.model.family == "mlp":
            _set_knobs(_knob_defaults(loaded.card))
        reseed()

    with st.container(horizontal=True, vertical_alignment="bottom", gap="small"):
        st.number_input(
            "Seed",
            0,
            MAX_SEED,
            step=1,
            key=SEED,
            on_change=reseed,
            width=130,
            help="the same seed always draws the same starting point",
        )
        st.button("Surprise me", icon=":material/casino:", on_click=surprise)
        st.button(
            "Reset",
            icon=":material/restart_alt:",
            on_click=reset,
            help="back to the seed's point (and the model's own knobs)",
        )


def _recipe_options(loaded: LoadedModel) -> dict[str, Any]:
    """The knobs, and the seed z started from: it changes no pixel, but comes back with them."""
    return _knob_options(loaded) | {"seed": st.session_state[SEED]}


def _current(renderer: Renderer, loaded: LoadedModel) -> tuple[Recipe, np.ndarray]:
    """The picture on screen and its recipe."""
    options = _recipe_options(loaded)
    recipe = renderer.recipe(loaded.card.id, _z(), st.session_state[SIZE], options)
    return recipe, renderer.render_recipe(recipe)


def _actions(renderer: Renderer, loaded: LoadedModel) -> None:
    """Download, keep, remember: outside the fragment, so a slider move does not redraw them."""
    shown = st.session_state[SHOWN]  # the fragment puts its latest PNG here
    with st.container(horizontal=True, gap="small"):
        st.download_button(
            "PNG",
            data=lambda: shown["png"],
            file_name=f"{loaded.card.id}.png",
            mime="image/png",
            icon=":material/download:",
            on_click="ignore",
            width="stretch",
            help="the picture at display size; it carries its recipe, as the address bar does",
        )
        if st.button(
            "Keep",
            icon=":material/star:",
            width="stretch",
            help="save it to the Gallery, in your studio folder",
        ):
            recipe, image = _current(renderer, loaded)
            add_favourite(image, recipe)
            st.toast("Kept in the Gallery", icon=":material/star:")
        if loaded.model.output == "points":
            return
        for name in ("A", "B"):
            if st.button(
                f"As {name}",
                width="stretch",
                help=f"remember this point as {name}, for interpolations and walks",
            ):
                st.session_state[KEPT][name] = _z().tolist()


@st.fragment
def _studio(renderer: Renderer, loaded: LoadedModel) -> None:
    """Picture, sliders and pad: a slider move reruns only this, so it holds little else.

    The picture comes first: a model's sliders may take seconds to find the first time (the
    GAN's PCA), and the image need not wait for them.
    """
    model = loaded.model
    controls, picture = st.columns([9, 11], gap="large")
    with picture:
        try:
            recipe, image = _current(renderer, loaded)
        except StudioError as err:  # the checkpoint went away, or a knob the model refuses
            st.error(f"This picture cannot be drawn: {err}")
            return
        png = to_png(image, recipe, compress_level=1)
        st.session_state[SHOWN]["png"] = png
        frame = st.container(key="explore_image", horizontal_alignment="center")
        # A data URI travels inside the rerun's own message: no media file to store and fetch
        # (nor to expire under a fast drag), and the PNG keeps its recipe.
        frame.image(f"data:image/png;base64,{base64.b64encode(png).decode()}", width="content")
    query = recipe.to_query()
    if st.query_params.get("r") != query:
        st.query_params["r"] = query
    with controls:
        try:
            axes = _axes(loaded.card.id, loaded.sha256)
        except StudioError as err:
            st.error(f"This model has no sliders to offer: {err}")
            return
        st.markdown(f"**{axes.kind}**")
        if model.output == "points":
            st.caption(
                f"This GAN draws points, so the picture shows {len(_z())} samples at once; the "
                "sliders move all their codes together. Which part of the plane does this "
                "part of latent space make?"
            )
        _axis_sliders(axes)
        if not axes.every_dimension:
            _raw_sliders(model.latent_dim)
    st.session_state.pop(STALE, None)
    with frame:
        if len(axes.labels) >= 2:
            _pad(axes)
    if model.family == "mlp":
        with picture:
            _knobs(loaded)


# ---------------------------------------------------------------- the tools under the studio


def _render_batch(renderer: Renderer, loaded: LoadedModel, zs: Any, size: int) -> np.ndarray:
    return renderer.render(loaded.card.id, np.asarray(zs), size, _knob_options(loaded))


def _gif(frames: np.ndarray, fps: int) -> bytes:
    pictures = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    buffer = io.BytesIO()
    pictures[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=round(1000 / fps),
        loop=0,
        disposal=2,
    )
    return buffer.getvalue()


def _kept_points() -> list[np.ndarray]:
    kept = st.session_state[KEPT]
    return [np.asarray(kept[name]) for name in ("A", "B") if name in kept]


def _interpolate_tool(renderer: Renderer, loaded: LoadedModel) -> None:
    kept = st.session_state[KEPT]
    st.caption(
        "Keep two points with **As A** and **As B**, then go from one to the other along a "
        "straight line (lerp) or a great circle (slerp, which keeps z at a typical length)."
    )
    st.markdown(f"A: {'kept' if 'A' in kept else '—'}  ·  B: {'kept' if 'B' in kept else '—'}")
    mode_col, frames_col, go_col = st.columns([2, 3, 2], vertical_alignment="bottom")
    mode = mode_col.segmented_control(
        "Path", ("slerp", "lerp"), default="slerp", key="explore_interp_mode", required=True
    )
    frames = frames_col.slider("Frames", 3, 12, 8, key="explore_interp_frames")
    if go_col.button("Interpolate", disabled=len(kept) < 2, width="stretch"):
        path = walk(_kept_points(), frames, loop=False, mode=mode)
        images = _render_batch(renderer, loaded, path, 128)
        st.session_state[RESULTS]["interp"] = grid(images, columns=len(images))
    if "interp" in st.session_state[RESULTS]:
        st.image(st.session_state[RESULTS]["interp"], caption="A → B", output_format="PNG")


def _grid_tool(renderer: Renderer, loaded: LoadedModel) -> None:
    st.caption("Many seeds at once. Pick the one you like and open it in the studio.")
    seed_col, n_col, go_col = st.columns([2, 2, 2], vertical_alignment="bottom")
    first = seed_col.number_input("First seed", 0, MAX_SEED, step=1, key="explore_grid_seed")
    n = n_col.segmented_control(
        "Samples", (9, 16, 25), default=16, key="explore_grid_n", required=True
    )
    if go_col.button("Draw grid", width="stretch"):
        codes = [_seed_z(loaded, first + i) for i in range(n)]
        st.session_state[RESULTS]["grid"] = (
            first,
            grid(_render_batch(renderer, loaded, codes, 96)),
        )
    if "grid" not in st.session_state[RESULTS]:
        return
    first, sheet = st.session_state[RESULTS]["grid"]
    st.image(
        sheet,
        caption=f"seeds {first}, {first + 1}, … left to right, top to bottom",
        output_format="PNG",
    )

    def open_seed() -> None:
        st.session_state[SEED] = st.session_state["explore_grid_pick"]
        _set_z(_seed_z(loaded, st.session_state[SEED]))

    pick_col, open_col = st.columns([2, 2], vertical_alignment="bottom")
    pick_col.number_input("Seed to open", 0, MAX_SEED, value=first, step=1, key="explore_grid_pick")
    open_col.button("Open in the studio", on_click=open_seed)


def _walk_tool(renderer: Renderer, loaded: LoadedModel) -> None:
    st.caption(
        "An animated loop through latent space, saved as a GIF: through the kept points "
        "A and B and back, or through four seeds from the current one when none are kept."
    )
    frames_col, fps_col, go_col = st.columns([3, 2, 2], vertical_alignment="bottom")
    frames = frames_col.slider("Frames", 8, 96, 36, key="explore_walk_frames")
    fps = fps_col.slider("Frames per second", 4, 24, 12, key="explore_walk_fps")
    if go_col.button("Make GIF", icon=":material/animation:", width="stretch"):
        points = _kept_points()
        if len(points) < 2:
            points = [_seed_z(loaded, st.session_state[SEED] + i) for i in range(4)]
        path = walk(points, frames, loop=True, mode="slerp")
        st.session_state[RESULTS]["walk"] = _gif(_render_batch(renderer, loaded, path, 192), fps)
    if "walk" in st.session_state[RESULTS]:
        gif = st.session_state[RESULTS]["walk"]
        st.image(gif, caption="latent walk")
        st.download_button(
            "Download GIF",
            gif,
            file_name=f"{loaded.card.id}-walk.gif",
            mime="image/gif",
            icon=":material/download:",
        )


def _poster_tool(renderer: Renderer, loaded: LoadedModel) -> None:
    st.caption(
        "The CPPN draws at any resolution: the same picture, rendered in tiles, up to "
        "4096 px. The PNG carries its recipe."
    )
    size_col, go_col = st.columns([2, 2], vertical_alignment="bottom")
    size = size_col.segmented_control(
        "Size (px)", POSTER_SIZES, default=2048, key="explore_poster_size", required=True
    )
    if go_col.button("Render poster", icon=":material/wallpaper:", width="stretch"):
        model_id, options = loaded.card.id, _recipe_options(loaded)
        recipe = renderer.recipe(model_id, _z(), size, options)
        with st.spinner(f"Rendering {size}×{size} in tiles…"):
            image = renderer.poster(model_id, _z(), size, options)
        st.session_state[RESULTS]["poster"] = (size, to_png(image, recipe))
    if "poster" in st.session_state[RESULTS]:
        size, png = st.session_state[RESULTS]["poster"]
        st.download_button(
            f"Download the {size}px poster",
            png,
            type="primary",
            file_name=f"{loaded.card.id}-{size}.png",
            mime="image/png",
            icon=":material/download:",
        )


def _open_png_tool() -> None:
    def opened() -> None:
        upload = st.session_state["explore_open_png"]
        if upload is None:
            return
        try:
            open_recipe(recipe_from_png(upload.getvalue()))
        except StudioError as err:
            st.session_state[NOTICE] = f"{upload.name}: {err}"

    st.caption(
        "Drop a PNG made here (downloaded, or from the Gallery) to get its exact picture, "
        "model and sliders back."
    )
    st.file_uploader("A Latent Studio PNG", type=["png"], key="explore_open_png", on_change=opened)


def _encode_tool(loaded: LoadedModel) -> None:
    def encoded() -> None:
        upload = st.session_state["explore_encode_upload"]
        if upload is None:
            return
        channels, size, _ = loaded.model.image_shape
        try:
            picture = open_image(upload.name, upload.getvalue(), size=size, channels=channels)
        except StudioError as err:
            st.session_state[NOTICE] = str(err)
            return
        _set_z(encode(loaded.model, picture[None])[0].double().numpy())
        st.session_state[RESULTS]["encoded"] = picture.permute(1, 2, 0).numpy()

    st.caption(
        "Upload a picture: the encoder finds its code z and the sliders start from there, "
        "the VAE redrawing it in its own style."
    )
    types = sorted(e.lstrip(".") for e in EXTENSIONS)
    st.file_uploader("A picture", type=types, key="explore_encode_upload", on_change=encoded)
    if "encoded" in st.session_state[RESULTS]:
        st.image(
            st.session_state[RESULTS]["encoded"],
            caption="what the encoder saw",
            width=128,
            clamp=True,
        )


def _tools(renderer: Renderer, loaded: LoadedModel) -> None:
    model = loaded.model
    tools: dict[str, Callable[[], None]] = {}
    if model.output == "image":
        tools["Interpolate"] = lambda: _interpolate_tool(renderer, loaded)
        tools["Sample grid"] = lambda: _grid_tool(renderer, loaded)
        tools["Latent walk"] = lambda: _walk_tool(renderer, loaded)
    if model.family == "mlp":
        tools["Poster"] = lambda: _poster_tool(renderer, loaded)
    if model.family == "vae":
        tools["Start from a picture"] = lambda: _encode_tool(loaded)
    tools["Open a PNG"] = _open_png_tool
    # Drawn only when open, and then only the open tab: every element on the page is work for
    # the browser on each slider move, even outside the fragment that reran.
    label = f"More: {' · '.join(tools)}"
    more = st.expander(label, icon=":material/handyman:", key="explore_more", on_change="rerun")
    if not more.open:
        return
    with more:
        tabs = st.tabs(list(tools), key="explore_tool", on_change="rerun")
        for tab, tool in zip(tabs, tools.values(), strict=True):
            if tab.open:
                with tab:
                    try:
                        tool()
                    except StudioError as err:
                        st.error(str(err))


# ---------------------------------------------------------------- the page


def _empty_state() -> None:
    st.title("Explore")
    st.info(
        "There are no models yet. Train one on the **Train** page (a minute or two on a "
        "laptop), or from a terminal:\n\n"
        "`python -m studio train --model vae --dataset glyphs --steps 500`\n\n"
        "It appears here as soon as it is saved.",
        icon=":material/draw:",
    )


def page() -> None:
    cards = {card.id: card for card, _ in list_cards()}
    if not cards:
        _empty_state()
        return
    renderer = get_renderer()
    _take_pending(renderer)
    if st.session_state.get(MODEL) not in cards:
        st.session_state[MODEL] = _default_model(list(cards.values()))
        st.session_state.pop(Z, None)

    def model_changed() -> None:
        st.session_state.pop(Z, None)  # a fresh start for the new model, just below

    title_col, pick_col, card_col = st.columns([2, 4, 1.2], vertical_alignment="bottom")
    title_col.title("Explore")
    model_id = pick_col.selectbox(
        "Model", list(cards), key=MODEL, on_change=model_changed, format_func=_model_label(cards)
    )
    try:
        loaded = renderer.load(model_id)
    except StudioError as err:
        st.error(f"'{model_id}' cannot be opened: {err}")
        return
    if Z not in st.session_state or not _fits(_z(), loaded.model):
        _start_model(loaded)
    card = card_col.popover(
        "Model card", icon=":material/info:", width="stretch", key="explore_card", on_change="rerun"
    )
    if card.open:
        with card:
            _show_card(loaded)
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.error(notice, icon=":material/error:")
    seeds, actions = st.columns([9, 11], gap="large", vertical_alignment="bottom")
    with seeds:
        _seed_row(loaded)
    with actions:
        _actions(renderer, loaded)
    _studio(renderer, loaded)
    _tools(renderer, loaded)
