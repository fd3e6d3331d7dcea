"""folder: the user's own pictures, from a folder, a .zip, or uploaded bytes.

Everything goes through ``load_images`` (name, bytes) pairs, so the app can hand over
uploads without writing them to disk, and a zip is read member by member in memory and never
extracted. The files are untrusted, hence:

* only names on ``EXTENSIONS`` are opened, and only by the matching Pillow decoders (a
  ``.png`` that is really PostScript must not reach Ghostscript);
* a picture whose header claims more than ``Image.MAX_IMAGE_PIXELS`` is refused before it is
  decoded: Pillow's ``DecompressionBombWarning`` is raised as an error, like its big brother
  ``DecompressionBombError``. It is skipped, counted and explained in ``Dataset.problems``;
* a zip is checked from its central directory before any member is read: no absolute or
  ``..`` names, at most ``MAX_FILES`` entries and ``MAX_TOTAL_BYTES`` declared; and no
  file, in a zip or not, is read past ``MAX_FILE_BYTES``.

Every usable picture becomes RGB: transparency is composited over black (the colour of every
bundled set's background), palette, 16-bit, CMYK and gray-alpha images are converted, EXIF
orientation is applied, then the centre square is resized (Lanczos) to ``size``.
"""

from __future__ import annotations

import io
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps

from studio.data.base import Dataset, choice
from studio.errors import StudioError

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
PICTURE_TYPES = tuple(sorted(e.removeprefix(".") for e in EXTENSIONS))  # as upload boxes take them
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")  # JPEG also opens multi-picture (MPO)
MIN_IMAGES = 16
MAX_FILES = 10_000
MAX_TOTAL_BYTES = 512 * 2**20
MAX_FILE_BYTES = 64 * 2**20


def resolve(*, path: str | Path | None = None, size: int = 32, channels: int = 3) -> dict:
    if path is None:
        raise StudioError("folder needs a path: a folder of images or a .zip of them")
    return {
        "path": str(path),
        "size": choice("size", size, (32, 64)),
        "channels": choice("channels", channels, (1, 3)),
    }


def build(options: dict, seed: int) -> Dataset:
    """Nothing here is random; ``seed`` is taken only to match the other sets."""
    path = Path(options["path"]).expanduser()
    if path.is_dir():
        sources: Iterable[tuple[str, bytes]] = _read_folder(path)
    elif path.is_file() and path.suffix.lower() == ".zip":
        sources = _read_zip(path)
    elif path.is_file():
        raise StudioError(f"{path} is a file; give a folder of images or a .zip of them")
    else:
        raise StudioError(f"{path} does not exist")
    return load_images(
        sources, size=options["size"], channels=options["channels"], source=path.name
    )


def load_images(
    sources: Iterable[tuple[str, bytes]],
    *,
    size: int = 32,
    channels: int = 3,
    source: str = "upload",
) -> Dataset:
    """Decode (name, bytes) pairs into a ``folder`` Dataset; files that fail are skipped and counted.

    Names off ``EXTENSIONS`` are ignored without counting. Fewer than ``MIN_IMAGES`` usable
    pictures, or more than ``MAX_FILES``, is a StudioError.
    """
    size, channels = choice("size", size, (32, 64)), choice("channels", channels, (1, 3))
    images: list[torch.Tensor] = []
    problems: list[str] = []
    for name, data in sources:
        if not wanted(name):
            continue
        if len(images) + len(problems) >= MAX_FILES:
            raise StudioError(f"{source} holds more than {MAX_FILES} images; pick fewer")
        try:
            images.append(open_image(name, data, size=size, channels=channels))
        except StudioError as error:
            problems.append(str(error))
    if len(images) < MIN_IMAGES:
        why = f" ({skipped_note(problems, len(images))})" if problems else ""
        raise StudioError(
            f"found {len(images)} usable images in {source}; at least {MIN_IMAGES} are needed{why}"
        )
    return Dataset(
        name="folder",
        x=torch.stack(images),
        options={"source": source, "size": size, "channels": channels},
        skipped=len(problems),
        problems=tuple(problems),
    )


def skipped_note(problems: Sequence[str], used: int, shown: int = 3) -> str:
    """One line on the pictures a set skipped, how many and why (the first few), for a run's
    output and its card: a picture left out without a word is a silent loss."""
    reasons = "; ".join(problems[:shown]) + ("; ..." if len(problems) > shown else "")
    return f"{len(problems)} of {len(problems) + used} pictures were skipped: {reasons}"


