"""Work a person has under way on a model (marks for a slider, keyframes for a walk), kept in the
studio folder as it changes, so that closing the tab, or the studio, loses none of it.

A draft is one small JSON file per model and weights: ``<studio home>/<folder>/<model id>/
<sha256>.<kind>.json``. It is read as untrusted input: a file that cannot be used is named in one
line and set aside (``.unreadable``) by the next change, never written over.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from studio.errors import StudioError
from studio.jsonio import read_json
from studio.paths import rewrite_held, studio_dir

T = TypeVar("T")


@dataclass(frozen=True)
class Draft(Generic[T]):
    """One kind of work under way: where it is kept and how it reads and writes."""

    folder: str  # a sub-folder of the studio folder
    kind: str  # the file's last name, and what a message calls it: "marks", "keyframes"
    empty: T  # nothing under way: no file
    decode: Callable[[Any, Any], T]  # (parsed JSON, the LoadedModel) -> T, or a StudioError
    encode: Callable[[T], Any]  # T -> what json.dumps takes
    max_bytes: int

    def path(self, loaded: Any) -> Path:
        return studio_dir(self.folder) / loaded.card.id / f"{loaded.sha256}.{self.kind}.json"

    def read(self, loaded: Any) -> tuple[T, tuple[str, ...]]:
        """What is kept for these weights (nothing yet: ``empty``), and a line where the file
        cannot be used."""
        path = self.path(loaded)
        if not path.exists():
            return self.empty, ()
        try:
            value = read_json(path, what="the file", max_bytes=self.max_bytes)
            return self.decode(value, loaded), ()
        except StudioError as err:
            return self.empty, (f"your {self.kind} for {loaded.card.id} cannot be used: {err}",)

    def change(self, loaded: Any, change: Callable[[T], T]) -> T:
        """Apply ``change`` to what is kept and keep the result, under the file's lock."""

        def encoded(value: T) -> bytes | None:
            if value == self.empty:
                return None
            text = json.dumps(self.encode(value), indent=1)
            if len(text) > self.max_bytes:
                raise StudioError(f"there are too many {self.kind} to keep")
            return text.encode("utf-8")

        return rewrite_held(
            self.path(loaded),
            lambda: self.read(loaded),
            change,
            encoded,
            f"another tab is saving {self.kind} for this model: try again",
        )
