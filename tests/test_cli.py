"""The CLI end to end: train, render, sample, list; bad input is one line on stderr and exit 2."""

import io
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from studio import train
from studio.checkpoints import load_checkpoint, read_card, user_models_dir, weights_path
from studio.cli import TrainingProgress, main
from studio.recipe import recipe_from_png
from studio.trainer import StepReport


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Tiny models of every family, trained once through the CLI for this module."""
    out = tmp_path_factory.mktemp("models")
    for family, dataset, extra in [
        ("vae", "glyphs", ["--set", "width=4", "--data-option", "n=128"]),
        ("gan", "toy2d", ["--set", "width=16", "--data-option", "n=256"]),
        ("mlp", "image", ["--data-option", "size=32", "--set", "size=32"]),
    ]:
        assert (
            main(
                [
                    "train",
                    "--model",
                    family,
                    "--dataset",
                    dataset,
                    "--steps",
                    "5",
                    "--id",
                    f"t-{family}",
                    "--out",
                    str(out),
                    *extra,
                ]
            )
            == 0
        )
    return out


def test_train_writes_checkpoint_and_card(trained):
    for family in ("vae", "gan", "mlp"):
        card_path = trained / f"t-{family}.json"
        assert card_path.exists() and weights_path(card_path).exists()


def test_render_writes_a_png_with_its_recipe(trained, tmp_path):
    out = tmp_path / "vae.png"
    assert (
        main(
            [
                "render",
                "--model",
                str(trained / "t-vae.json"),
                "--seed",
                "4",
                "--size",
                "96",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    image = Image.open(out)
    assert image.size == (96, 96)
    recipe = recipe_from_png(out.read_bytes())
    assert recipe.model == "t-vae" and recipe.size == 96 and len(recipe.z) == 16
    again = tmp_path / "again.png"
    main(
        [
            "render",
            "--model",
            str(trained / "t-vae.json"),
            "--seed",
            "4",
            "--size",
            "96",
            "--out",
            str(again),
        ]
    )
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(image))


def test_render_cppn_at_any_size_and_points_as_a_scatter(trained, tmp_path):
    assert (
        main(
            [
                "render",
                "--model",
                str(trained / "t-mlp.json"),
                "--size",
                "200",
                "--out",
                str(tmp_path / "art.png"),
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "art.png").size == (200, 200)
    assert (
        main(
            ["render", "--model", str(trained / "t-gan.json"), "--out", str(tmp_path / "ring.png")]
        )
        == 0
    )
    assert Image.open(tmp_path / "ring.png").size == (512, 512)


def test_sample_writes_raw_arrays(trained, tmp_path):
    assert (
        main(
            [
                "sample",
                "--model",
                str(trained / "t-vae.json"),
                "--n",
                "5",
                "--out",
                str(tmp_path / "v.npy"),
            ]
        )
        == 0
    )
    images = np.load(tmp_path / "v.npy", allow_pickle=False)
    assert images.dtype == np.uint8 and images.shape == (5, 32, 32, 1)
    assert (
        main(
            [
                "sample",
                "--model",
                str(trained / "t-gan.json"),
                "--n",
                "7",
                "--out",
                str(tmp_path / "p.npy"),
            ]
        )
        == 0
    )
    points = np.load(tmp_path / "p.npy", allow_pickle=False)
    assert points.dtype == np.float32 and points.shape == (7, 2)


def test_list_shows_the_users_models(studio_home, capsys):
    assert (
        main(
            [
                "train",
                "--model",
                "gan",
                "--dataset",
                "toy2d",
                "--steps",
                "2",
                "--set",
                "width=8",
                "--id",
                "mine",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["list"]) == 0
    assert "mine" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    assert '"id": "mine"' in capsys.readouterr().out


def test_a_real_subprocess_trains_with_a_progress_bar(tmp_path):
    result = run(
        "train",
        "--model",
        "gan",
        "--dataset",
        "toy2d",
        "--steps",
        "3",
        "--set",
        "width=8",
        "--out",
        str(tmp_path),
        "--id",
        "sub",
    )
    assert result.returncode == 0, result.stderr
    # stderr is a pipe: whole lines, the last one the finished run with every loss term.
    assert "\r" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert "100%" in last and "3/3" in last and ("it/s" in last or "s/it" in last)  # slow: s/it
    assert "d_loss=" in last and "g_loss=" in last
    assert "saved sub" in result.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _report(step: int) -> StepReport:
    return StepReport(step, elapsed=step / 10, progress=step / 100, terms={"d_loss": 0.5})


def _show_a_run(stream: io.StringIO) -> str:
    progress = TrainingProgress(stream)
    progress.start(SimpleNamespace(step=0, steps=100))
    for step in range(1, 101):
        progress(_report(step))
    progress.close()
    return stream.getvalue()


def test_the_progress_bar_redraws_one_line_on_a_terminal():
    shown = _show_a_run(_Terminal())
    assert shown.count("\r") >= 2 and shown.count("\n") == 1 and shown.endswith("\n")
    assert "100/100" in shown.splitlines()[-1].split("\r")[-1]


def test_the_progress_in_a_log_is_plain_lines_at_most_every_10_s(monkeypatch):
    shown = _show_a_run(io.StringIO())  # 100 reports in well under 10 s
    lines = shown.splitlines()
    assert len(lines) == 2 and "\r" not in shown and "\033" not in shown
    assert lines[0].startswith("  1% 1/100") and "d_loss=0.5" in lines[0]
    assert "100%" in lines[1] and "100/100" in lines[1] and "d_loss=0.5" in lines[1]

    monkeypatch.setattr(TrainingProgress, "LOG_EVERY_S", 0.0)
    assert len(_show_a_run(io.StringIO()).splitlines()) > 10


def test_list_imports_neither_training_nor_rendering_nor_benchmarks():
    """``python -m studio list`` builds every command's parser yet loads only what it uses."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "studio", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "studio.checkpoints" in imported  # the listing itself
    for heavy in (
        "studio.bench",
        "studio.zoo",
        "studio.metrics",
        "studio.train",
        "studio.render.renderer",
        "studio.render.serving",
        "matplotlib.pyplot",
    ):
        assert heavy not in imported, f"`list` imported {heavy}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--model", "flow", "--dataset", "glyphs"], "invalid choice"),
        (["train", "--model", "vae", "--dataset", "glyphs", "--steps", "-3"], "at least 1"),
        (
            ["train", "--model", "vae", "--dataset", "toy2d", "--steps", "2"],
            "VAE does not train on 'toy2d'",
        ),
        (
            ["train", "--model", "vae", "--dataset", "glyphs", "--set", "latent_dim=99999999"],
            "latent_dim",
        ),
        (
            ["train", "--model", "vae", "--dataset", "folder", "--data", "/nonexistent"],
            "nonexistent",
        ),
        (["train", "--model", "gan", "--dataset", "toy2d", "--set", "nonsense"], "key=value"),
        (["render", "--model", "no-such-model", "--out", "x.png"], "no model called"),
        (["render", "--model", "weights.pt", "--out", "x.png"], "never unpickles"),
        (["sample", "--model", "x", "--n", "0", "--out", "x.npy"], "at least 1"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    corrupt = tmp_path / "broken.json"
    corrupt.write_text("{")
    (tmp_path / "broken.safetensors").write_bytes(b"junk")
    result = run("render", "--model", str(corrupt), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_png_recipe_reading_refuses_foreign_files():
    from studio.errors import StudioError

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    with pytest.raises(StudioError, match="no Latent Studio recipe"):
        recipe_from_png(buffer.getvalue())
    with pytest.raises(StudioError, match="not a readable PNG"):
        recipe_from_png(b"not an image")


# ---------------------------------------------------------------- hostile input (issue 16)


def _one_line_exit_2(args, capsys) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "--model", "x", "--seed", str(10**30), "--out", "x.png"], "--seed"),
        (["render", "--model", "x", "--seed", "-1", "--out", "x.png"], "--seed"),
        (["render", "--model", "x", "--size", "100000", "--out", "x.png"], "--size"),
        (["sample", "--model", "x", "--n", str(10**9), "--out", "x.npy"], "--n"),
        (["sample", "--model", "x", "--seed", str(2**53), "--out", "x.npy"], "--seed"),
        (["train", "--model", "gan", "--dataset", "toy2d", "--batch-size", str(10**9)], "--batch"),
        (["train", "--model", "gan", "--dataset", "toy2d", "--seconds", "inf"], "--seconds"),
        (["train", "--model", "gan", "--dataset", "toy2d", "--steps", str(10**30)], "--steps"),
        (["train", "--model", "gan", "--dataset", "toy2d", "--seed", str(10**30)], "--seed"),
        (["train", "--model", "gan", "--dataset", "toy2d", "--threads", "100000"], "--threads"),
        (["train", "--model", "gan", "--dataset", "toy2d", "--preview-every", "inf"], "--preview"),
    ],
)
def test_every_number_has_a_range(args, message, capsys):
    if args[0] == "train":  # a bad config too, so that no run could start if a number passed
        args = [*args, "--set", "width=no"]
    err = _one_line_exit_2(args, capsys)
    assert message in err and "at most" in err


