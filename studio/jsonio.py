"""JSON that comes from outside, parsed in one place, with limits on its size and nesting.

Model cards, recipes (in a link, a PNG's text chunk or the gallery) and classifier cards all
come through here. ``json.loads`` itself recurses once per level: a 5000-deep ``[[[...]]]``,
which fits in a URL, raises ``RecursionError``, and a few hundred levels that parse still break
whatever walks the value afterwards (``repr``, ``dataclasses.asdict``, ``json.dumps``). So every
problem becomes a ``StudioError`` that names the file or text, and a value deeper than
``max_depth`` is refused; nothing the studio writes is more than a few levels deep.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.errors import StudioError

MAX_DEPTH = 32  # levels of nested objects and arrays; cards and recipes use 4 at most


def load_json(text: str | bytes, *, what: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """The value ``text`` holds, or a StudioError about ``what`` ("the recipe", a card's path).

    ``max_bytes`` bounds the text (characters, for a ``str``); it is checked before parsing.
    """
    if len(text) > max_bytes:
        raise StudioError(f"{what} is too large (more than {max_bytes:,} bytes)")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise StudioError(f"{what} is not valid JSON ({err.msg} at line {err.lineno})") from None
    except UnicodeDecodeError:
        raise StudioError(f"{what} is not UTF-8 text") from None
    except RecursionError:
        raise StudioError(f"{what} is nested more than {max_depth} levels deep") from None
    except ValueError as err:  # a number with more digits than Python converts
        raise StudioError(f"{what} is not usable JSON ({err})") from None
    if _deeper_than(value, max_depth):
        raise StudioError(f"{what} is nested more than {max_depth} levels deep")
    return value


def read_json(path: Path, *, what: str | None = None, max_bytes: int) -> Any:
    """The JSON value in the file at ``path``; no more than ``max_bytes`` of it is read."""
    what = what or str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as err:
        raise StudioError(f"cannot read {what}: {err.strerror}") from None
    return load_json(data, what=what, max_bytes=max_bytes)


def _deeper_than(value: Any, max_depth: int) -> bool:
    """Whether objects and arrays nest more than ``max_depth`` levels; without recursion."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
