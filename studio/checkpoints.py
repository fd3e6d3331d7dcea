"""Checkpoints: safetensors weights beside a JSON model card.

Nothing here unpickles. A card says how to rebuild the model (architecture + config), what it
was trained on and how, and the sha256 of its weights; loading checks every tensor's name, shape
and dtype against the model the card describes *before* ``load_state_dict`` (which would
silently cast dtypes), and refuses non-finite weights.

A save is one step (``write_model``): the weights and the training state (for ``--resume``) are
written under names of their own content, ``<id>@<sha256[:16]>.safetensors`` and
``<id>@<sha256[:16]>.train.safetensors``, then the card ``<id>.json``, which names both with
their sha256, is renamed over the old card. Loaders trust only what the card names, so a save
killed at any point leaves the old model or the new one, whole; the files of the version it
replaced go only after the new card is in place, and what a killed save left behind is swept
later (``sweep_stale``). Cards written before this (``version`` 1, naming no files) keep their
weights in ``<id>.safetensors`` and their state in ``<id>.train.safetensors``, and still load:
the shipped ``pretrained/`` models are such cards. A run holds ``model_lock`` on its id while it
trains and saves.

Where checkpoints live: ``pretrained/`` (shipped, read-only) and ``<studio home>/models``. The
feature classifiers of ``studio.metrics`` are stored in the older two-file way, with cards of
their own (``Card``, ``write_checkpoint``, ``read_weights``, ``check_weights``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn

from studio.cards import (
    CARD_VERSION,
    ID_PATTERN,
    MAX_CARD_BYTES,
    Card,
    ModelCard,
    check_id,
    read_card,
)
from studio.errors import StudioError
from studio.jsonio import read_json
from studio.models import GenerativeModel, build_model
from studio.paths import (
    PRETRAINED_DIR,
    atomic_write_bytes,
    atomic_write_text,
    fsync_dir,
    held,
    studio_dir,
    temporary_target,
)

PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")
WEIGHTS_SUFFIX, STATE_SUFFIX = ".safetensors", ".train.safetensors"
STALE_AFTER_S = 60.0  # a leftover this old is from a dead save: a live one renames within a second
# A card may describe at most this many parameters (400 MB of float32): the shipped models have
# up to 0.8 M, and the validator alone allows a 64 px DCGAN of width 512, 663 M (2.5 GB).
MAX_PARAMS = 100_000_000
# What a safetensors file holds besides its tensors: a JSON header naming each one, and padding
HEADER_ALLOWANCE = 1 << 20

log = logging.getLogger(__name__)
SkipReport = Callable[[Path, StudioError], None]  # told of each file a listing passes over


def log_skipped(path: Path, err: StudioError) -> None:
    """A listing's default word on a file it passes over: a warning that names it."""
    log.warning("skipped %s: %s", path.name, err)


# ---------------------------------------------------------------- paths


def user_models_dir() -> Path:
    return studio_dir("models")


def weights_path(card_path: Path, card: ModelCard | None = None) -> Path:
    """The weights file the card names; without ``card`` the card file is read for it."""
    name = card.weights if card else _named_by(card_path, "weights")
    return _beside(card_path, name) if name else card_path.with_suffix(WEIGHTS_SUFFIX)


def training_state_path(card_path: Path, card: ModelCard) -> Path | None:
    """The training state the card names (None: it names none), or a version 1 card's."""
    if card.training_state:
        return _beside(card_path, card.training_state)
    return None if card.weights else card_path.with_suffix(STATE_SUFFIX)


def _named_by(card_path: Path, key: str) -> str:
    """One file name a card holds, read without building the card: "" when there is none."""
    try:
        data = read_json(card_path, max_bytes=MAX_CARD_BYTES)
    except StudioError:
        return ""
    value = data.get(key, "") if isinstance(data, dict) else ""
    return value if isinstance(value, str) else ""


def _beside(card_path: Path, name: str) -> Path:
    if name in (".", "..") or Path(name).name != name or "\\" in name:
        raise StudioError(f"{card_path.name} names '{name}', which is not a file beside it")
    return card_path.with_name(name)


def payload_files(card_path: Path) -> list[Path]:
    """The weights and training state the card at ``card_path`` names (none when there is no
    readable card)."""
    if not card_path.exists():
        return []
    try:
        card = read_card(card_path)
        state = training_state_path(card_path, card)
        return [weights_path(card_path, card), *([state] if state else [])]
    except StudioError:
        return []


