"""The metrics on inputs whose answers are known in closed form."""

import math

import pytest
import torch

from studio import classifiers, metrics
from studio.data import Dataset
from studio.errors import StudioError
from studio.models import build_model

# ---------------------------------------------------------------- Fréchet distance


def _gaussian_cloud(n: int, dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g) @ torch.randn(dim, dim, generator=g)


def test_frechet_distance_of_a_set_to_itself_is_zero():
    a = _gaussian_cloud(500, 8, 0)
    assert metrics.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)


def test_frechet_distance_of_a_shift_is_its_squared_length():
    a = _gaussian_cloud(500, 8, 0)
    shift = torch.arange(8.0) / 4
    assert metrics.frechet_distance(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-6)


def test_frechet_distance_of_a_doubled_set_is_the_trace_of_its_covariance():
    # S_b = 4 S_a: tr(S_a) + tr(4 S_a) - 2 tr((4 S_a^2)^1/2) = tr(S_a)
    a = _gaussian_cloud(500, 8, 0)
    a = a - a.mean(0)
    trace = float(torch.cov(a.T).trace())
    assert metrics.frechet_distance(a, 2 * a) == pytest.approx(trace, rel=1e-6)


def test_frechet_distance_matches_the_two_by_two_closed_form():
    # For 2x2 PSD M, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)); covariances that do not commute.
    a, b = _gaussian_cloud(400, 2, 1), _gaussian_cloud(400, 2, 2) + 1
    sa, sb = torch.cov(a.double().T), torch.cov(b.double().T)
    product = sa @ sb
    cross = math.sqrt(float(product.trace()) + 2 * math.sqrt(float(torch.det(product))))
    mean_term = float((a.double().mean(0) - b.double().mean(0)).square().sum())
    expected = mean_term + float(sa.trace() + sb.trace()) - 2 * cross
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- precision and recall


def test_precision_and_recall_of_a_set_against_itself_are_one():
    a = _gaussian_cloud(300, 4, 0)
    assert metrics.precision_recall(a, a) == (1.0, 1.0)


def test_precision_and_recall_of_disjoint_sets_are_zero():
    a = _gaussian_cloud(300, 4, 0)
    assert metrics.precision_recall(a, a + 100) == (0.0, 0.0)


def test_a_collapsed_generator_has_precision_but_no_recall():
    real = torch.cat([torch.randn(200, 2) * 0.1 + c for c in (-5.0, 0.0, 5.0)])
    collapsed = torch.randn(600, 2, generator=torch.Generator().manual_seed(3)) * 0.05
    precision, recall = metrics.precision_recall(real, collapsed)
    assert precision > 0.95
    assert recall < 0.4


# ---------------------------------------------------------------- ring coverage


def test_mode_coverage_counts_modes_and_high_quality_samples():
    centres = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
    near = centres.repeat(25, 1) + 0.01  # 100 samples, all within 3 std (0.06) of a mode
    far = torch.zeros(100, 2)  # the origin: 2 away from every mode
    result = metrics.mode_coverage(torch.cat([near, far]), centres, 0.02)
    assert result["modes_covered"] == 4
    assert result["high_quality_share"] == pytest.approx(0.5)
    assert result["mode_shares"] == [0.125] * 4


def test_a_mode_with_a_sliver_of_its_fair_share_is_not_covered():
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
    points = torch.cat([centres[:1].repeat(95, 1), centres[1:].repeat(5, 1)])
    result = metrics.mode_coverage(points, centres, 0.02)  # fair share 50, a quarter is 12.5
    assert result["modes_covered"] == 1
    assert result["high_quality_share"] == 1.0


def _on_ring(degrees: list[float], radius: float = 2.0) -> torch.Tensor:
    angle = torch.tensor(degrees).deg2rad()
    return torch.stack([angle.cos(), angle.sin()], 1) * radius


RING8 = _on_ring([45.0 * k for k in range(8)])


def test_ring_coverage_counts_points_within_a_tenth_of_the_radius_and_ten_degrees():
    inside = _on_ring([9.0, 36.0, 90.0], radius=2.19)  # modes 0, 1 and 2, at their edges
    outside = torch.cat([_on_ring([22.5, 101.0]), _on_ring([180.0], radius=2.25), RING8[:1] * 0])
    result = metrics.ring_coverage(torch.cat([inside, outside]), RING8, min_share=0.1)
    assert result["mode_shares"] == pytest.approx([1 / 7] * 3 + [0.0] * 5, abs=1e-4)
    assert result["modes_covered"] == 3 and result["modes_total"] == 8
    assert result["on_mode_share"] == pytest.approx(3 / 7)


