"""A full or read-only disk: a run's result is kept somewhere the user is told about, the
earlier model stays as it was, and a cache that cannot be written only costs time."""

from safetensors import SafetensorError

from studio import latent
from studio.data import cache, load_dataset
from studio.models import build_model

# ---------------------------------------------------------------- caches


def test_a_dataset_cache_that_cannot_be_written_only_costs_a_rebuild(monkeypatch):
    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(No space left on device)")

    monkeypatch.setattr(cache, "save_file", full)
    cache.clear_memo()
    assert len(load_dataset("toy2d", n=64, seed=11)) == 64


def test_caches_in_a_studio_folder_that_cannot_hold_them_only_cost_time(studio_home):
    studio_home.mkdir(parents=True, exist_ok=True)
    (studio_home / "cache").write_text("a file where the cache folder would go")
    cache.clear_memo()
    assert len(load_dataset("toy2d", n=64, seed=12)) == 64
    axes = latent.slider_axes(build_model("gan2d", {"width": 8}, seed=0), limit=2)
    assert axes.vectors.shape[0] == 2