def wanted(name: str) -> bool:
    """On the allow-list, and not a hidden file (macOS's ``._x.png`` are not pictures)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    return not base.startswith(".") and PurePosixPath(base).suffix.lower() in EXTENSIONS


# ---------------------------------------------------------------- one picture


def open_image(name: str, data: bytes, *, size: int, channels: int) -> torch.Tensor:
    """One picture's bytes -> channels x size x size float32 in [0, 1], or a StudioError saying why."""
    if len(data) > MAX_FILE_BYTES:
        raise StudioError(f"{name}: larger than {MAX_FILE_BYTES // 2**20} MB")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's notes on odd but readable files
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                # JPEG only: decode at 1/2 .. 1/8 scale when that still covers ``size``.
                image.draft(None, (size, size))
                return fit_picture(ImageOps.exif_transpose(image), size=size, channels=channels)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise StudioError(
                f"{name}: refused; it claims more pixels than the safety limit of "
                f"{Image.MAX_IMAGE_PIXELS:,}, as a decompression bomb would"
            ) from error
        # Pillow raises a zoo of types on bad bytes (OSError, SyntaxError, ValueError, ...).
        except Exception as error:
            raise StudioError(f"{name}: not a readable image") from error


def fit_picture(image: Image.Image, *, size: int, channels: int) -> torch.Tensor:
    """Any Pillow picture -> channels x size x size float32 in [0, 1]: RGB (transparency over
    black), the exact centre square, Lanczos down to ``size``, then gray if ``channels`` is 1.

    The one way a picture is made to fit a model, so that a picture the VAE encodes is prepared
    exactly as the pictures it trained on were. ``reducing_gap`` first shrinks a large photo by
    a whole factor (box averaging): at 3.0 Pillow documents the result as indistinguishable
    from a full Lanczos pass in most cases, and it is far cheaper on a phone's photo.
    """
    image = _to_rgb(image)
    width, height = image.size
    side = min(width, height)
    box = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
    image = image.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    if channels == 1:
        image = image.convert("L")
    array = np.asarray(image, dtype=np.float32).reshape(size, size, channels) / 255
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I") or image.mode == "F":
        # 16- and 32-bit gray: Pillow's own convert clips at 255, so scale by hand.
        # "I" and "F" say nothing of the range, so guess it from the brightest pixel.
        values = np.asarray(image, dtype=np.float64)
        peak = values.max(initial=0)
        if image.mode.startswith("I;16"):
            scale = 65535.0
        elif image.mode == "F" and peak <= 1:
            scale = 1.0
        else:
            scale = 255.0 if peak <= 255 else 65535.0
        image = Image.fromarray(np.clip(values / scale * 255, 0, 255).round().astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La", "P") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return image.convert("RGB")


# ---------------------------------------------------------------- where the bytes come from


def _read_folder(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every allowed regular file under ``root``, in a stable order; links to folders are not followed."""
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(files):
            path = Path(folder) / name
            if wanted(name) and path.is_file():  # is_file: no FIFOs or devices behind a link
                with open(path, "rb") as handle:
                    yield str(path.relative_to(root)), handle.read(MAX_FILE_BYTES + 1)


_DRIVE = re.compile(r"^[A-Za-z]:")


def _read_zip(path: Path) -> Iterator[tuple[str, bytes]]:
    """The archive's allowed members, read in memory after the whole directory passes the checks."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise StudioError(f"{path.name} is not a readable zip archive") from error
    with archive:
        members = archive.infolist()
        if len(members) > MAX_FILES:
            raise StudioError(
                f"refused {path.name}: it lists {len(members)} entries, more than {MAX_FILES}"
            )
        declared = sum(m.file_size for m in members)
        if declared > MAX_TOTAL_BYTES:
            raise StudioError(
                f"refused {path.name}: it would unpack to {declared / 2**20:,.0f} MB, more than "
                f"{MAX_TOTAL_BYTES // 2**20} MB (a zip bomb looks like this)"
            )
        for member in members:
            name = member.filename.replace("\\", "/")
            if name.startswith("/") or _DRIVE.match(name) or ".." in name.split("/"):
                raise StudioError(
                    f"refused {path.name}: its entry {member.filename!r} points outside the archive"
                )
        for member in members:
            parts = member.filename.replace("\\", "/").split("/")
            if member.is_dir() or not wanted(parts[-1]) or "__MACOSX" in parts:
                continue
            try:
                with archive.open(member) as handle:
                    data = handle.read(MAX_FILE_BYTES + 1)
            except (
                RuntimeError,
                NotImplementedError,
                EOFError,
                OSError,
                zipfile.BadZipFile,
                zlib.error,
            ):
                # encrypted, unknown compression or a bad CRC: unusable, and counted as skipped
                data = b""
            yield member.filename, data
