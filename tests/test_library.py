"""The user's trained models as files (rename, delete) and kept uploads."""

import io
import re
import zipfile

import pytest
from PIL import Image

from studio import library
from studio.checkpoints import list_cards, load_checkpoint, read_card, user_models_dir
from studio.errors import StudioError
from studio.paths import studio_dir
from studio.train import TrainSpec, run_training

TOY = {"shape": "ring8", "n": 256}


def _spec(model_id="toy", steps=5, data_options=TOY, **kwargs):
    return TrainSpec(
        family="gan",
        dataset="toy2d",
        data_options=data_options,
        steps=steps,
        batch_size=64,
        seed=3,
        device="cpu",
        id=model_id,
        **kwargs,
    )


@pytest.fixture
def trained():
    """A tiny trained model in the user's folder, with a contact sheet beside it."""
    result = run_training(_spec("toy", model_config={"width": 16, "depth": 1}))
    result.card_path.with_suffix(".png").write_bytes(b"contact sheet")
    return result


def _png(colour=(200, 30, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- rename and delete


def _names(paths):
    """File names, each version's content hash shown as <sha>; hidden files (locks) left out."""
    return sorted(re.sub(r"@[0-9a-f]{16}\.", "@<sha>.", p.name) for p in paths if p.name[0] != ".")


def test_rename_moves_every_file_and_the_card_still_loads(trained):
    new_card = library.rename_model("toy", " my-ring ")
    folder = user_models_dir()
    assert _names(folder.iterdir()) == [
        "my-ring.json", "my-ring.png", "my-ring@<sha>.safetensors", "my-ring@<sha>.train.safetensors",
    ]  # fmt: skip
    card = read_card(new_card)
    assert card.id == "my-ring" and card.train["id"] == "my-ring"
    assert "--id my-ring" in card.command and "--id toy" not in card.command
    assert card.sha256 == trained.card.sha256  # the weights' bytes did not change
    model, loaded = load_checkpoint("my-ring")  # sha256, names, shapes and dtypes all check out
    assert loaded.id == "my-ring" and model.arch == "gan2d"
    assert [c.id for c, _ in list_cards() if c.id in ("toy", "my-ring")] == ["my-ring"]


def test_rename_refuses_taken_bad_and_unknown_names(trained):
    run_training(_spec("other", steps=1, model_config={"width": 16, "depth": 1}))
    for new_id, says in [
        ("other", "already a model called 'other'"),
        ("Bad Name!", "not a usable model id"),
        ("toy.train", "clash with a training-state file"),
    ]:
        with pytest.raises(StudioError, match=says):
            library.rename_model("toy", new_id)
    with pytest.raises(StudioError, match="no model of yours is called 'ghost'"):
        library.rename_model("ghost", "anything")
    assert library.rename_model("toy", "toy") == trained.card_path  # a no-op, not an error
    assert read_card(trained.card_path).id == "toy"


def test_delete_removes_the_model_and_all_its_files(trained):
    run_training(_spec("keep", steps=1, model_config={"width": 16, "depth": 1}))
    removed = library.delete_model("toy")
    assert _names(removed) == [
        "toy.json", "toy.png", "toy@<sha>.safetensors", "toy@<sha>.train.safetensors",
    ]  # fmt: skip
    assert sorted(p.name for p in user_models_dir().glob("toy*")) == []
    assert [c.id for c in library.user_models()] == ["keep"]
    with pytest.raises(StudioError, match="no model of yours"):
        library.delete_model("toy")


def test_a_new_id_may_not_shadow_a_model(trained):
    with pytest.raises(StudioError, match="already a model called 'toy'"):
        library.check_new_id("toy")
    assert library.check_new_id("  fresh  ") == "fresh"


# ---------------------------------------------------------------- uploads


def test_uploaded_pictures_are_kept_under_the_run_with_safe_names():
    folder = library.save_uploads("run-1", [("../../evil.png", _png()), ("a b.png", _png())])
    assert folder == studio_dir("uploads") / "run-1"
    assert sorted(p.name for p in folder.iterdir()) == ["0000-evil.png", "0001-a_b.png"]
    assert (folder / "0000-evil.png").read_bytes() == _png()


def test_a_zip_or_one_target_picture_is_given_as_the_file():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.png", _png())
    zip_path = library.save_uploads("run-zip", [("pics.zip", buffer.getvalue())])
    assert zip_path.name == "0000-pics.zip" and zipfile.is_zipfile(zip_path)
    target = library.save_uploads("run-one", [("me.jpg", b"...")], single=True)
    assert target == studio_dir("uploads") / "run-one" / "0000-me.jpg"


@pytest.mark.parametrize(
    ("files", "single", "says"),
    [
        ([], False, "nothing was uploaded"),
        ([("a.zip", b"z"), ("b.png", b"p")], False, "one .zip or several pictures"),
        ([("a.png", b"p"), ("b.png", b"p")], True, "one picture to paint"),
    ],
)
def test_upload_mixtures_are_refused_before_anything_is_written(files, single, says):
    with pytest.raises(StudioError, match=says):
        library.save_uploads("run-x", files, single=single)
    assert list(studio_dir("uploads").iterdir()) == []


def test_discarding_uploads_removes_only_that_run(tmp_path):
    kept = library.save_uploads("keep", [("a.png", _png())])
    gone = library.save_uploads("gone", [("a.png", _png())], single=True)
    library.discard_uploads(gone)
    outside = tmp_path / "outside"
    outside.mkdir()
    library.discard_uploads(outside)
    assert kept.exists() and not gone.parent.exists() and outside.exists()


def test_deleting_a_model_removes_its_uploads_once_no_other_model_names_them():
    target = library.save_uploads("paint", [("me.png", _png())], single=True)

    def paint(model_id):
        spec = TrainSpec(
            family="mlp",
            dataset="image",
            data_path=str(target),
            data_options={"size": 32},
            model_config={"width": 8, "depth": 2},
            steps=1,
            id=model_id,
        )
        return run_training(spec)

    paint("paint")
    paint("paint-again")  # a second run on the same pictures
    assert target not in library.delete_model("paint") and target.exists()
    removed = library.delete_model("paint-again")
    assert target.parent in removed and not target.parent.exists()
    assert list(studio_dir("uploads").iterdir()) == []
