"""toy2d: 2-D point clouds for watching a GAN find (or drop) modes.

ring8 is the ring of 8 Gaussians from the unrolled-GAN paper (Metz et al. 2017): radius 2,
std 0.02. grid25 is the 5x5 grid from -4 to 4 with std 0.05. ``modes`` and ``mode_std`` give
metrics the truth to count recovered modes against; spiral and moons have no modes.
"""

from __future__ import annotations

import math

import torch

from studio.data.base import Dataset, choice, count

SHAPES: tuple[str, ...] = ("ring8", "grid25", "spiral", "moons")
_STD = {"ring8": 0.02, "grid25": 0.05}
SPIRAL_NOISE = 0.05
MOONS_NOISE = 0.1


def modes(shape: str) -> torch.Tensor | None:
    """The K x 2 mode centres of ring8 or grid25, in component order; None for the others."""
    choice("shape", shape, SHAPES)
    if shape == "ring8":
        angle = torch.arange(8) * (2 * math.pi / 8)
        return torch.stack([torch.cos(angle), torch.sin(angle)], dim=1) * 2
    if shape == "grid25":
        steps = torch.arange(-4.0, 5.0, 2.0)
        gy, gx = torch.meshgrid(steps, steps, indexing="ij")
        return torch.stack([gx.flatten(), gy.flatten()], dim=1)
    return None


def mode_std(shape: str) -> float | None:
    """The std of each Gaussian mode of ring8 or grid25; None for spiral and moons."""
    return _STD.get(choice("shape", shape, SHAPES))


def resolve(*, shape: str = "ring8", n: int = 10_000) -> dict:
    return {"shape": choice("shape", shape, SHAPES), "n": count("n", n, 1, 1_000_000)}


def build(options: dict, seed: int) -> Dataset:
    shape, n = options["shape"], options["n"]
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, 2, generator=g)
    labels: torch.Tensor | None
    if shape in _STD:
        centres = modes(shape)
        labels = (torch.arange(n) % len(centres))[torch.randperm(n, generator=g)]
        x = centres[labels] + noise * _STD[shape]
        class_names = tuple(str(i) for i in range(len(centres)))
    elif shape == "spiral":
        # Archimedean, 1.5 turns out to radius 4; sqrt spreads points evenly along the arc.
        t = torch.rand(n, generator=g).sqrt()
        angle = 3 * math.pi * t
        x = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1) * (4 * t)[:, None]
        x = x + noise * SPIRAL_NOISE
        labels, class_names = None, ()
    else:  # moons, as in scikit-learn's make_moons, centred and doubled to match the others
        labels = (torch.arange(n) % 2)[torch.randperm(n, generator=g)]
        t = torch.rand(n, generator=g) * math.pi
        upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
        lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
        x = torch.where(labels[:, None] == 0, upper, lower)
        x = (x - torch.tensor([0.5, 0.25])) * 2 + noise * MOONS_NOISE
        class_names = ("upper", "lower")
    return Dataset(
        name="toy2d",
        x=x.float(),
        labels=labels,
        class_names=class_names,
        options={**options, "seed": seed},
    )
