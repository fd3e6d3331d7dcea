"""Every loss term against a value computed by hand on tiny tensors."""

import math

import pytest
import torch

from studio.models import build_model, list_models, model_class
from studio.models.gan import discriminator_terms, generator_terms
from studio.models.vae import gaussian_kl_per_dim


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_gan_terms_match_the_minimax_formula_by_hand():
    real, fake = [0.0, 2.0, -1.5], [-1.0, 1.0, 3.0]
    terms = discriminator_terms(torch.tensor(real), torch.tensor(fake))
    log_d_real = sum(math.log(_sigmoid(v)) for v in real) / 3
    log_1m_d_fake = sum(math.log(1 - _sigmoid(v)) for v in fake) / 3
    assert terms["log_d_real"].item() == pytest.approx(log_d_real, rel=1e-6)
    assert terms["log_1m_d_fake"].item() == pytest.approx(log_1m_d_fake, rel=1e-6)
    assert terms["value"].item() == pytest.approx(log_d_real + log_1m_d_fake, rel=1e-6)
    assert terms["d_loss"].item() == pytest.approx(-(log_d_real + log_1m_d_fake), rel=1e-6)
    assert terms["d_real"].item() == pytest.approx(sum(map(_sigmoid, real)) / 3, rel=1e-6)
    assert terms["d_fake"].item() == pytest.approx(sum(map(_sigmoid, fake)) / 3, rel=1e-6)

    g = generator_terms(torch.tensor(fake))
    assert g["g_loss"].item() == pytest.approx(-sum(math.log(_sigmoid(v)) for v in fake) / 3)
    assert g["g_loss_saturating"].item() == pytest.approx(log_1m_d_fake, rel=1e-6)


def test_gan_terms_stay_finite_where_naive_logs_overflow():
    terms = discriminator_terms(torch.tensor([200.0]), torch.tensor([-200.0]))
    assert all(torch.isfinite(v) for v in terms.values())
    assert terms["log_d_real"].item() == pytest.approx(0.0, abs=1e-6)
    g = generator_terms(torch.tensor([-200.0]))
    assert g["g_loss"].item() == pytest.approx(200.0)  # -log sigmoid(-200), not inf


def test_kl_closed_form_matches_a_monte_carlo_estimate():
    mu = torch.tensor([[0.5, -1.0, 0.0]])
    logvar = torch.tensor([[0.2, -0.7, 1.1]])
    closed = gaussian_kl_per_dim(mu, logvar)[0]
    q = torch.distributions.Normal(mu[0], (0.5 * logvar[0]).exp())
    p = torch.distributions.Normal(0.0, 1.0)
    z = q.sample(torch.Size([400_000]))
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).mean(0)
    assert torch.allclose(closed, monte_carlo, atol=0.01)
    assert (closed >= 0).all()
    assert gaussian_kl_per_dim(torch.zeros(1, 2), torch.zeros(1, 2)).abs().max() == 0


def test_vae_terms_by_hand_with_a_deterministic_posterior(monkeypatch):
    torch.manual_seed(0)
    vae = build_model("vae-mlp", {"latent_dim": 2, "size": 32, "width": 4, "beta": 2.0})
    x = (torch.rand(3, 1, 32, 32) > 0.5).float()
    mu, logvar = torch.tensor([[0.3, -0.2]] * 3), torch.tensor([[-0.5, 0.1]] * 3)
    monkeypatch.setattr(vae, "encode", lambda _x: (mu, logvar))
    eps = torch.randn(3, 2, generator=torch.Generator().manual_seed(5))
    terms = vae.loss_terms(x, torch.Generator().manual_seed(5))  # draws eps from this generator

    z = mu + eps * (0.5 * logvar).exp()
    p = torch.sigmoid(vae.decoder(z)).double()
    recon = (x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1).mean()
    kl = sum(0.5 * (m * m + math.exp(lv) - 1 - lv) for m, lv in [(0.3, -0.5), (-0.2, 0.1)])
    assert terms["recon"].item() == pytest.approx(recon.item(), rel=1e-4)
    assert terms["kl"].item() == pytest.approx(kl, rel=1e-5)
    assert terms["elbo"].item() == pytest.approx(recon.item() - kl, rel=1e-4)
    assert terms["loss"].item() == pytest.approx(-(recon.item() - 2.0 * kl), rel=1e-4)
    assert terms["kl_per_dim"].sum().item() == pytest.approx(kl, rel=1e-5)
    assert terms["recon"].item() < 0 < terms["kl"].item()  # log-likelihood of binary pixels, KL


def test_gaussian_likelihood_is_the_normal_log_density():
    vae = build_model("vae", {"channels": 3, "likelihood": "gaussian", "sigma": 0.2, "width": 4})
    x = torch.rand(2, 3, 32, 32)
    logits = torch.randn(2, 3, 32, 32)
    expected = torch.distributions.Normal(torch.sigmoid(logits), 0.2).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(vae.log_likelihood(x, logits), expected, rtol=1e-5)


def test_cppn_mse_and_psnr_by_hand():
    cppn = build_model("cppn", {"channels": 1, "size": 8})
    target = torch.rand(1, 1, 8, 8)
    drawn = cppn.render(torch.zeros(1, cppn.latent_dim), 8, 8)
    mse = ((drawn - target) ** 2).mean().item()
    terms = cppn.loss_terms(target)
    assert terms["mse"].item() == pytest.approx(mse, rel=1e-6)
    assert terms["psnr"].item() == pytest.approx(10 * math.log10(1 / mse), rel=1e-5)


@pytest.mark.parametrize("arch", list_models())
def test_every_term_has_its_latex_and_caption(arch):
    cls = model_class(arch)
    assert cls.FORMULA and cls.TERMS
    for term in cls.TERMS:
        assert term.latex and term.caption and term.label
    objectives_minimise = {
        "cppn": {"mse"},
        "dcgan": {"d_loss", "g_loss"},
        "dcgan-classes": {"d_loss", "g_loss"},
        "gan2d": {"d_loss", "g_loss"},
        "vae": {"loss"},
        "vae-mlp": {"loss"},
        "gan-coord": {"d_loss", "g_loss"},
        "vae-coord": {"loss"},
    }
    model = build_model(arch, {"width": 8} if arch != "cppn" else {})
    assert {o.minimises for o in model.objectives()} == objectives_minimise[arch]