def _studio_card(model_id: str) -> Path | None:
    """The card of the model called ``model_id`` in the user's folder, else in pretrained/."""
    for folder in (user_models_dir(), PRETRAINED_DIR):
        card = folder / f"{model_id}.json"
        if card.exists():
            return card
    return None


def _no_model(name: str) -> StudioError:
    return StudioError(f"no model called '{name}'; `python -m studio list` shows what there is")


def find_model(model_id: str) -> Path:
    """The card of a model named by id, the user's before a pretrained one of that id.

    Only the studio's own folders are looked in, so what a link or a PNG names tells its sender
    nothing about any other file on this machine.
    """
    card = _studio_card(check_id(model_id))
    if card is None:
        raise _no_model(model_id)
    return card


def find_card(id_or_path: str | Path) -> Path:
    """The card of a model named by id (as ``find_model``) or, from the command line, by the
    path of its card or its weights."""
    text = str(id_or_path)
    card = _studio_card(text) if ID_PATTERN.fullmatch(text) else None
    if card is not None:
        return card
    path = Path(text)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise StudioError(
            f"{path.name} looks like a pickle-based PyTorch file; Latent Studio never unpickles "
            "files (they can run code). Use a .safetensors file with its .json card."
        )
    if path.suffix in (".json", ".safetensors") or path.exists():
        # <id>@<sha>.safetensors belongs to <id>.json
        card = (
            path.with_name(f"{_owner(path.name)}.json")
            if "@" in path.name
            else path.with_suffix(".json")
        )
        if not card.exists():
            raise StudioError(
                f"no model card at {card} (a checkpoint is a .safetensors + .json pair)"
            )
        return card
    raise _no_model(text)


def list_cards(on_skip: SkipReport = log_skipped) -> list[tuple[ModelCard, Path]]:
    """Every readable model: pretrained first, then the user's, each sorted by id. A card that
    cannot be read is passed over and reported to ``on_skip``: one bad file hides only itself."""
    found = []
    for folder in (PRETRAINED_DIR, user_models_dir()):
        for card_path in sorted(folder.glob("*.json")):
            try:
                card = read_card(card_path)
                if weights_path(card_path, card).exists():
                    found.append((card, card_path))
            except StudioError as err:
                on_skip(card_path, err)
    return found


# ---------------------------------------------------------------- save


@contextlib.contextmanager
def model_lock(folder: Path, model_id: str) -> Iterator[None]:
    """Keep every other run, save, rename or delete of ``model_id`` in ``folder``, in any
    process, out for the block; one that finds the id taken is refused at once. The lock is a
    ``flock`` on ``<folder>/.locks/<id>`` (see ``studio.paths.held``)."""
    with contextlib.ExitStack() as stack:
        try:
            mine = stack.enter_context(held(_lock_path(folder, check_id(model_id))))
        except OSError as err:
            raise StudioError(f"cannot write to {folder}: {err.strerror or err}") from None
        if not mine:
            raise StudioError(
                f"'{model_id}' is being written by another run right now; wait for it to "
                "finish, or pick another name"
            )
        yield


def _lock_path(folder: Path, model_id: str) -> Path:
    locks = Path(folder) / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    return locks / model_id


