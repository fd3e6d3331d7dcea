"""Uploaded files keep short, safe names, and a failed upload leaves nothing behind; the Train
page survives a bad card in the models folder and an upload with a 300-character name."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from studio import checkpoints, library
from studio.errors import StudioError
from studio.paths import studio_dir

TIMEOUT = 60
LONG = "a" * 300 + ".png"


@pytest.fixture
def no_pretrained(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", tmp_path / "no-pretrained")


def test_a_long_name_is_shortened_keeping_its_extension_and_staying_apart():
    short = library.safe_file_name(LONG)
    other = library.safe_file_name("a" * 299 + "b.png")
    assert len(short) <= library.MAX_NAME and short.endswith(".png")
    assert short != other and short.startswith("aaaa")
    assert re.fullmatch(r"x\.y+-[0-9a-f]{12}", library.safe_file_name("x." + "y" * 300))
    assert library.safe_file_name("a b.png") == "a_b.png"  # a short name as it was


def test_an_upload_with_a_300_character_name_is_kept():
    folder = library.save_uploads("long", [(LONG, b"png"), ("b.png", b"png")])
    assert len(list(folder.iterdir())) == 2


def test_a_failed_upload_leaves_no_folder_behind(monkeypatch):
    writes = []

    def write(path, data):
        writes.append(path)
        if len(writes) == 2:
            raise OSError(28, "No space left on device")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    monkeypatch.setattr(library, "atomic_write_bytes", write)
    with pytest.raises(StudioError, match="No space left"):
        library.save_uploads("full", [("a.png", b"1"), ("b.png", b"2")])
    assert list(studio_dir("uploads").iterdir()) == []


def _train_page():
    from studio.ui.pages import train as train_page

    train_page.page()


def _upload_page() -> AppTest:
    at = AppTest.from_function(_train_page, default_timeout=TIMEOUT).run()
    at.selectbox(key="train_family").set_value("mlp").run()
    return at.selectbox(key="train_data_mlp").set_value("upload").run()


def test_the_train_page_takes_a_300_character_file_name(no_pretrained):
    at = _upload_page()
    at.get("file_uploader")[0].set_value((LONG, b"\x89PNG broken", "image/png"))
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert "not a readable image" in at.error[0].value  # reached the picture, past its name
    assert list(studio_dir("uploads").iterdir()) == []


def test_the_train_page_survives_a_deeply_nested_card(no_pretrained):
    (studio_dir("models") / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (studio_dir("models") / "deep.safetensors").write_bytes(b"")
    at = _upload_page()
    assert not at.exception, at.exception
