"""Checkpoints as the renderer holds them, and whether they are still what is on disk.

Every render names its model, so every slider move asks which card a name means and whether
the model loaded from it is stale. ``LoadedCards`` answers from memory with two stats (three for
a pretrained id): a card and its weights are known by their inode, size and mtime, so a
checkpoint replaced on disk under the same name is reloaded, never served stale, and a user
model saved under a pretrained id shadows the pretrained one from then on (``find_card``
prefers it). An id means another file in another studio folder (``STUDIO_HOME``), so names are
remembered per folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from studio import checkpoints
from studio.checkpoints import ModelCard, find_card, user_models_dir, weights_path
from studio.errors import StudioError
from studio.models import GenerativeModel
from studio.render.served import Served

Signature = tuple[int, ...]  # inode, size and mtime of a card and of its weights


@dataclass
class LoadedModel:
    """A checkpoint shared by every session: read and analyse ``model``, never train it."""

    model: GenerativeModel  # as the checkpoint made it: frozen, eval mode, on the device
    served: Served = field(repr=False)  # what renders draw with: the same pictures, faster
    card: ModelCard
    sha256: str
    path: Path  # the card's path


def file_signature(card_path: Path, card: ModelCard | None = None) -> Signature | None:
    """Inode, size and mtime of the card and of the weights it names; None when either is
    gone. With the ``card`` already read, the weights' name is taken from it (the hot path:
    every slider move asks)."""
    try:
        card, weights = os.stat(card_path), os.stat(weights_path(card_path, card))
    except FileNotFoundError:
        return None
    return (
        card.st_ino,
        card.st_size,
        card.st_mtime_ns,
        weights.st_ino,
        weights.st_size,
        weights.st_mtime_ns,
    )


@dataclass(frozen=True)
class _Entry:
    signature: Signature  # of the files ``loaded`` was read from
    loaded: LoadedModel


def _in_this_home(name: str) -> tuple[str, str | None]:
    return name, os.environ.get("STUDIO_HOME")


class LoadedCards:
    """The model loaded from each card, and the card each id or path named last time.

    Not locked: lookups may run in any thread, changes (``put``, ``forget``) only under the
    renderer's lock. A name's card is remembered outside it, one dict assignment at a time.
    """

    def __init__(self) -> None:
        self._entries: dict[Path, _Entry] = {}
        # (id or path, STUDIO_HOME) -> its card, and the user card that would shadow it
        self._names: dict[tuple[str, str | None], tuple[Path, Path | None]] = {}

    def known(self, id_or_path: str | Path) -> LoadedModel | None:
        """What this name gave last time, if its files are unchanged and nothing shadows it."""
        known = self._names.get(_in_this_home(str(id_or_path)))
        if known is None:
            return None
        card_path, shadow = known
        entry = self._entries.get(card_path)
        if (
            entry is not None
            and entry.signature == file_signature(card_path, entry.loaded.card)
            and not (shadow and os.path.exists(shadow))
        ):
            return entry.loaded
        return None

    def find(self, id_or_path: str | Path) -> tuple[Path, Signature]:
        """The card a name means now, and its files' signature; remembered for ``known``."""
        name = str(id_or_path)
        card_path = Path(os.path.abspath(find_card(id_or_path)))
        signature = file_signature(card_path)
        if signature is None:
            raise StudioError(f"{card_path.stem} is gone: its card or its weights were removed")
        shadows = card_path.parent == checkpoints.PRETRAINED_DIR and card_path.stem == name
        shadow = user_models_dir() / f"{name}.json" if shadows else None
        self._names[_in_this_home(name)] = (card_path, shadow)
        return card_path, signature

    def get(self, card_path: Path, signature: Signature) -> LoadedModel | None:
        """The model loaded from these very files, if it is kept."""
        entry = self._entries.get(card_path)
        return entry.loaded if entry is not None and entry.signature == signature else None

    def put(self, signature: Signature, loaded: LoadedModel) -> LoadedModel | None:
        """Keep ``loaded`` for its card; returns the model it replaces, if any."""
        old = self._entries.get(loaded.path)
        self._entries[loaded.path] = _Entry(signature, loaded)
        return old.loaded if old is not None else None

    def forget(self, id_or_path: str | Path) -> list[LoadedModel]:
        """Drop what was loaded from the cards an id, card path or weights path names."""
        name = str(id_or_path)
        gone = [
            p
            for p, e in self._entries.items()
            if name in (e.loaded.card.id, p.stem, str(p), str(weights_path(p)))
            or Path(os.path.abspath(name)) in (p, weights_path(p))
        ]
        for known, (card_path, _) in list(self._names.items()):
            if card_path in gone:
                del self._names[known]
        return [self._entries.pop(card_path).loaded for card_path in gone]

    def uses(self, sha256: str) -> bool:
        """Whether a kept model has these weights."""
        return any(e.loaded.sha256 == sha256 for e in self._entries.values())
