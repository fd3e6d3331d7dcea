"""The conditional GAN: a code names its class, G learns to draw the class it is told, the
principal directions leave the class alone, and only labelled data with as many classes trains it."""

import numpy as np
import pytest
import torch

from studio.checkpoints import ModelCard, load_checkpoint, save_checkpoint
from studio.cli import main
from studio.errors import StudioError
from studio.models import build_model
from studio.models.base import config_from_dict
from studio.paths import studio_dir
from studio.recipe import recipe_from_png
from studio.train import TrainSpec, run_training
from studio.trainer import Trainer

SMALL = {"width": 8, "latent_dim": 4, "classes": 3, "channels": 1}


def test_a_code_is_noise_then_its_class_one_hot_and_a_seed_picks_both():
    model = build_model("dcgan-classes", SMALL)
    z = model.codes(300, seed=5)
    assert z.shape == (300, 4 + 3) and model.latent_dim == 7
    classes = z[:, 4:]
    assert torch.equal(classes.sum(1), torch.ones(300)) and set(classes.unique().tolist()) == {0, 1}
    assert (classes.sum(0) > 70).all()  # each class drawn about a third of the time
    assert abs(z[:, :4].std().item() - 1) < 0.1
    assert torch.equal(z, model.codes(300, seed=5)) and not torch.equal(z, model.codes(300, 6))


def test_principal_directions_move_the_noise_and_keep_the_class():
    model = build_model("dcgan-classes", SMALL, seed=0).eval()
    axes = model.slider_axes(4, lambda: torch.rand(4, 1, 32, 32))
    assert axes.vectors.shape == (4, 7)
    np.testing.assert_array_equal(axes.vectors[:, 4:], 0)
    np.testing.assert_allclose(axes.vectors @ axes.vectors.T, np.eye(4), atol=1e-6)


def _dark_and_bright(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: dark pictures, class 1: bright ones, class 2: half and half (left bright)."""
    labels = torch.arange(n) % 3
    x = torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.2
    x[labels == 1] += 0.7
    x[labels == 2, :, :, :16] += 0.7
    return x, labels


def test_g_learns_to_draw_the_class_it_is_told():
    x, labels = _dark_and_bright()
    model = build_model("dcgan-classes", SMALL, seed=0)
    fast = config_from_dict(model.Training, {"lr_g": 1e-3, "lr_d": 1e-3})
    trainer = Trainer(model, x, labels=labels, training=fast, steps=200, batch_size=32, seed=0)
    reports = list(trainer)
    assert set(reports[-1].terms) >= {"log_d_real", "log_1m_d_fake", "value", "g_loss"}
    noise = model.codes(64, seed=1)[:, :4]
    drawn = []
    with torch.inference_mode():
        for c in range(3):
            told = torch.zeros(64, 3)
            told[:, c] = 1
            drawn.append(model.eval().decode(torch.cat([noise, told], 1)))
    dark, bright, half = drawn
    assert dark.mean() < 0.3 < 0.7 < bright.mean(), (dark.mean(), bright.mean())
    left, right = half[..., :16].mean().item(), half[..., 16:].mean().item()
    assert left > right + 0.5, (left, right)


def test_without_labels_it_says_what_it_needs():
    model = build_model("dcgan-classes", SMALL)
    trainer = Trainer(model, torch.rand(8, 1, 32, 32), steps=1)
    with pytest.raises(StudioError, match="whose classes are known"):
        list(trainer)


def _spec(tmp_path, **changes) -> TrainSpec:
    fields = {
        "family": "gan",
        "dataset": "shapes",
        "arch": "dcgan-classes",
        "data_options": {"n": 64},
        "model_config": {"width": 8, "latent_dim": 4},
        "steps": 2,
        "batch_size": 16,
        "id": "kinds",
    }
    return TrainSpec(**(fields | changes))


def test_it_trains_on_labelled_data_taking_the_number_of_classes_from_it(tmp_path):
    result = run_training(_spec(tmp_path), out_dir=tmp_path)
    model, card = load_checkpoint(result.card_path)
    assert model.config.classes == 5 and card.arch == "dcgan-classes" and model.latent_dim == 9
    digits = _spec(tmp_path, dataset="glyphs", data_options={"n": 64, "charset": "digits"})
    model, _ = load_checkpoint(run_training(digits, out_dir=tmp_path).card_path)
    assert model.config.classes == 10


def test_data_without_classes_or_with_another_number_of_them_is_refused(tmp_path):
    with pytest.raises(StudioError, match="trains on 'folder' as dcgan, gan-coord"):
        run_training(_spec(tmp_path, dataset="folder", data_path=str(tmp_path)), out_dir=tmp_path)
    digits = _spec(tmp_path, dataset="glyphs", data_options={"n": 64, "charset": "digits"})
    trained = run_training(digits, out_dir=tmp_path).card_path
    letters = _spec(tmp_path, dataset="glyphs", data_options={"n": 64})
    with pytest.raises(StudioError, match="draws 10 classes, and glyphs has 36"):
        run_training(letters, out_dir=tmp_path, resume=str(trained))


def test_the_cli_draws_the_class_asked_for_by_name_and_says_which_there_are(tmp_path, capsys):
    model = build_model("dcgan-classes", SMALL | {"channels": 3, "classes": 5}, seed=0)
    shapes = {"name": "shapes", "options": {"n": 64, "seed": 0}}
    card = ModelCard(id="t-kinds", arch="dcgan-classes", family="gan", config={}, dataset=shapes)
    save_checkpoint(model, card, studio_dir("models"))
    render = ["render", "--model", "t-kinds", "--seed", "3", "--out", str(tmp_path / "star.png")]
    assert main([*render, "--class", "star"]) == 0
    z = recipe_from_png((tmp_path / "star.png").read_bytes()).z
    np.testing.assert_allclose(z[:4], model.picture_codes(3)[:4].numpy(), atol=1e-6)
    assert z[4:] == [0, 0, 0, 1, 0]
    capsys.readouterr()
    assert main([*render, "--class", "hexagon"]) == 2
    said = capsys.readouterr().err
    assert "'hexagon' is no kind of shape t-kinds draws; it draws circle, square" in said
    assert said.count("\n") == 1
    card = ModelCard(id="t-plain", arch="dcgan", family="gan", config={}, dataset=shapes)
    save_checkpoint(build_model("dcgan", {"width": 8, "channels": 3}), card, studio_dir("models"))
    assert main(["render", "--model", "t-plain", "--class", "star", "--out", "x.png"]) == 2
    assert "t-plain is told no class" in capsys.readouterr().err
