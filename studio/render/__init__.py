"""Rendering: z in, uint8 pictures out, for every slider, grid, poster and recipe.

* ``renderer``: the ``Renderer``, one per process, which composes the parts below.
* ``loaded``: which card an id or path names, whether what was loaded from it is stale, and
  ``LoadedModel``, a checkpoint as the renderer holds it.
* ``serving``: serving copies, a model rewritten to draw the same pictures faster.
* ``options``: render options and z, checked and made canonical (what a cache key holds).
* ``cache``: the byte-capped LRU of finished images and the latency counters.
"""
