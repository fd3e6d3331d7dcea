"""Keyframe walks made into animations that carry every keyframe's recipe.

A ``Walk`` is what an animation *is*, as a ``Recipe`` is what a picture is: its keyframes'
recipes (one model, one set of weights, one size and one set of knobs; each keeps the seed it
came from), the way between them (``studio.latent.walk``: frames per segment, lerp or slerp,
easing, loop) and its pace in frames per second. The Explore page and ``python -m studio walk``
both build one, draw it with ``render_walk`` and write it with ``animation_bytes``:

* GIF: the walk as JSON in the file's comment extension;
* animated WebP: the same JSON in its EXIF ImageDescription.

Pillow writes and reads both, and both survive a download and a copy; ``walk_from_animation``
reads the walk back, so a walk file is also a set of keyframes (``--keyframe walk.gif``). No MP4:
it needs an FFmpeg build (PyAV, imageio-ffmpeg) that nothing else in the studio needs.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from studio.drafts import Draft
from studio.errors import StudioError
from studio.jsonio import load_json
from studio.latent import MAX_WALK_FRAMES, segment_frames, slider_sweep, walk
from studio.models import SliderAxes
from studio.models.base import MAX_SEED
from studio.recipe import (
    MAX_RECIPE_BYTES,
    MAX_RECIPE_WORK,
    Recipe,
    check_recipe_fits,
    recipe_from_png,
    recipe_work,
    z_number,
)

if TYPE_CHECKING:  # only handed in: the CLI builds its parser from this module without them
    from studio.render.loaded import LoadedModel
    from studio.render.renderer import Renderer

FORMATS = {".gif": "GIF", ".webp": "WEBP"}
WALK_MARK = "latent-studio-walk:"  # the metadata text starts so; the walk's JSON follows
IMAGE_DESCRIPTION = 0x010E  # the EXIF tag that holds a WebP's walk
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_KEYFRAMES = 64
MAX_FPS = 50
MAX_WALK_PIXELS = 2**25  # frames x size^2: 512 frames at 256 px, about 100 MB of RGB frames
MAX_WALK_WORK = 10 * MAX_RECIPE_WORK  # multiply-adds for all the frames of a CPPN's walk
MAX_WALK_BYTES = MAX_KEYFRAMES * MAX_RECIPE_BYTES
MAX_KEYFRAME_FILE = 256 << 20  # a keyframe file is read whole: a 4096 px poster PNG fits
RENDER_CHUNK = 16  # frames one render call draws; a progress bar moves between calls


def _knobs(recipe: Recipe) -> dict[str, Any]:
    """The options that change pixels: all but the seed a keyframe came from."""
    return {k: v for k, v in recipe.options.items() if k != "seed"}


@dataclass
class Walk:
    """What an animation is; refused, in words, when its parts cannot make one."""

    keyframes: list[Recipe]
    # In all, or per segment: the i-th from keyframe i to the next (the last back to the first
    # when looping). Kept per segment.
    frames: int | list[int]
    loop: bool = True
    mode: str = "slerp"  # or "lerp"
    easing: str = "linear"  # a name in studio.latent.EASINGS
    fps: int = 12

    def __post_init__(self) -> None:
        if not 2 <= len(self.keyframes) <= MAX_KEYFRAMES:
            raise StudioError(
                f"a walk has 2 to {MAX_KEYFRAMES} keyframes, not {len(self.keyframes)}"
            )
        first = self.keyframes[0]
        for i, key in enumerate(self.keyframes[1:], 2):
            if (key.model, key.sha256) != (first.model, first.sha256):
                raise StudioError(
                    f"keyframe {i} was made with '{key.model}' (weights {key.sha256[:12]}), "
                    f"keyframe 1 with '{first.model}' ({first.sha256[:12]}): a walk stays in one "
                    "model's latent space"
                )
            if len(key.z) != len(first.z):
                raise StudioError(
                    f"keyframe {i} holds {len(key.z)} numbers, keyframe 1 {len(first.z)}: "
                    "a walk's keyframes are codes of one size"
                )
            if key.size != first.size or _knobs(key) != _knobs(first):
                raise StudioError(
                    f"keyframe {i} is drawn at another size or with other knobs than keyframe 1: "
                    "a walk draws every frame the same way"
                )
        if isinstance(self.fps, bool) or not isinstance(self.fps, int):
            raise StudioError(f"frames per second must be a whole number, got {self.fps!r}")
        if not 1 <= self.fps <= MAX_FPS:
            raise StudioError(f"a walk plays at 1 to {MAX_FPS} frames per second, not {self.fps}")
        if not isinstance(self.loop, bool):
            raise StudioError("a walk's loop must be true or false")
        if isinstance(self.frames, int) and not isinstance(self.frames, bool):
            segments = len(self.keyframes) - (not self.loop)
            self.frames = segment_frames(self.frames, segments, self.loop)
        self.path()  # refuses bad frame counts, modes and easings, in words

    @property
    def model(self) -> str:
        return self.keyframes[0].model

    @property
    def size(self) -> int:
        return self.keyframes[0].size

    @property
    def options(self) -> dict[str, Any]:
        """The render options of every frame."""
        return _knobs(self.keyframes[0])

    @property
    def frame_count(self) -> int:
        return sum(self.frames) + (not self.loop)

    def path(self) -> torch.Tensor:
        """The frames' codes: frame_count x latent_dim."""
        zs = [key.z for key in self.keyframes]
        return walk(zs, self.frames, loop=self.loop, mode=self.mode, easing=self.easing)

    # -- as JSON, in an animation's metadata

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Walk:
        """A walk from outside (an animation's metadata), checked field by field."""
        data = load_json(text, what="the walk", max_bytes=MAX_WALK_BYTES)
        if not isinstance(data, dict) or not isinstance(data.get("keyframes"), list):
            raise StudioError("a walk must be a JSON object with a list of keyframes")
        if len(data["keyframes"]) > MAX_KEYFRAMES:
            raise StudioError(f"a walk has at most {MAX_KEYFRAMES} keyframes")
        keyframes = []
        for i, key in enumerate(data["keyframes"], 1):
            try:
                keyframes.append(Recipe.from_dict(key))
            except StudioError as err:
                raise StudioError(f"keyframe {i}: {err}") from None
        frames = data.get("frames")
        if not isinstance(frames, list) or len(frames) > MAX_WALK_FRAMES:
            raise StudioError("a walk's frames must be a list of whole numbers, one per segment")
        mode, easing = data.get("mode", "slerp"), data.get("easing", "linear")
        if not isinstance(mode, str) or not isinstance(easing, str):
            raise StudioError("a walk's mode and easing must be names")
        loop, fps = data.get("loop", True), data.get("fps", 12)
        return cls(keyframes, frames, loop=loop, mode=mode, easing=easing, fps=fps)