def test_ring_coverage_wants_two_percent_of_all_samples_on_a_mode():
    # 100 samples: 81 on mode 0, 2 on mode 1 (exactly 2%), 1 on mode 2, the rest off the ring
    points = torch.cat([RING8[[0] * 81 + [1] * 2 + [2]], torch.zeros(16, 2)])
    result = metrics.ring_coverage(points, RING8)
    assert result["modes_covered"] == 2
    assert result["on_mode_share"] == pytest.approx(0.84)


def test_ring_coverage_of_the_data_itself_is_every_mode():
    from studio.data import load_dataset

    real = load_dataset("toy2d", shape="ring8", n=2500, seed=1).x
    result = metrics.ring_coverage(real, RING8)
    assert result["modes_covered"] == 8 and result["on_mode_share"] == 1.0


# ---------------------------------------------------------------- diversity


def test_near_duplicates_are_measured_against_the_typical_distance_between_real_examples():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(64, 10, generator=g)  # pairs about sqrt(2 * 10) = 4.5 apart
    one = real[0] + 0.01 * torch.randn(64, 10, generator=g)
    two = torch.cat([real[:1].repeat(32, 1), real[1:2].repeat(32, 1)])
    assert metrics.near_duplicate_share(torch.randn(64, 10, generator=g), real) == 0.0
    assert metrics.near_duplicate_share(one, real) == 1.0
    assert metrics.near_duplicate_share(two, real) == pytest.approx(2 * 496 / 2016)
    assert metrics.near_duplicate_share(one, real * 1000) == 1.0
    assert metrics.near_duplicate_share(one * 1000, real * 1000) == 1.0  # any scale


# ---------------------------------------------------------------- CPPN art measures


def test_a_flat_colour_has_no_contrast():
    flat = torch.ones(2, 3, 32, 32) * torch.tensor([1.0, 0.2, 0.6]).view(1, 3, 1, 1)
    assert metrics.art_measures(flat)["contrast_min"] == 0.0


def test_noise_is_rough_and_a_gradient_is_smooth():
    noise = torch.rand(2, 1, 128, 128, generator=torch.Generator().manual_seed(0))
    ramp = torch.linspace(0, 1, 128).expand(2, 1, 128, 128)
    assert metrics.art_measures(noise)["roughness_max"] == pytest.approx(
        2 / math.sqrt(math.pi), rel=0.05
    )
    assert metrics.art_measures(ramp)["roughness_max"] < 0.05


def test_psnr_of_a_known_error():
    target = torch.zeros(1, 1, 8, 8)
    assert metrics.psnr(target + 0.1, target) == pytest.approx(20.0)


# ---------------------------------------------------------------- VAE evidence, baseline


