"""The offline datasets: right shapes and ranges, deterministic, cached, and safe with user files."""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from studio.data import (
    DATASETS,
    Dataset,
    cache,
    data_classes,
    folder,
    glyphs,
    load_dataset,
    load_images,
    shapes,
    toy2d,
)
from studio.errors import StudioError

# ---------------------------------------------------------------- helpers


def encode(image: Image.Image, fmt: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def plain(i: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A distinct RGB picture for index ``i``."""
    return Image.new("RGB", size, ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))


def huge_header_png(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims ``width`` x ``height``: decoding it would need gigabytes."""
    data = encode(Image.new("L", (1, 1)))
    ihdr = struct.pack(">II", width, height) + data[24:29]  # keep depth, colour type, ...
    return data[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + data[33:]


def build_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ---------------------------------------------------------------- every generated set


GENERATED = [
    ("glyphs", {"n": 360}, (360, 1, 32, 32), 36),
    ("glyphs", {"n": 130, "charset": "all", "size": 64, "channels": 3}, (130, 3, 64, 64), 62),
    ("shapes", {"n": 250}, (250, 3, 32, 32), 5),
    ("shapes", {"n": 50, "size": 64, "channels": 1}, (50, 1, 64, 64), 5),
    ("toy2d", {"n": 800}, (800, 2), 8),
    ("toy2d", {"n": 500, "shape": "grid25"}, (500, 2), 25),
    ("toy2d", {"n": 300, "shape": "moons"}, (300, 2), 2),
]


@pytest.mark.parametrize(("name", "options", "shape", "classes"), GENERATED)
def test_generated_sets_have_the_promised_shape_range_and_balanced_labels(
    name, options, shape, classes
):
    data = load_dataset(name, **options)
    assert data.name == name
    assert tuple(data.x.shape) == shape and data.x.dtype == torch.float32
    assert data.is_image == (len(shape) == 4)
    if data.is_image:
        assert data.x.min() >= 0 and data.x.max() <= 1
        assert data.x.max() > 0.9  # something is drawn
    assert data.labels.dtype == torch.int64 and len(data.labels) == shape[0]
    assert len(data.class_names) == classes
    per_class = torch.bincount(data.labels, minlength=classes)
    assert per_class.max() - per_class.min() <= 1
    assert data.options == {**data.options, **options, "seed": 0}


def test_defaults_are_the_documented_ones():
    assert DATASETS == ("glyphs", "shapes", "toy2d", "folder", "image")
    g = load_dataset("glyphs")  # the one full-size build: our MNIST must be quick to make
    assert g.x.shape == (6000, 1, 32, 32)
    assert g.class_names == tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert shapes.resolve() == {"n": 6000, "size": 32, "channels": 3}
    ring = load_dataset("toy2d")
    assert ring.x.shape == (10_000, 2) and ring.options["shape"] == "ring8"


@pytest.mark.parametrize(
    ("module", "options"),
    [(glyphs, {"n": 200}), (shapes, {"n": 200}), (toy2d, {"n": 500, "shape": "spiral"})],
)
def test_a_seed_fixes_every_byte_and_another_seed_changes_them(module, options):
    resolved = module.resolve(**options)
    first, again, other = (module.build(resolved, seed) for seed in (3, 3, 4))
    assert first.x.numpy().tobytes() == again.x.numpy().tobytes()
    assert not torch.equal(first.x, other.x)
    if first.labels is not None:
        assert torch.equal(first.labels, again.labels)


def test_second_load_comes_from_the_cache_file_without_rebuilding(studio_home, monkeypatch):
    first = load_dataset("shapes", n=64, seed=5)
    files = list((studio_home / "cache" / "datasets").glob("shapes-*.safetensors"))
    assert len(files) == 1
    stored = load_file(str(files[0]))
    assert stored["x"].dtype == torch.uint8  # images are built on a 1/255 grid: bytes hold them
    assert torch.equal(stored["x"].float() / 255, first.x)
    assert torch.equal(stored["labels"], first.labels)

    def refuse(options, seed):
        raise AssertionError("rebuilt although cached")

    cache.clear_memo()
    monkeypatch.setattr(shapes, "build", refuse)
    from_disk = load_dataset("shapes", n=64, seed=5)
    assert torch.equal(from_disk.x, first.x) and torch.equal(from_disk.labels, first.labels)
    assert from_disk.factors.keys() == first.factors.keys()
    assert all(torch.equal(from_disk.factors[k], v) for k, v in first.factors.items())
    assert from_disk.class_names == shapes.SHAPES and from_disk.options == first.options

    from_disk.x.zero_()  # each caller owns its tensors; the memo is untouched
    assert torch.equal(load_dataset("shapes", n=64, seed=5).x, first.x)


def test_a_corrupt_cache_file_is_rebuilt_silently(studio_home):
    first = load_dataset("glyphs", n=50, charset="digits")
    (path,) = (studio_home / "cache" / "datasets").glob("glyphs-*")
    path.write_bytes(b"\x00garbage" * 10)
    cache.clear_memo()
    again = load_dataset("glyphs", n=50, charset="digits")
    assert torch.equal(again.x, first.x)
    assert torch.equal(load_file(str(path))["x"].float() / 255, first.x)  # the file is whole again


# ---------------------------------------------------------------- glyphs, shapes, toy2d


def test_glyph_classes_are_tellable_apart():
    data = load_dataset("glyphs", n=1000, charset="digits")
    train, held = data.split(0.2)
    flat = train.x.flatten(1)
    means = torch.stack([flat[train.labels == k].mean(0) for k in range(10)])
    assert (means[0] - means[1]).abs().mean() > 0.1  # a '0' is not a '1'
    # Even a nearest-mean classifier, far from chance (10 %), shows the labels mean something.
    guess = torch.cdist(held.x.flatten(1), means).argmin(1)
    assert (guess == held.labels).float().mean() > 0.5


@pytest.mark.parametrize(
    ("name", "options"),
    [("shapes", {"n": 64, "seed": 3}), ("glyphs", {"n": 64, "charset": "digits"}), ("glyphs", {})],
)
def test_a_cards_options_name_the_classes_the_data_is_built_with(name, options):
    """As a model card keeps them (its seed among them), without building the data."""
    built = load_dataset(name, **{k: v for k, v in options.items() if k != "seed"})
    classes = data_classes(name, options)
    assert classes.names == built.class_names and classes.title in ("kind of shape", "character")
    assert data_classes("folder", {"path": "."}).names == () == data_classes("toy2d", {}).names


def test_shape_factors_describe_the_drawn_image():
    data = load_dataset("shapes", n=60, size=64)
    f = data.factors
    assert set(f) == {"shape", "size", "angle", "x", "y", "hue"}
    assert torch.equal(f["shape"], data.labels)
    background = torch.tensor(shapes.BACKGROUND).view(3, 1, 1)
    rows, cols = torch.meshgrid(torch.arange(64.0) + 0.5, torch.arange(64.0) + 0.5, indexing="ij")
    for i in range(60):
        ink = (data.x[i] - background).abs().amax(0)
        ink = ink / ink.max()  # coverage, 0..1
        cx, cy = (ink * cols).sum() / ink.sum(), (ink * rows).sum() / ink.sum()
        assert abs(cx - f["x"][i] * 64) < 0.5 and abs(cy - f["y"][i] * 64) < 0.5
        if data.class_names[f["shape"][i]] == "circle":
            area = math.pi * (float(f["size"][i]) * 64) ** 2
            assert float(ink.sum()) == pytest.approx(area, rel=0.03)


def test_ring8_points_sit_on_their_modes_with_the_stated_spread():
    data = load_dataset("toy2d", n=4000, seed=1)
    centres, std = toy2d.modes("ring8"), toy2d.mode_std("ring8")
    assert centres.shape == (8, 2) and std == 0.02
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0))
    distance = (data.x - centres[data.labels]).norm(dim=1)
    assert (distance < 5 * std).all()
    # For a 2-D Gaussian, P(r < 2 std) = 1 - e^-2 = 0.865: the spread is the stated one.
    assert 0.83 < (distance < 2 * std).float().mean() < 0.90
    assert torch.equal(torch.cdist(data.x, centres).argmin(1), data.labels)


def test_grid25_modes_and_the_modeless_shapes():
    grid = toy2d.modes("grid25")
    assert grid.shape == (25, 2) and grid.min() == -4 and grid.max() == 4
    assert toy2d.mode_std("grid25") == 0.05
    data = load_dataset("toy2d", shape="grid25", n=500)
    assert ((data.x - grid[data.labels]).norm(dim=1) < 5 * 0.05).all()
    for shape in ("spiral", "moons"):
        assert toy2d.modes(shape) is None and toy2d.mode_std(shape) is None
    assert load_dataset("toy2d", shape="spiral", n=100).labels is None
    with pytest.raises(StudioError, match="ring8"):
        toy2d.modes("donut")


def test_split_is_deterministic_disjoint_and_keeps_rows_together():
    data = load_dataset("shapes", n=100)
    train, held = data.split(0.25, seed=7)
    assert (len(train), len(held)) == (75, 25)
    assert torch.equal(data.split(0.25, seed=7)[1].x, held.x)
    assert not torch.equal(data.split(0.25, seed=8)[1].x, held.x)
    together = torch.cat([train.x, held.x]).flatten(1)
    assert torch.unique(together, dim=0).shape[0] == 100  # every row exactly once
    row = held.x[0]
    original = next(i for i in range(100) if torch.equal(data.x[i], row))
    assert held.labels[0] == data.labels[original]
    assert held.factors["hue"][0] == data.factors["hue"][original]
    with pytest.raises(StudioError, match="between 0 and 1"):
        data.split(1.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: load_dataset("mnist"), "glyphs, shapes, toy2d, folder, image"),
        (lambda: load_dataset("toy2d", size=32), "does not take size; its options are shape, n"),
        (lambda: load_dataset("glyphs", colour="red"), "does not take colour"),
        (lambda: load_dataset("glyphs", charset="greek"), "'digits', 'upper'"),
        (lambda: load_dataset("shapes", size=48), "32, 64"),
        (lambda: load_dataset("shapes", n=0), "whole number from 1"),
        (lambda: load_dataset("shapes", n=2.5), "whole number"),
        (lambda: load_dataset("toy2d", seed=-1), "seed"),
        (lambda: load_dataset("folder"), "needs a path"),
        (lambda: load_dataset("image", target="moon"), "'sunset', 'rings', 'glyph'"),
    ],
)
def test_bad_requests_say_what_is_allowed(call, message):
    with pytest.raises(StudioError, match=message):
        call()


