"""The renderer behind every slider: one warm model per checkpoint, a cache of finished images.

One ``Renderer`` serves the whole process (the app keeps it in ``st.cache_resource``), so every
browser session and thread shares its models and its cache; all of its methods are thread-safe.

* Models: each checkpoint loaded once, frozen and in eval mode, and drawn with a warmed serving
  copy (``studio.serving``), one per weights sha256; the model itself stays as the checkpoint
  made it, for whatever reads or analyses its layers. Every call re-stats the card and the
  weights (inode, size, mtime), so a checkpoint replaced on disk under the same name is
  reloaded, never served stale. Neither is ever handed to a trainer: a training run builds its
  own copy and publishes a new checkpoint.
* Renders: z is rounded to ``Z_DECIMALS`` (as recipes round it) and the *rounded* z is what gets
  drawn, so the cache key (sha256, rounded z, size, options) names exactly one picture. A batch
  of z is drawn in one batched forward (the misses only). A batch can round a rare pixel one
  level (of 255) away from the same z drawn alone (the kernels differ with the batch size), so
  batch images are cached apart from single ones: a single z, which is what a recipe holds,
  always gives the same bytes. The LRU cache is capped in bytes; the arrays it returns are
  read-only, copy one before drawing on it.
* Device: CUDA, then MPS, then the CPU (``STUDIO_DEVICE`` overrides; see ``studio.device``).
  Serving copies are channels_last, their BatchNorms folded and their Sequentials run as plain
  loops, and on the CPU they use torch's own transposed convolutions for small batches
  (``studio.serving``). On CUDA image GANs and VAEs also run under bf16 autocast (fp16 where bf16 is missing), and TF32 matmuls are on.
  Tolerance against fp32, checked by the tests with the same autocast on the CPU: at most 2
  levels of 255 per pixel; mean 0.1-0.2 levels on trained checkpoints, up to 0.6 on untrained
  ones (all their pixels sit near the 127.5 rounding edge). The CPPN stays fp32: its periodic
  activations amplify rounding (bf16 moved pixels by up to 4 levels); the 2-D GAN is too small
  to gain. ``torch.compile`` is opt-in (``compile=True``): on 2 CPU cores it cut a 32 px DCGAN
  forward from 0.78 to 0.45 ms but took 17-78 s to compile at load; it is unmeasured on GPUs.
* The CPPN draws in passes of at most 64 x 64 = 4096 pixels (cache-sized: on one CPU thread
  they ran ~1.8x faster than 512 x 512 passes), several small images to a pass, each pass
  written straight into one uint8 array. A 4096 x 4096 RGB poster thus holds its 48 MiB of
  pixels plus a few MiB of activations (4096 pixels x width x 4 bytes a layer: 0.5 MiB at width
  32), whatever its size; measured, the process's peak resident memory rose from 237 to 285 MB.
  A pixel's value does not depend on the pass that drew it (the tests compare tiled and untiled
  renders byte for byte), so passes join without seams. On the CPU the serving copy of a CPPN
  computes two activations in faster forms (``studio.serving.CPU_ACTIVATIONS``).
* 2-D point models (the teaching GAN) render one scatter picture of all the z given (each z is
  one point), not one picture per z.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio import checkpoints
from studio.checkpoints import (
    ModelCard,
    find_card,
    load_checkpoint,
    user_models_dir,
    weights_path,
)
from studio.device import pick_device
from studio.errors import StudioError
from studio.models import GenerativeModel
from studio.models.base import config_from_dict
from studio.models.mlp import DRAW_TILE
from studio.recipe import MAX_SIZE, Z_DECIMALS, Recipe
from studio.serving import serving_copy

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
NOTE_OPTIONS = ("seed",)  # where z came from: kept in recipes, never changes a pixel
MAX_BATCH = 1024
MAX_POINTS = 100_000
VARIANTS_KEPT = 16  # models derived from art knobs, least recently used dropped first
LATENCIES_KEPT = 2048

ModuleKey = tuple[str, tuple[tuple[str, Any], ...], int | None]  # (sha256, knobs, weight_seed)


@dataclass(frozen=True)
class Served:
    """A serving copy ready to draw: on the device, warmed, with its autocast dtype."""

    model: GenerativeModel
    half: torch.dtype | None


@dataclass
class LoadedModel:
    """A checkpoint shared by every session: read and analyse ``model``, never train it."""

    model: GenerativeModel  # as the checkpoint made it: frozen, eval mode, on the device
    served: Served = field(repr=False)  # what renders draw with: the same pictures, faster
    card: ModelCard
    sha256: str
    path: Path  # the card's path


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class DrawOptions:
    """Render options after checking: what changes the pixels, in a hashable form."""

    knobs: tuple[tuple[str, Any], ...] = ()  # art knobs that differ from the card
    weight_seed: int | None = None
    drawing: tuple[tuple[str, Any], ...] = ()  # draw knobs that differ from the card

    @property
    def derived(self) -> bool:
        return bool(self.knobs) or self.weight_seed is not None


def _whole_number(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise StudioError(
            f"option '{name}' must be a whole number from 0 to 2**63 - 1, got {value!r}"
        )
    return value


def check_options(model: GenerativeModel, options: dict[str, Any] | None) -> DrawOptions:
    """Refuse unknown keys and bad values; drop what equals the checkpoint's own config."""
    if options is None:
        return DrawOptions()
    if not isinstance(options, dict):
        raise StudioError(f"render options must be a dict, got {type(options).__name__}")
    art = ("weight_seed", *model.ART_KNOBS) if model.ART_KNOBS else ()
    allowed = (*NOTE_OPTIONS, *model.DRAW_KNOBS, *art)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise StudioError(
            f"unknown render option(s) {', '.join(map(str, unknown))} for a {model.arch} model; "
            f"it takes {', '.join(allowed)}"
        )
    for name in NOTE_OPTIONS:
        if name in options:
            _whole_number(name, options[name])
    weight_seed = options.get("weight_seed")
    if weight_seed is not None:
        _whole_number("weight_seed", weight_seed)
    base = dataclasses.asdict(model.config)
    asked = {k: options[k] for k in (*model.ART_KNOBS, *model.DRAW_KNOBS) if k in options}
    config = dataclasses.asdict(config_from_dict(type(model.config), base | asked))

    def changed(names: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
        return tuple((k, config[k]) for k in names if config[k] != base[k])

    return DrawOptions(changed(model.ART_KNOBS), weight_seed, changed(model.DRAW_KNOBS))


# ---------------------------------------------------------------- latents


def canonical_z(z: Any, latent_dim: int, *, max_rows: int = MAX_BATCH) -> tuple[np.ndarray, bool]:
    """z as float32 N x latent_dim, rounded like a recipe rounds it; and whether it was one z."""
    if isinstance(z, torch.Tensor):
        z = z.detach().to("cpu", torch.float64).numpy()
    try:
        array = np.asarray(z, dtype=np.float64)
    except (TypeError, ValueError):
        raise StudioError("z must be a list of numbers or an array of them") from None
    single = array.ndim == 1
    if single:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != latent_dim or not 0 < array.shape[0] <= max_rows:
        raise StudioError(
            f"z must hold {latent_dim} numbers, or be a batch of 1 to {max_rows} rows of "
            f"{latent_dim}; got shape {tuple(np.shape(z))}"
        )
    if not np.isfinite(array).all():
        raise StudioError("z holds NaN or infinite values")
    return np.round(array, Z_DECIMALS).astype(np.float32), single


def _check_size(size: Any) -> int:
    if (
        isinstance(size, bool)
        or not isinstance(size, int | np.integer)
        or not 8 <= size <= MAX_SIZE
    ):
        raise StudioError(
            f"size must be a whole number of pixels from 8 to {MAX_SIZE}, got {size!r}"
        )
    return int(size)


# ---------------------------------------------------------------- the image cache


class ImageCache:
    """Least-recently-used finished images, at most ``cap_bytes`` of them; thread-safe."""

    def __init__(self, cap_bytes: int) -> None:
        self.cap_bytes = cap_bytes
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self._images: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._images)

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            image = self._images.get(key)
            if image is None:
                self.misses += 1
            else:
                self.hits += 1
                self._images.move_to_end(key)
            return image

    def put(self, key: Hashable, image: np.ndarray) -> np.ndarray:
        """Keep ``image`` (made read-only) unless it alone is over the cap; returns it."""
        image.flags.writeable = False
        if image.nbytes > self.cap_bytes:
            return image
        with self._lock:
            old = self._images.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            self._images[key] = image
            self.nbytes += image.nbytes
            while self.nbytes > self.cap_bytes:
                _, dropped = self._images.popitem(last=False)
                self.nbytes -= dropped.nbytes
        return image

    def drop(self, keep: Callable[[Hashable], bool]) -> None:
        with self._lock:
            for key in [k for k in self._images if not keep(k)]:
                self.nbytes -= self._images.pop(key).nbytes


