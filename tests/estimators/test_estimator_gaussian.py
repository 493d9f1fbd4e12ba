"""Closed-form Gaussian TC (RTC-VAE, Cheng et al. 2020, Prop. 1), TC decomposition paths
(β-STCVAE, Chen et al. 2022, §3.2-3.4), Monte-Carlo TC (Yang et al. 2020, the mutual-information
paper, App. D) and the XOR table of PDisVAE (an anonymous ICLR submission), Table 2."""

from __future__ import annotations

import math

import pytest
import torch

from pyrodisent.estimators import (
    TC_PATHS,
    GaussianFamily,
    discrete_mutual_information,
    discrete_partial_correlation,
    discrete_total_correlation,
    fitted_gaussian_total_correlation,
    gaussian_mutual_information,
    gaussian_tc_decomposition,
    gaussian_total_correlation,
    log_aggregate_posterior,
    monte_carlo_total_correlation,
    partial_correlation,
    tc_decomposition,
    tc_path,
    total_correlation,
    xor_table,
)
from pyrodisent.estimators.montecarlo import sample_family


def random_covariance(D, seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(D, D, generator=g, dtype=torch.float64)
    return A @ A.T + 0.5 * torch.eye(D, dtype=torch.float64)


def test_prop1_in_two_dims_is_minus_half_log_one_minus_r_squared():
    for r in (0.0, 0.3, -0.9):
        cov = torch.tensor([[4.0, 2 * 3 * r], [2 * 3 * r, 9.0]], dtype=torch.float64)
        assert gaussian_total_correlation(cov).item() == pytest.approx(-0.5 * math.log(1 - r * r), abs=1e-12)


def test_grouped_gaussian_tc_identities():
    cov = random_covariance(6)
    tc = gaussian_total_correlation(cov)
    between = gaussian_total_correlation(cov, [2, 2, 2])
    within = sum(gaussian_total_correlation(cov[g][:, g]) for g in ([0, 1], [2, 3], [4, 5]))
    assert torch.allclose(between + within, tc)  # TC = TC_joint + Σ_g TC(z_g)
    assert gaussian_total_correlation(cov, [6]).abs().item() < 1e-12
    assert torch.allclose(gaussian_total_correlation(cov, [1] * 6), tc)
    assert torch.allclose(gaussian_mutual_information(cov, [0, 1, 2], [3, 4, 5]), gaussian_total_correlation(cov, [3, 3]))


def test_fitted_gaussian_tc_converges_to_prop1():
    cov = random_covariance(4, seed=2)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200000, 4, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    assert fitted_gaussian_total_correlation(x).item() == pytest.approx(gaussian_total_correlation(cov).item(), abs=0.01)


@pytest.mark.parametrize("D", [2, 3, 5, 6, 7, 8])
@pytest.mark.parametrize("path", TC_PATHS)
def test_every_path_sums_to_the_closed_form_tc(D, path):
    cov = random_covariance(D, seed=D)
    p = gaussian_tc_decomposition(cov, path)
    assert p.total.item() == pytest.approx(gaussian_total_correlation(cov).item(), abs=1e-10)
    assert all(t.value.item() >= -1e-12 for t in p.terms)  # every term is a mutual information


def test_bottom_up_rounds_follow_stcvae_eq2_to_5():
    p = tc_path("bottom_up", 5)
    assert [(t.a, t.b, t.round) for t in p.terms] == [
        ((0,), (1,), 1), ((2,), (3,), 1),  # MU_joint_1, z_r = z_4 waits
        ((0, 1), (2, 3), 2),               # MU_joint_2, (z_4) waits again
        ((0, 1, 2, 3), (4,), 3),           # the last pair's MI
    ]
    cov = random_covariance(5, seed=3)
    g = gaussian_tc_decomposition(cov, "bottom_up")
    # TC_joint_1 = KL(q ‖ q(z0,z1) q(z2,z3) q(z4)) (eq. 3)
    assert g.tc_joint()[0].item() == pytest.approx(gaussian_total_correlation(cov, [[0, 1], [2, 3], [4]]).item())
    assert g.tc_joint()[-1].abs().item() < 1e-10


def test_batch_paths_telescope_to_the_batch_tc_and_track_the_gaussian_terms():
    # μ ~ N(0, Σ_μ), z | μ ~ N(μ, σ² I): q(z) → N(0, Σ_μ + σ² I) as the dataset grows
    D, N, sigma = 4, 1500, 0.5
    cov_mu = random_covariance(D, seed=4)
    cov_mu = cov_mu / cov_mu.diagonal().sqrt().outer(cov_mu.diagonal().sqrt())
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(N, D, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(cov_mu).T
    scale = torch.full_like(mu, sigma)
    z = mu + scale * torch.randn(N, D, generator=g, dtype=torch.float64)
    truth = gaussian_tc_decomposition(cov_mu + sigma**2 * torch.eye(D, dtype=torch.float64), "top_down")
    batch_tc = total_correlation(z, mu, scale, N, method="is")
    for path in TC_PATHS:
        est = tc_decomposition(z, mu, scale, N, path, method="is")
        assert est.total.item() == pytest.approx(batch_tc.item(), abs=1e-9)
        if path == "top_down":
            top_down = est
    est = top_down
    for t_est, t_true in zip(est.terms, truth.terms):
        assert t_est.value.item() == pytest.approx(t_true.value.item(), abs=0.06)


def test_monte_carlo_tc_of_yang_et_al_2020_matches_the_exact_mixture_and_is_reproducible():
    g = torch.Generator().manual_seed(0)
    B, D = 64, 3
    loc = torch.randn(B, D, generator=g, dtype=torch.float64) @ torch.tensor(
        [[1.0, 0.0, 0.0], [0.9, 0.4, 0.0], [0.0, 0.5, 0.8]], dtype=torch.float64
    ).T
    scale = 0.2 + 0.3 * torch.rand(B, D, generator=g, dtype=torch.float64)
    a = monte_carlo_total_correlation(loc, scale, 30, generator=torch.Generator().manual_seed(1))
    b = monte_carlo_total_correlation(loc, scale, 30, generator=torch.Generator().manual_seed(1))
    assert a.item() == b.item()
    precise = monte_carlo_total_correlation(loc, scale, 2000, generator=torch.Generator().manual_seed(2))
    assert a.item() == pytest.approx(precise.item(), abs=0.05)
    # the B-point mixture with the batch as the dataset is what IS with M = N evaluates
    gen = torch.Generator().manual_seed(3)
    many = [
        total_correlation(loc + scale * torch.randn(B, D, generator=gen, dtype=torch.float64), loc, scale, B)
        for _ in range(100)
    ]
    assert torch.stack(many).mean().item() == pytest.approx(precise.item(), abs=0.04)
    grouped = monte_carlo_total_correlation(loc, scale, 200, groups=[[0, 1], [2]], generator=torch.Generator().manual_seed(4))
    assert 0 < grouped.item() < precise.item()


def test_sampling_the_correlated_guide_has_its_covariance():
    loc = torch.zeros(1, 3, dtype=torch.float64)
    scale = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64)
    fam = GaussianFamily.equicorrelated(loc, scale, 0.9)
    x = sample_family(fam, 100000, torch.Generator().manual_seed(0))[:, 0]
    want = torch.diag(scale[0]) @ ((1 - 0.9) * torch.eye(3, dtype=torch.float64) + 0.9) @ torch.diag(scale[0])
    assert torch.allclose(torch.cov(x.T), want, rtol=0.03, atol=0.01)


def test_xor_table_has_zero_pairwise_mi_but_positive_pc():
    p = xor_table()
    for a, b in ([0], [1]), ([0], [2]), ([1], [2]):
        assert discrete_mutual_information(p, a, b).abs().item() < 1e-12
    pc = discrete_partial_correlation(p, [[0, 1], [2]])
    assert pc.item() == pytest.approx(math.log(2), abs=1e-12)  # (z1, z2) ⊥̸ z3
    assert discrete_total_correlation(p).item() == pytest.approx(math.log(2), abs=1e-12)
    indep = torch.full((2, 2, 2), 1 / 8, dtype=torch.float64)
    assert discrete_partial_correlation(indep, [[0, 1], [2]]).abs().item() < 1e-12


def test_xor_through_the_minibatch_estimator():
    # the four XOR points as narrow Gaussians; IS with the whole dataset as the batch is exact
    pts = torch.tensor([[0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=torch.float64)
    loc = pts.repeat(64, 1)
    scale = torch.full_like(loc, 0.01)
    z = loc + scale * torch.randn(loc.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    N = loc.shape[0]
    pc = partial_correlation(z, loc, scale, N, [[0, 1], [2]], "is")
    assert pc.item() == pytest.approx(math.log(2), abs=1e-6)
    for pair in ([0, 2], [1, 2], [0, 1]):
        est = log_aggregate_posterior(z[:, pair], loc[:, pair], scale[:, pair], N, "is", dims=True)
        assert (est.joint - est.dims.sum(-1)).mean().abs().item() < 1e-6


@pytest.mark.parametrize("rho", [None, 0.4])
def test_tc_parts_equal_the_single_measures_from_the_same_draws(rho):
    from pyrodisent.estimators.families import make_family
    from pyrodisent.estimators.montecarlo import (
        family_monte_carlo_tc_parts,
        family_monte_carlo_total_correlation,
    )

    g = torch.Generator().manual_seed(0)
    loc = torch.randn(40, 4, generator=g, dtype=torch.float64)
    scale = 0.3 + torch.rand(40, 4, generator=g, dtype=torch.float64)
    family = make_family(loc, scale, rho=rho)
    tc, tc_joint = family_monte_carlo_tc_parts(family, 3, [2, 2], torch.Generator().manual_seed(1))
    assert float(tc) == pytest.approx(float(family_monte_carlo_total_correlation(
        family, 3, None, torch.Generator().manual_seed(1))), abs=1e-10)
    assert float(tc_joint) == pytest.approx(float(family_monte_carlo_total_correlation(
        family, 3, [2, 2], torch.Generator().manual_seed(1))), abs=1e-10)
    assert family_monte_carlo_tc_parts(family, 3, None, torch.Generator().manual_seed(1))[1] is None
