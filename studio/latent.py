"""Latent-space tools: directions worth a slider, interpolation and walks, encoding pictures.

* slider axes: each model finds its own (a GAN's principal directions, a VAE's dimensions in
  KL order); here they are found once per weights and kept on disk.
* lerp / slerp between codes, and keyframe walks through any number of them: frames per
  segment, easing, looping; and sweeps along one slider. ``studio.walks`` makes them into
  animations for the Explore page and ``python -m studio walk`` alike.
* encode: a picture to its posterior mean under a VAE.
* told classes: a conditional model's class, the one-hot end of its code, by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import nn

from studio.checkpoints import ModelCard
from studio.data import DataClasses, data_classes, load_dataset
from studio.data.folder import fit_picture
from studio.errors import StudioError
from studio.models import GenerativeModel, SliderAxes
from studio.paths import atomic_write_bytes, studio_home

AXES_VERSION = "1"
PROBE_EXAMPLES = 512  # training examples a VAE measures its dimensions' KL on


# ---------------------------------------------------------------- slider axes, cached


_memo: dict[tuple[str, int], SliderAxes] = {}
_memo_lock = threading.Lock()
# One lock per axes being found: sessions (or the server's warm-up) that ask for the same new
# model at once wait for one finding instead of each doing it.
_finding: dict[tuple[str, int], threading.Lock] = {}


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
        finding = _finding.setdefault(key, threading.Lock())
    with finding:
        with _memo_lock:
            if key in _memo:  # found while this caller waited
                return _memo[key]
        path = _axes_path(sha, limit)
        found = _read_axes(path)
        if found is None:
            card = getattr(loaded_or_model, "card", None)
            found = model.slider_axes(limit, lambda: _training_sample(model, card))
            with contextlib.suppress(OSError):  # a full or read-only disk: found again next time
                atomic_write_bytes(path, _axes_bytes(found))
        with _memo_lock:
            _memo[key] = found
            del _finding[key]
    return found


def axes_at_hand(loaded: Any, *, limit: int = 8) -> bool:
    """Whether ``slider_axes`` answers at once for a ``LoadedModel``: they are kept already."""
    with _memo_lock:
        if (loaded.sha256, limit) in _memo:
            return True
    return _axes_path(loaded.sha256, limit).exists()


def _axes_path(sha256: str, limit: int) -> Path:
    return studio_home() / "cache" / "axes" / f"{sha256}-{limit}.safetensors"  # made on write


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


def _smoothstep(t: torch.Tensor) -> torch.Tensor:
    return t * t * (3 - 2 * t)


# How time runs inside a segment, t in [0, 1) to t in [0, 1): ease-in-out is still at both
# keyframes, so a walk seems to pause on each of them; linear keeps one pace throughout.
EASINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda t: t,
    "ease-in-out": _smoothstep,
    "ease-in": lambda t: t * t,
    "ease-out": lambda t: t * (2 - t),
}
MAX_WALK_FRAMES = 1000  # one batch of the renderer (1024) holds them all


def segment_frames(frames: int, segments: int, loop: bool) -> list[int]:
    """``frames`` in all, shared out over ``segments`` as evenly as they go (the first segments
    get one more); an open walk keeps one of them for its last point."""
    stops = segments if loop else segments + 1
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < stops:
        raise StudioError(
            f"a walk through {stops} stops needs at least {stops} frames, not {frames}"
        )
    base, extra = divmod(frames if loop else frames - 1, segments)
    return [base + (i < extra) for i in range(segments)]


def walk(
    points: Any,
    frames: int | Sequence[int],
    loop: bool = True,
    mode: str = "slerp",
    easing: str = "linear",
) -> torch.Tensor:
    """Codes through ``points`` in order, keyframe to keyframe: frames x latent_dim.

    ``frames``: in all (shared evenly, ``segment_frames``), or one count per segment, the i-th
    from point i to the next. A segment starts on its point and stops one step short of the
    next, so every point is a frame of its own. ``loop``: a last segment back to the first
    point, and the animation repeats without a stutter; otherwise the walk ends on the last
    point, one frame past its segments. ``easing`` (``EASINGS``) sets the pace in a segment.
    """
    if mode not in ("slerp", "lerp"):
        raise StudioError(f"unknown walk mode '{mode}'; choose slerp or lerp")
    if easing not in EASINGS:
        raise StudioError(f"unknown easing '{easing}'; choose {', '.join(EASINGS)}")
    stops = torch.stack([_as_tensor(p) for p in points]) if len(points) else torch.empty(0)
    if stops.ndim != 2 or len(stops) < 2:
        raise StudioError("a walk needs at least two latent codes")
    segments = len(stops) if loop else len(stops) - 1
    counts = segment_frames(frames, segments, loop) if isinstance(frames, int) else list(frames)
    if len(counts) != segments:
        raise StudioError(
            f"give one frame count per segment ({segments} of them), not {len(counts)}"
        )
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in counts):
        raise StudioError(f"each segment needs a whole number of frames, at least 1: got {counts}")
    if sum(counts) + (not loop) > MAX_WALK_FRAMES:
        raise StudioError(
            f"a walk has at most {MAX_WALK_FRAMES} frames, not {sum(counts) + (not loop)}"
        )
    step = slerp if mode == "slerp" else lerp
    ease = EASINGS[easing]
    out = [
        step(stops[j], stops[(j + 1) % len(stops)], ease(torch.arange(n, dtype=torch.float32) / n))
        for j, n in enumerate(counts)
    ]
    if not loop:
        out.append(stops[-1:])
    return torch.cat(out)


def slider_sweep(z: np.ndarray, axes: SliderAxes, index: int, reach: float) -> list[np.ndarray]:
    """The two keyframes of a walk along one slider: z with slider ``index`` at -reach and at
    +reach, every other slider where it is. Walked as a loop with lerp, the picture goes there
    and back along that slider's direction only."""
    if not 0 <= index < len(axes.labels):
        raise StudioError(f"this model has sliders 0 to {len(axes.labels) - 1}, not {index}")
    if not 0 < reach <= 10:
        raise StudioError(
            f"a sweep reaches more than 0 and at most 10 standard deviations, not {reach}"
        )
    z = np.asarray(z, dtype=np.float64)
    return [axes.moved(z, index, -reach), axes.moved(z, index, reach)]


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


# ---------------------------------------------------------------- told classes


def told_classes(loaded: Any) -> DataClasses:
    """The classes a conditional model is told, by name (numbered where its card's data names
    none, or other ones)."""
    held = loaded.model.held_dims
    dataset = loaded.card.dataset
    classes = data_classes(dataset.get("name", ""), dataset.get("options", {}))
    if len(classes.names) == held:
        return classes
    return DataClasses(classes.title, tuple(str(i) for i in range(held)))


def told_class(classes: DataClasses, z: np.ndarray) -> str:
    """The class of ``classes`` (``told_classes``) a code tells its model: the largest of its
    one-hot, once moved."""
    return classes.names[int(np.argmax(z[-len(classes.names) :]))]


def telling(loaded: Any, z: np.ndarray, name: str) -> np.ndarray:
    """The code with its class part set to the class ``name``; its noise as it was."""
    classes = told_classes(loaded)
    if not classes.names:
        raise StudioError(f"{loaded.card.id} is told no class: it draws what its code alone says")
    if name not in classes.names:
        listed = ", ".join(classes.names)
        raise StudioError(
            f"'{name}' is no {classes.title} {loaded.card.id} draws; it draws {listed}"
        )
    held = len(classes.names)
    told = np.array(z, dtype=np.float64)
    told[-held:] = np.eye(held)[classes.names.index(name)]
    return told
