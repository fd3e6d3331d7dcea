"""glyphs: letters and digits drawn with the fonts matplotlib ships. Our MNIST.

Each (character, face) pair is drawn once with Pillow at twice the output size; every sample
is then one of those templates under a small random affine (rotation, scale, shear, shift),
applied to a whole batch at once with ``affine_grid``/``grid_sample``. Sampling the 2x
template at output resolution puts each bilinear tap between four texels, so it doubles as a
2x2 box filter: anti-aliased at a quarter of the cost of warping at 2x and pooling.
White glyph on black, values in [0, 1].
"""

from __future__ import annotations

import importlib.util
import math
import string
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from studio.data.base import Dataset, choice, count, to_8bit

CLASS_TITLE = "character"
CHARSETS: dict[str, str] = {
    "digits": string.digits,
    "upper": string.ascii_uppercase,
    "lower": string.ascii_lowercase,
    "letters": string.ascii_uppercase + string.ascii_lowercase,
    "alnum": string.digits + string.ascii_uppercase,
    "all": string.digits + string.ascii_uppercase + string.ascii_lowercase,
}

# Text faces only. cmmi10 (old-style digits), cmsy10/cmex10 (symbols on ASCII codes), the
# STIX size/non-Unicode variants, the *Display cuts and LastResort (boxes) are left out.
FACES: tuple[str, ...] = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmb10.ttf",
    "cmti10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
)

FILL = 0.72  # the tallest glyph of a face spans this much of the frame, leaving room for jitter
MAX_ROTATION = math.radians(8)
SCALE = (0.9, 1.1)
MAX_SHEAR = 0.12
MAX_SHIFT_PX = 2.0
CHUNK = 1024  # samples per grid_sample call; bounds the temporary memory


def resolve(*, size: int = 32, channels: int = 1, n: int = 6000, charset: str = "alnum") -> dict:
    return {
        "charset": choice("charset", charset, tuple(CHARSETS)),
        "n": count("n", n, 1, 200_000),
        "size": choice("size", size, (32, 64)),
        "channels": choice("channels", channels, (1, 3)),
    }


def class_names(options: dict) -> tuple[str, ...]:
    return tuple(CHARSETS[options["charset"]])


def build(options: dict, seed: int) -> Dataset:
    chars = CHARSETS[options["charset"]]
    size, n = options["size"], options["n"]
    templates, starts, counts, faces = _templates(chars, 2 * size)

    g = torch.Generator().manual_seed(seed)
    # Balanced classes: every class gets n // K or n // K + 1 samples, in random order.
    labels = (torch.arange(n) % len(chars))[torch.randperm(n, generator=g)]
    pick = (torch.rand(n, generator=g) * counts[labels]).long()
    which = starts[labels] + pick

    angle = (torch.rand(n, generator=g) * 2 - 1) * MAX_ROTATION
    scale = SCALE[0] + torch.rand(n, generator=g) * (SCALE[1] - SCALE[0])
    shear = (torch.rand(n, generator=g) * 2 - 1) * MAX_SHEAR
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * MAX_SHIFT_PX * 2 / size  # px -> [-1, 1]
    # affine_grid maps output coordinates to input ones, so this is the inverse warp; every
    # jitter distribution is symmetric, so sampling the inverse is as good as the forward.
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos, cos * shear - sin, shift[:, 0]], dim=1),
            torch.stack([sin, sin * shear + cos, shift[:, 1]], dim=1),
        ],
        dim=1,
    ) / torch.stack([scale, scale, torch.ones(n)], dim=1).unsqueeze(1)  # n x 2 x 3

    x = torch.empty(n, 1, size, size)
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        grid = F.affine_grid(theta[lo:hi], [hi - lo, 1, size, size], align_corners=False)
        x[lo:hi] = F.grid_sample(templates[which[lo:hi]], grid, align_corners=False)
    x = to_8bit(x.clamp_(0, 1))
    if options["channels"] == 3:
        x = x.expand(-1, 3, -1, -1).contiguous()
    return Dataset(
        name="glyphs",
        x=x,
        labels=labels,
        class_names=tuple(chars),
        factors=_factors(labels, faces[which]),
        options={**options, "seed": seed},
    )


def _factors(labels: torch.Tensor, faces: torch.Tensor) -> dict[str, torch.Tensor]:
    """What made each sample, beyond its character: the face (index into FACES), and whether
    that face is bold (``weight`` 1) or italic or oblique (``slant`` 1)."""
    bold = torch.tensor([_is_bold(face) for face in FACES], dtype=torch.float32)
    slanted = torch.tensor([_is_slanted(face) for face in FACES], dtype=torch.float32)
    return {"character": labels, "face": faces, "weight": bold[faces], "slant": slanted[faces]}


def _is_bold(face: str) -> bool:
    return "Bold" in face or "Bol" in face or face == "cmb10.ttf"


def _is_slanted(face: str) -> bool:
    return any(mark in face for mark in ("Oblique", "Italic", "Ita")) or face == "cmti10.ttf"


# ---------------------------------------------------------------- templates


@lru_cache(maxsize=4)
def _templates(
    chars: str, res: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (char, face) glyph at ``res`` px, grouped by char: T x 1 x res x res, starts, counts,
    and each template's face (an index into FACES).

    Each face is sized so its tallest and widest glyphs in ``chars`` fit ``FILL`` of the frame,
    and all its glyphs share one baseline, so a lowercase 'o' stays smaller than an 'O'.
    """
    faces = [(path, _cmap(path)) for path in _face_paths()]
    drawn: list[list[torch.Tensor]] = [[] for _ in chars]
    drawn_faces: list[list[int]] = [[] for _ in chars]
    for path, cmap in faces:
        have = [c for c in chars if ord(c) in cmap]
        if not have:
            continue
        probe = ImageFont.truetype(str(path), 100)
        boxes = [probe.getbbox(c, anchor="ls") for c in have]
        top, bottom = min(b[1] for b in boxes), max(b[3] for b in boxes)
        widest = max(b[2] - b[0] for b in boxes)
        font = ImageFont.truetype(str(path), 100 * FILL * res / max(bottom - top, widest))
        baseline = res / 2 - (top + bottom) / 2 * font.size / 100
        for c in have:
            left, _, right, _ = font.getbbox(c, anchor="ls")
            image = Image.new("L", (res, res))
            ImageDraw.Draw(image).text(
                (res / 2 - (left + right) / 2, baseline), c, fill=255, font=font, anchor="ls"
            )
            drawn[chars.index(c)].append(
                torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
            )
            drawn_faces[chars.index(c)].append(FACES.index(path.name))
    counts = torch.tensor([len(d) for d in drawn])
    starts = torch.cumsum(counts, 0) - counts
    flat = torch.stack([t for d in drawn for t in d]).float().div_(255)
    face_of = torch.tensor([f for d in drawn_faces for f in d])
    return flat.view(-1, 1, res, res), starts, counts, face_of


def font_folder() -> Path:
    """Where matplotlib keeps its TrueType fonts: found, not imported (a tenth of a second that
    Explore's first picture would wait for)."""
    (package,) = importlib.util.find_spec("matplotlib").submodule_search_locations
    return Path(package) / "mpl-data" / "fonts" / "ttf"


def _face_paths() -> list[Path]:
    return [font_folder() / face for face in FACES if (font_folder() / face).exists()]


def _cmap(path: Path) -> set[int]:
    """Code points the face really has a glyph for (Pillow would quietly draw a box)."""
    return set(TTFont(str(path), lazy=True).getBestCmap() or {})
