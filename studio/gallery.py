"""The gallery: favourite images kept in the studio folder, each a PNG beside its recipe JSON.

A favourite's id is a hash of its recipe, so keeping the same image twice keeps it once. The
PNG carries the recipe in its text chunk too, so a file copied out of the gallery still
reproduces its image. The JSON is written last: an entry without it was never finished and
is not listed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from studio.checkpoints import SkipReport, log_skipped
from studio.errors import StudioError
from studio.jsonio import read_json
from studio.paths import atomic_write_bytes, atomic_write_text, studio_dir
from studio.recipe import MAX_RECIPE_BYTES, Recipe, to_png

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,80}")
MAX_ENTRY_BYTES = 2 * MAX_RECIPE_BYTES  # the recipe, when it was kept and its title


@dataclass(frozen=True)
class Favourite:
    id: str
    recipe: Recipe
    created: str  # ISO 8601, UTC
    title: str
    png_path: Path

    @property
    def png(self) -> bytes:
        return self.png_path.read_bytes()


def gallery_dir() -> Path:
    return studio_dir("gallery")


def favourite_id(recipe: Recipe) -> str:
    digest = hashlib.sha256(recipe.to_json().encode()).hexdigest()[:12]
    return f"{recipe.model}-{digest}"


def add_favourite(image: np.ndarray, recipe: Recipe, *, title: str = "") -> Favourite:
    """Keep an H x W x C uint8 image and its recipe; keeping it again changes nothing."""
    fav_id = favourite_id(recipe)
    folder = gallery_dir()
    existing = folder / f"{fav_id}.json"
    if existing.exists():
        return _read(existing)
    png_path = folder / f"{fav_id}.png"
    atomic_write_bytes(png_path, to_png(image, recipe))
    created = datetime.now(UTC).isoformat(timespec="microseconds")
    entry = {"recipe": json.loads(recipe.to_json()), "created": created, "title": title}
    atomic_write_text(existing, json.dumps(entry, indent=2, ensure_ascii=False) + "\n")
    return Favourite(fav_id, recipe, created, title, png_path)


def list_favourites(on_skip: SkipReport = log_skipped) -> list[Favourite]:
    """Every readable favourite, newest first. A damaged entry is passed over and reported to
    ``on_skip``; one whose PNG is missing was never finished, and is passed over quietly."""
    found = []
    for path in gallery_dir().glob("*.json"):
        if not path.with_suffix(".png").exists():
            continue
        try:
            found.append(_read(path))
        except StudioError as err:
            on_skip(path, err)
    return sorted(found, key=lambda f: (f.created, f.id), reverse=True)


def get_favourite(fav_id: str) -> Favourite:
    return _read(_entry_path(fav_id))


def remove_favourite(fav_id: str) -> None:
    """Delete a favourite's JSON first (so it leaves the list at once), then its PNG."""
    path = _entry_path(fav_id)
    path.unlink(missing_ok=True)
    path.with_suffix(".png").unlink(missing_ok=True)


def _entry_path(fav_id: str) -> Path:
    if not ID_PATTERN.fullmatch(fav_id):
        raise StudioError(f"'{fav_id}' is not a gallery entry")
    return gallery_dir() / f"{fav_id}.json"


def _read(path: Path) -> Favourite:
    png_path = path.with_suffix(".png")
    if not path.exists() or not png_path.exists():
        raise StudioError(f"the gallery has no entry '{path.stem}'")
    what = f"the gallery entry {path.name}"
    entry = read_json(path, what=what, max_bytes=MAX_ENTRY_BYTES)
    if not isinstance(entry, dict):
        raise StudioError(f"{what} is damaged")
    created, title = entry.get("created", ""), entry.get("title", "")
    if not isinstance(created, str) or not isinstance(title, str):
        raise StudioError(f"{what} is damaged: its date and title must be text")
    try:
        recipe = Recipe.from_dict(entry.get("recipe"))
    except StudioError as err:
        raise StudioError(f"{what}: {err}") from None
    return Favourite(id=path.stem, recipe=recipe, created=created, title=title, png_path=png_path)
