"""GANSpace (Härkönen et al. 2020, §2): the directions in z that move a generator's picture most.

Sample z, take the generator's first activations y = G_1(z), find their principal components V
by PCA, then map them back to z by linear regression: the basis U minimising
sum_i ||U x_i - z_i||^2, with x_i = V^T (y_i - mean) the PCA coordinates. Each row of U,
normalised, is a direction in z that moves the picture along one principal component.

A conditional generator's code ends in its class, one-hot: those ``held`` numbers are drawn as
a class is, and the regression maps the components onto the rest of z alone, so that moving
along a direction keeps the picture's class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from studio.errors import StudioError

POWER_ITERATIONS = 6  # randomised PCA: enough for the top components to settle to fp32 noise
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.SiLU, nn.Tanh, nn.GELU)


@dataclass
class Directions:
    vectors: torch.Tensor  # k x latent_dim, unit norm, most variance first
    stds: torch.Tensor  # k: spread of the prior's z along each direction (slider units)
    explained: torch.Tensor  # k: share of the activations' variance each component explains


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


def principal_directions(
    generator_net: nn.Sequential,
    latent_dim: int,
    components: int,
    *,
    samples: int,
    seed: int,
    held: int = 0,
) -> Directions:
    """The generator's top ``components`` directions in z, found on ``samples`` codes; none
    moves the code's last ``held`` numbers (a one-hot class)."""
    if not 1 <= components <= 256 or not components < samples <= 65536:
        raise StudioError("components must be 1 to 256 and samples more than that, up to 65536")
    generator = torch.Generator().manual_seed(seed)
    free = latent_dim - held
    z = torch.randn(samples, free, generator=generator, dtype=torch.float64)
    if held:
        classes = torch.randint(held, (samples,), generator=generator)
        z = torch.cat([z, torch.eye(held, dtype=z.dtype)[classes]], 1)
    early = first_activations(generator_net)
    device = next(generator_net.parameters()).device
    with torch.inference_mode():
        y = early(z.to(device, torch.float32)).flatten(1).cpu()
    # The range finding runs in float32, several times faster than float64 on the CPU and the
    # same directions on the shipped GANs; the small regression stays float64.
    y = y - y.mean(0)
    k = min(components, free, y.shape[1])
    axes = _top_components(y, k, generator)
    x = (y @ axes).double()  # samples x k: PCA coordinates
    basis = torch.linalg.lstsq(x, z[:, :free]).solution  # k x free: row j is U's column j
    basis = torch.cat([basis, basis.new_zeros(k, held)], 1)
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
