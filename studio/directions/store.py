"""A model's named directions in z, and the file they are kept in.

A direction is a unit vector in z with a name, a kind (``principal``: GANSpace's or the KL
order's, unnamed; ``factor``: found from a factor the data knows; ``taught``: from a person's
picks), a line saying how it was found and, where it was measured, how cleanly it moves its
factor. A file of directions is safetensors (the vectors) with their descriptions as JSON in its
metadata; it is read as input from outside: its size, shape, numbers and words are checked
before anything is built on it, and a file that fails says why in one line.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from studio.errors import StudioError
from studio.jsonio import load_json
from studio.models.base import MAX_Z

VERSION = "2"  # 2: directions belong to groups
KINDS = ("principal", "factor", "taught")
MAX_DIRECTIONS = 256
MAX_FILE_BYTES = 4 << 20  # 256 directions of 1024 numbers in float32 is 1 MiB, plus words
MAX_TEXT = 300  # characters in a direction's "how it was found"
MAX_GROUP = 40
UNIT_TOLERANCE = 1e-3
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+\-]{0,39}\Z")  # a word --move NAME=AMOUNT can take
PLAIN = re.compile(r"[^<>\[\]`\x00-\x1f\x7f]*\Z")  # shown as a help line: no markup, no controls


@dataclass(frozen=True)
class Cleanliness:
    """How a direction moved its factor, measured on ``starts`` random codes each moved
    ``step`` units: the mean Spearman rank correlation between the amount moved and the
    factor read back, and the largest change of any other factor as a share of the target's
    (each change in units of that factor's spread over the model's pictures)."""

    rho: float
    crosstalk: float
    worst: str  # the other factor that moved most
    starts: int
    step: float

    RHO_BAR = 0.9
    CROSSTALK_BAR = 0.25

    @property
    def clean(self) -> bool:
        return self.rho >= self.RHO_BAR and self.crosstalk < self.CROSSTALK_BAR

    def summary(self) -> str:
        verdict = "clean" if self.clean else "misses"
        return (
            f"{verdict}: ρ {self.rho:.2f} over +{self.step:g}, others ≤ {self.crosstalk:.0%} "
            f"({self.worst}), {self.starts} starts"
        )


# eq=False: == on the vector has no single truth value, so compare by identity.
@dataclass(frozen=True, eq=False)
class Direction:
    name: str
    kind: str  # one of KINDS
    vector: np.ndarray  # latent_dim, unit length
    found: str  # how it was found, one line
    cleanliness: Cleanliness | None = None  # None where it was not measured
    group: str = ""  # one of a set shown together ("kind of shape", "character"); "" alone

    def help(self) -> str:
        """One line: how it was found and how clean it is."""
        measured = self.cleanliness.summary() if self.cleanliness else "not measured"
        return f"{self.found}; {measured}"


def check_direction(direction: Direction, latent_dim: int) -> None:
    """Refuse a direction that is not a plain name, a known kind and a finite unit vector."""
    if not isinstance(direction.name, str) or not NAME.match(direction.name):
        raise StudioError(
            f"a direction's name must be a short word of letters, digits and _.+-, not "
            f"{str(direction.name)[:40]!r}"
        )
    if direction.kind not in KINDS:
        raise StudioError(f"direction '{direction.name}' has an unknown kind")
    for text, limit in ((direction.found, MAX_TEXT), (direction.group, MAX_GROUP)):
        if not isinstance(text, str) or len(text) > limit or not PLAIN.match(text):
            raise StudioError(f"direction '{direction.name}' has an unreadable description")
    vector = direction.vector
    if vector.shape != (latent_dim,):
        raise StudioError(
            f"direction '{direction.name}' has {vector.size} numbers; this model's z has "
            f"{latent_dim}"
        )
    if not np.isfinite(vector).all() or abs(float(np.linalg.norm(vector)) - 1) > UNIT_TOLERANCE:
        raise StudioError(f"direction '{direction.name}' is not a finite unit vector")
    clean = direction.cleanliness
    if clean is not None:
        numbers = (clean.rho, clean.crosstalk, clean.step)
        if not all(isinstance(x, float) and np.isfinite(x) for x in numbers):
            raise StudioError(f"direction '{direction.name}' has unreadable measurements")
        if not NAME.match(clean.worst) and clean.worst != "":
            raise StudioError(f"direction '{direction.name}' names an unknown factor")


def check_directions(directions: tuple[Direction, ...], latent_dim: int) -> None:
    if len(directions) > MAX_DIRECTIONS:
        raise StudioError(f"more than {MAX_DIRECTIONS} directions")
    names = [d.name for d in directions]
    if len(set(names)) != len(names):
        raise StudioError("two directions share a name")
    for direction in directions:
        check_direction(direction, latent_dim)


# ---------------------------------------------------------------- the file


def directions_bytes(directions: tuple[Direction, ...], sha256: str) -> bytes:
    """A file of directions for the weights ``sha256``."""
    described = [{k: v for k, v in asdict(d).items() if k != "vector"} for d in directions]
    latent_dim = len(directions[0].vector) if directions else 0
    vectors = np.stack([d.vector for d in directions]) if directions else np.zeros((0, 0))
    text = {
        "version": VERSION,
        "sha256": sha256,
        "latent_dim": str(latent_dim),
        "directions": json.dumps(described, ensure_ascii=False),
    }
    tensor = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    return save({"vectors": tensor}, metadata=text)


def read_directions(path: Path, latent_dim: int, sha256: str) -> tuple[Direction, ...]:
    """The directions in ``path`` for the weights ``sha256`` and this latent size; a
    StudioError saying what is wrong with a file that is corrupt, too large, for other weights
    or another latent size, or holds numbers or words that are not plain."""
    where = f"direction file {path.name}"
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise StudioError(f"{where} is too large (more than {MAX_FILE_BYTES:,} bytes)")
        with safe_open(str(path), framework="pt") as stored:
            text = stored.metadata() or {}
            if text.get("version") != VERSION:
                raise StudioError(f"{where} is of another version")
            if text.get("sha256") != sha256:
                raise StudioError(f"{where} belongs to other weights")
            vectors = stored.get_tensor("vectors")
    except (OSError, SafetensorError) as err:
        raise StudioError(f"{where} cannot be read ({err})") from None
    if vectors.dtype != torch.float32 or vectors.ndim != 2 or vectors.shape[1] != latent_dim:
        raise StudioError(
            f"{where} holds vectors of shape {tuple(vectors.shape)}, not N x {latent_dim}"
        )
    if latent_dim > MAX_Z:
        raise StudioError(f"{where} is for a z of more than {MAX_Z} numbers")
    described = load_json(
        text.get("directions", ""), what=where, max_bytes=MAX_FILE_BYTES, max_depth=4
    )
    if not isinstance(described, list) or len(described) != len(vectors):
        raise StudioError(f"{where} describes {len(vectors)} vectors wrongly")
    try:
        directions = tuple(
            Direction(
                name=entry["name"],
                kind=entry["kind"],
                vector=vector.numpy().astype(np.float64),
                found=entry["found"],
                cleanliness=Cleanliness(**entry["cleanliness"]) if entry["cleanliness"] else None,
                group=entry["group"],
            )
            for entry, vector in zip(described, vectors, strict=True)
        )
    except (KeyError, TypeError) as err:
        raise StudioError(f"{where} has an unreadable entry ({err})") from None
    try:
        check_directions(directions, latent_dim)
    except StudioError as err:
        raise StudioError(f"{where}: {err}") from None
    return directions
