"""The trainer: losses fall, seeds reproduce, optimisers stay in their lane, runs stop and resume."""

import shlex
import threading

import pytest
import torch

from studio import metrics
from studio.checkpoints import load_checkpoint
from studio.cli import build_parser
from studio.data import load_dataset
from studio.data.toy2d import modes
from studio.errors import StudioError
from studio.models import build_model
from studio.models.gan import r1_penalty
from studio.train import TrainSpec, run_training
from studio.trainer import ABSURD, Trainer, TrainingDiverged


def _mean(reports, key, part):
    chunk = reports[:10] if part == "first" else reports[-10:]
    return sum(r.terms[key] for r in chunk) / len(chunk)


@pytest.fixture(scope="module")
def glyphs():
    return load_dataset("glyphs", n=512, seed=0).x


def test_vae_loss_falls_on_glyphs(glyphs):
    model = build_model("vae", {"latent_dim": 8, "width": 8})
    reports = list(Trainer(model, glyphs, steps=60, batch_size=32, seed=0))
    assert len(reports) == 60 and [r.step for r in reports] == list(range(1, 61))
    assert _mean(reports, "loss", "last") < 0.8 * _mean(reports, "loss", "first")
    assert len(reports[-1].vectors["kl_per_dim"]) == 8


def test_cppn_fits_its_target():
    target = load_dataset("image", size=32).x
    model = build_model("cppn", {"size": 32})
    reports = list(Trainer(model, target, steps=80, seed=0))
    assert _mean(reports, "mse", "last") < 0.7 * _mean(reports, "mse", "first")
    assert reports[-1].terms["psnr"] > reports[0].terms["psnr"]


def test_gan_discriminator_learns_and_generator_moves_towards_the_data():
    points = load_dataset("toy2d", n=2048, seed=0).x
    model = build_model("gan2d", {"width": 64}, seed=0)

    def radius() -> float:
        z = model.sample_z(512, generator=torch.Generator().manual_seed(1))
        return model.decode(z).norm(dim=1).mean().item()

    radius_before = radius()
    reports = list(Trainer(model, points, steps=150, batch_size=128, seed=0))
    radius_after = radius()
    # The ring has radius 2; the untrained generator draws points near the origin.
    assert abs(radius_after - 2.0) < 0.5 * abs(radius_before - 2.0)
    assert {
        "log_d_real",
        "log_1m_d_fake",
        "value",
        "g_loss",
        "g_loss_saturating",
        "d_real",
        "d_fake",
    } <= set(reports[-1].terms)


def test_the_ring_gan_finds_every_mode_and_keeps_them_balanced():
    """``python -m studio train --model gan --dataset toy2d --seed 4``, judged as the ring bench
    judges it. Seed 4 is the one whose G, before D paid the R1 penalty, had starved a mode to
    2% of the samples by step 1,500 and dropped it by 2,000; with it, every seed's modes hold
    10% or more (of a fair 12.5%) from step 1,000 to 9,000 (``python -m studio.bench.ring``)."""
    data = load_dataset("toy2d", seed=4)
    model = build_model("gan2d", {}, seed=4)
    trainer = Trainer(model, data.x, steps=1500, batch_size=64, seed=4)
    shares = []
    for report in trainer:
        if report.step % 500 == 0:
            counted = metrics.ring_coverage(metrics.generate(model, 2500, 0), modes("ring8"))
            shares.append(counted["mode_shares"])
    assert all(min(share) >= 0.08 for share in shares), shares


def test_the_r1_penalty_is_the_squared_slope_of_d_at_the_data():
    """For a linear D(x) = w . x + b the slope is w everywhere: the penalty is |w|^2."""
    linear = torch.nn.Linear(2, 1)
    real = torch.randn(16, 2, requires_grad=True)
    penalty = r1_penalty(real, linear(real).flatten())
    assert penalty.item() == pytest.approx(linear.weight.pow(2).sum().item())
    penalty.backward()  # D's step differentiates it: d|w|^2/dw = 2w
    assert torch.allclose(linear.weight.grad, 2 * linear.weight)


def test_a_penalised_d_step_leaves_the_runs_data_as_they_are():
    points = load_dataset("toy2d", n=32, seed=0).x  # fewer than a batch: the run's own tensor
    model = build_model("gan2d", {"width": 8, "r1": 10.0}, seed=0)
    list(Trainer(model, points, steps=2, batch_size=64, seed=0))
    assert not points.requires_grad and points.grad is None


