"""Model cards: what a checkpoint is, as JSON beside its weights.

A card says how to rebuild the model (architecture + config), what it was trained on and how,
and the sha256 of its weights (and, from version 2, the names of its weights and training-state
files). Cards are read through ``studio.jsonio`` (bounded size and depth), every field checked
against its type, so one hostile file is one clear error.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Self

import torch

from studio.errors import StudioError
from studio.jsonio import read_json
from studio.models import model_class
from studio.models.base import saved_config

CARD_VERSION = 2  # 2: the card names its weights and training-state files
MAX_CARD_BYTES = 1 << 20  # the shipped cards are 1-3 KB
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def check_id(model_id: str) -> str:
    if not ID_PATTERN.fullmatch(model_id):
        raise StudioError(
            f"'{model_id}' is not a usable model id: use lower-case letters, digits, '.', '_' "
            "or '-' (up to 64)"
        )
    return model_id


def _of_type(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a card field's type: str, int, float, or a dict or list of
    them (a float field takes a whole number too; true and false are not numbers)."""
    origin = typing.get_origin(hint) or hint
    if origin is Any:
        return True
    if isinstance(value, bool):
        return False
    if not isinstance(value, (int | float) if origin is float else origin):
        return False
    items = value.values() if isinstance(value, dict) else value
    args = typing.get_args(hint)
    return not args or all(_of_type(item, args[-1]) for item in items)


class Card:
    """What every card shares: JSON in and out, and the ``sha256`` of the weights beside it.

    Subclasses are dataclasses; their fields without a default are the ones a card must hold,
    each field's value must have the field's type, and keys a card holds that the class does
    not know are passed over (a newer card still reads).
    """

    sha256: str

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, card_path: Path) -> Self:
        return cls.from_data(read_json(card_path, max_bytes=MAX_CARD_BYTES), str(card_path))

    @classmethod
    def from_data(cls, data: Any, source: str) -> Self:
        """The card a parsed JSON value describes; ``source`` names it in errors."""
        if not isinstance(data, dict):
            raise StudioError(f"{source} must hold a JSON object")
        fields = dataclasses.fields(cls)
        required = [f.name for f in fields if f.default is MISSING and f.default_factory is MISSING]
        missing = [k for k in required if k not in data]
        if missing:
            raise StudioError(f"{source} lacks {', '.join(missing)}")
        hints = typing.get_type_hints(cls)
        known = {f.name: data[f.name] for f in fields if f.name in data}
        for name, value in known.items():
            if not _of_type(value, hints[name]):
                raise StudioError(f"{source}: '{name}' must be {_type_name(hints[name])}")
        return cls(**known)


TYPE_WORDS = {dict: "a JSON object", list: "a JSON array", str: "text", int: "a whole number"}
ITEM_WORDS = {str: "text", int: "whole numbers", float: "numbers"}


def _type_name(hint: Any) -> str:
    """A field's type in words: "a JSON object of numbers" for ``dict[str, float]``."""
    origin = typing.get_origin(hint) or hint
    *_, item = typing.get_args(hint) or (None,)
    of = f" of {ITEM_WORDS[item]}" if item in ITEM_WORDS else ""
    return TYPE_WORDS.get(origin, "a number") + of


@dataclass
class ModelCard(Card):
    id: str
    arch: str
    family: str
    config: dict[str, Any]
    dataset: dict[str, Any] = field(default_factory=dict)  # {"name": ..., "options": {...}}
    train: dict[str, Any] = field(default_factory=dict)  # batch size, learning rates ...
    seed: int = 0
    steps: int = 0
    wall_time_s: float = 0.0
    device: str = "cpu"
    torch_version: str = torch.__version__
    command: str = ""
    final_terms: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    weights: str = ""  # the weights' file beside the card ("" before version 2: <id>.safetensors)
    training_state: str = ""  # optimiser moments and RNG states for --resume ("" = none)
    training_state_sha256: str = ""
    created: str = ""
    title: str = ""
    notes: str = ""
    version: int = CARD_VERSION

    @classmethod
    def from_data(cls, data: Any, source: str) -> ModelCard:
        """Also what pages and listings read inside the card: its id, its data's name and
        options, and the training config."""
        card = super().from_data(data, source)
        try:
            check_id(card.id)
        except StudioError as err:
            raise StudioError(f"{source}: {err}") from None
        for where, key, kind in (
            (card.dataset, "name", str),
            (card.dataset, "options", dict),
            (card.train, "training", dict),
        ):
            if key in where and not isinstance(where[key], kind):
                raise StudioError(f"{source}: '{key}' must be {_type_name(kind)}")
        return card


def read_card(card_path: Path) -> ModelCard:
    return _upgraded(ModelCard.read(card_path))


def _upgraded(card: ModelCard) -> ModelCard:
    """An older card as a current one. Cards written before training configs existed hold
    learning rates in the architecture's config: they move to ``train["training"]``, where
    newer cards keep them. Options added since it was saved take the values it was built with."""
    try:
        cls = model_class(card.arch)
    except StudioError:
        return card  # an unknown architecture is reported by whatever builds it
    config, training = cls.split_settings(card.config)
    card.config = saved_config(cls.Config, config)
    if training:
        card.train = card.train | {"training": training | card.train.get("training", {})}
    return card
