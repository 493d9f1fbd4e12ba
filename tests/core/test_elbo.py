"""DisentELBO against Pyro's TraceMeanField_ELBO and the β-TCVAE identity."""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, TraceMeanField_ELBO

import pyrodisent
from pyrodisent import DisentELBO, PosteriorBatch, regularizer
from pyrodisent.models import VAE

N = 500


@pytest.fixture
def vae_and_batch():
    torch.manual_seed(0)
    vae = VAE((1, 16, 16), latent_dim=3, encoder="mlp", hidden_width=32)
    x = (torch.rand(24, 1, 16, 16) > 0.5).float()
    return vae, x


def _loss(elbo, vae, x, seed=7):
    pyro.set_rng_seed(seed)
    return elbo.differentiable_loss(vae.model, vae.guide, x, dataset_size=N)


def test_no_regularizers_equals_trace_mean_field_elbo(vae_and_batch):
    vae, x = vae_and_batch
    ours = _loss(DisentELBO(), vae, x)
    pyros = _loss(TraceMeanField_ELBO(), vae, x)
    assert torch.allclose(ours, pyros, rtol=1e-6)
    # and the float-valued loss agrees too
    pyro.set_rng_seed(7)
    a = DisentELBO().loss(vae.model, vae.guide, x, dataset_size=N)
    pyro.set_rng_seed(7)
    b = TraceMeanField_ELBO().loss(vae.model, vae.guide, x, dataset_size=N)
    assert a == pytest.approx(b, rel=1e-6)


def test_tc_loss_is_minus_elbo_plus_beta_minus_one_tc(vae_and_batch):
    vae, x = vae_and_batch
    beta = 6.0
    elbo = DisentELBO([regularizer("tc", beta=beta)])
    ours = _loss(elbo, vae, x)
    base = _loss(TraceMeanField_ELBO(), vae, x)
    tc = elbo.last_terms["tc/tc"]
    # penalties are per data point; the ELBO is plate-scaled to N points
    assert torch.allclose(ours - base, N * (beta - 1) * tc, rtol=1e-4, atol=1e-2)
    assert elbo.last_terms["tc/tc"] == pytest.approx(float(elbo.last_terms["tc/tc"]))
    assert set(elbo.last_terms) >= {"loss", "elbo", "kl", "log_likelihood", "tc/tc", "tc/mi", "tc/dwkl"}


def test_kl_decomposition_terms_add_up_to_the_kl_at_the_sampled_codes():
    torch.manual_seed(1)
    M, D = 64, 4
    loc, scale = torch.randn(M, D), torch.rand(M, D) + 0.2
    q = dist.Normal(loc, scale).to_event(1)
    z = q.sample()
    prior = dist.Normal(torch.zeros(D), torch.ones(D)).to_event(1)
    post = PosteriorBatch(z=z, posterior=q, prior=prior, dataset_size=1000, loc=loc, scale=scale)
    terms = post.kl_decomposition("is")
    total = terms["mi"] + terms["tc"] + terms["dwkl"]
    mc_kl = (q.log_prob(z) - prior.log_prob(z)).mean()
    assert torch.allclose(total, mc_kl, atol=1e-5)


def _gaussian_tc(cov: torch.Tensor) -> float:
    """Closed-form TC of a Gaussian (RTC-VAE, Cheng et al. 2020, Prop. 1):
    ½(Σ log diag Σ − log|Σ|)."""
    return 0.5 * (torch.log(torch.diagonal(cov)).sum() - torch.logdet(cov)).item()


@pytest.mark.parametrize("estimator", ["is", "mss"])
def test_tc_estimate_matches_closed_form_on_gaussian_aggregate(estimator):
    """Posteriors N(μ_j, s²I) with μ_j ~ N(0, Σ_μ): the aggregate tends to N(0, Σ_μ + s²I)."""
    g = torch.Generator().manual_seed(0)
    D, M, s = 3, 2000, 0.5
    corr = torch.tensor([[1.0, 0.7, 0.2], [0.7, 1.0, 0.4], [0.2, 0.4, 1.0]])
    L = torch.linalg.cholesky(corr)
    mu = torch.randn(M, D, generator=g, dtype=torch.float64) @ L.double().T
    scale = torch.full((M, D), s, dtype=torch.float64)
    z = mu + s * torch.randn(M, D, generator=g, dtype=torch.float64)
    q = dist.Normal(mu, scale).to_event(1)
    prior = dist.Normal(torch.zeros(D, dtype=torch.float64), 1.0).to_event(1)
    post = PosteriorBatch(z=z, posterior=q, prior=prior, dataset_size=M, loc=mu, scale=scale)
    reg = regularizer("tc", beta=6, estimator=estimator)
    terms = reg(post)
    truth = _gaussian_tc(corr.double() + s**2 * torch.eye(D, dtype=torch.float64))
    assert post.diagnostics["tc/tc"].item() == pytest.approx(truth, abs=0.05)
    assert terms["tc"].item() == pytest.approx(5 * post.diagnostics["tc/tc"].item())
    assert truth > 0.2  # the test would catch an estimator stuck at 0