# ---------------------------------------------------------------- served models


@dataclass(frozen=True)
class _PathEntry:
    signature: tuple[int, ...]  # inode, size and mtime of the card and of the weights
    loaded: LoadedModel


def _signature(card_path: Path) -> tuple[int, ...] | None:
    """Inode, size and mtime of the card and of the weights; None when either is gone."""
    try:
        card, weights = os.stat(card_path), os.stat(weights_path(card_path))
    except FileNotFoundError:
        return None
    return (
        card.st_ino,
        card.st_size,
        card.st_mtime_ns,
        weights.st_ino,
        weights.st_size,
        weights.st_mtime_ns,
    )


class _Latencies:
    """The last render times, hits and misses apart; thread-safe."""

    def __init__(self) -> None:
        self._seconds: dict[str, deque[float]] = {
            "miss": deque(maxlen=LATENCIES_KEPT),
            "hit": deque(maxlen=LATENCIES_KEPT),
        }
        self._lock = threading.Lock()

    def add(self, kind: str, seconds: float) -> None:
        with self._lock:
            self._seconds[kind].append(seconds)

    def summary(self) -> dict[str, float | None]:
        with self._lock:
            seconds = {kind: list(values) for kind, values in self._seconds.items()}
        return {
            f"{kind}_p{q}_ms": round(float(np.percentile(values, q)) * 1e3, 4) if values else None
            for kind, values in seconds.items()
            for q in (50, 95)
        }