# ---------------------------------------------------------------- folder: the user's pictures


@pytest.fixture
def messy_folder(tmp_path, monkeypatch) -> Path:
    """Sixteen usable pictures of every awkward kind, three unusable ones and some noise."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    root = tmp_path / "pictures"
    (root / "trip").mkdir(parents=True)
    for i in range(9):
        (root / f"plain{i}.png").write_bytes(encode(plain(i)))
    (root / "trip" / "nested.png").write_bytes(encode(plain(9)))
    (root / "cmyk.jpg").write_bytes(encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG"))
    (root / "palette.gif").write_bytes(encode(plain(3).convert("P"), "GIF"))
    deep = np.full((30, 30), 32768, dtype=np.uint16)  # half brightness in 16 bits
    (root / "deep.png").write_bytes(encode(Image.fromarray(deep)))
    see_through = Image.new("RGBA", (32, 32), (255, 0, 0, 0))  # red, but wholly transparent
    see_through.paste((0, 255, 0, 255), (0, 0, 32, 16))  # top half opaque green
    (root / "alpha.png").write_bytes(encode(see_through))
    (root / "gray_alpha.png").write_bytes(encode(Image.new("LA", (30, 30), (200, 255))))
    # 40 wide, 20 tall, white on the left; EXIF 6 says "turn 90 degrees clockwise to view".
    sideways = Image.new("L", (40, 20))
    sideways.paste(255, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    (root / "rotated.jpg").write_bytes(encode(sideways.convert("RGB"), "JPEG", exif=exif))
    (root / "x.png").write_bytes(b"this is not a picture at all")  # unusable 1
    (root / "bomb.png").write_bytes(huge_header_png(100_000, 100_000))  # unusable 2
    (root / "big.png").write_bytes(encode(plain(5, (120, 100))))  # unusable 3: 12,000 px > limit
    (root / "notes.txt").write_text("not on the allow-list, so never opened or counted")
    (root / "._plain0.png").write_bytes(b"macOS resource fork")  # hidden: ignored
    return root


def test_folder_loads_every_usable_picture_and_counts_the_rest(messy_folder):
    data = load_dataset("folder", path=messy_folder)
    assert data.x.shape == (16, 3, 32, 32) and data.x.dtype == torch.float32
    assert data.labels is None and data.is_image
    assert data.skipped == 3 and len(data.problems) == 3
    problems = "\n".join(data.problems)
    assert "x.png: not a readable image" in problems
    assert "bomb.png: refused" in problems and "big.png: refused" in problems
    assert data.options == {"source": "pictures", "size": 32, "channels": 3}  # no full path


def by_name(root: Path, data: Dataset, name: str) -> torch.Tensor:
    """The row of ``name``: the folder is read in sorted order, sub-folders after files."""
    names = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if folder.wanted(p.name) and p.name not in ("x.png", "bomb.png", "big.png")
    )
    names = [n for n in names if "/" not in n] + [n for n in names if "/" in n]
    return data.x[names.index(name)]


def test_folder_converts_awkward_pictures_faithfully(messy_folder):
    data = load_dataset("folder", path=messy_folder)
    deep = by_name(messy_folder, data, "deep.png")
    assert deep.mean().item() == pytest.approx(0.5, abs=0.01)  # scaled, not clipped to white
    alpha = by_name(messy_folder, data, "alpha.png")
    assert alpha[:, -8:].max() < 0.02  # transparent red became the black background
    assert alpha[1, :8].min() > 0.98 and alpha[0, :8].max() < 0.02  # opaque green stayed
    assert by_name(messy_folder, data, "gray_alpha.png").mean() == pytest.approx(
        200 / 255, abs=0.01
    )
    cmyk = by_name(messy_folder, data, "cmyk.jpg")
    assert cmyk[0].mean() > 0.9 and cmyk[1:].mean() < 0.1  # CMYK (0, 255, 255, 0) is red
    rotated = by_name(messy_folder, data, "rotated.jpg")
    # Turned upright it is 20 x 40, white on top; unturned, white would be on the left.
    assert rotated[:, :12].mean() > 0.9 and rotated[:, -12:].mean() < 0.1
    assert (rotated[:, :, :16].mean() - rotated[:, :, 16:].mean()).abs() < 0.05


def test_folder_in_gray_has_one_channel(messy_folder):
    data = load_dataset("folder", path=messy_folder, channels=1, size=64)
    assert data.x.shape == (16, 1, 64, 64)


def test_a_picture_is_cut_to_its_exact_centre_square():
    """33 wide: the centre square starts half a pixel in, so a mirror-symmetric picture stays
    symmetric (a box rounded to whole pixels would keep the left column and drop the right)."""
    rng = np.random.default_rng(0)
    half = rng.integers(0, 256, (32, 17, 3))
    symmetric = np.concatenate([half, half[:, -2::-1]], axis=1).astype(np.uint8)  # 32 x 33
    fitted = folder.fit_picture(Image.fromarray(symmetric), size=16, channels=3)
    assert fitted.shape == (3, 16, 16)
    assert torch.equal(fitted, fitted.flip(-1))


@pytest.mark.parametrize("channels", [1, 3])
def test_an_array_is_fitted_exactly_as_its_file_would_be(channels):
    """What the VAE encodes from an array is prepared like the pictures it trained on."""
    rgba = np.random.default_rng(1).integers(0, 256, (37, 50, 4)).astype(np.uint8)
    from_file = folder.open_image(
        "a.png", encode(Image.fromarray(rgba)), size=32, channels=channels
    )
    from_array = folder.fit_picture(Image.fromarray(rgba), size=32, channels=channels)
    assert from_array.shape == (channels, 32, 32)
    assert torch.equal(from_array, from_file)


def test_too_few_pictures_is_an_error_that_counts_them(tmp_path):
    for i in range(5):
        (tmp_path / f"ok{i}.png").write_bytes(encode(plain(i)))
    for i in range(3):
        (tmp_path / f"bad{i}.jpg").write_bytes(b"\xff\xd8 junk")
    with pytest.raises(
        StudioError,
        match=r"found 5 usable images in .*; at least 16 are needed \(3 of 8 pictures were "
        r"skipped: bad0.jpg: not a readable image; bad1.jpg",
    ):
        load_dataset("folder", path=tmp_path)


def test_folder_path_must_exist_and_be_a_folder_or_zip(tmp_path):
    with pytest.raises(StudioError, match="does not exist"):
        load_dataset("folder", path=tmp_path / "nowhere")
    (tmp_path / "one.png").write_bytes(encode(plain(0)))
    with pytest.raises(StudioError, match="is a file"):
        load_dataset("folder", path=tmp_path / "one.png")


def test_zip_is_read_in_memory_like_a_folder(tmp_path):
    members = {f"set/p{i}.png": encode(plain(i)) for i in range(16)}
    members["set/broken.webp"] = b"RIFF....WEBPnope"
    members["readme.txt"] = b"ignored"
    archive = build_zip(tmp_path / "mine.zip", members)
    before = tree(tmp_path)
    data = load_dataset("folder", path=archive, size=64)
    assert data.x.shape == (16, 3, 64, 64) and data.skipped == 1
    assert data.options["source"] == "mine.zip"
    assert tree(tmp_path) == before  # nothing extracted


@pytest.mark.parametrize(
    "evil", ["../evil.png", "set/../../evil.png", "/etc/evil.png", "C:/evil.png"]
)
def test_zip_entries_that_escape_their_folder_are_refused(tmp_path, evil):
    members = {f"p{i}.png": encode(plain(i)) for i in range(16)} | {evil: encode(plain(99))}
    (tmp_path / "inside").mkdir()
    archive = build_zip(tmp_path / "inside" / "evil.zip", members)  # "../" would land in tmp_path
    before = tree(tmp_path)
    with pytest.raises(StudioError, match="points outside the archive"):
        load_dataset("folder", path=archive)
    assert tree(tmp_path) == before
    assert not (tmp_path.parent / "evil.png").exists()


def test_zip_bombs_are_refused_from_the_directory_before_reading(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a member was read before the archive was checked")

    many = build_zip(tmp_path / "many.zip", {f"p{i}.png": b"x" for i in range(21)})
    # 2 MB of zeros squeezes to a few kB: the ratio of a zip bomb, scaled down.
    dense = build_zip(tmp_path / "dense.zip", {"zeros.png": bytes(2 * 2**20)})
    monkeypatch.setattr(folder, "MAX_FILES", 20)
    monkeypatch.setattr(folder, "MAX_TOTAL_BYTES", 2**20)
    monkeypatch.setattr(zipfile.ZipFile, "open", never)
    with pytest.raises(StudioError, match="21 entries, more than 20"):
        load_dataset("folder", path=many)
    with pytest.raises(StudioError, match="would unpack to 2 MB, more than 1 MB"):
        load_dataset("folder", path=dense)


def test_a_file_over_the_byte_cap_is_skipped_unread(monkeypatch):
    pictures = [(f"p{i}.png", encode(plain(i))) for i in range(16)]
    monkeypatch.setattr(folder, "MAX_FILE_BYTES", max(len(d) for _, d in pictures))
    data = load_images([*pictures, ("huge.png", encode(plain(1, (300, 300))))], size=32, channels=3)
    assert len(data) == 16 and data.skipped == 1 and "huge.png: larger than" in data.problems[0]


def test_uploads_load_from_bytes_without_touching_disk(studio_home):
    uploads = [(f"up{i}.jpg", encode(plain(i), "JPEG", quality=95)) for i in range(16)]
    data = load_images([*uploads, ("notes.txt", b"hi")], size=32, channels=3, source="upload")
    assert data.x.shape == (16, 3, 32, 32) and data.skipped == 0
    expected = torch.tensor(plain(4).getpixel((0, 0)), dtype=torch.float32) / 255
    assert torch.allclose(data.x[4].mean((1, 2)), expected, atol=0.03)
    assert not studio_home.exists() or tree(studio_home) == []


# ---------------------------------------------------------------- image: one CPPN target


@pytest.mark.parametrize("target", ["sunset", "rings", "glyph"])
def test_built_in_targets_need_no_file(target):
    data = load_dataset("image", target=target)
    assert data.x.shape == (1, 3, 64, 64) and data.x.dtype == torch.float32
    assert data.x.min() >= 0 and data.x.max() <= 1 and data.x.std() > 0.1
    assert data.options == {"target": target, "size": 64, "channels": 3}


def test_default_target_and_sizes():
    assert load_dataset("image").options["target"] == "sunset"
    assert load_dataset("image", size=128, channels=1).x.shape == (1, 1, 128, 128)


def test_a_users_picture_becomes_the_target(tmp_path):
    picture = Image.new("RGB", (80, 60), (255, 0, 0))
    picture.paste((0, 0, 255), (40, 0, 80, 60))  # red left, blue right
    path = tmp_path / "mine.png"
    path.write_bytes(encode(picture))
    data = load_dataset("image", path=path, size=32)
    assert data.x.shape == (1, 3, 32, 32) and data.options["source"] == "mine.png"
    assert data.x[0, 0, :, :12].mean() > 0.95 and data.x[0, 2, :, -12:].mean() > 0.95

    (tmp_path / "junk.png").write_bytes(b"junk")
    with pytest.raises(StudioError, match="junk.png: not a readable image"):
        load_dataset("image", path=tmp_path / "junk.png")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(StudioError, match="not a picture the studio opens"):
        load_dataset("image", path=tmp_path / "notes.txt")
