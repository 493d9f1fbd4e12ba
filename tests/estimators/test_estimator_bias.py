"""Minibatch TC estimators on a Gaussian mixture whose TC is known (exact mixture densities, MC).

q(z) = (1/N) Σ_n N(μ_n, diag σ_n²) is the aggregate posterior of a dataset of N points. Its TC
is computed with the exact mixture densities on many samples; batches of M points drawn
without replacement give the minibatch estimates. IS and MSS are unbiased for q(z) itself, so
their TC estimates approach the truth as M → N (the log of an unbiased estimate is biased at
small M); MWS is about log N low on every log q̂ term, so its TC keeps a (D − 1)·log N offset.
"""

from __future__ import annotations

import math

import pytest
import torch

from pyrodisent.estimators import GaussianFamily, aggregate_log_densities, total_correlation

N, D = 256, 3


@pytest.fixture(scope="module")
def mixture():
    g = torch.Generator().manual_seed(0)
    corr = torch.tensor([[1.0, 0.8, 0.3], [0.8, 1.0, 0.5], [0.3, 0.5, 1.0]], dtype=torch.float64)
    mu = torch.randn(N, D, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(corr).T
    sigma = 0.15 + 0.25 * torch.rand(N, D, generator=g, dtype=torch.float64)
    # exact mixture densities at S samples of the mixture: TC = E_q[log q(z) − Σ_d log q(z_d)]
    S = 40000
    comp = torch.randint(0, N, (S,), generator=g)
    z = mu[comp] + sigma[comp] * torch.randn(S, D, generator=g, dtype=torch.float64)
    log_w = torch.full((1, N), -math.log(N), dtype=torch.float64)
    est = aggregate_log_densities(z, GaussianFamily.diagonal(mu, sigma), log_w)
    r = est.joint - est.dims.sum(-1)
    return mu, sigma, r.mean().item(), r.std().item() / math.sqrt(S)


def batch_estimates(mu, sigma, M, method, repeats, seed=1):
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(repeats):
        index = torch.randperm(N, generator=g)[:M]
        z = mu[index] + sigma[index] * torch.randn(M, D, generator=g, dtype=torch.float64)
        values.append(total_correlation(z, mu[index], sigma[index], N, method=method))
    return torch.stack(values)


def test_truth_is_a_clearly_positive_tc(mixture):
    _, _, truth, se = mixture
    assert truth > 0.3 and se < 0.01


@pytest.mark.parametrize("method", ["is", "mss"])
def test_is_and_mss_approach_the_truth_as_the_batch_grows(mixture, method):
    mu, sigma, truth, truth_se = mixture
    bias, se = {}, {}
    for M, repeats in [(32, 192), (128, 48), (256, 24)]:
        v = batch_estimates(mu, sigma, M, method, repeats)
        bias[M], se[M] = v.mean().item() - truth, v.std().item() / math.sqrt(repeats)
    assert bias[32] < -3 * se[32]  # clearly biased at small M
    assert abs(bias[128]) < abs(bias[32]) / 2
    assert abs(bias[256]) < 4 * math.hypot(se[256], truth_se) + 0.01  # M = N: the exact mixture


def test_mws_keeps_a_bias_that_does_not_vanish(mixture):
    mu, sigma, truth, _ = mixture
    for M, repeats in [(32, 96), (256, 12)]:
        bias = batch_estimates(mu, sigma, M, "mws", repeats).mean().item() - truth
        assert bias > (D - 1) * math.log(N) - 1.0
    # at M = N the IS weights are exactly 1/N and MWS's are 1/N²: each log q̂ is log N lower
    g = torch.Generator().manual_seed(5)
    z = mu + sigma * torch.randn(N, D, generator=g, dtype=torch.float64)
    gap = total_correlation(z, mu, sigma, N, method="mws") - total_correlation(z, mu, sigma, N, method="is")
    assert gap.item() == pytest.approx((D - 1) * math.log(N), abs=1e-9)
