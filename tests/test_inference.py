"""The renderer: reproducible bytes, a real cache, thread safety, fresh weights, tiles, devices."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from studio import checkpoints
from studio import device as studio_device
from studio.checkpoints import ModelCard, load_checkpoint, save_checkpoint
from studio.errors import StudioError
from studio.imaging import to_uint8
from studio.models import build_model
from studio.models.coordinates import passes
from studio.models.gan import DCGAN
from studio.recipe import Recipe, recipe_from_png, to_png
from studio.render.options import canonical_z
from studio.render.renderer import Renderer

TINY = {
    "dcgan": {"latent_dim": 8, "width": 8},
    "vae": {"latent_dim": 6, "width": 4},
    "cppn": {"latent_dim": 4, "width": 12, "depth": 3, "size": 40, "activation": "mix"},
    "gan2d": {"width": 8, "depth": 1},
}
IMAGE_ARCHS = ("dcgan", "vae", "cppn")


def save_tiny(arch: str, model_id: str, seed: int = 0) -> str:
    torch.manual_seed(seed)
    model = build_model(arch, TINY[arch])
    if arch == "cppn":
        model.reset_parameters(torch.Generator().manual_seed(seed))
    save_checkpoint(model, ModelCard(id=model_id, arch=arch, family=model.family, config={}))
    return model_id


@pytest.fixture
def zoo() -> dict[str, str]:
    return {arch: save_tiny(arch, f"{arch}-tiny") for arch in TINY}


def latents(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


# ---------------------------------------------------------------- reproducible bytes


@pytest.mark.parametrize("arch", IMAGE_ARCHS)
def test_same_model_z_and_size_give_identical_bytes_and_other_z_other_images(zoo, arch):
    model_id = zoo[arch]
    dim = TINY[arch]["latent_dim"]
    z, other = latents(2, dim)
    first = Renderer().render(model_id, z, size=40)
    again = Renderer().render(model_id, z, size=40)  # a fresh renderer: no shared cache
    assert first.dtype == np.uint8 and first.shape[:2] == (40, 40)
    assert first.tobytes() == again.tobytes()
    assert not np.array_equal(first, Renderer().render(model_id, other, size=40))

    # What is drawn is the bare model on the rounded z: the renderer adds nothing of its own
    # (but serves conv models channels_last and the CPPN with faster activations, which may
    # round a rare pixel one level apart).
    model, _ = load_checkpoint(model_id)
    with torch.inference_mode():
        bare = model.draw(torch.from_numpy(canonical_z(z, dim)[0]), 40)[0]
    assert np.abs(first.astype(int) - bare).max() <= 1
    assert (first != bare).mean() < 0.01


def test_z_is_rounded_like_a_recipe_so_a_recipe_reproduces_the_image(zoo):
    renderer = Renderer()
    z = latents(1, 8, seed=3)[0] * 3
    image = renderer.render(zoo["dcgan"], z)
    recipe = renderer.recipe(zoo["dcgan"], z)
    assert recipe.sha256 == renderer.load(zoo["dcgan"]).sha256
    back = recipe_from_png(to_png(image, recipe))
    assert Renderer().render_recipe(back).tobytes() == image.tobytes()
    nudged = np.round(z.astype(np.float64), 6) + 3e-7  # rounds to the same z: a cache hit
    assert renderer.render(zoo["dcgan"], nudged) is image


def test_a_recipe_for_other_weights_is_refused(zoo):
    renderer = Renderer()
    recipe = renderer.recipe(zoo["vae"], np.zeros(6))
    recipe.sha256 = "0" * 64
    with pytest.raises(StudioError, match="other weights"):
        renderer.render_recipe(recipe)


# ---------------------------------------------------------------- batches and the cache


def test_a_batch_is_one_forward_and_close_to_single_renders(zoo, monkeypatch):
    calls = []
    decode = DCGAN.decode
    monkeypatch.setattr(DCGAN, "decode", lambda self, z: calls.append(len(z)) or decode(self, z))
    renderer = Renderer()
    zs = latents(16, 8)
    batch = renderer.render(zoo["dcgan"], zs)
    assert batch.shape == (16, 32, 32, 1)
    assert calls[-1] == 16 and len(calls) == 2  # the warm-up, then one forward for all 16
    alone = Renderer().render(zoo["dcgan"], zs[5])
    assert np.abs(batch[5].astype(int) - alone).max() <= 1

    more = renderer.render(zoo["dcgan"], np.concatenate([zs[:4], latents(3, 8, seed=9)]))
    assert calls[-1] == 3  # only the misses are drawn
    assert np.array_equal(more[:4], batch[:4])


def test_hits_misses_and_latencies_are_counted(zoo):
    renderer = Renderer()
    z = latents(1, 6)[0]
    renderer.render(zoo["vae"], z)
    renderer.render(zoo["vae"], z)
    renderer.render(zoo["vae"], z)
    stats = renderer.stats()
    assert (stats["hits"], stats["misses"], stats["entries"]) == (2, 1, 1)
    assert stats["hit_rate"] == pytest.approx(2 / 3)
    assert stats["cache_mb"] == pytest.approx(32 * 32 / 2**20)
    assert 0 < stats["hit_p50_ms"] <= stats["hit_p95_ms"]
    assert 0 < stats["miss_p50_ms"] <= stats["miss_p95_ms"]


def test_the_cache_memory_cap_holds_and_the_oldest_images_go_first(zoo):
    cap_mb = 0.1  # 104857 bytes: 21 CPPN pictures of 40 x 40 x 3
    renderer = Renderer(cache_mb=cap_mb)
    zs = latents(60, 4)
    for z in zs:
        renderer.render(zoo["cppn"], z)
        assert renderer.stats()["cache_mb"] <= cap_mb
    assert renderer.stats()["entries"] == int(cap_mb * 2**20 // (40 * 40 * 3))
    misses = renderer.stats()["misses"]
    renderer.render(zoo["cppn"], zs[-1])
    assert renderer.stats()["misses"] == misses
    renderer.render(zoo["cppn"], zs[0])
    assert renderer.stats()["misses"] == misses + 1


def test_returned_images_cannot_corrupt_the_cache(zoo):
    renderer = Renderer()
    image = renderer.render(zoo["cppn"], np.zeros(4))
    with pytest.raises(ValueError):
        image[0, 0] = 0


# ---------------------------------------------------------------- threads


def test_eight_threads_at_once_draw_what_one_thread_draws(zoo):
    zs = latents(12, 8, seed=1)
    one = Renderer()
    expected = [one.render(zoo["dcgan"], z).tobytes() for z in zs]
    expected_cppn = one.render(zoo["cppn"], latents(1, 4)[0], size=96).tobytes()

    shared = Renderer()
    barrier = threading.Barrier(8)
    results: dict[int, list[bytes]] = {}
    loaded: dict[int, object] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            barrier.wait()
            loaded[worker] = shared.load(zoo["dcgan"]).model  # everyone races the first load
            order = list(range(len(zs)))[worker:] + list(range(len(zs)))[:worker]
            got = {i: shared.render(zoo["dcgan"], zs[i]).tobytes() for i in order}
            cppn = shared.render(zoo["cppn"], latents(1, 4)[0], size=96).tobytes()
            results[worker] = [got[i] for i in range(len(zs))] + [cppn]
        except BaseException as err:  # surfaced below: a thread's assert is otherwise lost
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({id(model) for model in loaded.values()}) == 1  # loaded once, shared
    for worker in range(8):
        assert results[worker] == [*expected, expected_cppn]


# ---------------------------------------------------------------- checkpoints on disk


def test_a_checkpoint_replaced_under_the_same_name_is_not_served_stale(zoo):
    renderer = Renderer()
    z = latents(1, 8)[0]
    before = renderer.render(zoo["dcgan"], z)
    old_sha = renderer.load(zoo["dcgan"]).sha256

    save_tiny("dcgan", zoo["dcgan"], seed=1)  # new weights, same id, card and file names

    after = renderer.render(zoo["dcgan"], z)
    assert renderer.load(zoo["dcgan"]).sha256 != old_sha
    assert not np.array_equal(before, after)
    assert after.tobytes() == Renderer().render(zoo["dcgan"], z).tobytes()
    with pytest.raises(StudioError, match="other weights"):
        renderer.render_recipe(Recipe(zoo["dcgan"], old_sha, z.tolist(), 32))


def test_a_user_model_that_takes_a_pretrained_id_is_served_from_then_on(monkeypatch, tmp_path):
    shipped = tmp_path / "pretrained"
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", shipped)
    torch.manual_seed(0)
    model = build_model("vae", TINY["vae"])
    save_checkpoint(model, ModelCard(id="shared", arch="vae", family="vae", config={}), shipped)
    renderer = Renderer()
    z = latents(1, 6)[0]
    pretrained = renderer.render("shared", z)

    save_tiny("vae", "shared", seed=1)  # the user's own model, same id: find_card prefers it

    mine = renderer.render("shared", z)
    assert renderer.load("shared").path.parent != shipped
    assert not np.array_equal(mine, pretrained)
    assert mine.tobytes() == Renderer().render("shared", z).tobytes()


def test_an_id_is_looked_up_in_the_current_studio_folder(zoo, monkeypatch, tmp_path):
    renderer = Renderer()  # one per process, like the app's: it outlives a change of folder
    z = latents(1, 8)[0]
    first = renderer.render(zoo["dcgan"], z)
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "another-home"))
    save_tiny("dcgan", zoo["dcgan"], seed=1)
    assert not np.array_equal(renderer.render(zoo["dcgan"], z), first)


def test_forget_drops_a_deleted_model_and_its_images(zoo, studio_home):
    renderer = Renderer()
    renderer.render(zoo["vae"], np.zeros(6))
    renderer.render(zoo["dcgan"], np.zeros(8))
    for path in (studio_home / "models").glob("vae-tiny.*"):
        path.unlink()
    renderer.forget("vae-tiny")
    assert renderer.stats()["entries"] == 1
    with pytest.raises(StudioError, match="no model called"):
        renderer.render("vae-tiny", np.zeros(6))


def test_served_models_cannot_be_trained_by_accident(zoo):
    loaded = Renderer().load(zoo["vae"])
    for model in (loaded.model, loaded.served.model):
        assert not model.training
        assert not any(p.requires_grad for p in model.parameters())


def test_the_loaded_model_is_the_checkpoints_own_and_renders_draw_with_a_copy(zoo):
    loaded = Renderer().load(zoo["dcgan"])
    generator = loaded.model.drawing_generator
    assert type(generator) is nn.Sequential
    assert any(isinstance(m, nn.BatchNorm2d) for m in generator)
    assert all(
        type(m) is nn.ConvTranspose2d for m in generator if isinstance(m, nn.ConvTranspose2d)
    )
    assert loaded.served.model is not loaded.model
    fresh, _ = load_checkpoint(zoo["dcgan"])
    found = loaded.model.principal_directions(components=4, samples=256)
    again = fresh.principal_directions(components=4, samples=256)
    assert torch.equal(found.vectors, again.vectors)


# ---------------------------------------------------------------- the CPPN: tiles and knobs


def test_cppn_passes_cover_every_pixel_once():
    for n, size, pixels in [(1, 100, 64 * 64), (5, 40, 4096), (3, 333, 1000), (2, 8, 1)]:
        seen = np.zeros((n, size), int)
        for i0, i1, r0, r1 in passes(n, size, pixels):
            assert (i1 - i0) * (r1 - r0) * size <= max(pixels, size)
            seen[i0:i1, r0:r1] += 1
        assert (seen == 1).all()


@pytest.mark.parametrize("tile", [7, 16, 64, 512])
def test_tiled_posters_join_without_seams(zoo, tile):
    renderer = Renderer()
    z = latents(1, 4, seed=2)[0]
    poster = renderer.poster(zoo["cppn"], z, 150, tile=tile)
    served = renderer.load(zoo["cppn"]).served.model
    with torch.inference_mode():  # one untiled forward
        whole = to_uint8(served.render(torch.from_numpy(canonical_z(z, 4)[0]), 150, 150))[0]
    assert poster.shape == (150, 150, 3)
    assert np.array_equal(poster, whole)


class Stopped(BaseException):
    """Raised by a progress callback, as Streamlit raises a click's rerun at the bar's update:
    a BaseException, so no ``except Exception`` on the way can swallow it."""


def test_a_poster_stopped_after_its_first_pass_draws_no_more_and_the_renderer_serves_on(
    zoo, monkeypatch
):
    renderer = Renderer()
    z = latents(1, 4, seed=3)[0]
    served = renderer.load(zoo["cppn"]).served.model
    render = served.render
    bands = []  # the rows each pass drew
    monkeypatch.setattr(
        served, "render", lambda *a, **k: bands.append(k["rows"]) or render(*a, **k)
    )
    heard = []

    def stop(share: float) -> None:
        heard.append(share)
        raise Stopped

    with pytest.raises(Stopped):
        renderer.poster(zoo["cppn"], z, 150, tile=16, progress=stop)
    plan = passes(1, 150, 16 * 16)
    assert len(plan) > 100 and heard == [1 / len(plan)] and bands == [slice(0, 1)]

    bands.clear()
    poster = renderer.poster(zoo["cppn"], z, 150, tile=16)
    assert len(bands) == len(plan)
    assert np.array_equal(poster, Renderer().poster(zoo["cppn"], z, 150))
    assert np.array_equal(renderer.render(zoo["cppn"], z, 150), poster)


def test_cppn_art_knobs_derive_a_deterministic_model_and_scale_zooms(zoo):
    renderer = Renderer()
    z = latents(1, 4)[0]
    plain = renderer.render(zoo["cppn"], z)
    assert np.array_equal(renderer.render(zoo["cppn"], z, options={"depth": 3}), plain)
    knobs = {"depth": 5, "width": 16, "activation": "sin", "weight_seed": 7}
    art = renderer.render(zoo["cppn"], z, options=knobs)
    assert not np.array_equal(art, plain)
    assert Renderer().render(zoo["cppn"], z, options=knobs).tobytes() == art.tobytes()
    recipe = renderer.recipe(zoo["cppn"], z, options=knobs)
    assert Renderer().render_recipe(recipe).tobytes() == art.tobytes()
    assert renderer.render(zoo["cppn"], z, options={"channels": 1}).shape == (40, 40, 1)

    zoomed = renderer.render(zoo["cppn"], z, options={"scale": 9.0})
    assert not np.array_equal(zoomed, plain)
    assert renderer.load(zoo["cppn"]).model.config.scale == 4.0  # the served model is untouched


@pytest.mark.parametrize(
    ("arch", "options", "says"),
    [
        ("cppn", {"colour": 1}, "unknown render option"),
        ("cppn", {"depth": 0}, "depth"),
        ("cppn", {"activation": "cube"}, "activation"),
        ("cppn", {"scale": "big"}, "scale"),
        ("cppn", {"weight_seed": -1}, "weight_seed"),
        ("dcgan", {"scale": 2.0}, "unknown render option"),
        ("vae", {"seed": "x"}, "seed"),
    ],
)
def test_bad_options_are_refused_in_plain_words(zoo, arch, options, says):
    with pytest.raises(StudioError, match=says):
        Renderer().render(zoo[arch], np.zeros(TINY[arch]["latent_dim"]), options=options)


@pytest.mark.parametrize(
    ("z", "size", "says"),
    [
        (np.zeros(3), None, "must hold 8 numbers"),
        (np.zeros((2, 2, 8)), None, "must hold 8 numbers"),
        ([float("nan")] * 8, None, "NaN"),
        (["a"] * 8, None, "numbers"),
        (np.zeros(8), 5000, "size"),
    ],
)
def test_bad_z_or_size_are_refused(zoo, z, size, says):
    with pytest.raises(StudioError, match=says):
        Renderer().render(zoo["dcgan"], z, size=size)


def test_posters_are_for_models_that_draw_at_any_size(zoo):
    with pytest.raises(StudioError, match="fixed resolution"):
        Renderer().poster(zoo["vae"], np.zeros(6), 256)


# ---------------------------------------------------------------- other outputs and precisions


def test_a_point_model_renders_one_scatter_picture_of_all_its_z(zoo):
    renderer = Renderer()
    zs = latents(300, 2)
    picture = renderer.render(zoo["gan2d"], zs, size=128)
    assert picture.shape == (128, 128, 3)
    assert renderer.render(zoo["gan2d"], zs, size=128) is picture
    assert not np.array_equal(picture, renderer.render(zoo["gan2d"], zs[:10], size=128))


@pytest.mark.parametrize("arch", ["dcgan", "vae"])
def test_half_precision_stays_within_two_levels_of_fp32(zoo, arch):
    zs = latents(32, TINY[arch]["latent_dim"], seed=4)
    full = Renderer(precision="fp32").render(zoo[arch], zs).astype(int)
    half = Renderer(precision="bf16").render(zoo[arch], zs).astype(int)
    difference = np.abs(full - half)
    assert difference.max() <= 2
    # Untrained decoders put most pixels near 127.5, the worst case for rounding: trained ones
    # measured a mean of 0.09 to 0.16 levels.
    assert difference.mean() <= 0.6


# ---------------------------------------------------------------- devices


def test_the_device_falls_back_to_the_cpu_when_cuda_and_mps_are_absent(monkeypatch):
    monkeypatch.delenv("STUDIO_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(studio_device, "_mps_available", lambda: False)
    assert Renderer().device == torch.device("cpu")
    with pytest.raises(StudioError, match="CUDA"):
        Renderer(device="cuda")

    monkeypatch.setattr(studio_device, "_mps_available", lambda: True)
    assert Renderer().device == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert Renderer().device == torch.device("cuda")
    monkeypatch.setenv("STUDIO_DEVICE", "cpu")
    assert Renderer().device == torch.device("cpu")
