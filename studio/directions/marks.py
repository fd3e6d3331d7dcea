"""The pictures a person marks "more" and "less" while teaching a slider, kept in the studio
folder as they are marked (a ``studio.drafts.Draft``): closing the tab, or the studio, loses
none of them.

One file per model and weights, beside the taught directions:
``<studio home>/directions/<model id>/<sha256>.marks.json``. A grid's picture is marked by its
seed and a Gallery picture by its id, so paging through the grid keeps the earlier pages' marks,
and two tabs marking one model add to the same file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from studio.drafts import Draft
from studio.errors import StudioError
from studio.gallery import ID_PATTERN
from studio.models.base import MAX_SEED

SIDES = ("less", "more")
MAX_MARKS = 512  # as many as a fit takes
MAX_NAME = 40
MAX_BYTES = 64_000
VERSION = 1


@dataclass(frozen=True)
class Marks:
    """What one person has marked for one model so far, and the grid page and name they were
    at."""

    seeds: dict[int, str] = field(default_factory=dict)  # a grid's seed: its side
    pictures: dict[str, str] = field(default_factory=dict)  # a Gallery id: its side
    first: int = 0  # the grid's first seed
    name: str = ""  # the name typed so far

    def marked(
        self, side: str | None, *, seed: int | None = None, picture: str | None = None
    ) -> Marks:
        """These marks with one picture marked ``side`` (None: unmarked)."""
        if side is not None and side not in SIDES:
            raise StudioError(f"a picture is marked {' or '.join(SIDES)}, not {side!r}")
        seeds, pictures = dict(self.seeds), dict(self.pictures)
        marks, key = (seeds, seed) if picture is None else (pictures, picture)
        marks.pop(key, None)
        if side is not None:
            marks[key] = side
        if len(seeds) + len(pictures) > MAX_MARKS:
            raise StudioError(f"mark at most {MAX_MARKS} pictures")
        return dataclasses.replace(self, seeds=seeds, pictures=pictures)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "first": self.first,
            "name": self.name,
            "seeds": {str(seed): side for seed, side in sorted(self.seeds.items())},
            "pictures": dict(sorted(self.pictures.items())),
        }


def marks_from_json(value: Any, loaded: Any = None) -> Marks:
    """Marks from a file's parsed JSON; a StudioError saying what is wrong with it."""
    if not isinstance(value, dict) or value.get("version") != VERSION:
        raise StudioError(f"they are not marks of version {VERSION}")
    first, name = value.get("first", 0), value.get("name", "")
    seeds, pictures = value.get("seeds", {}), value.get("pictures", {})
    if type(first) is not int or not 0 <= first <= MAX_SEED:
        raise StudioError("the grid's first seed is not a seed")
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise StudioError(f"the name is not text of at most {MAX_NAME} characters")
    if not isinstance(seeds, dict) or not isinstance(pictures, dict):
        raise StudioError("the marks are not lists of pictures and sides")
    if len(seeds) + len(pictures) > MAX_MARKS:
        raise StudioError(f"they mark more than {MAX_MARKS} pictures")
    if any(side not in SIDES for side in (*seeds.values(), *pictures.values())):
        raise StudioError(f"a picture is marked other than {' or '.join(SIDES)}")
    if not all(s.isascii() and s.isdigit() and int(s) <= MAX_SEED for s in seeds):
        raise StudioError("a marked seed is not a seed")
    if not all(ID_PATTERN.fullmatch(p) for p in pictures):
        raise StudioError("a marked Gallery picture is not named as the Gallery names them")
    return Marks({int(s): side for s, side in seeds.items()}, dict(pictures), first, name)


MARKS = Draft("directions", "marks", Marks(), marks_from_json, Marks.to_json, MAX_BYTES)
"""Kept beside the taught directions: ``<studio home>/directions/<model id>/<sha256>.marks.json``."""
