"""The renderer behind every slider: one warm model per checkpoint, a cache of finished images.

One ``Renderer`` serves the whole process (the app keeps it in ``st.cache_resource``), so every
browser session and thread shares its models and its cache; all of its methods are thread-safe.

* Models: each checkpoint is loaded once (``studio.render.loaded`` notices when its files
  change), frozen and in eval mode, and drawn with a warmed serving copy, one per weights
  sha256 (``studio.render.serving``); the model itself stays as the checkpoint made it, for
  whatever reads or analyses its layers. Neither is ever handed to a trainer: a training run
  builds its own copy and publishes a new checkpoint.
* Renders: z is rounded to ``Z_DECIMALS`` (as recipes round it) and the *rounded* z is what gets
  drawn, so the cache key (sha256, rounded z, size, options) names exactly one picture. A batch
  of z is drawn in one batched forward (the misses only). A batch can round a rare pixel one
  level (of 255) away from the same z drawn alone (the kernels differ with the batch size), so
  batch images are cached apart from single ones: a single z, which is what a recipe holds,
  always gives the same bytes.
* Device: CUDA, then MPS, then the CPU (``STUDIO_DEVICE`` overrides; see ``studio.device``);
  precision, variants and ``torch.compile`` are ``studio.render.served``'s.
* The CPPN draws in passes of at most 64 x 64 = 4096 pixels (cache-sized: on one CPU thread
  they ran ~1.8x faster than 512 x 512 passes), several small images to a pass, each pass
  written straight into one uint8 array. A 4096 x 4096 RGB poster thus holds its 48 MiB of
  pixels plus a few MiB of activations (4096 pixels x width x 4 bytes a layer: 0.5 MiB at width
  32), whatever its size; measured, the process's peak resident memory rose from 237 to 285 MB.
  A pixel's value does not depend on the pass that drew it (the tests compare tiled and untiled
  renders byte for byte), so passes join without seams.
* 2-D point models (the teaching GAN) render one scatter picture of all the z given (each z is
  one point), not one picture per z.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from studio.checkpoints import load_checkpoint
from studio.device import pick_device
from studio.errors import StudioError
from studio.recipe import Recipe
from studio.render.cache import ImageCache, Latencies
from studio.render.loaded import LoadedCards, LoadedModel, file_signature
from studio.render.options import (
    DrawOptions,
    canonical_z,
    check_options,
    check_request,
    check_size,
)
from studio.render.served import Served, ServedModels


class Renderer:
    """Loads, warms and shares models; renders z to uint8 images through a byte-capped cache.

    ``device``: "auto" (default: CUDA, MPS, CPU; ``STUDIO_DEVICE`` overrides), "cuda", "mps",
    "cpu". ``precision``: see ``ServedModels``. ``threads``: when given,
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
        if not cache_mb >= 0:
            raise StudioError(f"cache_mb must be 0 or more, got {cache_mb}")
        self.device = pick_device(device)
        self._served = ServedModels(self.device, precision=precision, compile=bool(compile))
        if threads is not None:
            torch.set_num_threads(threads)
        self.cache = ImageCache(int(cache_mb * 2**20))
        self._latencies = Latencies()
        self._cards = LoadedCards()
        self._lock = threading.RLock()

    # -- models

    def load(self, id_or_path: str | Path) -> LoadedModel:
        """A checkpoint and its serving copy; loaded again when its files changed since.

        Every slider move calls this, so a name seen before costs two stats (three for a
        pretrained id, to notice a user model of the same id that would now shadow it).
        """
        loaded = self._cards.known(id_or_path)
        if loaded is not None:
            return loaded
        card_path, signature = self._cards.find(id_or_path)
        loaded = self._cards.get(card_path, signature)
        if loaded is not None:
            return loaded
        with self._lock:
            loaded = self._cards.get(card_path, signature)
            if loaded is not None:
                return loaded
            try:
                model, card = load_checkpoint(card_path)
            except StudioError:
                if file_signature(card_path) != signature:  # replaced while we read it: once more
                    return self.load(card_path)
                raise
            model = model.requires_grad_(False).to(self.device).eval()
            served = self._served.of(card.sha256, model)
            loaded = LoadedModel(model, served, card, card.sha256, card_path)
            replaced = self._cards.put(signature, loaded)
            if replaced is not None:
                self._release(replaced.sha256)
            return loaded

    def forget(self, id_or_path: str | Path) -> None:
        """Drop a model (deleted or renamed by the user), its derived CPPNs and its images."""
        with self._lock:
            for loaded in self._cards.forget(id_or_path):
                self._release(loaded.sha256)

    def _release(self, sha256: str) -> None:
        """Free a sha's modules and images once no loaded card uses those weights."""
        if self._cards.uses(sha256):
            return
        self._served.release(sha256)
        self.cache.drop(lambda key: key[0][0] != sha256)

    def _drawer(self, loaded: LoadedModel, options: DrawOptions) -> Served:
        """The checkpoint's serving copy, or that of the CPPN its art knobs derive from it."""
        if not options.derived:
            return loaded.served
        return self._served.variant(loaded.sha256, loaded.model, options)

    # -- drawing

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
        drawn, rows, single, size = check_request(loaded.model, z, size, options)
        points = loaded.model.cloud
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
            drawer = self._drawer(loaded, drawn)
            drawn_images = drawer.draw(rows if points else rows[missing], size, drawn)
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
        _, rows, _, size = check_request(loaded.model, z, size, options)
        if len(rows) > 1 and not loaded.model.cloud:
            raise StudioError("a recipe describes one image: give one z, not a batch")
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
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """A picture of any size up to 4096 from a model that draws at any size, in passes of
        at most min(tile, 64)^2 pixels; ``progress(share done)`` hears after each pass.

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
        drawer = self._drawer(loaded, drawn)
        return drawer.draw(rows, check_size(size), drawn, tile=tile, progress=progress)[0]

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
            "models": len(self._served),
            "device": str(self.device),
            **self._latencies.summary(),
        }
