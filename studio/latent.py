"""Latent-space tools: directions worth a slider, interpolation and walks, encoding pictures.

* GANs: GANSpace (Härkönen et al. 2020, §2): sample z, take the generator's first activations
  y = G_1(z), find their principal components V by PCA, then map them back to z by linear
  regression: the basis U minimising sum_i ||U x_i - z_i||^2, with x_i = V^T (y_i - mean) the
  PCA coordinates. Each column of U, normalised, is a direction in z that moves the picture
  along one principal component. Computed once per weights and kept on disk.
* VAEs: the latent dimensions ordered by how much they carry, the mean per-dimension KL of
  q(z|x) to the prior over some data (a dimension with KL ~ 0 is ignored by the decoder).
* lerp / slerp between codes, and looping walks through several of them.
* encode: a picture to its posterior mean under a VAE.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import nn

from studio.data.folder import fit_picture
from studio.errors import StudioError
from studio.models import GenerativeModel
from studio.models.vae import gaussian_kl_per_dim
from studio.paths import atomic_write_bytes, studio_dir

DIRECTIONS_VERSION = "1"
POWER_ITERATIONS = 6  # randomised PCA: enough for the top components to settle to fp32 noise
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.SiLU, nn.Tanh, nn.GELU)


# ---------------------------------------------------------------- GAN directions


@dataclass
class Directions:
    vectors: torch.Tensor  # k x latent_dim, unit norm, most variance first
    stds: torch.Tensor  # k: spread of the prior's z along each direction (slider units)
    explained: torch.Tensor  # k: share of the activations' variance each component explains


def _weights_sha256(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def first_activations(generator: nn.Sequential) -> nn.Sequential:
    """The generator's layers up to and including its first non-linearity."""
    layers = list(generator)
    for i, layer in enumerate(layers):
        if isinstance(layer, ACTIVATIONS):
            return nn.Sequential(*layers[: i + 1])
    raise StudioError("this generator has no activation layer to take principal directions of")


def _top_components(y: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """The top-k principal axes (features x k) of centred rows y, by randomised range finding
    (Halko et al. 2011): far cheaper than a full eigendecomposition of a 2048-wide covariance."""
    probe = torch.randn(y.shape[1], min(k + 10, *y.shape), generator=generator, dtype=y.dtype)
    q = torch.linalg.qr(y @ probe).Q
    for _ in range(POWER_ITERATIONS):
        q = torch.linalg.qr(y @ torch.linalg.qr(y.T @ q).Q).Q
    _, _, vh = torch.linalg.svd(q.T @ y, full_matrices=False)
    return vh[:k].T


def _compute_directions(
    model: GenerativeModel, components: int, samples: int, seed: int
) -> Directions:
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, model.latent_dim, generator=generator, dtype=torch.float64)
    early = first_activations(model.drawing_generator)
    with torch.inference_mode():
        y = early(z.to(model.device, torch.float32)).flatten(1).cpu()
    # The range finding runs in float32, 5-6x faster than float64 on the CPU and the same
    # directions (cosine >= 0.99996 on the shipped GANs); the small regression stays float64.
    y = y - y.mean(0)
    k = min(components, model.latent_dim, y.shape[1])
    axes = _top_components(y, k, generator)
    x = (y @ axes).double()  # samples x k: PCA coordinates
    basis = torch.linalg.lstsq(x, z).solution  # k x latent_dim: row j is U's column j
    vectors = basis / basis.norm(dim=1, keepdim=True).clamp_min(1e-12)
    # A PCA axis has no sign: point each direction where its largest coordinate is positive.
    signs = torch.sign(vectors.gather(1, vectors.abs().argmax(1, keepdim=True)))
    vectors = vectors * signs
    total = y.double().pow(2).sum()
    return Directions(
        vectors=vectors.float().contiguous(),
        stds=(z @ vectors.T).std(0).float(),
        explained=(x.pow(2).sum(0) / total).float(),
    )


_memo: dict[tuple[str, int, int, int], Directions] = {}
_memo_lock = threading.Lock()


def principal_directions(
    loaded_or_model: Any, *, components: int = 8, samples: int = 4096, seed: int = 0
) -> Directions:
    """A GAN's principal directions in z, cached per (weights sha256, parameters).

    Takes a ``LoadedModel`` (its sha256 names the cache file) or a bare GAN (its weights are
    hashed). The cache lives in ``<studio home>/cache/directions/<sha256>.safetensors``.
    """
    model = getattr(loaded_or_model, "model", loaded_or_model)
    if getattr(model, "family", None) != "gan":
        raise StudioError("principal directions are for GANs; a VAE's sliders come from kl_order")
    if not 1 <= components <= 256 or not components < samples <= 65536:
        raise StudioError("components must be 1 to 256 and samples more than that, up to 65536")
    sha = getattr(loaded_or_model, "sha256", None) or _weights_sha256(model)
    key = (sha, components, samples, seed)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    path = studio_dir("cache") / "directions" / f"{sha}.safetensors"
    params = {
        "version": DIRECTIONS_VERSION,
        "components": str(components),
        "samples": str(samples),
        "seed": str(seed),
    }
    found = _read_directions(path, params)
    if found is None:
        found = _compute_directions(model, components, samples, seed)
        tensors = {"vectors": found.vectors, "stds": found.stds, "explained": found.explained}
        atomic_write_bytes(path, save(tensors, metadata=params))
    with _memo_lock:
        _memo[key] = found
    return found


def _read_directions(path: Path, params: dict[str, str]) -> Directions | None:
    """The cached directions when the file is there, readable and made with these parameters."""
    try:
        with safe_open(str(path), framework="pt") as cached:
            if cached.metadata() != params:
                return None
            return Directions(*(cached.get_tensor(k) for k in ("vectors", "stds", "explained")))
    except (OSError, SafetensorError):
        return None


# ---------------------------------------------------------------- VAE dimensions


def kl_order(model: GenerativeModel, data: torch.Tensor) -> tuple[list[int], list[float]]:
    """(dimensions, most informative first; mean KL in nats of each dimension, by dimension)."""
    if getattr(model, "family", None) != "vae":
        raise StudioError("KL order is for VAEs: their encoder gives each dimension a posterior")
    total = torch.zeros(model.latent_dim, dtype=torch.float64)
    with torch.inference_mode():
        for batch in torch.as_tensor(data, dtype=torch.float32).split(256):
            mu, logvar = model.encode(batch.to(model.device))
            total += gaussian_kl_per_dim(mu, logvar).double().sum(0).cpu()
    kl = total / max(len(data), 1)
    order = sorted(range(model.latent_dim), key=lambda d: (-kl[d].item(), d))
    return order, kl.tolist()


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
    if getattr(model, "family", None) != "vae":
        raise StudioError("only a VAE can encode a picture to z: it is the one with an encoder")
    channels, size, _ = model.image_shape
    x = _fit_pictures(images, channels, size)
    with torch.inference_mode():
        mu, _ = model.encode(x.to(model.device))
    return mu.float().cpu()
