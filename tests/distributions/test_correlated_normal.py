"""CorrelatedNormal (Yang et al. 2020, the mutual-information paper, eq. 11-12, App. B) vs
dense-Gaussian closed forms and Monte Carlo."""

import math

import pyro.distributions as dist
import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from pyrodisent.distributions import CorrelatedNormal


def _params(batch=3, D=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(batch, D, generator=g, dtype=torch.float64)
    scale = torch.rand(batch, D, generator=g, dtype=torch.float64) + 0.3
    return loc, scale


@pytest.mark.parametrize("rho", [0.0, 0.4, 0.9])
def test_sample_covariance_matches_diag_sigma_sigma_rho_diag_sigma(rho):
    D = 5
    loc = torch.linspace(-1, 1, D, dtype=torch.float64)
    scale = torch.linspace(0.5, 2.0, D, dtype=torch.float64)
    q = CorrelatedNormal(loc, scale, rho)
    z = q.rsample((200_000,), generator=torch.Generator().manual_seed(1))
    sigma_rho = (1 - rho) * torch.eye(D, dtype=torch.float64) + rho
    expected = torch.diag(scale) @ sigma_rho @ torch.diag(scale)
    assert torch.allclose(q.covariance_matrix, expected)
    empirical = torch.cov(z.T)
    # sd of a sample covariance entry is about sqrt((Σ_ii Σ_jj + Σ_ij²)/n) < 4·2/447
    assert (empirical - expected).abs().max() < 0.03
    assert (z.mean(0) - loc).abs().max() < 0.02


def test_log_prob_entropy_precision_and_tril_match_the_dense_gaussian():
    loc, scale = _params()
    q = CorrelatedNormal(loc, scale, 0.7)
    mvn = MultivariateNormal(loc, q.covariance_matrix)
    z = q.sample((4,), generator=torch.Generator().manual_seed(2))
    assert torch.allclose(q.log_prob(z), mvn.log_prob(z))
    assert torch.allclose(q.entropy(), mvn.entropy())
    assert torch.allclose(q.precision_matrix, mvn.precision_matrix)
    assert torch.allclose(q.scale_tril @ q.scale_tril.mT, q.covariance_matrix)
    assert torch.equal(q.scale_tril, torch.tril(q.scale_tril))


@pytest.mark.parametrize("D", [1, 2, 7])
def test_log_det_of_sigma_rho_is_the_closed_form(D):
    q = CorrelatedNormal(
        torch.zeros(D, dtype=torch.float64), torch.ones(D, dtype=torch.float64), 0.6
    )
    assert math.isclose(
        float(q.log_det_noise_covariance()),
        math.log(0.4 ** (D - 1) * (1 + (D - 1) * 0.6)),
        rel_tol=1e-12,
    )
    assert math.isclose(
        float(q.log_det_noise_covariance()),
        float(torch.logdet(q.noise_covariance)),
        rel_tol=1e-9,
        abs_tol=1e-12,
    )


def test_kl_to_standard_normal_is_diagonal_kl_plus_half_log_inverse_det():
    loc, scale = _params(D=10)
    rho = 0.9
    q = CorrelatedNormal(loc, scale, rho)
    prior = dist.Normal(torch.zeros(10, dtype=torch.float64), 1.0).to_event(1).expand([3])
    kl = kl_divergence(q, prior)
    diagonal = kl_divergence(dist.Normal(loc, scale).to_event(1), prior)
    det = (1 - rho) ** 9 * (1 + 9 * rho)
    assert torch.allclose(kl, diagonal + 0.5 * math.log(1 / det))
    standard = MultivariateNormal(
        torch.zeros(10, dtype=torch.float64), torch.eye(10, dtype=torch.float64)
    )
    assert torch.allclose(kl, kl_divergence(MultivariateNormal(loc, q.covariance_matrix), standard))


def test_kl_equals_a_monte_carlo_kl():
    loc, scale = _params(batch=2, D=4, seed=3)
    q = CorrelatedNormal(loc, scale, 0.8)
    prior = dist.Normal(torch.zeros(4, dtype=torch.float64), 1.0).to_event(1)
    z = q.sample((400_000,), generator=torch.Generator().manual_seed(4))
    log_ratio = q.log_prob(z) - prior.log_prob(z)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(z.shape[0])
    exact = kl_divergence(q, prior.expand([2]))
    assert ((mc - exact).abs() < 4 * se).all(), (mc, exact, se)


def test_kl_to_a_non_standard_diagonal_normal_and_between_correlated_normals():
    loc, scale = _params(D=5, seed=5)
    q = CorrelatedNormal(loc, scale, 0.5)
    p_loc, p_scale = _params(D=5, seed=6)
    p = dist.Normal(p_loc, p_scale).to_event(1)
    dense_q = MultivariateNormal(loc, q.covariance_matrix)
    assert torch.allclose(
        kl_divergence(q, p),
        kl_divergence(dense_q, MultivariateNormal(p_loc, torch.diag_embed(p_scale**2))),
    )
    r = CorrelatedNormal(p_loc, p_scale, 0.3)
    assert torch.allclose(
        kl_divergence(q, r), kl_divergence(dense_q, MultivariateNormal(p_loc, r.covariance_matrix))
    )


def test_kl_to_a_non_gaussian_prior_is_left_to_monte_carlo():
    q = CorrelatedNormal(torch.zeros(3), torch.ones(3), 0.5)
    with pytest.raises(NotImplementedError):
        kl_divergence(q, dist.Logistic(torch.zeros(3), 1.0).to_event(1))


def test_rho_zero_draws_exactly_the_factorized_sample():
    loc, scale = _params()
    torch.manual_seed(7)
    a = dist.Normal(loc, scale).to_event(1).rsample()
    torch.manual_seed(7)
    b = CorrelatedNormal(loc, scale, 0.0).rsample()
    assert torch.equal(a, b)


def test_marginals_and_pairwise_log_prob():
    loc, scale = _params(batch=5, D=6, seed=8)
    q = CorrelatedNormal(loc, scale, 0.75)
    z = q.sample(generator=torch.Generator().manual_seed(9))
    pairwise = q.pairwise_log_prob(z)
    dense = MultivariateNormal(loc, q.covariance_matrix)
    assert torch.allclose(pairwise, dense.log_prob(z[:, None, :]))
    dims = [1, 4, 5]
    sub = MultivariateNormal(loc[:, dims], q.covariance_matrix[:, dims][:, :, dims])
    assert torch.allclose(q.pairwise_log_prob(z, dims), sub.log_prob(z[:, None, dims]))
    one = q.marginal([2])
    assert torch.allclose(
        one.log_prob(z[:, [2]]), dist.Normal(loc[:, 2], scale[:, 2]).log_prob(z[:, 2])
    )


def test_shapes_expand_and_rsample_gradients():
    loc = torch.zeros(4, requires_grad=True)
    scale = torch.ones(4, requires_grad=True)
    q = CorrelatedNormal(loc, scale, 0.5)
    assert q.batch_shape == () and q.event_shape == (4,)
    e = q.expand([3, 2])
    assert (
        e.batch_shape == (3, 2)
        and e.rsample().shape == (3, 2, 4)
        and e.log_prob(e.sample()).shape == (3, 2)
    )
    q.rsample((8,)).sum().backward()
    assert loc.grad is not None and scale.grad is not None
    batched = CorrelatedNormal(torch.zeros(3, 4), torch.ones(3, 4), torch.tensor([0.0, 0.5, 0.9]))
    assert batched.batch_shape == (3,)


@pytest.mark.parametrize("rho", [1.0, -0.1, "high"])
def test_rho_outside_zero_one_is_rejected_naming_rho(rho):
    with pytest.raises(ValueError, match="rho"):
        CorrelatedNormal(torch.zeros(3), torch.ones(3), rho)
