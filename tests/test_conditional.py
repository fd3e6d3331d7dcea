"""The conditional GAN: a code names its class, G learns to draw the class it is told, the
principal directions leave the class alone, and only labelled data with as many classes trains it."""

import numpy as np
import pytest
import torch

from studio.checkpoints import ModelCard, load_checkpoint, save_checkpoint
from studio.cli import main
from studio.data.base import Dataset
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


def _lit_halves(n: int = 256) -> Dataset:
    """Class 0 lights a picture's left half, class 1 its right; the factor "level" (uniform
    from 0.2 to 1) is how brightly."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    level = 0.2 + 0.8 * torch.rand(n, generator=g)
    x = torch.rand(n, 1, 32, 32, generator=g) * 0.1
    x[labels == 0, :, :, :16] += level[labels == 0, None, None, None]
    x[labels == 1, :, :, 16:] += level[labels == 1, None, None, None]
    return Dataset("halves", x.clamp(0, 1), labels, ("left", "right"), {"level": level})


def test_g_learns_to_draw_the_class_and_the_level_it_is_told():
    data = _lit_halves()
    model = build_model("dcgan-classes", SMALL | {"classes": 2, "told": "level"}, seed=0)
    fast = config_from_dict(model.Training, {"lr_g": 1e-3, "lr_d": 1e-3})
    conditions = model.conditions(data)
    trainer = Trainer(model, data.x, conditions=conditions, training=fast, steps=200, batch_size=32)
    reports = list(trainer)
    assert set(reports[-1].terms) >= {"log_d_real", "log_1m_d_fake", "value", "g_loss"}
    noise = model.codes(64, seed=1)[:, 1:5]
    lit = {}
    with torch.inference_mode():
        for c, side in enumerate((slice(0, 16), slice(16, 32))):
            for level in (-1.5, 1.5):
                told = torch.zeros(64, 2)
                told[:, c] = 1
                z = torch.cat([torch.full((64, 1), level), noise, told], 1)
                drawn = model.eval().decode(z)
                other = slice(16, 32) if c == 0 else slice(0, 16)
                lit[c, level] = drawn[..., side].mean().item()
                assert lit[c, level] > drawn[..., other].mean().item() + 0.1, (c, level, lit)
        assert lit[c, 1.5] > lit[c, -1.5] + 0.3, lit


def test_d_learns_to_read_back_the_class_and_the_level_and_reports_both_errors():
    """With a read-back weight, D also reads each picture's class and told level (AC-GAN), and
    both read-back errors are reported as terms of the game."""
    data = _lit_halves()
    config = SMALL | {"classes": 2, "told": "level", "read_back": 1.0}
    model = build_model("dcgan-classes", config, seed=0)
    fast = config_from_dict(model.Training, {"lr_g": 1e-3, "lr_d": 1e-3})
    conditions = model.conditions(data)
    trainer = Trainer(model, data.x, conditions=conditions, training=fast, steps=60, batch_size=32)
    reports = list(trainer)
    assert (
        {"read_real", "read_fake"}
        <= set(reports[0].terms)
        <= {t.key for t in model.TERMS} | {"d_loss"}
    )
    assert reports[-1].terms["read_real"] < 0.5 * reports[0].terms["read_real"]
    with torch.inference_mode():
        _, read = model.discriminator(data.x * 2 - 1, conditions)
    assert (read[:, 1:].argmax(1) == data.labels).float().mean() > 0.95
    assert np.corrcoef(read[:, 0], conditions[:, 0])[0, 1] > 0.8  # it reads the level too


def test_a_told_factor_is_its_normal_score_at_the_front_of_z():
    data = _lit_halves()
    model = build_model("dcgan-classes", SMALL | {"classes": 2, "told": "level"})
    conditions = model.conditions(data)
    assert conditions.shape == (256, 1 + 2) and model.latent_dim == 1 + 4 + 2
    scores = conditions[:, 0]
    assert torch.equal(scores.argsort(), data.factors["level"].argsort())  # the level's order
    assert abs(scores.mean()) < 1e-6 and abs(scores.std() - 1) < 0.05
    torch.testing.assert_close(conditions[:, 1:], torch.eye(2)[data.labels])
    z = model.codes(4000, seed=0)
    assert abs(z[:, :5].std().item() - 1) < 0.05  # the told part is drawn as the noise is


def test_a_factor_the_data_does_not_know_is_refused():
    model = build_model("dcgan-classes", SMALL | {"classes": 2, "told": "level, weight"})
    with pytest.raises(StudioError, match="halves does not know its pictures' weight: the fac"):
        model.conditions(_lit_halves())


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
    sized = _spec(tmp_path, model_config={"width": 8, "latent_dim": 4, "told": "size"}, id="sized")
    model, card = load_checkpoint(run_training(sized, out_dir=tmp_path).card_path)
    assert model.config.told_factors == ("size",) and model.latent_dim == 1 + 4 + 5


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