def test_vae_evidence_is_the_bound_and_its_terms():
    model = build_model("vae", {"latent_dim": 4, "width": 8}).eval()
    x = torch.rand(20, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    result = metrics.vae_evidence(model, x, seed=0)
    assert result["elbo_nats"] == pytest.approx(result["recon_nats"] - result["kl_nats"])
    assert result["kl_nats"] >= 0
    assert result["bits_per_dim"] == pytest.approx(-result["elbo_nats"] / (1024 * math.log(2)))
    assert metrics.vae_evidence(model, x, seed=0) == result  # seeded: the same draw each time


def test_pixel_gaussian_baseline_keeps_each_pixels_mean_and_stays_in_range():
    x = torch.rand(4000, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    baseline = metrics.pixel_gaussian_baseline(x, 4000, seed=1)
    assert baseline.shape == (4000, 1, 4, 4)
    assert float(baseline.min()) >= 0 and float(baseline.max()) <= 1
    assert torch.allclose(baseline.mean(0), x.mean(0), atol=0.01)


# ---------------------------------------------------------------- the feature classifier


def _tiny(name: str, dataset: str, data_options: dict, **kwargs) -> classifiers.ClassifierRecipe:
    return classifiers.ClassifierRecipe(
        name,
        dataset,
        data_options,
        n=600,
        steps=80,
        batch_size=32,
        lr=3e-3,
        width=8,
        features=16,
        **kwargs,
    )


def test_a_short_classifier_run_learns_and_round_trips_through_safetensors(tmp_path, monkeypatch):
    monkeypatch.setattr(classifiers, "CLASSIFIER_DIR", tmp_path)
    net, card = classifiers.train_classifier(_tiny("tiny", "glyphs", {"charset": "digits"}))
    assert card.held_out["accuracy"] > 0.4  # chance is 0.1
    assert card.data_options == {"charset": "digits", "size": 32, "channels": 1}
    classifiers.save_classifier(net, card)
    loaded, loaded_card = classifiers.load_classifier("tiny")
    x = torch.rand(3, 1, 32, 32)
    assert torch.equal(loaded.features(x), net.features(x))
    assert loaded.features(x).shape == (3, 16)
    assert loaded_card.to_json() == card.to_json()


def test_classifier_training_draws_only_from_its_own_generators():
    """The weights start where ``torch.manual_seed(seed)`` would start them (so retraining a
    shipped recipe gives back its weights), yet the global RNG is neither used nor moved."""
    kwargs = {"channels": 3, "classes": 5, "factors": 2, "width": 4, "features": 8}
    torch.manual_seed(7)
    seeded_globally = classifiers.FeatureNet(**kwargs).state_dict()
    own = classifiers.FeatureNet(**kwargs)
    own.reset_parameters(torch.Generator().manual_seed(7))
    assert all(torch.equal(own.state_dict()[k], v) for k, v in seeded_globally.items())

    recipe = _tiny("tiny", "glyphs", {"charset": "digits"})
    before = torch.random.get_rng_state()
    first, _ = classifiers.train_classifier(recipe)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.manual_seed(12345)  # whatever the global RNG holds, the run is the same
    second, _ = classifiers.train_classifier(recipe)
    assert all(torch.equal(second.state_dict()[k], v) for k, v in first.state_dict().items())


def test_the_factor_head_learns_what_a_class_label_ignores():
    _, card = classifiers.train_classifier(_tiny("tiny", "shapes", {}, factors=("size", "hue")))
    assert card.held_out["factor_r2"] > 0.25


def test_each_model_is_judged_by_the_classifier_of_its_own_kind_of_data():
    _, card = classifiers.classifier_for(
        "glyphs", {"charset": "digits", "size": 32, "channels": 1, "n": 6000, "seed": 0}
    )
    assert card.id == "classifier-digits"
    with pytest.raises(StudioError, match="no feature classifier was trained on glyphs"):
        classifiers.classifier_for("glyphs", {"charset": "lower", "size": 32, "channels": 1})


def test_labels_are_mapped_onto_the_classifiers_classes():
    card = classifiers.ClassifierCard("classifier-x", "glyphs", {}, {}, list("0123456789AB"), {})
    data = Dataset(
        name="glyphs",
        x=torch.zeros(3, 1, 32, 32),
        labels=torch.tensor([0, 1, 1]),
        class_names=("B", "7"),
    )
    assert classifiers.classifier_labels(card, data).tolist() == [11, 7, 7]
    lower = Dataset(
        name="glyphs", x=torch.zeros(1, 1, 32, 32), labels=torch.tensor([0]), class_names=("a",)
    )
    with pytest.raises(StudioError, match="cannot label"):
        classifiers.classifier_labels(card, lower)


def test_a_tampered_classifier_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(classifiers, "CLASSIFIER_DIR", tmp_path)
    net = classifiers.FeatureNet(channels=1, classes=3, width=4, features=8)
    kwargs = {"channels": 1, "classes": 3, "width": 4, "features": 8}
    card = classifiers.ClassifierCard("classifier-abc", "glyphs", {}, kwargs, ["a", "b", "c"], {})
    path = classifiers.save_classifier(net, card)
    weights = path.with_suffix(".safetensors")
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 1
    weights.write_bytes(bytes(blob))
    with pytest.raises(StudioError, match="sha256"):
        classifiers.load_classifier("abc")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "not valid JSON"),
        ('{"id": "classifier-abc", "dataset": "glyphs"}', "lacks data_options, net, class_names"),
    ],
)
def test_a_broken_classifier_card_is_a_clear_error(tmp_path, monkeypatch, text, says):
    monkeypatch.setattr(classifiers, "CLASSIFIER_DIR", tmp_path)
    classifiers.classifier_path("abc").write_text(text)
    with pytest.raises(StudioError, match=says):
        classifiers.load_classifier("abc")


def test_a_missing_classifier_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setattr(classifiers, "CLASSIFIER_DIR", tmp_path)
    with pytest.raises(StudioError, match="zoo rebuild classifier-glyphs"):
        classifiers.load_classifier("glyphs")
