"""The minibatch weightings against docs/estimators.md, RTC-VAE (Cheng et al. 2020), App. 1.2 and
PDisVAE (an anonymous ICLR submission), eq. 4, 13-16."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
import torch

from pyrodisent.estimators import (
    inverse_weight_dataset,
    inverse_weight_variance,
    log_importance_weights,
)


def weights(M, N, method):
    return log_importance_weights(M, N, method, dtype=torch.float64).exp()


def test_is_weights_are_pdisvae_eq4():
    M, N = 5, 40
    W = weights(M, N, "is")
    for i in range(M):
        for j in range(M):
            expected = 1 / N if i == j else (N - 1) / (N * (M - 1))
            assert W[i, j].item() == pytest.approx(expected, rel=1e-14)
    assert torch.allclose(W.sum(1), torch.ones(M, dtype=torch.float64))


def test_mss_weights_are_rtcvae_paper_mss1_on_the_diagonal():
    M, N = 6, 50
    m = M - 1
    W = weights(M, N, "mss")
    for i in range(M):
        for j in range(M):
            if j == i:
                expected = 1 / N
            elif j == (i + 1) % M:
                expected = (N - m) / (N * m)
            else:
                expected = 1 / m
            assert W[i, j].item() == pytest.approx(expected, rel=1e-14)
    assert torch.allclose(W.sum(1), torch.ones(M, dtype=torch.float64))


def test_mss_chen_code_fills_columns_zero_and_one():
    M, N = 6, 50
    m = M - 1
    W = weights(M, N, "mss_chen_code")
    strat = (N - m) / (N * m)
    assert torch.allclose(W[:, 0], torch.tensor([strat if i == m - 1 else 1 / N for i in range(M)], dtype=torch.float64))
    assert torch.allclose(W[:, 1], torch.full((M,), strat, dtype=torch.float64))
    assert torch.allclose(W[:, 2:], torch.full((M, M - 2), 1 / m, dtype=torch.float64))


def test_mws_weight_keeps_the_constant_log_nm():
    W = log_importance_weights(7, 1000, "mws", dtype=torch.float64)
    assert torch.allclose(W, torch.full((7, 7), -math.log(7000), dtype=torch.float64))


@pytest.mark.parametrize("M,N", [(2, 2), (3, 10), (8, 100), (64, 1000), (256, 737280)])
@pytest.mark.parametrize("method", ["is", "mss"])
def test_inverse_weight_datasets_have_the_variances_of_pdisvae_eq14_15(M, N, method):
    # The dataset N·W[i, :] of every row of the weight matrix is PDisVAE's IS0 / MSS0.
    W = weights(M, N, method)
    exact = sorted(inverse_weight_dataset(M, N, method))
    for i in range(M):
        row = sorted((N * W[i]).tolist())
        assert row == pytest.approx([float(x) for x in exact], rel=1e-12)
    mean = sum(exact, Fraction(0)) / M
    assert mean == Fraction(N, M)  # eq. 13
    variance = sum(((x - mean) ** 2 for x in exact), Fraction(0)) / M
    assert variance == inverse_weight_variance(M, N, method)  # eq. 14 / 15, exactly
    rows = N * W
    assert rows.var(dim=1, unbiased=False).tolist() == pytest.approx([float(variance)] * M, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("M,N", [(3, 10), (5, 17), (32, 100), (512, 737280)])
def test_is_variance_is_below_mss_for_batches_above_two(M, N):
    difference = inverse_weight_variance(M, N, "is") - inverse_weight_variance(M, N, "mss")
    assert difference == Fraction(2 - M, M * (M - 1))  # eq. 16
    assert difference < 0
    assert inverse_weight_variance(2, N, "is") == inverse_weight_variance(2, N, "mss")


def _density_estimates(method, N=10, M=3, seed=0):
    """Every value q̂(z) can take for z ~ q(z|n*) on a toy 1-D dataset (PDisVAE, App. A.3.3:
    10 points, batches of 3), with its probability: the batch holds n* and a uniformly random
    ordered draw of M − 1 others (the last one is the stratum element of MSS)."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(N, generator=g, dtype=torch.float64) * 2
    sigma = 0.5
    z = mu[0] + 0.3
    dens = torch.exp(-0.5 * ((z - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    W = log_importance_weights(M, N, method, dtype=torch.float64).exp()
    values = []
    for others in itertools.permutations(range(1, N), M - 1):
        # row i = 0 is n*; with mss, column (0 + 1) % M = 1 holds the stratum element others[0]
        order = [0, *others]
        values.append(sum(W[0, j] * dens[n] for j, n in enumerate(order)).item())
    return torch.tensor(values, dtype=torch.float64), dens.mean().item()


def test_is_and_mss_density_estimates_are_unbiased_and_is_varies_less():
    est_is, truth = _density_estimates("is")
    est_mss, truth_mss = _density_estimates("mss")
    est_mws, _ = _density_estimates("mws")
    assert est_is.mean().item() == pytest.approx(truth, rel=1e-12)
    assert est_mss.mean().item() == pytest.approx(truth_mss, rel=1e-12)
    assert abs(est_mws.mean().item() - truth) > 0.1 * truth  # MWS is biased
    assert est_is.var().item() < est_mss.var().item()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown aggregate-posterior estimator 'foo'"):
        log_importance_weights(4, 10, "foo")
    with pytest.raises(ValueError, match="at least 2"):
        log_importance_weights(1, 10, "is")
    with pytest.raises(ValueError, match="dataset_size"):
        log_importance_weights(8, 4, "mss")