# ---------------------------------------------------------------- keyframes


def _walkable(loaded: LoadedModel) -> None:
    if loaded.model.cloud:
        raise StudioError(
            f"{loaded.card.id} draws a cloud of points in each picture; a walk goes through "
            "pictures of one code each"
        )


def _read_keyframe_file(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEYFRAME_FILE + 1)
    except OSError as err:
        raise StudioError(f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > MAX_KEYFRAME_FILE:
        raise StudioError(f"{path} is larger than {MAX_KEYFRAME_FILE >> 20} MiB")
    return data


def keyframe_recipes(
    renderer: Renderer, loaded: LoadedModel, sources: Sequence[int | Path], size: int
) -> list[Recipe]:
    """Each source's keyframes, drawn at ``size``: a seed's picture (as ``render --seed`` draws
    it), a recipe PNG's, or every keyframe of a walk made here (a GIF or a WebP)."""
    _walkable(loaded)
    found: list[Recipe] = []
    for source in sources:
        if isinstance(source, int):
            z = loaded.model.picture_codes(source)
            found.append(renderer.recipe(loaded.path, z, size, {"seed": source}))
            continue
        try:
            made = recipe_or_walk(_read_keyframe_file(source))
        except StudioError as err:
            raise StudioError(f"{source}: {err}") from None
        recipes = made.keyframes if isinstance(made, Walk) else [made]
        for recipe in recipes:
            if recipe.model != loaded.card.id:
                raise StudioError(
                    f"{source} was made with '{recipe.model}', not with '{loaded.card.id}'"
                )
            if recipe.sha256 != loaded.sha256:
                raise StudioError(
                    f"{source} was made with other weights of '{recipe.model}' "
                    f"(sha256 {recipe.sha256[:12]}, the model now has {loaded.sha256[:12]})"
                )
            found.append(dataclasses.replace(recipe, size=size))
    return found


def sweep_keyframes(start: Recipe, axes: SliderAxes, index: int, reach: float) -> list[Recipe]:
    """The keyframes of a walk along slider ``index`` from ``start``: at -reach and +reach
    (``studio.latent.slider_sweep``), both drawn as ``start`` is."""
    ends = slider_sweep(np.asarray(start.z, np.float64), axes, index, reach)
    return [dataclasses.replace(start, z=end.tolist()) for end in ends]


# ---------------------------------------------------------------- drawing and writing


def render_walk(
    renderer: Renderer,
    loaded: LoadedModel,
    walk: Walk,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Every frame of ``walk``: N x H x W x C uint8, drawn ``RENDER_CHUNK`` frames to a batch,
    ``progress(share done)`` after each; refused before any is drawn when the walk is not of
    this model's weights or would cost more than ``MAX_WALK_PIXELS`` or ``MAX_WALK_WORK``."""
    _walkable(loaded)
    if (walk.model, walk.keyframes[0].sha256) != (loaded.card.id, loaded.sha256):
        raise StudioError(
            f"this walk was made with '{walk.model}' (weights {walk.keyframes[0].sha256[:12]}), "
            f"not with '{loaded.card.id}' ({loaded.sha256[:12]})"
        )
    for i, key in enumerate(walk.keyframes, 1):
        try:
            check_recipe_fits(key, loaded.model)
        except StudioError as err:
            raise StudioError(f"keyframe {i}: {err}") from None
    count, size = walk.frame_count, walk.size
    if count * size * size > MAX_WALK_PIXELS:
        raise StudioError(
            f"{count} frames of {size} px are {count * size * size / 1e6:.0f} million pixels, "
            f"more than a walk may draw ({MAX_WALK_PIXELS / 1e6:.0f} million): "
            "ask for fewer frames or a smaller size"
        )
    work = count * recipe_work(loaded.model, walk.options, size)
    if work > MAX_WALK_WORK:
        raise StudioError(
            f"{count} frames at {size} px would take {work:.1e} multiply-adds, more than a walk "
            f"may ask ({MAX_WALK_WORK:.0e}): ask for fewer frames or a smaller size"
        )
    path = walk.path().numpy()
    drawn = []
    for start in range(0, count, RENDER_CHUNK):
        drawn.append(
            renderer.render(loaded.path, path[start : start + RENDER_CHUNK], size, walk.options)
        )
        if progress is not None:
            progress(min(start + RENDER_CHUNK, count) / count)
    return np.concatenate(drawn)


def animation_format(path: Path) -> str:
    """Pillow's name for the format that ``path``'s suffix asks for."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise StudioError(
            f"cannot write a walk to '{path.name}': end its name in .gif or .webp "
            "(there is no MP4: it would need an FFmpeg build)"
        )
    return found


def animation_bytes(frames: np.ndarray, walk: Walk, path: Path) -> bytes:
    """``frames`` as the animation that ``path``'s suffix names, the walk in its metadata."""
    kind = animation_format(path)
    pictures = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    text = WALK_MARK + walk.to_json()
    shared = {"save_all": True, "append_images": pictures[1:], "loop": 0}
    shared["duration"] = round(1000 / walk.fps)
    buffer = io.BytesIO()
    if kind == "GIF":
        pictures[0].save(buffer, format="GIF", comment=text, disposal=2, **shared)
    else:
        exif = Image.Exif()
        exif[IMAGE_DESCRIPTION] = text
        pictures[0].save(buffer, format="WEBP", exif=exif, quality=90, **shared)
    return buffer.getvalue()


def recipe_or_walk(data: bytes) -> Recipe | Walk:
    """What a file made here holds: a PNG's recipe, or the walk in a GIF or a WebP."""
    return recipe_from_png(data) if data.startswith(PNG_SIGNATURE) else walk_from_animation(data)


def walk_from_animation(data: bytes) -> Walk:
    """The walk in a GIF's comment or an animated WebP's EXIF, as ``animation_bytes`` put it.
    Only the metadata is read, never a frame."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "GIF":
                text = image.info.get("comment", b"")
            elif image.format == "WEBP":
                text = image.getexif().get(IMAGE_DESCRIPTION, "")
            else:
                raise StudioError("only a PNG, GIF or WebP made by Latent Studio has keyframes")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise StudioError("that file is not a readable PNG, GIF or WebP") from None
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str) or not text.startswith(WALK_MARK):
        raise StudioError("this animation has no Latent Studio walk in it")
    return Walk.from_json(text[len(WALK_MARK) :])


# ---------------------------------------------------------------- keyframes under way

MAX_SEGMENT_FRAMES = 240  # a keyframe's frames to the next
MAX_KEYFRAME_ID = 2**31
KEYFRAME_FIELDS = {"id", "z", "seed", "frames"}


def keyframes_from_json(value: Any, loaded: LoadedModel) -> tuple[dict[str, Any], ...]:
    """The keyframes of a walk under way, from their file's parsed JSON: each ``{"id", "z",
    "seed", "frames"}`` (a seed is None where it is not known), in walk order."""
    if not isinstance(value, list) or len(value) > MAX_KEYFRAMES:
        raise StudioError(f"they are not a list of at most {MAX_KEYFRAMES} keyframes")
    latent_dim, kept, ids = loaded.model.latent_dim, [], set()
    for key in value:
        if not isinstance(key, dict) or set(key) != KEYFRAME_FIELDS:
            raise StudioError("a keyframe is not an id, a z, a seed and its frames to the next")
        number, z, seed, frames = key["id"], key["z"], key["seed"], key["frames"]
        if type(number) is not int or not 0 < number <= MAX_KEYFRAME_ID or number in ids:
            raise StudioError("a keyframe's id is not a number of its own")
        if not isinstance(z, list) or len(z) != latent_dim or not all(map(z_number, z)):
            raise StudioError(f"a keyframe's z is not {latent_dim} finite numbers")
        if seed is not None and (type(seed) is not int or not 0 <= seed <= MAX_SEED):
            raise StudioError("a keyframe's seed is not a seed")
        if type(frames) is not int or not 1 <= frames <= MAX_SEGMENT_FRAMES:
            raise StudioError(f"a keyframe's frames to the next are not 1 to {MAX_SEGMENT_FRAMES}")
        ids.add(number)
        kept.append({"id": number, "z": [float(v) for v in z], "seed": seed, "frames": frames})
    return tuple(kept)


KEYFRAME_DRAFT = Draft("walks", "keyframes", (), keyframes_from_json, list, MAX_WALK_BYTES)
"""The keyframes a person has kept for a walk, per model and weights:
``<studio home>/walks/<model id>/<sha256>.keyframes.json``."""