def test_dcgan_trains_on_glyphs(glyphs):
    model = build_model("dcgan", {"width": 8, "latent_dim": 16})
    reports = list(Trainer(model, glyphs, steps=30, batch_size=32, seed=0))
    first, last = reports[0].terms, reports[-1].terms
    assert last["d_real"] > first["d_real"]  # D learns to tell real from fake at first


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_each_gan_optimiser_only_moves_its_own_network():
    torch.manual_seed(0)
    model = build_model("gan2d", {"width": 16, "d_steps": 2})
    trainer = Trainer(model, torch.randn(256, 2), steps=1, batch_size=64, seed=0)
    opt_d, opt_g = trainer.optimizers["discriminator"], trainer.optimizers["generator"]
    seen = []

    def spy(opt, own, other):
        real_step = opt.step

        def step(*args, **kwargs):
            other_before, own_before = _snapshot(other), _snapshot(own)
            result = real_step(*args, **kwargs)
            seen.append((_same(other_before, _snapshot(other)), _same(own_before, _snapshot(own))))
            return result

        opt.step = step

    spy(opt_d, model.discriminator, model.generator)
    spy(opt_g, model.generator, model.discriminator)
    list(trainer)
    assert len(seen) == 3  # two D steps, one G step
    assert all(other_unchanged for other_unchanged, _ in seen)
    assert not any(own_unchanged for _, own_unchanged in seen)
    assert all(p.grad is None for p in model.discriminator.parameters()) is False
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_same_seed_gives_identical_weights_and_images(tmp_path):
    def train(seed, name):
        spec = TrainSpec(
            family="vae",
            dataset="glyphs",
            data_options={"n": 256},
            steps=15,
            model_config={"latent_dim": 4, "width": 4},
            batch_size=16,
            seed=seed,
            device="cpu",
            id=name,
        )
        return load_checkpoint(run_training(spec, out_dir=tmp_path).card_path)

    (a, card_a), (b, card_b), (c, card_c) = train(3, "a"), train(3, "b"), train(4, "c")
    assert card_a.sha256 == card_b.sha256 != card_c.sha256
    z = a.sample_z(2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.decode(z), b.decode(z))
    assert not torch.equal(a.decode(z), c.decode(z))


def test_seconds_budget_and_stop_from_another_thread(glyphs):
    model = build_model("vae", {"latent_dim": 4, "width": 4})
    trainer = Trainer(model, glyphs, seconds=60, batch_size=16, seed=0)
    reports = []
    for report in trainer:
        reports.append(report)
        if report.step == 5:
            threading.Thread(target=trainer.stop).start()
    assert trainer.stopped and 5 <= reports[-1].step < 100
    timed = list(Trainer(model, glyphs, seconds=0.3, batch_size=16, seed=0))
    assert timed[-1].progress == 1.0 and timed[-1].elapsed >= 0.3


def test_nan_stops_the_run_and_keeps_the_last_good_weights(glyphs):
    model = build_model("vae", {"latent_dim": 4, "width": 4})
    trainer = Trainer(model, glyphs, steps=50, batch_size=16, seed=0, report_every=5)
    real_step = model.training_step

    def poisoned(batch, optimizers, noise, conditions):
        terms = real_step(batch, optimizers, noise, conditions)
        if trainer.step == 12:  # this step's update is already in the weights
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float("nan"))
            terms["loss"] = torch.tensor(float("nan"))
        return terms

    model.training_step = poisoned
    seen = []
    with pytest.raises(TrainingDiverged, match="step 13"):
        seen.extend(trainer)
    assert seen[-1].step <= 12  # every reported step came before the bad one
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("family", "model_config"),
    [("vae", {"latent_dim": 4, "width": 4}), ("gan", {"latent_dim": 4, "width": 8})],
)
def test_a_run_resumes_exactly_where_it_stopped(tmp_path, family, model_config):
    spec = TrainSpec(
        family=family,
        dataset="glyphs",
        data_options={"n": 256},
        model_config=model_config,
        steps=20,
        batch_size=16,
        seed=5,
        device="cpu",
    )
    whole = run_training(
        TrainSpec(**{**spec.__dict__, "steps": 40, "id": "whole"}), out_dir=tmp_path
    )
    half = run_training(TrainSpec(**{**spec.__dict__, "id": "half"}), out_dir=tmp_path)
    resumed = run_training(spec, resume=str(half.card_path), out_dir=tmp_path)
    assert resumed.card.id == "half" and resumed.card.steps == 40
    a, _ = load_checkpoint(whole.card_path)
    b, _ = load_checkpoint(resumed.card_path)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def test_bad_budgets_are_refused():
    model = build_model("gan2d", {"width": 8})
    with pytest.raises(StudioError, match="budget"):
        Trainer(model, torch.randn(10, 2))
    with pytest.raises(StudioError, match="steps"):
        Trainer(model, torch.randn(10, 2), steps=0)