def test_a_deeply_nested_card_or_option_is_one_line(tmp_path, capsys):
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "deep.json").write_text(deep)
    (tmp_path / "deep.safetensors").write_bytes(b"")
    for command in ("render", "sample"):
        err = _one_line_exit_2(
            [command, "--model", str(tmp_path / "deep.json"), "--out", str(tmp_path / "x")],
            capsys,
        )
        assert "nested more than" in err
    err = _one_line_exit_2(
        ["train", "--model", "gan", "--dataset", "toy2d", "--set", f"width={deep}"], capsys
    )
    assert "width" in err


def test_list_passes_over_a_deeply_nested_card_and_names_it(studio_home):
    assert (
        main(
            ["train", "--model", "gan", "--dataset", "toy2d", "--steps", "1"]
            + ["--set", "width=8", "--id", "mine"]
        )
        == 0
    )
    models = studio_home / "models"
    (models / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (models / "deep.safetensors").write_bytes(b"")
    result = run("list")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert "mine" in listed and "deep" not in listed
    assert "skipped deep.json" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- nothing a user does loses work

_TINY_GAN = ["train", "--model", "gan", "--dataset", "toy2d", "--set", "width=8", "--steps", "2"]


def test_training_an_existing_id_is_refused_unless_overwrite_or_resume_says_so(studio_home, capsys):
    assert main([*_TINY_GAN, "--id", "mine"]) == 0
    card_path = studio_home / "models" / "mine.json"
    first = read_card(card_path)
    capsys.readouterr()
    assert main([*_TINY_GAN, "--id", "mine", "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert "already a model called 'mine'" in err and "--overwrite" in err
    assert err.count("\n") == 1 and read_card(card_path).sha256 == first.sha256
    assert main([*_TINY_GAN, "--id", "mine", "--seed", "1", "--overwrite"]) == 0
    assert read_card(card_path).sha256 != first.sha256
    assert (
        main(["train", "--model", "gan", "--dataset", "toy2d", "--resume", "mine", "--steps", "3"])
        == 0
    )
    assert read_card(card_path).steps == 5


def test_a_resume_trains_the_models_own_recipe_less_what_the_line_changes(studio_home, capsys):
    options = ["--id", "mine", "--seed", "3", "--batch-size", "16", "--data-option", "shape=ring8"]
    assert main([*_TINY_GAN, *options]) == 0
    assert main(["train", "--resume", "mine", "--steps", "3", "--set", "lr_g=1e-4"]) == 0
    card = read_card(studio_home / "models" / "mine.json")
    assert card.steps == 5 and card.family == "gan" and card.dataset["options"]["shape"] == "ring8"
    assert {k: card.train[k] for k in ("seed", "batch_size", "data_options", "model_config")} == {
        "seed": 3,
        "batch_size": 16,
        "data_options": {"shape": "ring8"},
        "model_config": {"width": 8, "lr_g": 1e-4},
    }
    assert card.train["training"]["lr_g"] == 1e-4
    capsys.readouterr()
    assert main(["train", "--model", "vae", "--resume", "mine", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "'mine' is a gan: --model vae cannot resume it" in err and err.count("\n") == 1
    assert read_card(studio_home / "models" / "mine.json").steps == 5


def test_another_dataset_for_a_resumed_model_leaves_the_recorded_datas_options_behind(studio_home):
    assert main([*_TINY_GAN, "--id", "mine", "--data-option", "shape=ring8"]) == 0
    card = read_card(studio_home / "models" / "mine.json")
    spec = train.resumed_spec(card, {"dataset": "shapes", "steps": 1})
    assert (spec.dataset, spec.data_options, spec.model_config) == ("shapes", {}, {"width": 8})
    assert (spec.arch, spec.steps, spec.id) == (card.arch, 1, "")


def test_a_resume_steepens_a_coordinate_gan_once_and_refuses_a_pixel_model(studio_home, capsys):
    coordinate_gan = ["train", "--model", "gan", "--arch", "gan-coord", "--dataset", "shapes"]
    tiny = ["--data-option", "n=64", "--batch-size", "8", "--set", "mlp_width=8"]
    assert main([*coordinate_gan, *tiny, "--steps", "2", "--id", "mine"]) == 0
    gain = _ema_gain("mine")
    assert main(["train", "--resume", "mine", "--steepen", "4", "--steps", "1"]) == 0
    card = read_card(studio_home / "models" / "mine.json")
    assert card.train["steepen"] == 4 and "--steepen 4" in card.command
    assert _ema_gain("mine") == pytest.approx(4 * gain, rel=1e-3)  # one step moves it a hair
    assert train.resumed_spec(card, {"steps": 1}).steepen == 1  # done, not done again
    capsys.readouterr()
    assert main([*_TINY_GAN, "--id", "points", "--steepen", "2"]) == 2
    err = capsys.readouterr().err
    assert "--steepen narrows the edges of a model drawn at any size" in err
    assert err.count("\n") == 1 and not (studio_home / "models" / "points.json").exists()


def _ema_gain(model_id: str) -> float:
    """The sigmoid gain of the generator a coordinate GAN draws with."""
    model, _ = load_checkpoint(model_id)
    return model.generator_ema.log_gain.exp().item()


def test_train_without_a_model_asks_for_one(capsys):
    assert main(["train", "--steps", "1"]) == 2
    assert "give --model and --dataset, or --resume a model" in capsys.readouterr().err


def test_an_unusable_id_is_refused_before_any_work(monkeypatch, capsys):
    def no_work(*args, **kwargs):
        raise AssertionError("the data was loaded for a run that could never be saved")

    monkeypatch.setattr(train, "load_training_data", no_work)
    assert main([*_TINY_GAN, "--id", "../x"]) == 2
    assert "not a usable model id" in capsys.readouterr().err


def _png(colour):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_pictures_skipped_in_a_training_folder_are_counted_and_named(tmp_path, capsys):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i in range(16):
        (pictures / f"ok{i:02d}.png").write_bytes(_png((i * 15, 0, 0)))
    for name in ("broken.png", "empty.jpg"):
        (pictures / name).write_bytes(b"\x89PNG not really")
    args = ["train", "--model", "vae", "--dataset", "folder", "--data", str(pictures)]
    assert main([*args, "--set", "width=4", "--steps", "1", "--id", "cats"]) == 0
    err = capsys.readouterr().err
    note = "2 of 18 pictures were skipped: broken.png: not a readable image; empty.jpg"
    assert f"note: pictures: {note}" in err
    assert note in read_card(user_models_dir() / "cats.json").notes
