"""UDR (Duan et al. 2020, §3) against closed forms and the cases the paper's argument rests on."""

from __future__ import annotations

import inspect
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
import yaml

from pyrodisent.data import FactorDataset
from pyrodisent.metrics.udr import (
    latent_kl,
    pairwise_udr,
    similarity_matrix,
    spearman_correlation,
    udr,
    udr_score,
)

ROOT = Path(__file__).resolve().parents[2]


def grid_codes(levels: int = 10, dims: int = 3) -> np.ndarray:
    """[levels**dims, dims] every combination of ``levels`` centred values: on a full grid the
    sample rank correlation between two dims is exactly 0, so R of a model against a
    permutation of itself is exactly a permutation matrix."""
    grid = np.stack(np.meshgrid(*[np.arange(levels)] * dims, indexing="ij"), -1).reshape(-1, dims)
    return (grid - (levels - 1) / 2) / levels


def informative_scale(codes: np.ndarray) -> np.ndarray:
    return np.full_like(codes, 0.1)  # KL = ½(μ² + 0.01 − log 0.01 − 1) ≈ 1.8 nats per point


def test_latent_kl_is_the_closed_form_averaged_over_points():
    loc = np.array([[0.0, 1.0], [0.0, -1.0]])
    scale = np.array([[1.0, 1.0], [np.e, 1.0]])
    # dim 0: KL(N(0,1)‖N(0,1)) = 0 and ½(e² − 2 − 1); dim 1: ½ μ² = ½ at both points
    np.testing.assert_allclose(latent_kl(loc, scale), [0.25 * (np.e**2 - 3), 0.5])


def test_spearman_correlation_matches_scipy_with_ties_and_constant_columns():
    rs = np.random.RandomState(0)
    a = np.column_stack([rs.randint(4, size=50), rs.standard_normal(50), np.full(50, 2.0)])  # ties, constant
    b = np.column_stack([a[:, 0] + rs.randint(3, size=50), -a[:, 1] ** 3])
    reference = scipy.stats.spearmanr(np.column_stack([a[:, :2], b])).statistic[:2, 2:]
    ours = spearman_correlation(a, b)
    np.testing.assert_allclose(ours[:2], reference, atol=1e-12)
    assert np.all(np.isnan(ours[2]))  # a constant latent has no rank correlation
    assert np.all(similarity_matrix(a, b)[2] == 0)  # ... and relates to nothing in R


def test_hand_computed_two_by_two():
    R = [[0.8, 0.2], [0.1, 0.4]]
    # columns b: 0.8²/0.9 = 32/45, 0.4²/0.6 = 4/15; rows a: 0.8²/1.0 = 16/25, 0.4²/0.5 = 8/25
    expected = (Fraction(32, 45) + Fraction(4, 15) + Fraction(16, 25) + Fraction(8, 25)) / 4
    assert expected == Fraction(109, 225)
    assert pairwise_udr(R) == pytest.approx(float(expected), abs=1e-15)
    assert pairwise_udr(np.transpose(R)) == pytest.approx(float(expected), abs=1e-15)  # symmetric in i, j


def test_unequal_numbers_of_latents_use_the_papers_normalisation():
    # d_a = 2, d_b = 1: column 0.81/1.2 = 0.675; rows 0.81/0.9 = 0.9, 0.09/0.3 = 0.3
    # paper: (0.675 + 0.9 + 0.3) / (2 + 1) = 0.625; disentanglement_lib's ½(0.675/1 + 1.2/2) = 0.6375
    assert pairwise_udr([[0.9], [0.3]]) == pytest.approx(0.625, abs=1e-15)


def test_the_kl_mask_equals_dropping_the_uninformative_rows_and_columns():
    rs = np.random.RandomState(1)
    R = rs.uniform(size=(4, 3))
    keep_a, keep_b = np.array([True, False, True, True]), np.array([False, True, True])
    assert pairwise_udr(R, keep_a, keep_b) == pytest.approx(pairwise_udr(R[keep_a][:, keep_b]), abs=1e-15)
    assert np.isnan(pairwise_udr(R, np.zeros(4, bool), np.zeros(3, bool)))  # no informative latent at all
    assert pairwise_udr(R, keep_a, np.zeros(3, bool)) == 0.0  # one model's latents have no partner


def test_identical_permuted_sign_flipped_and_monotone_models_score_one():
    z = grid_codes()  # 1,000 points, 3 dims
    s = informative_scale(z)
    copies = [
        z,
        -z[:, [2, 0, 1]],  # permutation and sign flips
        np.column_stack([np.exp(z[:, 1]), -(z[:, 2] ** 3), np.tanh(z[:, 0])]),  # monotone maps
    ]
    scores = udr(copies, [s] * 3)
    np.testing.assert_allclose(scores.udr, 1.0, atol=1e-12)
    off_diagonal = scores.pairwise[~np.eye(3, dtype=bool)]
    np.testing.assert_allclose(off_diagonal, 1.0, atol=1e-12)
    assert np.all(np.isnan(np.diag(scores.pairwise)))


