"""The classroom: a live 2-D GAN lab and a 2-D VAE lab, as plain objects a page steps.

Both labs wrap a fresh model (``build_model``) in the ``Trainer`` (one report per step), so the
maths, the optimisers and the NaN guard are the ones every training run uses. ``lab.step()`` is
one training step; for the GAN that is ``d_steps`` discriminator updates, then one generator
update. Between bursts of steps the page asks for a ``frame()``: the numbers it draws, computed
on fixed samples so that what moves on screen is learning, not resampling. ``draw_gan`` turns a
GAN frame into its two pictures, the data space and G's manifold over D's map, with numpy and
Pillow (points painted as ``studio.imaging`` paints every scatter), cheaply enough to redraw
after every burst.

The live measures:

* modes covered and the share of high-quality samples on ring8 and grid25
  (``studio.metrics.mode_coverage``: Metz et al. 2017, within 3 standard deviations of a mode);
* the Jensen–Shannon divergence between the real and the generated points' densities,
  estimated from 2-D histograms on a fixed grid, lightly blurred; in bits, so 0 is "the same"
  and 1 is "disjoint". Two finite samples of one density do not read 0, so each lab also
  measures that floor: two real samples against each other;
* for the VAE, the k-NN accuracy of the held-out codes (leave-one-out, k = 5): how well its
  2-D latent map separates the classes; chance is 1 / classes.
"""

from studio.classroom.drawing import PANEL_PX, draw_gan
from studio.classroom.gan import (
    AVERAGE_DECAY,
    DEFAULT_PRESET,
    GRID_LINES,
    HEALTHY,
    HEAT_RES,
    LATENT_SPAN,
    POINTS,
    PRESETS,
    GanLab,
    GanSettings,
)
from studio.classroom.lab import (
    FRAME_S,
    HIST_BINS,
    TRAIN_S,
    VIEW_SEED,
    Lab,
    density,
    js_divergence,
    knn_accuracy,
    mode_readout,
)
from studio.classroom.vae import GLYPHS, KNN_K, RD_EVERY, RatePoint, VaeFrame, VaeLab, VaeSettings

__all__ = [
    "AVERAGE_DECAY",
    "DEFAULT_PRESET",
    "FRAME_S",
    "GLYPHS",
    "GRID_LINES",
    "GanLab",
    "GanSettings",
    "HEALTHY",
    "HEAT_RES",
    "HIST_BINS",
    "KNN_K",
    "LATENT_SPAN",
    "Lab",
    "PANEL_PX",
    "POINTS",
    "PRESETS",
    "RD_EVERY",
    "RatePoint",
    "TRAIN_S",
    "VIEW_SEED",
    "VaeFrame",
    "VaeLab",
    "VaeSettings",
    "density",
    "draw_gan",
    "js_divergence",
    "knn_accuracy",
    "mode_readout",
]