def save_checkpoint(
    model: GenerativeModel,
    card: ModelCard,
    folder: Path | None = None,
    *,
    training_state: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Save the model (and a run's ``training_state``) as ``card.id`` in ``folder`` (default:
    the user's), replacing any earlier version in one step; returns the card's path. A failed
    write raises OSError and leaves the earlier version as it was."""
    folder = Path(folder) if folder else user_models_dir()
    check_id(card.id)
    card.arch, card.family = model.arch, model.family
    card.config = dataclasses.asdict(model.config)
    card.version = CARD_VERSION
    card_path = folder / f"{card.id}.json"
    weights = _weights_bytes(model, {"arch": model.arch})
    state = None if training_state is None else save(training_state)
    with model_lock(folder, card.id):
        write_model(card_path, card, weights, state)
    return card_path


def write_model(
    card_path: Path, card: ModelCard, weights: bytes, training_state: bytes | None = None
) -> None:
    """Replace the model whose card is ``card_path``: the new files under names of their
    content, then the card naming them (the one rename that is the save), then the old files.

    On an error before the card is in place, the new files go again and the error is raised:
    the earlier version is untouched. Call it holding ``model_lock``.
    """
    folder = card_path.parent
    previous = payload_files(card_path)
    card.weights, card.sha256 = _content_name(card.id, weights, WEIGHTS_SUFFIX)
    files = {card.weights: weights}
    card.training_state = card.training_state_sha256 = ""
    if training_state is not None:
        card.training_state, card.training_state_sha256 = _content_name(
            card.id, training_state, STATE_SUFFIX
        )
        files[card.training_state] = training_state
    written = []
    try:
        for name, blob in files.items():
            atomic_write_bytes(folder / name, blob)
            written.append(folder / name)
        fsync_dir(folder)  # the files are on disk before the card that names them
        atomic_write_text(card_path, card.to_json())
    except BaseException:
        for path in written:
            if path not in previous:
                with contextlib.suppress(OSError):
                    path.unlink()
        raise
    fsync_dir(folder)
    kept = {folder / name for name in files}
    for path in {*previous, *folder.glob(f"{card.id}@*")} - kept:
        with contextlib.suppress(OSError):  # a leftover costs space, and the sweep gets it later
            path.unlink()


def _content_name(model_id: str, blob: bytes, suffix: str) -> tuple[str, str]:
    """``<id>@<first 16 hex of sha256><suffix>`` and the full sha256 of ``blob``."""
    sha = hashlib.sha256(blob).hexdigest()
    return f"{model_id}@{sha[:16]}{suffix}", sha


def _weights_bytes(module: nn.Module, metadata: dict[str, str] | None) -> bytes:
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    return save(state, metadata=metadata)


def write_checkpoint(
    card_path: Path, module: nn.Module, card: Card, metadata: dict[str, str] | None = None
) -> None:
    """A feature classifier's way: the weights beside ``card_path``, then the card with their
    sha256, each atomically: a card is never on disk before the weights it names."""
    blob = _weights_bytes(module, metadata)
    atomic_write_bytes(card_path.with_suffix(WEIGHTS_SUFFIX), blob)
    card.sha256 = hashlib.sha256(blob).hexdigest()
    atomic_write_text(card_path, card.to_json())


def sweep_stale(folder: Path, *, older_than: float = STALE_AFTER_S) -> list[Path]:
    """Remove what killed saves left in ``folder``, returning it: temporaries, and versioned
    files no card names. Only files older than ``older_than`` seconds whose model no live run
    holds; anything that cannot be removed is left for the next sweep."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    removed = []
    for path in entries:
        owner = _leftover_owner(path)
        try:
            if owner is None or time.time() - path.stat().st_mtime < older_than:
                continue
            with held(_lock_path(folder, owner)) as free:
                if free and _leftover_owner(path) == owner:  # not named by a card just written
                    path.unlink()
                    removed.append(path)
        except OSError:
            continue
    return removed


def _leftover_owner(path: Path) -> str | None:
    """The model id whose killed save left ``path`` behind, or None when it is not a leftover."""
    target = temporary_target(path.name)
    if target is not None:  # a temporary, whatever it was to become
        owner = _owner(target)
    elif "@" in path.name:  # a versioned file: a leftover unless its card names it
        owner = _owner(path.name)
        if path in payload_files(path.with_name(f"{owner}.json")):
            return None
    else:
        return None
    return owner if ID_PATTERN.fullmatch(owner) else None


def _owner(name: str) -> str:
    """The id in the name of a model's file: ``<id>@...``, ``<id>.json``, ``<id>.png`` ..."""
    if "@" in name:
        return name.split("@")[0]
    for suffix in (STATE_SUFFIX, WEIGHTS_SUFFIX, ".contact.png", ".png", ".json"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


# ---------------------------------------------------------------- load


def read_weights(
    path: Path, sha256: str, *, max_bytes: int = MAX_PARAMS * 4 + HEADER_ALLOWANCE
) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file whose bytes must hash to the card's sha256; no more
    than ``max_bytes`` are read (a weights file may be a link to anything)."""
    return _tensors(_checked_bytes(path, sha256, max_bytes), path)


def read_training_state(card_path: Path, card: ModelCard) -> dict[str, torch.Tensor]:
    """The optimiser moments and RNG states saved with the card's weights, for ``--resume``.

    A version 1 card's state file carries no sha256, so its step must be the card's: one
    left beside a newer card by an interrupted save is refused, not resumed from the wrong
    place.
    """
    path = training_state_path(card_path, card)
    if path is None or not path.exists():
        raise StudioError(f"'{card.id}' has no saved training state to resume from")
    state = _tensors(_checked_bytes(path, card.training_state_sha256 or None), path)
    step = int(state["step"]) if "step" in state else None
    if step != card.steps:
        raise StudioError(
            f"the training state beside '{card.id}' is from step {step} but its card from step "
            f"{card.steps} (an interrupted save left them apart); train it afresh instead"
        )
    return state


def read_payload(card_path: Path, card: ModelCard) -> tuple[bytes, bytes | None]:
    """The bytes of the weights and of the training state (None: the card names none) the
    card names, each checked against its sha256 where the card has one."""
    weights = _checked_bytes(weights_path(card_path, card), card.sha256)
    state_path = training_state_path(card_path, card)
    if state_path is None or not (card.training_state or state_path.exists()):
        return weights, None
    return weights, _checked_bytes(state_path, card.training_state_sha256 or None)


def _checked_bytes(
    path: Path, sha256: str | None, max_bytes: int = MAX_PARAMS * 4 + HEADER_ALLOWANCE
) -> bytes:
    """The file's bytes, at most ``max_bytes`` of them, which must hash to ``sha256`` (None: a
    file no card vouches for)."""
    try:
        with open(path, "rb") as handle:
            blob = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise StudioError(f"{path.name} is missing beside its card") from None
    except OSError as err:
        raise StudioError(f"cannot read {path.name}: {err.strerror}") from None
    if len(blob) > max_bytes:
        raise StudioError(
            f"{path.name} is larger than its card's model could be ({max_bytes:,} bytes at most)"
        )
    if sha256 is not None and hashlib.sha256(blob).hexdigest() != sha256:
        raise StudioError(
            f"{path.name} is not the file its card describes (sha256 differs): "
            "it was changed or replaced after the card was written"
        )
    return blob


def _tensors(blob: bytes, path: Path) -> dict[str, torch.Tensor]:
    try:
        return load(blob)
    except (SafetensorError, ValueError) as err:
        raise StudioError(f"{path.name} is not a readable safetensors file ({err})") from None


def check_weights(module: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Names, shapes and dtypes must match the module exactly; every value must be finite."""
    expected = module.state_dict()
    for name, want in expected.items():
        got = tensors.get(name)
        if got is None:
            raise StudioError(f"{source} does not match its card: tensor '{name}' is missing")
        if tuple(got.shape) != tuple(want.shape) or got.dtype != want.dtype:
            raise StudioError(
                f"{source} does not match its card: tensor '{name}' is {got.dtype} "
                f"{tuple(got.shape)}, the card's model needs {want.dtype} {tuple(want.shape)}"
            )
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise StudioError(f"{source} holds non-finite values (NaN or inf) in '{name}'")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise StudioError(f"{source} does not match its card: unexpected tensor '{extra[0]}'")


def blueprint(arch: str, config: dict[str, Any]) -> GenerativeModel:
    """The model a config describes, built on the meta device: every tensor's name, shape and
    dtype, and none of its memory. Refuses a model of more than ``MAX_PARAMS`` parameters."""
    with torch.device("meta"):
        model = build_model(arch, config)
    params = sum(p.numel() for p in model.parameters())
    if params > MAX_PARAMS:
        raise StudioError(
            f"a {arch} of that config has {params:,} parameters; the studio opens models of up "
            f"to {MAX_PARAMS:,}"
        )
    return model


def load_checkpoint(
    id_or_path: str | Path, *, device: str | torch.device = "cpu"
) -> tuple[GenerativeModel, ModelCard]:
    """The model (eval mode, on ``device``) and its card; every mismatch is a StudioError.

    The weights are checked against the card's blueprint before anything real is built: a
    small card naming a huge config beside a tiny weights file costs nothing but the check,
    and no more bytes are read than that config's tensors take.
    """
    card_path = find_card(id_or_path)
    card = read_card(card_path)
    plan = blueprint(card.arch, card.config)
    path = weights_path(card_path, card)
    state_bytes = sum(t.numel() * t.element_size() for t in plan.state_dict().values())
    weights = read_weights(path, card.sha256, max_bytes=state_bytes + HEADER_ALLOWANCE)
    tensors = plan.upgrade_state(weights)
    check_weights(plan, tensors, path.name)
    model = build_model(card.arch, card.config)
    model.load_state_dict(tensors)
    return model.to(device).eval(), card