def test_run_training_records_a_complete_card(tmp_path):
    spec = TrainSpec(
        family="gan",
        dataset="toy2d",
        data_options={"n": 512},
        model_config={"width": 16},
        steps=25,
        batch_size=64,
        seed=1,
        id="ring",
    )
    result = run_training(spec, out_dir=tmp_path)
    card = result.card
    assert result.card_path == tmp_path / "ring.json"
    assert card.arch == "gan2d" and card.steps == 25 and card.seed == 1
    assert card.command.startswith("python -m studio train --model gan --dataset toy2d")
    assert "--steps 25" in card.command and "--set width=16" in card.command
    assert set(card.final_terms) >= {"log_d_real", "value", "g_loss"}
    assert len(card.sha256) == 64 and card.wall_time_s > 0 and card.device == "cpu"


def test_a_recipe_command_parses_back_to_the_same_recipe():
    spec = TrainSpec(
        family="vae",
        dataset="folder",
        data_path="/tmp/my cats.zip",
        data_options={"size": 32, "note": "two words"},
        model_config={"width": 16, "beta": 0.5},
        seconds=30,
        seed=3,
        device="cpu",
        id="cats",
    )
    words = shlex.split(spec.command())
    assert words[:3] == ["python", "-m", "studio"]
    args = build_parser().parse_args(words[3:])
    assert (args.model, args.dataset, args.data, args.device) == (
        "vae",
        "folder",
        spec.data_path,
        "cpu",
    )
    assert (args.seconds, args.seed, args.id, args.batch_size) == (30, 3, "cats", 64)
    assert dict(args.set) == spec.model_config
    assert dict(args.data_option) == spec.data_options
    assert "--device" not in TrainSpec(family="vae", dataset="glyphs", steps=5).command()


def test_a_run_draws_its_noise_from_its_own_generator_not_the_global_one(glyphs):
    def train(disturb: bool) -> dict[str, torch.Tensor]:
        model = build_model("vae", {"latent_dim": 4, "width": 4}, seed=0)
        trainer = Trainer(model, glyphs, steps=6, batch_size=16, seed=3, report_every=1)
        for _ in trainer:
            if disturb:  # another thread's work, drawing from the global RNG between steps
                torch.rand(100)
        return model.state_dict()

    torch.manual_seed(123)
    before = torch.get_rng_state()
    quiet = train(disturb=False)
    assert torch.equal(torch.get_rng_state(), before)  # the run left the global RNG alone
    disturbed = train(disturb=True)
    assert all(torch.equal(quiet[k], disturbed[k]) for k in quiet)


def test_a_resume_takes_a_new_learning_rate_and_refuses_another_architecture(tmp_path):
    spec = TrainSpec(
        family="vae",
        dataset="glyphs",
        data_options={"n": 64},
        model_config={"latent_dim": 4, "width": 4, "lr": 5e-4, "optimizer": "adamw"},
        steps=2,
        batch_size=16,
        id="fit",
    )
    first = run_training(spec, out_dir=tmp_path)
    assert "lr" not in first.card.config and "optimizer" not in first.card.config
    assert first.card.train["training"] == {
        "optimizer": "adamw",
        "beta1": 0.9,
        "beta2": 0.999,
        "lr": 5e-4,
    }
    seen = []
    resumed = TrainSpec(**{**spec.__dict__, "model_config": {"lr": 1e-4}})
    again = run_training(
        resumed,
        resume=str(first.card_path),
        out_dir=tmp_path,
        trainer_ready=lambda trainer: seen.append(trainer.optimizers["vae"]),
    )
    assert again.card.train["training"]["lr"] == 1e-4
    assert again.card.train["training"]["optimizer"] == "adamw"  # kept from the first run
    assert isinstance(seen[0], torch.optim.AdamW) and seen[0].param_groups[0]["lr"] == 1e-4
    unchanged = TrainSpec(**{**spec.__dict__, "model_config": {"latent_dim": 4, "lr": 1e-4}})
    assert run_training(unchanged, resume=str(first.card_path), out_dir=tmp_path).error is None
    wider = TrainSpec(**{**spec.__dict__, "model_config": {"width": 8, "lr": 1e-4}})
    with pytest.raises(StudioError, match=r"built with width=4 \(asked 8\).*train a new model"):
        run_training(wider, resume=str(first.card_path), out_dir=tmp_path)
    assert load_checkpoint(first.card_path)[1].steps == 6  # the refused run changed nothing


