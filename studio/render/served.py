"""What renders draw with: a warmed serving copy per weights sha256, and per CPPN variant.

* Precision: on CUDA image GANs and VAEs draw under bf16 autocast (fp16 where bf16 is missing),
  and TF32 matmuls are on. Tolerance against fp32, checked by the tests with the same autocast
  on the CPU: at most 2 levels of 255 per pixel; mean 0.1-0.2 levels on trained checkpoints, up
  to 0.6 on untrained ones (all their pixels sit near the 127.5 rounding edge). The CPPN stays
  fp32: its periodic activations amplify rounding (bf16 moved pixels by up to 4 levels); the
  2-D GAN is too small to gain.
* ``torch.compile`` is opt-in (``compile=True``): on 2 CPU cores it cut a 32 px DCGAN forward
  from 0.78 to 0.45 ms but took 17-78 s to compile at load; it is unmeasured on GPUs.
* Variants: art knobs (a CPPN's depth, width, ...) describe another random network, derived
  from the checkpoint deterministically; the ``VARIANTS_KEPT`` last used are kept served.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from studio.errors import StudioError
from studio.models import GenerativeModel
from studio.models.coordinates import DRAW_TILE
from studio.render.options import DrawOptions
from studio.render.serving import serving_copy

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
VARIANTS_KEPT = 16

VariantKey = tuple[str, tuple[tuple[str, Any], ...], int | None]  # (sha256, knobs, weight_seed)


@dataclass(frozen=True)
class Served:
    """A serving copy ready to draw: on its device, warmed, with its autocast dtype."""

    model: GenerativeModel
    half: torch.dtype | None
    device: torch.device

    def draw(
        self,
        z: torch.Tensor | np.ndarray,
        size: int,
        options: DrawOptions,
        tile: int = DRAW_TILE,
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """N x H x W x C uint8 (a cloud model: one picture of all z); a model that draws in
        passes reports the share done to ``progress`` after each."""
        z = torch.as_tensor(z).to(self.device)
        autocast = (
            contextlib.nullcontext()
            if self.half is None
            else torch.autocast(self.device.type, dtype=self.half)
        )
        with torch.inference_mode(), autocast:
            return self.model.draw(z, size, tile=tile, progress=progress, **dict(options.drawing))


class ServedModels:
    """The serving copies of one device and precision; thread-safe.

    ``precision``: "auto" (half precision for image GANs/VAEs on CUDA only), "fp32", "bf16",
    "fp16" (the CPPN and the 2-D GAN always draw in fp32).
    """

    def __init__(self, device: torch.device, *, precision: str, compile: bool) -> None:
        if precision not in PRECISIONS:
            raise StudioError(
                f"unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}"
            )
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.device = device
        self.precision = precision
        self.compile = compile
        self._copies: dict[str, Served] = {}  # by sha256
        self._variants: OrderedDict[VariantKey, Served] = OrderedDict()
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._copies) + len(self._variants)

    def of(self, sha256: str, model: GenerativeModel) -> Served:
        """The serving copy of these weights, made from ``model`` the first time."""
        with self._lock:
            served = self._copies.get(sha256)
            if served is None:
                served = self._copies[sha256] = self._serve(model)
            return served

    def variant(self, sha256: str, model: GenerativeModel, options: DrawOptions) -> Served:
        """The serving copy of the network that ``options``' art knobs derive from ``model``."""
        key = (sha256, options.knobs, options.weight_seed)
        with self._lock:
            served = self._variants.get(key)
            if served is None:
                derived = model.variant(dict(options.knobs), options.weight_seed)
                served = self._variants[key] = self._serve(derived)
                while len(self._variants) > VARIANTS_KEPT:
                    self._variants.popitem(last=False)
            self._variants.move_to_end(key)
            return served

    def release(self, sha256: str) -> None:
        """Free the copies of these weights and of the variants derived from them."""
        with self._lock:
            self._copies.pop(sha256, None)
            for key in [k for k in self._variants if k[0] == sha256]:
                del self._variants[key]

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
        served = Served(copy, half, self.device)
        served.draw(torch.zeros(1, model.latent_dim), min(model.native_size, 64), DrawOptions())
        return served
