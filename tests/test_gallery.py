"""The gallery keeps favourites as PNG + recipe JSON in the studio folder, across restarts."""

import json

import numpy as np
import pytest

from studio import gallery
from studio.errors import StudioError
from studio.recipe import Recipe, recipe_from_png


def _image(value: int = 10) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


def _recipe(z0: float = 0.5, model: str = "t-vae") -> Recipe:
    return Recipe(model=model, sha256="ab" * 32, z=[z0, -1.25], size=8, options={"seed": 3})


def test_add_writes_png_and_json_in_the_studio_folder(studio_home):
    fav = gallery.add_favourite(_image(), _recipe(), title="first")
    folder = studio_home / "gallery"
    assert sorted(p.name for p in folder.iterdir()) == [f"{fav.id}.json", f"{fav.id}.png"]
    assert recipe_from_png(fav.png) == _recipe()
    assert fav.title == "first"


def test_list_survives_a_restart_and_is_newest_first():
    first = gallery.add_favourite(_image(1), _recipe(0.1))
    second = gallery.add_favourite(_image(2), _recipe(0.2))
    # A "restart": nothing is held in memory, everything is read back from disk.
    listed = gallery.list_favourites()
    assert {f.id for f in listed} == {first.id, second.id}
    assert [f.created for f in listed] == sorted((f.created for f in listed), reverse=True)
    assert gallery.get_favourite(first.id).recipe == _recipe(0.1)


def test_keeping_the_same_recipe_twice_keeps_one_entry():
    a = gallery.add_favourite(_image(), _recipe())
    b = gallery.add_favourite(_image(), _recipe())
    assert a.id == b.id
    assert len(gallery.list_favourites()) == 1


def test_remove_deletes_both_files(studio_home):
    fav = gallery.add_favourite(_image(), _recipe())
    gallery.remove_favourite(fav.id)
    assert gallery.list_favourites() == []
    assert list((studio_home / "gallery").iterdir()) == []


def test_damaged_and_half_written_entries_are_skipped(studio_home):
    good = gallery.add_favourite(_image(), _recipe())
    folder = studio_home / "gallery"
    (folder / "broken.json").write_text("{not json")
    (folder / "broken.png").write_bytes(b"")
    (folder / "orphan.json").write_text(good.png_path.with_suffix(".json").read_text())
    assert [f.id for f in gallery.list_favourites()] == [good.id]


@pytest.mark.parametrize("bad_id", ["../models/x", "", "UPPER", "a/b"])
def test_ids_that_name_other_files_are_refused(bad_id):
    with pytest.raises(StudioError):
        gallery.remove_favourite(bad_id)


def test_a_deeply_nested_or_path_naming_entry_is_passed_over_and_named(studio_home):
    good = gallery.add_favourite(_image(), _recipe())
    folder = studio_home / "gallery"
    entry = json.loads(good.png_path.with_suffix(".json").read_text())
    (folder / "deep.json").write_text("[" * 5000 + "]" * 5000)
    entry["recipe"]["model"] = "/etc/passwd"
    (folder / "path.json").write_text(json.dumps(entry))
    for name in ("deep", "path"):
        (folder / f"{name}.png").write_bytes(good.png)
    skipped = {}
    listed = gallery.list_favourites(on_skip=lambda p, e: skipped.update({p.name: str(e)}))
    assert [f.id for f in listed] == [good.id]
    assert "nested more than" in skipped["deep.json"]
    assert "not a usable model id" in skipped["path.json"]


def test_an_id_with_a_trailing_newline_is_not_an_entry():
    with pytest.raises(StudioError, match="not a gallery entry"):
        gallery.remove_favourite("abc\n")