# ---------------------------------------------------------------- divergence, and after it


def _poisoned(trainer, at_step, poison):
    """Make ``trainer`` call ``poison(model)`` right after its step ``at_step``."""
    model, real_step = trainer.model, trainer.model.training_step

    def step(batch, optimizers, noise, conditions):
        terms = real_step(batch, optimizers, noise, conditions)
        if trainer.step + 1 == at_step:
            with torch.no_grad():
                poison(model)
        return terms

    model.training_step = step


def test_a_diverged_run_keeps_no_sick_optimiser_moments(glyphs):
    """The weights were restored, but the moments were saved full of NaN: resuming diverged
    at once."""
    model = build_model("vae", {"latent_dim": 4, "width": 4})
    trainer = Trainer(model, glyphs, steps=20, batch_size=16, seed=0, report_every=5)
    _poisoned(trainer, 12, lambda m: next(m.parameters()).fill_(float("nan")))
    with pytest.raises(TrainingDiverged, match=r"at step 1\d: .*NaN or infinite"):
        list(trainer)
    state = trainer.training_state()
    assert not [key for key in state if key.startswith("optim.")]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    # The step of the weights kept: the last sound check's (every 5 steps, or sooner when the
    # steps are slow), not the bad one's.
    assert trainer.step in (0, 5, 10)


def _amplify(model):
    for layer in model.generator[::2]:
        layer.weight.mul_(1e4)


@pytest.mark.parametrize(
    ("poison", "says"),
    [
        (lambda m: m.generator[-1].bias.fill_(1e12), r"the weights grew to 1e\+12"),
        (_amplify, "the model's outputs grew to"),  # each weight at most 1e4 times larger
    ],
)
def test_weights_or_outputs_out_of_all_proportion_stop_a_run_while_the_losses_look_fine(
    poison, says
):
    points = load_dataset("toy2d", n=256, seed=0).x
    # no average of G's weights: the outputs probed are then the live generator's
    model = build_model("gan2d", {"width": 8, "ema": 0.0}, seed=0)
    trainer = Trainer(model, points, steps=6, batch_size=64, seed=0)
    _poisoned(trainer, 6, poison)  # the last step: its losses were computed before the poison
    with pytest.raises(TrainingDiverged, match=says):
        list(trainer)
    assert model.decode(model.codes(64, 0)).abs().max() < 10


def test_a_nan_in_the_optimisers_moments_alone_stops_a_run(glyphs):
    model = build_model("vae", {"latent_dim": 4, "width": 4})
    trainer = Trainer(model, glyphs, steps=4, batch_size=16, seed=0)

    def sicken(_):
        state = trainer.optimizers["vae"].state
        next(iter(state.values()))["exp_avg_sq"].fill_(float("nan"))

    _poisoned(trainer, 4, sicken)
    with pytest.raises(TrainingDiverged, match="the optimiser's moments became NaN"):
        list(trainer)


_BLOW_UP = {
    "width": 16,
    "g_loss": "saturating",
    "lr_g": 1.0,
    "lr_d": 1.0,
    "beta1": 0.9999,
    "beta2": 0.99999,
}


def test_a_2d_gan_blowing_up_is_stopped_and_its_resume_starts_with_fresh_moments(tmp_path):
    """Driven to losses of 9e35 it never tripped the guard (all finite) and drew NaN points."""
    spec = TrainSpec(
        family="gan",
        dataset="toy2d",
        data_options={"n": 512},
        model_config=_BLOW_UP,
        steps=300,
        seed=0,
        device="cpu",
        id="boom",
    )
    blown = run_training(spec, out_dir=tmp_path)
    assert "diverged" in blown.error and "a loss term reached" in blown.error
    model, card = load_checkpoint(blown.card_path)
    # the last weights a health check passed: the clock picks which, so they may be large
    points = model.decode(model.codes(256, 0))
    assert torch.isfinite(points).all() and points.abs().max() <= ABSURD
    notices = []
    calm = TrainSpec(**{**spec.__dict__, "steps": 5, "model_config": {"lr_g": 1e-4, "lr_d": 1e-4}})
    resumed = run_training(
        calm, resume=str(blown.card_path), out_dir=tmp_path, on_notice=notices.append
    )
    assert resumed.error is None and resumed.card.steps == card.steps + 5
    (notice,) = notices
    assert "'boom' resumes with fresh optimiser moments" in notice
    assert notice in resumed.card.notes
