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

from studio.errors import StudioError
from studio.paths import atomic_write_bytes, atomic_write_text, studio_dir
from studio.recipe import Recipe, to_png

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,80}$")


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


def list_favourites() -> list[Favourite]:
    """Every readable favourite, newest first; damaged entries are skipped."""
    found = []
    for path in gallery_dir().glob("*.json"):
        try:
            found.append(_read(path))
        except StudioError:
            continue
    return sorted(found, key=lambda f: (f.created, f.id), reverse=True)


def get_favourite(fav_id: str) -> Favourite:
    return _read(_entry_path(fav_id))


def remove_favourite(fav_id: str) -> None:
    """Delete a favourite's JSON first (so it leaves the list at once), then its PNG."""
    path = _entry_path(fav_id)
    path.unlink(missing_ok=True)
    path.with_suffix(".png").unlink(missing_ok=True)


def _entry_path(fav_id: str) -> Path:
    if not ID_PATTERN.match(fav_id):
        raise StudioError(f"'{fav_id}' is not a gallery entry")
    return gallery_dir() / f"{fav_id}.json"


def _read(path: Path) -> Favourite:
    png_path = path.with_suffix(".png")
    if not path.exists() or not png_path.exists():
        raise StudioError(f"the gallery has no entry '{path.stem}'")
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise StudioError(f"the gallery entry {path.name} is damaged") from None
    if not isinstance(entry, dict):
        raise StudioError(f"the gallery entry {path.name} is damaged")
    recipe = Recipe.from_dict(entry.get("recipe"))
    return Favourite(
        id=path.stem,
        recipe=recipe,
        created=str(entry.get("created", "")),
        title=str(entry.get("title", "")),
        png_path=png_path,
    )