def test_lasso_scores_identical_uncorrelated_models_one_minus_alpha():
    # standardised uncorrelated latents: the Lasso weight of the matching latent is
    # soft-threshold(1, α) = 1 − α and the others are 0, so every ratio is (1 − α)²/(1 − α)
    z = grid_codes()
    s = informative_scale(z)
    for alpha in (0.1, 0.3):
        scores = udr([z, -z[:, [1, 2, 0]]], [s, s], correlation="lasso", lasso_alpha=alpha)
        np.testing.assert_allclose(scores.udr, 1 - alpha, atol=1e-9)


def test_independent_models_score_near_zero():
    # For independent codes √N ρ_S ≈ N(0, 1). Each ratio r²/Σ R ≤ r ≤ max R, so UDR ≤ max R, and
    # P(max of the 5 × 5 |ρ_S| > 4/√N) ≈ 25 · 2Φ(−4) ≈ 0.0016: with N = 1,000 the bound is 0.126.
    n = 1000
    rs = np.random.RandomState(0)
    a, b = rs.standard_normal((n, 5)), rs.standard_normal((n, 5))
    s = np.full((n, 5), 0.1)
    bound = 4 / np.sqrt(n)
    R = similarity_matrix(a, b)
    assert R.max() < bound
    scores = udr([a, b], [s, s])
    assert np.all(scores.udr <= R.max()) and np.all(scores.udr < bound)
    assert scores.udr[0] == pytest.approx(scores.udr[1], abs=1e-15)  # UDR_S is symmetric


def test_uninformative_latents_are_not_penalised():
    z = grid_codes()
    s = informative_scale(z)
    rs = np.random.RandomState(2)
    # two collapsed latents: mean ≈ 0, scale 1, KL ≈ ½ · 1e-6 < 0.01
    padded = np.column_stack([z, 1e-3 * rs.standard_normal((len(z), 2))])
    padded_scale = np.column_stack([s, np.ones((len(z), 2))])
    scores = udr([padded, z[:, [2, 0, 1]]], [padded_scale, s])
    np.testing.assert_allclose(scores.udr, 1.0, atol=1e-12)
    assert scores.informative[0].tolist() == [True, True, True, False, False]
    # counted as informative (threshold 0), the collapsed latents' noise correlations cost ~0.27
    kept = udr([padded, z[:, [2, 0, 1]]], [padded_scale, s], kl_threshold=0.0)
    assert np.all(kept.udr < 0.8)


def test_a_models_udr_is_the_median_over_the_other_seeds():
    z = grid_codes()
    s = informative_scale(z)
    other = np.random.RandomState(3).standard_normal(z.shape)
    scores = udr([z, z[:, [1, 0, 2]], -z, other], [s] * 4)
    # models 0-2 agree with two of their three partners (1, 1, ≈0: median 1); model 3 with none
    np.testing.assert_allclose(scores.udr[:3], 1.0, atol=1e-12)
    assert scores.udr[3] == pytest.approx(np.median(scores.pairwise[:3, 3]), abs=1e-15)
    assert scores.udr[3] < 4 / np.sqrt(len(z))


def test_bad_inputs_are_named():
    z = grid_codes()
    s = informative_scale(z)
    with pytest.raises(ValueError, match="correlation must be one of"):
        udr([z, z], [s, s], correlation="pearson")
    with pytest.raises(ValueError, match=">= 2 models"):
        udr([z], [s])
    with pytest.raises(ValueError, match="same points"):
        udr([z, z[:10]], [s, s[:10]])
    with pytest.raises(ValueError, match="similarity must be a finite non-negative"):
        pairwise_udr([[-0.1]])


class _PermutedEncoder(torch.nn.Module):
    """A 'model' whose posterior mean is a signed permutation of the factors."""

    def __init__(self, order, signs):
        super().__init__()
        self.order, self.signs = list(order), torch.tensor(signs, dtype=torch.float32)

    def encode(self, x):
        loc = x[:, self.order] * self.signs
        return loc, torch.full_like(loc, 0.1)


def test_udr_score_encodes_the_same_points_with_every_model():
    sizes = [5, 6, 7]
    grid = np.stack(np.meshgrid(*[np.arange(k) for k in sizes], indexing="ij"), -1).reshape(-1, 3)
    data = FactorDataset(torch.tensor(grid, dtype=torch.float32), grid, ["a", "b", "c"], sizes)
    models = [_PermutedEncoder([0, 1, 2], [1, 1, 1]), _PermutedEncoder([2, 0, 1], [-1, 1, -1])]
    first = udr_score(models, data, random_state=0)
    assert np.array_equal(first.udr, udr_score(models, data, random_state=0).udr)  # same seed, same number
    # the same points for both models: R is a permutation matrix plus the sample correlations
    # of independent uniform factors on 1,000 random points (each below 4/√1000)
    assert np.all(first.udr > 0.8) and np.all(first.udr <= 1.0)
    with pytest.raises(ValueError, match="random_state"):
        udr_score(models, data, random_state=None)


def test_config_defaults_file_matches_the_code():
    reference = yaml.safe_load((ROOT / "configs" / "metrics" / "reference.yaml").read_text())
    params = inspect.signature(udr_score).parameters
    for key, value in reference["group_metrics"]["udr"].items():
        assert params[key].default == value, key
