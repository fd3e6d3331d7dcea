"""What a run's loss terms and samples say in plain words: hints the loss panel shows when D wins
outright, the KL collapses, or a GAN draws one picture for every z."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from studio.trainer import StepReport

# Vega's "tableau10", which reads on light and dark themes alike.

HINT_WARMUP_STEPS = 100
HINT_WINDOW = 30
D_WINS_FAKE = 0.05  # mean D(G(z)) below this ...
D_WINS_REAL = 0.9  # ... while mean D(x) is above this: D tells them apart every time
KL_COLLAPSED = 0.1  # nats, summed over every latent dimension
KL_ACTIVE_DIM = 0.01  # nats: a dimension below this carries (almost) nothing about x
# An image GAN's samples from a fixed z, read every preview (``DiversityReading``): the share of
# near-duplicate pairs among them. A fresh generator draws one grey blur for every z, so the
# alarm wants the samples to have varied first (or the run to be past the warm-up), then to
# have collapsed in the latest readings, not in one.
COLLAPSED_PAIRS = 0.5  # at least this share of near-duplicate pairs: one picture, or two
VARIED_PAIRS = 0.1  # at most this: varied (real data and the shipped GANs read under 1%)
COLLAPSE_READINGS = 2  # consecutive collapsed readings, a preview apart (2 s in the app)
DIVERSITY_WARMUP_STEPS = 1000  # still one picture by now: stuck, whether or not it ever varied


@dataclass(frozen=True)
class Hint:
    level: Literal["warning", "error"]
    text: str


@dataclass(frozen=True)
class DiversityReading:
    step: int
    near_duplicates: float  # metrics.near_duplicate_share of samples from a fixed z


def _tail_mean(reports: Sequence[StepReport], key: str) -> float | None:
    tail = [r.terms[key] for r in reports[-HINT_WINDOW:] if key in r.terms]
    return sum(tail) / len(tail) if tail else None


def diagnose(
    reports: Sequence[StepReport],
    *,
    error: str | None = None,
    diversity: Sequence[DiversityReading] = (),
) -> list[Hint]:
    """Plain-language warnings for the ways a run commonly goes wrong."""
    hints = []
    if error:
        hints.append(Hint("error", error))
    collapse = _mode_collapse(diversity)
    if collapse:
        hints.append(collapse)
    if not reports or reports[-1].step < HINT_WARMUP_STEPS:
        return hints
    d_real, d_fake = _tail_mean(reports, "d_real"), _tail_mean(reports, "d_fake")
    if d_fake is not None and d_real is not None and d_fake < D_WINS_FAKE and d_real > D_WINS_REAL:
        hints.append(
            Hint(
                "warning",
                f"The discriminator is winning outright: it calls real samples real "
                f"(D(x) ≈ {d_real:.2f}) and every generated one fake (D(G(z)) ≈ {d_fake:.3f}). "
                "The generator then learns almost nothing. Try a lower discriminator learning rate, "
                "one D step per G step, or another seed.",
            )
        )
    kl = _tail_mean(reports, "kl")
    if kl is not None and kl < KL_COLLAPSED:
        hints.append(
            Hint(
                "warning",
                f"The KL term has collapsed to about zero ({kl:.3f} nats): the encoder's codes say "
                "nothing about the input, so every sample looks alike. Try a smaller β, or train "
                "longer.",
            )
        )
    return hints


def _mode_collapse(readings: Sequence[DiversityReading]) -> Hint | None:
    latest = readings[-COLLAPSE_READINGS:]
    if len(latest) < COLLAPSE_READINGS or min(r.near_duplicates for r in latest) < COLLAPSED_PAIRS:
        return None
    earlier = readings[:-COLLAPSE_READINGS]
    varied = [r for r in earlier if r.near_duplicates <= VARIED_PAIRS]
    if varied:
        since = f"At step {varied[-1].step:,} only {varied[-1].near_duplicates:.0%} were."
    elif latest[-1].step >= DIVERSITY_WARMUP_STEPS:
        since = "They have not varied since the start."
    else:
        return None  # a fresh generator, not yet varied
    return Hint(
        "warning",
        f"The generator draws nearly the same picture for every z: {latest[-1].near_duplicates:.0%} "
        "of the pairs among its samples from a fixed z are near-duplicates. "
        f"{since} This is mode collapse: G has found a few pictures that fool D and sends every "
        "z there. Try a lower generator learning rate, a higher discriminator one, or another "
        "seed.",
    )
