"""The user's trained models and uploaded training data, as files.

A model in ``<studio home>/models`` is ``<id>.json`` (the card) and the files it names: its
weights and maybe its optimiser state for resuming (``<id>@<sha>.safetensors`` and
``<id>@<sha>.train.safetensors``; ``<id>.safetensors`` and ``<id>.train.safetensors`` for cards
from before versioned saves, see ``studio.checkpoints``), with maybe a contact sheet
(``<id>.png`` or ``<id>.contact.png``). Shipped models in ``pretrained/`` are read-only here.

Renaming and deleting hold the model's lock, so no run is writing it meanwhile. Renaming keeps
the weights' bytes (so the card's sha256 still holds; the id inside the safetensors metadata
keeps the old name, which nothing reads) and saves them under the new id as any save is, before
the old card goes: a crash at any point leaves every model whole under one of its names, or
both. Deleting removes the card first, so a crash leaves at most files no card names, which the
next run's sweep removes.

Pictures uploaded for a run are kept in ``<studio home>/uploads/<run id>/`` so that the run's
card (``--data <that path>``) reproduces it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from studio.checkpoints import (
    STATE_SUFFIX,
    WEIGHTS_SUFFIX,
    ModelCard,
    check_id,
    list_cards,
    model_lock,
    payload_files,
    read_card,
    read_payload,
    user_models_dir,
    write_model,
)
from studio.errors import StudioError
from studio.paths import PRETRAINED_DIR, atomic_write_bytes, studio_dir
from studio.train import TrainSpec

CONTACT_SHEET_SUFFIXES = (".png", ".contact.png")
UPLOADS = "uploads"
# An upload's kept name: with "0000-" before it and a temporary's ".<16 hex>.tmp" around it,
# well inside the 255 bytes a file name may have.
MAX_NAME = 100
MAX_EXTENSION = 10


def model_files(card_path: Path) -> list[Path]:
    """Every file that is, or was, part of the model whose card is ``card_path``, the card
    last: the files it names, earlier versions' (``<id>@...``, and the fixed names cards used
    before versioned saves), its contact sheets."""
    versions = sorted(card_path.parent.glob(f"{card_path.stem}@*"))
    before = [card_path.with_suffix(WEIGHTS_SUFFIX), card_path.with_suffix(STATE_SUFFIX)]
    files = [*payload_files(card_path), *versions, *before, *_sheets(card_path), card_path]
    return list(dict.fromkeys(files))


def user_card_path(model_id: str) -> Path:
    """The card of one of the user's own models; shipped models cannot be changed."""
    card_path = user_models_dir() / f"{check_id(model_id)}.json"
    if not card_path.exists():
        raise StudioError(
            f"no model of yours is called '{model_id}' (shipped models cannot be renamed or deleted)"
        )
    return card_path


def user_models() -> list[ModelCard]:
    """The user's readable models, newest first."""
    folder = user_models_dir()
    cards = [card for card, path in list_cards() if path.parent == folder]
    return sorted(cards, key=lambda card: (card.created, card.id), reverse=True)


def check_new_id(model_id: str) -> str:
    """A free, valid id for a new model (stripped of spaces), or a StudioError saying why not."""
    model_id = check_id(model_id.strip())
    if model_id.endswith(".train"):
        raise StudioError(f"'{model_id}' would clash with a training-state file; pick another name")
    card = f"{model_id}.json"
    if (user_models_dir() / card).exists() or (PRETRAINED_DIR / card).exists():
        raise StudioError(f"there is already a model called '{model_id}'; pick another name")
    return model_id


def rename_model(old_id: str, new_id: str) -> Path:
    """Give a model a new id; returns the new card's path."""
    old_card = user_card_path(old_id)
    if new_id.strip() == old_id:
        return old_card
    new_id = check_new_id(new_id)
    folder = old_card.parent
    with model_lock(folder, old_id), model_lock(folder, new_id):
        new_id = check_new_id(new_id)  # again: a run may have saved it before we held the lock
        new_card = folder / f"{new_id}.json"
        card = read_card(old_card)
        write_model(new_card, _renamed(card, new_id), *read_payload(old_card, card))
        for old, new in zip(_sheets(old_card), _sheets(new_card), strict=True):
            if old.exists():
                os.replace(old, new)
        _remove(old_card)
    return new_card


