"""The grouped_tc plugin: β-STCVAE (Chen et al. 2022, eq. 9) and HFVAE (Esmaeili et al. 2019, as
Chen et al. 2022 write it in eq. 10)."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO

from pyrodisent import DisentELBO, PosteriorBatch, UnsupportedPosteriorError, regularizer
from pyrodisent.estimators import (
    equicorrelation_matrix,
    log_aggregate_posterior,
    partial_correlation,
    total_correlation,
)
from pyrodisent.models import VAE

N = 400


def _loss(elbo, vae, x, seed=3):
    pyro.set_rng_seed(seed)
    return elbo.differentiable_loss(vae.model, vae.guide, x, dataset_size=N)


def test_grouping_factor_one_is_beta_tcvae(vae_and_batch):
    vae, x = vae_and_batch
    grouped = DisentELBO([regularizer("grouped_tc", beta=6.0, grouping_factor=1)])
    tc = DisentELBO([regularizer("tc", beta=6.0, estimator="mss")])
    assert torch.allclose(_loss(grouped, vae, x), _loss(tc, vae, x), rtol=1e-6)
    assert grouped.last_terms["grouped_tc/tc_within"].abs().item() < 1e-5
    assert grouped.last_terms["grouped_tc/tc_joint"].item() == pytest.approx(tc.last_terms["tc/tc"].item(), abs=1e-5)


@pytest.mark.parametrize("gamma", [0.0, 3.0])
def test_loss_adds_beta_minus_one_tc_joint_and_gamma_minus_one_within(vae_and_batch, gamma):
    vae, x = vae_and_batch
    beta = 5.0
    elbo = DisentELBO([regularizer("grouped_tc", beta=beta, grouping_factor=2, gamma=gamma, estimator="is")])
    ours = _loss(elbo, vae, x)
    base = _loss(TraceMeanField_ELBO(), vae, x)
    t = elbo.last_terms
    expected = N * ((beta - 1) * t["grouped_tc/tc_joint"] + (gamma - 1) * t["grouped_tc/tc_within"])
    assert torch.allclose(ours - base, expected, rtol=1e-4, atol=1e-2)
    assert set(t) >= {"grouped_tc/tc", "grouped_tc/mi", "grouped_tc/dwkl"}


def test_logged_values_are_the_estimators_true_values():
    torch.manual_seed(1)
    M, D = 64, 6
    loc, scale = torch.randn(M, D), torch.rand(M, D) + 0.2
    q = dist.Normal(loc, scale).to_event(1)
    z = q.sample()
    prior = dist.Normal(torch.zeros(D), torch.ones(D)).to_event(1)
    post = PosteriorBatch(z=z, posterior=q, prior=prior, dataset_size=1000)
    reg = regularizer("grouped_tc", beta=6.0, groups=[3, 1, 2], estimator="mss")
    terms = reg.penalty(post)
    d = post.diagnostics
    tc = total_correlation(z, loc, scale, 1000, method="mss")
    tc_joint = partial_correlation(z, loc, scale, 1000, [3, 1, 2], "mss")
    assert d["grouped_tc/tc"].item() == pytest.approx(tc.item(), abs=1e-4)
    assert d["grouped_tc/tc_joint"].item() == pytest.approx(tc_joint.item(), abs=1e-4)
    assert terms["tc_joint"].item() == pytest.approx(5 * tc_joint.item(), abs=1e-3)
    assert terms["tc_within"].item() == pytest.approx(-(tc - tc_joint).item(), abs=1e-3)  # γ = 0 drops it
    kl = (q.log_prob(z) - prior.log_prob(z)).mean()
    total = d["grouped_tc/mi"] + d["grouped_tc/tc"] + d["grouped_tc/dwkl"]
    assert total.item() == pytest.approx(kl.item(), abs=1e-4)


def test_grouping_factor_must_divide_the_latent_size(vae_and_batch):
    vae, x = vae_and_batch
    elbo = DisentELBO([regularizer("grouped_tc", grouping_factor=4)])
    with pytest.raises(ValueError, match=r"grouping_factor 4 does not divide the latent size 6; choose one of \[1, 2, 3, 6\]"):
        _loss(elbo, vae, x)
    with pytest.raises(ValueError, match=r"grouping_factor must be an integer >= 1, got 0; it must divide the latent size"):
        regularizer("grouped_tc", grouping_factor=0)
    with pytest.raises(ValueError, match="estimator"):
        regularizer("grouped_tc", estimator="exact")


def test_correlated_and_unsupported_posteriors():
    torch.manual_seed(2)
    M, D = 32, 4
    loc, scale = torch.randn(M, D, dtype=torch.float64), torch.rand(M, D, dtype=torch.float64) + 0.2
    cov = torch.stack([torch.diag(s) @ equicorrelation_matrix(D, 0.8) @ torch.diag(s) for s in scale])
    q = dist.MultivariateNormal(loc, cov)
    z = q.sample()
    post = PosteriorBatch(z=z, posterior=q, prior=None, dataset_size=500)
    regularizer("grouped_tc", grouping_factor=2, estimator="is").penalty(post)
    want = log_aggregate_posterior(z, loc, scale, 500, "is", groups=[2, 2], rho=0.8)
    assert post.diagnostics["grouped_tc/tc_joint"].item() == pytest.approx((want.joint - want.groups.sum(-1)).mean().item(), abs=1e-8)
    lap = PosteriorBatch(z=z, posterior=dist.Laplace(loc, scale).to_event(1), prior=None, dataset_size=500)
    with pytest.raises(UnsupportedPosteriorError):
        regularizer("grouped_tc").penalty(lap)


def test_trains_with_the_correlated_guide_of_yang_et_al_2020():
    torch.manual_seed(0)
    vae = VAE((1, 12, 12), latent_dim=4, encoder="mlp", hidden_width=32, guide="correlated", rho=0.9)
    x = (torch.rand(16, 1, 12, 12) > 0.5).float()
    elbo = DisentELBO([regularizer("grouped_tc", beta=6.0, grouping_factor=2, estimator="is")])
    loss = _loss(elbo, vae, x)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(elbo.last_terms["grouped_tc/tc_joint"])
