"""Where the studio keeps things, and how it writes them.

Every file a user owns lives under the studio folder (``STUDIO_HOME``, default
``~/.latent-studio``). Writes are atomic: a temporary file beside the target, flushed and
fsynced, then renamed over it, so a crash never leaves half a file behind. Writers that must
not overlap hold an OS lock (``held``) that the kernel drops when its process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from studio.errors import StudioError

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


_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.[0-9a-f]{16}\.tmp$")


def temporary_target(name: str) -> str | None:
    """The name of the file a temporary of ``atomic_write`` was to become (None for any other
    name), so that what a killed write left behind can be told apart and swept."""
    match = _TEMPORARY.match(name)
    return match["target"] if match else None


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
        with contextlib.suppress(OSError):  # the error that got us here is the one to report
            tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def fsync_dir(folder: Path) -> None:
    """Make the renames already done in ``folder`` durable before the next one (where the OS
    lets a folder be opened for that; elsewhere a rename is as durable as it gets)."""
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


# ---------------------------------------------------------------- locks

_holders: dict[Path, int] = {}  # lock file -> the thread of this process that holds it
_holders_guard = threading.Lock()


@contextlib.contextmanager
def held(lock_path: Path) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``lock_path`` for the block; yields False, holding
    nothing, when another process or thread has it. Never waits.

    Re-entrant in the thread that holds it (a run's save inside the run). The kernel drops the
    lock when its process dies, even by ``kill -9``, so a stale lock file means nothing. Lock
    files are left in place: removing one while another process waits on it would let two in.
    Creating the lock file can raise OSError (a read-only or missing folder).
    """
    key = Path(os.path.abspath(lock_path))
    me = threading.get_ident()
    with _holders_guard:
        again = _holders.get(key) == me
    if again:
        yield True
        return
    handle = os.open(key, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(handle)
        if not isinstance(err, BlockingIOError):
            raise
        yield False
        return
    with _holders_guard:
        _holders[key] = me
    try:
        yield True
    finally:
        with _holders_guard:
            del _holders[key]
        os.close(handle)  # closing the last descriptor releases the lock


def rewrite_held(
    path: Path,
    read: Callable[[], tuple[Any, tuple[str, ...]]],
    change: Callable[[Any], Any],
    encode: Callable[[Any], bytes | None],
    busy: str,
) -> Any:
    """Read a user's file, change what it holds and write it back, all under its lock; the
    changed value is returned.

    ``read`` gives the file's value and the problems that kept it from being read; such a file
    is set aside beside it (``.unreadable``), never written over. ``encode`` gives the bytes to
    write, or None for no file at all. Another writer holding the lock is a StudioError saying
    ``busy``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with held(path.with_name(path.name + ".lock")) as mine:
        if not mine:
            raise StudioError(busy)
        value, problems = read()
        if problems:
            path.replace(path.with_name(path.name + ".unreadable"))
        changed = change(value)
        data = encode(changed)
        if data is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write_bytes(path, data)
        return changed