def _sheets(card_path: Path) -> list[Path]:
    stem = card_path.with_suffix("")
    return [stem.with_name(stem.name + suffix) for suffix in CONTACT_SHEET_SUFFIXES]


def _remove(card_path: Path) -> list[Path]:
    """Remove a model's files, the card first (see the module doc); returns those removed."""
    files = model_files(card_path)
    removed = []
    for path in [card_path, *files[:-1]]:
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def _renamed(card: ModelCard, new_id: str) -> ModelCard:
    """The card under its new id, with its recorded command rerunning as the new id too."""
    train = dict(card.train)
    command = card.command
    if {"id", "family", "dataset"} <= train.keys():  # written by run_training from a TrainSpec
        train["id"] = new_id
        command = TrainSpec.from_record(train).command()
    return dataclasses.replace(card, id=new_id, train=train, command=command)


def delete_model(model_id: str) -> list[Path]:
    """Remove every file of one of the user's models, and the pictures uploaded to train it
    unless another model's recipe still names them; returns the paths removed."""
    card_path = user_card_path(model_id)
    data_path = _uploads_of(card_path)
    with model_lock(card_path.parent, model_id):
        removed = _remove(card_path)
    if data_path and not any(card.train.get("data_path") == data_path for card in user_models()):
        removed += discard_uploads(Path(data_path))
    return removed


def _uploads_of(card_path: Path) -> str | None:
    """The ``--data`` path of a model's recipe (a card too damaged to read names none)."""
    try:
        return read_card(card_path).train.get("data_path")
    except StudioError:
        return None


# ---------------------------------------------------------------- uploaded pictures


def save_uploads(run_id: str, files: Sequence[tuple[str, bytes]], *, single: bool = False) -> Path:
    """Keep a run's uploaded files; returns what ``--data`` takes: the .zip, the one picture
    (``single``: a CPPN's target) or the folder of pictures.

    Either one .zip or pictures, not both. Names are reduced to a short, safe base name,
    numbered so that two uploads of the same name both survive. Nothing is left behind when a
    file cannot be written.
    """
    if not files:
        raise StudioError("nothing was uploaded")
    zips = [name for name, _ in files if name.lower().endswith(".zip")]
    if single and (len(files) > 1 or zips):
        raise StudioError("upload one picture to paint (not a .zip, not several)")
    if zips and len(files) > 1:
        raise StudioError("upload either one .zip or several pictures, not both")
    folder = studio_dir(UPLOADS) / check_id(run_id)
    if folder.exists():
        raise StudioError(f"uploads for a run called '{run_id}' already exist; pick another name")
    paths = []
    try:
        for i, (name, data) in enumerate(files):
            path = folder / f"{i:04d}-{safe_file_name(name)}"
            atomic_write_bytes(path, data)
            paths.append(path)
    except OSError as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise StudioError(f"could not keep the uploaded files: {err.strerror}") from None
    return paths[0] if zips or single else folder


def safe_file_name(name: str) -> str:
    """The base name with anything but letters, digits, '.', '_' and '-' replaced by '_', and
    at most ``MAX_NAME`` characters: a longer one keeps its start and its extension, with a
    hash of the whole name between them, so that it stays apart from its neighbours."""
    base = PurePosixPath(name.replace("\\", "/")).name
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "upload"
    if len(safe) <= MAX_NAME:
        return safe
    _, dot, extension = safe.rpartition(".")
    suffix = dot + extension if dot and len(extension) <= MAX_EXTENSION else ""
    digest = hashlib.sha256(safe.encode()).hexdigest()[:12]
    stem = safe.removesuffix(suffix)[: MAX_NAME - len(digest) - 1 - len(suffix)]
    return f"{stem}-{digest}{suffix}"


def discard_uploads(data_path: Path) -> list[Path]:
    """Remove one run's uploads folder; returns it, or nothing when ``data_path`` is not in
    ``uploads/`` (a user's own folder is never touched)."""
    uploads = studio_dir(UPLOADS).resolve()
    path = Path(data_path).resolve()
    folder = path if path.parent == uploads else path.parent
    if folder.parent == uploads and folder.is_dir():
        shutil.rmtree(folder)
        return [folder]
    return []
