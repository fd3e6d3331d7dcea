"""Latent-space tools: directions worth a slider, interpolation and walks, encoding pictures.

* slider axes: each model finds its own (a GAN's principal directions, a VAE's dimensions in
  KL order); here they are found once per weights and kept on disk.
* lerp / slerp between codes, and looping walks through several of them.
* encode: a picture to its posterior mean under a VAE.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import nn

from studio.checkpoints import ModelCard
from studio.data import load_dataset
from studio.data.folder import fit_picture
from studio.errors import StudioError
from studio.models import GenerativeModel, SliderAxes
from studio.paths import atomic_write_bytes, studio_home

AXES_VERSION = "1"
PROBE_EXAMPLES = 512  # training examples a VAE measures its dimensions' KL on


# ---------------------------------------------------------------- slider axes, cached


_memo: dict[tuple[str, int], SliderAxes] = {}
_memo_lock = threading.Lock()


def slider_axes(loaded_or_model: Any, *, limit: int = 8) -> SliderAxes:
    """A model's slider directions (``GenerativeModel.slider_axes``), found once per weights.

    Takes a ``LoadedModel`` (its sha256 names the cache file, its card the training data a VAE
    measures its dimensions on) or a bare model (its weights are hashed; its own samples stand
    in for data). Finding them can take a second (a GAN's PCA, a VAE's KL over its data), so
    they are kept in memory and in ``<studio home>/cache/axes/<sha256>-<limit>.safetensors``; a
    cache that cannot be read is found again, and one that cannot be written is not kept.
    """
    model = getattr(loaded_or_model, "model", loaded_or_model)
    if not 1 <= limit <= 256:
        raise StudioError(f"a model offers 1 to 256 sliders, not {limit}")
    sha = getattr(loaded_or_model, "sha256", None) or _weights_sha256(model)
    key = (sha, limit)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    path = studio_home() / "cache" / "axes" / f"{sha}-{limit}.safetensors"  # made on write
    found = _read_axes(path)
    if found is None:
        card = getattr(loaded_or_model, "card", None)
        found = model.slider_axes(limit, lambda: _training_sample(model, card))
        with contextlib.suppress(OSError):  # a full or read-only disk: found again next time
            atomic_write_bytes(path, _axes_bytes(found))
    with _memo_lock:
        _memo[key] = found
    return found


def _training_sample(model: GenerativeModel, card: ModelCard | None) -> torch.Tensor:
    """Some of the data the card says the model learned from; its own samples when that is not
    at hand (a bare model, or a folder of pictures moved away)."""
    dataset = card.dataset if card else {}
    options = {k: v for k, v in dataset.get("options", {}).items() if k != "seed"}
    options["n"] = min(int(options.get("n", PROBE_EXAMPLES)), PROBE_EXAMPLES)
    try:
        return load_dataset(dataset["name"], **options).x
    except (StudioError, KeyError, TypeError, ValueError):
        with torch.inference_mode():
            return model.decode(model.codes(PROBE_EXAMPLES, 0))


def _weights_sha256(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _axes_bytes(axes: SliderAxes) -> bytes:
    text = {"version": AXES_VERSION, "kind": axes.kind}
    text["labels"], text["helps"] = json.dumps(axes.labels), json.dumps(axes.helps)
    return save({"vectors": torch.from_numpy(np.ascontiguousarray(axes.vectors))}, metadata=text)


def _read_axes(path: Path) -> SliderAxes | None:
    """The cached axes when the file is there, readable and of this version."""
    try:
        with safe_open(str(path), framework="pt") as cached:
            text = cached.metadata() or {}
            if text.get("version") != AXES_VERSION:
                return None
            vectors = cached.get_tensor("vectors").numpy()
        labels, helps = json.loads(text["labels"]), json.loads(text["helps"])
    except (OSError, SafetensorError, KeyError, ValueError):
        return None
    return SliderAxes(text["kind"], vectors, tuple(labels), tuple(helps))


# ---------------------------------------------------------------- interpolation


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu()
    return torch.from_numpy(np.asarray(value, dtype=np.float32))


def _column(t: torch.Tensor) -> torch.Tensor:
    """t as a column when it holds several steps, so that it broadcasts over latent_dim."""
    return t.unsqueeze(-1) if t.ndim else t


def lerp(a: Any, b: Any, t: Any) -> torch.Tensor:
    """a + t (b - a); a scalar t gives one code, a vector of T values gives T x latent_dim."""
    a, b, t = _as_tensor(a), _as_tensor(b), _column(_as_tensor(t))
    return a + t * (b - a)


def slerp(a: Any, b: Any, t: Any) -> torch.Tensor:
    """Along the arc from a to b (Shoemake 1985; for GAN latents, White 2016).

    Unlike a straight line, which cuts through the low-density middle of a Gaussian, the arc
    keeps z at a typical length.
    """
    a, b, t = _as_tensor(a), _as_tensor(b), _column(_as_tensor(t))
    norms = a.norm() * b.norm()
    omega = torch.arccos(torch.clamp((a @ b) / norms.clamp_min(1e-12), -1.0, 1.0))
    if norms < 1e-12 or omega < 1e-4:  # a zero code, or (nearly) parallel: the arc is a line
        return a + t * (b - a)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def walk(points: Any, frames: int, loop: bool = True, mode: str = "slerp") -> torch.Tensor:
    """``frames`` codes through ``points`` in order, evenly in segment time: frames x latent_dim.

    ``loop``: come back to the first point, the last frame stopping one step short of it so the
    animation repeats without a stutter; otherwise end exactly on the last point.
    """
    if mode not in ("slerp", "lerp"):
        raise StudioError(f"unknown walk mode '{mode}'; choose slerp or lerp")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise StudioError(f"frames must be a whole number of at least 1, got {frames!r}")
    stops = torch.stack([_as_tensor(p) for p in points]) if len(points) else torch.empty(0)
    if stops.ndim != 2 or len(stops) < 2:
        raise StudioError("a walk needs at least two latent codes")
    segments = len(stops) if loop else len(stops) - 1
    if loop:
        s = torch.arange(frames, dtype=torch.float64) * segments / frames
    else:
        s = torch.linspace(0, segments, frames, dtype=torch.float64)
    step = slerp if mode == "slerp" else lerp
    out = []
    for value in s.tolist():
        j = min(int(value), segments - 1)
        out.append(step(stops[j], stops[(j + 1) % len(stops)], torch.tensor(value - j)))
    return torch.stack(out)


# ---------------------------------------------------------------- encoding pictures


def _fit_pictures(images: Any, channels: int, size: int) -> torch.Tensor:
    """uint8 H x W x C (or N x H x W x C), or float C x H x W (or N x C x H x W) in [0, 1], to
    float N x channels x size x size, each fitted as the folder data fits a picture."""
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        pictures = x.numpy()
        pictures = pictures[..., None] if pictures.ndim == 2 else pictures
        pictures = pictures if pictures.ndim == 4 else pictures[None]
    elif x.is_floating_point() and x.ndim in (3, 4):
        x = (x if x.ndim == 4 else x[None]).float()
        if tuple(x.shape[1:]) == (channels, size, size):
            return x
        pictures = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    else:
        raise StudioError(
            "give pictures as uint8 H x W x C arrays or float N x C x H x W in [0, 1]"
        )
    if pictures.ndim != 4 or pictures.shape[-1] not in (1, 3, 4):
        raise StudioError(f"cannot read pictures of shape {tuple(x.shape)} (1, 3 or 4 channels)")
    out = []
    for picture in pictures:
        image = Image.fromarray(picture[..., 0] if picture.shape[-1] == 1 else picture)
        out.append(fit_picture(image, size=size, channels=channels))
    return torch.stack(out)


def encode(model: GenerativeModel, images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The VAE's posterior mean for each picture: N x latent_dim, on the CPU."""
    if not model.encodes:
        raise StudioError(f"a {model.arch} model has no encoder to turn a picture into its code")
    channels, size, _ = model.image_shape
    x = _fit_pictures(images, channels, size)
    with torch.inference_mode():
        mu, _ = model.encode(x.to(model.device))
    return mu.float().cpu()