class Renderer:
    """Loads, warms and shares models; renders z to uint8 images through a byte-capped cache.

    ``device``: "auto" (default: CUDA, MPS, CPU; ``STUDIO_DEVICE`` overrides), "cuda", "mps",
    "cpu". ``precision``: "auto" (half precision for image GANs/VAEs on CUDA only), "fp32",
    "bf16", "fp16" (the CPPN and the 2-D GAN always draw in fp32). ``threads``: when given,
    ``torch.set_num_threads(threads)``: for the calling thread and every thread started after,
    training runs included. On a busy 2-core box 2 threads made a 1 ms render take 40 ms at
    p50 and a 4096 px poster 86 s instead of 11 s; see ``python -m studio bench --threads 1 2``.
    """

    def __init__(
        self,
        *,
        device: str | None = None,
        cache_mb: float = 256,
        compile: bool | None = None,
        precision: str = "auto",
        threads: int | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise StudioError(
                f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}"
            )
        if not cache_mb >= 0:
            raise StudioError(f"cache_mb must be 0 or more, got {cache_mb}")
        self.device = pick_device(device)
        self.precision = precision
        self.compile = bool(compile)
        if threads is not None:
            torch.set_num_threads(threads)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.cache = ImageCache(int(cache_mb * 2**20))
        self._latencies = _Latencies()
        self._paths: dict[Path, _PathEntry] = {}
        # (id or path, STUDIO_HOME) -> its card, and the user card that would shadow it
        self._names: dict[tuple[str, str | None], tuple[Path, Path | None]] = {}
        self._served: dict[str, Served] = {}  # by sha256
        self._variants: OrderedDict[ModuleKey, Served] = OrderedDict()
        self._lock = threading.RLock()

    # -- models

    def load(self, id_or_path: str | Path) -> LoadedModel:
        """The served model of a checkpoint; reloaded when its files changed since last time.

        Every slider move calls this, so a name seen before costs two stats (three for a
        pretrained id, to notice a user model of the same id that would now shadow it).
        """
        name = str(id_or_path)
        key = (name, os.environ.get("STUDIO_HOME"))  # an id means another file in another home
        known = self._names.get(key)
        if known is not None:
            card_path, shadow = known
            entry = self._paths.get(card_path)
            if (
                entry is not None
                and entry.signature == _signature(card_path)
                and not (shadow and os.path.exists(shadow))
            ):
                return entry.loaded
        card_path = Path(os.path.abspath(find_card(id_or_path)))
        signature = _signature(card_path)
        if signature is None:
            raise StudioError(f"{card_path.stem} is gone: its card or its weights were removed")
        shadows = card_path.parent == checkpoints.PRETRAINED_DIR and card_path.stem == name
        self._names[key] = (card_path, user_models_dir() / f"{name}.json" if shadows else None)
        entry = self._paths.get(card_path)
        if entry is not None and entry.signature == signature:
            return entry.loaded
        with self._lock:
            entry = self._paths.get(card_path)
            if entry is not None and entry.signature == signature:
                return entry.loaded
            try:
                model, card = load_checkpoint(card_path)
            except StudioError:
                if _signature(card_path) != signature:  # replaced while we read it: once more
                    return self.load(card_path)
                raise
            model = model.requires_grad_(False).to(self.device).eval()
            served = self._served.get(card.sha256) or self._serve(model)
            self._served[card.sha256] = served
            loaded = LoadedModel(model, served, card, card.sha256, card_path)
            self._paths[card_path] = _PathEntry(signature, loaded)
            if entry is not None:
                self._release(entry.loaded.sha256)
            return loaded

    def forget(self, id_or_path: str | Path) -> None:
        """Drop a model (deleted or renamed by the user), its derived CPPNs and its images."""
        name = str(id_or_path)
        with self._lock:
            gone = [
                p
                for p, e in self._paths.items()
                if name in (e.loaded.card.id, p.stem, str(p), str(weights_path(p)))
                or Path(os.path.abspath(name)) in (p, weights_path(p))
            ]
            for card_path in gone:
                self._release(self._paths.pop(card_path).loaded.sha256)
            for known, (card_path, _) in list(self._names.items()):
                if card_path in gone:
                    del self._names[known]

    def _release(self, sha256: str) -> None:
        """Free a sha's modules and images once no loaded path uses those weights."""
        if any(e.loaded.sha256 == sha256 for e in self._paths.values()):
            return
        self._served.pop(sha256, None)
        for key in [k for k in self._variants if k[0] == sha256]:
            del self._variants[key]
        self.cache.drop(lambda key: key[0][0] != sha256)

    def _half(self, model: GenerativeModel) -> torch.dtype | None:
        if not model.half_precision:
            return None
        precision = self.precision
        if precision == "auto":
            if self.device.type != "cuda":
                return None
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]

    def _serve(self, model: GenerativeModel) -> Served:
        """A warmed serving copy of ``model``, which is left as it is."""
        half = self._half(model)
        copy = serving_copy(model, self.device, autocast=half is not None, compile=self.compile)
        served = Served(copy, half)
        self._draw(
            served, torch.zeros(1, model.latent_dim), min(model.native_size, 64), DrawOptions()
        )
        return served

    def _module(self, loaded: LoadedModel, options: DrawOptions) -> Served:
        """What draws: the checkpoint's serving copy, or that of the CPPN its art knobs derive
        from it (deterministic)."""
        if not options.derived:
            return loaded.served
        key = (loaded.sha256, options.knobs, options.weight_seed)
        with self._lock:
            served = self._variants.get(key)
            if served is None:
                model = loaded.model.variant(dict(options.knobs), options.weight_seed)
                served = self._variants[key] = self._serve(model)
                while len(self._variants) > VARIANTS_KEPT:
                    self._variants.popitem(last=False)
            self._variants.move_to_end(key)
            return served

    # -- drawing

    def _autocast(self, served: Served) -> contextlib.AbstractContextManager:
        if served.half is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=served.half)

    def _draw(
        self,
        served: Served,
        z: torch.Tensor | np.ndarray,
        size: int,
        options: DrawOptions,
        tile: int = DRAW_TILE,
    ) -> np.ndarray:
        """N x H x W x C uint8 (a cloud model: one picture of all z)."""
        z = torch.as_tensor(z).to(self.device)
        with torch.inference_mode(), self._autocast(served):
            return served.model.draw(z, size, tile=tile, **dict(options.drawing))

    def render(
        self,
        model: str | Path,
        z: Any,
        size: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """H x W x C uint8 for one z, N x H x W x C for a batch (the misses in one forward).

        ``size`` defaults to the model's own; GAN and VAE images are resized to it (bicubic),
        the CPPN draws at it. A 2-D point model returns one scatter picture of all z (512 px).
        Images for one z are the cache's own read-only arrays.
        """
        start = time.perf_counter()
        return self._render(self.load(model), z, size, options, start)

    def _render(
        self,
        loaded: LoadedModel,
        z: Any,
        size: int | None,
        options: dict[str, Any] | None,
        start: float,
    ) -> np.ndarray:
        model = loaded.model
        drawn = check_options(model, options)
        points = model.cloud
        rows, single = canonical_z(
            z, model.latent_dim, max_rows=MAX_POINTS if points else MAX_BATCH
        )
        size = _check_size(size) if size is not None else model.native_size
        module_key = (loaded.sha256, drawn.knobs, drawn.weight_seed)
        if points:
            keys = [(module_key, rows.tobytes(), size, None)]
        else:
            # A batched forward may round a rare pixel one level apart from drawing z alone:
            # batch images get their own entries, so a single render (a recipe) is always exact.
            keys = [(module_key, row.tobytes(), size, drawn.drawing, single) for row in rows]
        images = [self.cache.get(key) for key in keys]
        missing = [i for i, image in enumerate(images) if image is None]
        if missing:
            served = self._module(loaded, drawn)
            drawn_images = self._draw(served, rows if points else rows[missing], size, drawn)
            for i, image in zip(missing, drawn_images, strict=True):
                images[i] = self.cache.put(keys[i], image)
        self._latencies.add("miss" if missing else "hit", time.perf_counter() - start)
        return images[0] if single or points else np.stack(images)

    def render_recipe(self, recipe: Recipe) -> np.ndarray:
        """The recipe's image; refused when the named model's weights are not the recipe's."""
        start = time.perf_counter()
        loaded = self.load(recipe.model)
        if loaded.sha256 != recipe.sha256:
            raise StudioError(
                f"this recipe was made with other weights of '{recipe.model}' "
                f"(sha256 {recipe.sha256[:12]}, the model now has {loaded.sha256[:12]}): "
                "it cannot be reproduced exactly"
            )
        z = np.asarray(recipe.z, np.float64)
        if loaded.model.cloud:
            z = z.reshape(-1, loaded.model.latent_dim)
        return self._render(loaded, z, recipe.size, recipe.options, start)

    def recipe(
        self,
        model: str | Path,
        z: Any,
        size: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> Recipe:
        """What the image of one z *is*: model id, weights sha256, rounded z, size, options."""
        loaded = self.load(model)
        check_options(loaded.model, options)
        points = loaded.model.cloud
        rows, single = canonical_z(
            z, loaded.model.latent_dim, max_rows=MAX_POINTS if points else MAX_BATCH
        )
        if len(rows) > 1 and not points:
            raise StudioError("a recipe describes one image: give one z, not a batch")
        size = _check_size(size) if size is not None else loaded.model.native_size
        return Recipe(
            model=loaded.card.id,
            sha256=loaded.sha256,
            z=rows.reshape(-1).tolist(),
            size=size,
            options=dict(options or {}),
        )

    def poster(
        self,
        model: str | Path,
        z: Any,
        size: int,
        options: dict[str, Any] | None = None,
        tile: int = 512,
    ) -> np.ndarray:
        """A picture of any size up to 4096 from a model that draws at any size, in passes of
        at most min(tile, 64)^2 pixels.

        Not cached: one poster would push out hundreds of slider images.
        """
        loaded = self.load(model)
        if not loaded.model.any_size:
            raise StudioError(
                f"{loaded.card.id} is a {loaded.model.arch} with a fixed resolution; only models "
                "that draw at any size (the CPPN) make posters"
            )
        if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
            raise StudioError(f"tile must be a whole number of pixels, got {tile!r}")
        drawn = check_options(loaded.model, options)
        rows, single = canonical_z(z, loaded.model.latent_dim)
        if not single:
            raise StudioError("a poster is one image: give one z")
        served = self._module(loaded, drawn)
        return self._draw(served, rows, _check_size(size), drawn, tile=tile)[0]

    # -- counters

    def stats(self) -> dict[str, Any]:
        """Cache hits and misses (per image), size, and render latency percentiles (ms)."""
        cache = self.cache
        looked_up = cache.hits + cache.misses
        return {
            "hits": cache.hits,
            "misses": cache.misses,
            "hit_rate": cache.hits / looked_up if looked_up else 0.0,
            "entries": len(cache),
            "cache_mb": cache.nbytes / 2**20,
            "cache_cap_mb": cache.cap_bytes / 2**20,
            "models": len(self._served) + len(self._variants),
            "device": str(self.device),
            **self._latencies.summary(),
        }
