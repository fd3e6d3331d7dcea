"""The random draws of a training step, the same whether one process takes the whole batch or
several take a share each.

A run on N processes (``studio.distributed``) gives each its share of the batch: rows
[start, start + n) of the batch one process would have drawn. For the codes z and the VAE's eps
to match those rows too, every process draws the whole batch's noise from the run's generator
(all start from the same seed, so all draw the same numbers) and keeps its rows. The generator
then ends in the same state at any number of processes, which is what lets a run be resumed on
another number of them. The cost is the whole batch's noise on each process: a few thousand
normal numbers a step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NoiseShare:
    """One process's rows, from ``start``, of a batch of ``rows`` in all: it draws the whole
    batch's noise and keeps its own rows."""

    generator: torch.Generator
    start: int
    rows: int


Noise = torch.Generator | NoiseShare | None


def normal(
    shape: tuple[int, ...],
    noise: Noise,
    *,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal numbers of ``shape`` (rows first) from ``noise``: a plain generator (or
    None: the global one) draws them; a ``NoiseShare`` draws the whole batch's rows and
    returns its own."""
    if not isinstance(noise, NoiseShare):
        return torch.randn(shape, device=device, dtype=dtype, generator=noise)
    rows, *rest = shape
    whole = torch.randn((noise.rows, *rest), device=device, dtype=dtype, generator=noise.generator)
    return whole[noise.start : noise.start + rows]


def shared_uniform(
    shape: tuple[int, ...],
    noise: Noise,
    *,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Numbers uniform on [0, 1) of ``shape`` from ``noise`` for the whole batch: the same on
    every process of a run, as one process would draw them."""
    generator = noise.generator if isinstance(noise, NoiseShare) else noise
    return torch.rand(shape, device=device, dtype=dtype, generator=generator)
