"""Where the studio keeps things, and how it writes them.

Every file a user owns lives under the studio folder (``STUDIO_HOME``, default
``~/.latent-studio``). Writes are atomic: a temporary file beside the target, flushed and
fsynced, then renamed over it, so a crash never leaves half a checkpoint behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"


def studio_home() -> Path:
    """The user's studio folder, created on first use."""
    home = Path(os.environ.get("STUDIO_HOME") or Path.home() / ".latent-studio")
    home.mkdir(parents=True, exist_ok=True)
    return home


def studio_dir(name: str) -> Path:
    """A named sub-folder of the studio folder (``models``, ``cache``, ``gallery`` ...)."""
    path = studio_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, fsync it, then rename it over.

    The temporary file is created like any new file (mode 0o666 less the umask), not with
    ``mkstemp``'s 0o600, so a saved picture or checkpoint has the permissions the user expects.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