def test_alpha_and_gamma_weights_add_their_terms(vae_and_batch):
    vae, x = vae_and_batch
    elbo = DisentELBO([regularizer("tc", alpha=2.0, beta=1.0, gamma=3.0)])
    ours = _loss(elbo, vae, x)
    base = _loss(TraceMeanField_ELBO(), vae, x)
    t = elbo.last_terms
    expected = N * (1.0 * t["tc/mi"] + 0.0 * t["tc/tc"] + 2.0 * t["tc/dwkl"])
    assert torch.allclose(ours - base, expected, rtol=1e-4, atol=1e-2)


def test_beta_vae_adds_beta_minus_one_kl(vae_and_batch):
    vae, x = vae_and_batch
    elbo = DisentELBO([regularizer("beta_vae", beta=4.0)])
    ours = _loss(elbo, vae, x)
    base = _loss(TraceMeanField_ELBO(), vae, x)
    assert torch.allclose(ours - base, N * 3.0 * elbo.last_terms["kl"], rtol=1e-4, atol=1e-2)


def test_works_with_stock_svi_and_as_a_torch_module(vae_and_batch):
    vae, x = vae_and_batch
    pyro.clear_param_store()
    elbo = DisentELBO([regularizer("tc", beta=6.0)])
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-2}), loss=elbo)
    first = [p.detach().clone() for p in vae.parameters()]
    losses = [svi.step(x, dataset_size=N) for _ in range(5)]
    assert all(math.isfinite(v) for v in losses)
    assert any(not torch.equal(a, b) for a, b in zip(first, vae.parameters()))
    assert elbo.step == 5
    module = elbo(vae.model, vae.guide)
    assert isinstance(module, torch.nn.Module)
    out = module(x, dataset_size=N)
    out.backward()
    assert out.requires_grad and vae.encoder[1].weight.grad is not None


def test_num_particles_averages_terms(vae_and_batch):
    vae, x = vae_and_batch
    elbo = DisentELBO([regularizer("tc", beta=2.0)], num_particles=3)
    loss = _loss(elbo, vae, x)
    assert torch.isfinite(loss)
    assert torch.allclose(loss / N, elbo.last_terms["loss"], rtol=1e-5)


def test_regularizer_specs_and_errors():
    assert isinstance(DisentELBO(["tc"]).regularizers[0], pyrodisent.Regularizer)
    assert DisentELBO([{"name": "tc", "beta": 3}]).regularizers[0].beta == 3
    assert DisentELBO([("beta_vae", {"beta": 2})]).regularizers[0].beta == 2
    with pytest.raises(KeyError, match="known regularizers: .*tc"):
        regularizer("no_such_penalty")
    with pytest.raises(ValueError, match="beta must be >= 0"):
        regularizer("tc", beta=-1)
    with pytest.raises(TypeError, match="'tc'.*unexpected keyword"):
        regularizer("tc", betta=2)
    with pytest.raises(ValueError, match="given twice"):
        DisentELBO(["tc", "tc"])


def _one_site_pair(reparameterized: bool):
    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        loc = pyro.param("loc", torch.tensor(0.3))
        pyro.sample("z", dist.Normal(loc, 1.0).has_rsample_(reparameterized))

    return model, guide


@pytest.mark.parametrize("elbo_class", [TraceMeanField_ELBO, DisentELBO])
def test_pyro_validation_rejects_a_guide_that_is_not_reparameterized(elbo_class):
    pyro.clear_param_store()
    model, guide = _one_site_pair(reparameterized=False)
    with pyro.validation_enabled(True):
        with pytest.raises(NotImplementedError, match="must be fully reparameterized"):
            elbo_class().differentiable_loss(model, guide)
    with pyro.validation_enabled(False):  # Pyro checks only under validation; so do we
        assert torch.isfinite(elbo_class().differentiable_loss(model, guide))
    with pyro.validation_enabled(True):
        assert torch.isfinite(elbo_class().differentiable_loss(*_one_site_pair(reparameterized=True)))


@pytest.mark.parametrize("elbo_class", [TraceMeanField_ELBO, DisentELBO])
def test_pyro_validation_warns_when_the_mean_field_order_is_not_kept(elbo_class):
    pyro.clear_param_store()

    def model():
        pyro.sample("a", dist.Normal(0.0, 1.0))
        pyro.sample("b", dist.Normal(0.0, 1.0))

    def guide():
        loc = pyro.param("loc", torch.tensor(0.0))
        pyro.sample("b", dist.Normal(loc, 1.0))
        pyro.sample("a", dist.Normal(loc, 1.0))

    with pyro.validation_enabled(True), pytest.warns(UserWarning, match="Failed to verify mean field restriction"):
        elbo_class().differentiable_loss(model, guide)


def test_nan_losses_warn_as_pyros_do(vae_and_batch):
    vae, x = vae_and_batch

    def nan_guide(x, dataset_size=None):
        vae.guide(x * float("nan"), dataset_size=dataset_size)

    for elbo_class in (TraceMeanField_ELBO, DisentELBO):
        with pyro.validation_enabled(False), pytest.warns(UserWarning, match="Encountered NaN: loss"):
            elbo_class().loss(vae.model, nan_guide, x, dataset_size=N)
