"""Generated data sets: the structure the papers specify, checked by closed forms and counts."""

import math

import numpy as np
import pytest
import torch

from pyrodisent.data import get_dataset
from pyrodisent.data.synthetic import correlation_matrix, gaussian_total_correlation


def plug_in_mi(a, b):
    """Discrete plug-in mutual information (nats) of two integer arrays."""
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) @ joint.sum(0, keepdims=True)
    mask = joint > 0
    return float((joint[mask] * np.log(joint[mask] / outer[mask])).sum())


def gaussian_partial_correlation(latents, groups):
    """½(Σ_g log|Σ_g| − log|Σ|): PC of the Gaussian fitted to the latents (PDisVAE, eq. 3; RTC-VAE,
    Cheng et al. 2020, eq. 5)."""
    cov = np.cov(latents.T)
    return 0.5 * (sum(np.linalg.slogdet(cov[np.ix_(g, g)])[1] for g in groups) - np.linalg.slogdet(cov)[1])


# ---------------------------------------------------------------- pdSprites
def test_pdsprites_counts_sizes_and_empty_triangles():
    data = get_dataset("pdsprites")
    assert len(data) == 805 and data.images.shape == (805, 1, 32, 32)
    assert data.factor_names == ["x", "y", "size"] and data.factor_sizes == [17, 17, 5]
    sizes, counts = np.unique(data.factors[:, 2], return_counts=True)
    np.testing.assert_array_equal(sizes, range(5))
    np.testing.assert_array_equal(counts, [161] * 5)
    x, y = data.latents[:, 0], data.latents[:, 1]
    assert (np.abs(y) <= np.abs(x) + 1e-12).all()  # upper and lower triangles |y| > |x| are empty
    locations = {tuple(r) for r in data.factors[:, :2]}
    bowtie = {(i, j) for i in range(17) for j in range(17) if abs(j - 8) <= abs(i - 8)}
    assert locations == bowtie and len(bowtie) == 161
    # every image is one filled square of the factor's side, at the factor's location
    side = np.array([3, 5, 7, 9, 11])[data.factors[:, 2]]
    np.testing.assert_array_equal(data.images.flatten(1).sum(1).numpy(), side**2)
    rows = data.images[:, 0].any(2).float().argmax(1).numpy() + side // 2
    cols = data.images[:, 0].any(1).float().argmax(1).numpy() + side // 2
    np.testing.assert_array_equal(cols, 15 + data.factors[:, 0] - 8)
    np.testing.assert_array_equal(rows, 15 - (data.factors[:, 1] - 8))
    # (x, y) ⊥ size exactly, x and y dependent
    location = data.factors[:, 0] * 17 + data.factors[:, 1]
    assert abs(plug_in_mi(location, data.factors[:, 2])) < 1e-12
    assert plug_in_mi(data.factors[:, 0], data.factors[:, 1]) > 0.1


def test_pdsprites_lookup_and_sampling():
    data = get_dataset("pdsprites")
    factors = data.sample_factors(20, np.random.RandomState(0))
    obs = data.sample_observations_from_factors(factors, np.random.RandomState(1))
    np.testing.assert_array_equal(data.factors[data.factors_to_index(factors)], factors)
    assert torch.equal(obs, data.images[data.factors_to_index(factors)].float())
    with pytest.raises(ValueError, match="no observation has factors"):
        data.factors_to_index(np.array([[8, 0, 0]]))  # inside the empty lower triangle


# ---------------------------------------------------------------- group-wise and independent sets
def test_groupwise_groups_independent_and_entangled():
    data = get_dataset("groupwise", n=20000, seed=1)
    assert data.images.shape == (20000, 20) and data.images.dtype == torch.float32
    assert data.latents.shape == (20000, 6) and data.groups == [[0, 1], [2, 3], [4, 5]]
    pc = gaussian_partial_correlation(data.latents, data.groups)
    assert abs(pc) < 0.01  # independent groups: the Gaussian PC is ~0 (bias ~ pairs / 2N)
    for a, b in [(0, 2), (1, 4), (3, 5), (0, 5)]:  # between groups: discrete MI ~ its bias 81/(2N)
        assert plug_in_mi(data.factors[:, a], data.factors[:, b]) < 0.01
    for a, b in data.groups:  # within groups: clearly dependent
        assert plug_in_mi(data.factors[:, a], data.factors[:, b]) > 0.25
    tc_within = [gaussian_total_correlation(np.cov(data.latents[:, g].T)) for g in data.groups]
    assert tc_within[0] < 0.01  # the ring is uncorrelated though dependent: Gaussian TC misses it
    assert tc_within[1] > 0.08 and tc_within[2] > 0.35  # moons ρ ≈ −0.44, sine band ρ ≈ 0.76


def test_groupwise_paper_defaults_noise_and_seeds():
    data = get_dataset("groupwise")
    assert len(data) == 2000 and data.observation_shape == (20,) and data.noise_sd == 0.5
    residual = data.images.double().numpy() - data.latents @ data.mixing.T
    assert abs(residual.std() - 0.5) < 0.01 and abs(residual.mean()) < 0.01
    again, other = get_dataset("groupwise"), get_dataset("groupwise", seed=1)
    assert torch.equal(again.images, data.images)
    assert not np.allclose(other.latents, data.latents)
    np.testing.assert_array_equal(other.mixing, data.mixing)  # a test set shares the generative map
    assert np.bincount(data.factors[:, 0]).tolist() == [200] * 10  # equal-frequency classes
    with pytest.raises(ValueError, match="groupwise: n must be an integer >= 1, got 0"):
        get_dataset("groupwise", n=0)


def test_independent_latents_are_independent_and_non_gaussian():
    data = get_dataset("independent", n=20000, seed=2)
    assert data.latents.shape == (20000, 3) and data.images.shape == (20000, 20)
    np.testing.assert_allclose(data.latents.var(0), 1.0, atol=0.05)
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert plug_in_mi(data.factors[:, a], data.factors[:, b]) < 0.01
    z = (data.latents - data.latents.mean(0)) / data.latents.std(0)
    excess_kurtosis = (z**4).mean(0) - 3
    np.testing.assert_allclose(excess_kurtosis, [-1.2, 3.0, -1.34], atol=0.3)  # uniform, Laplace, two modes


# ---------------------------------------------------------------- correlated Gaussians
@pytest.mark.parametrize("dim, rho", [(10, 0.3), (10, 0.9), (100, 0.6)])
def test_paired_gaussian_matches_devae_eq9(dim, rho):
    data = get_dataset("correlated_gaussian", dim=dim, rho=rho, n=50)
    assert math.isclose(data.total_correlation, -dim / 4 * math.log(1 - rho**2), rel_tol=1e-10)


def test_devae_table1_true_tc_values():
    for dim, rho, tc in [(10, 0.3, 0.24), (10, 0.6, 1.12), (10, 0.9, 4.15), (100, 0.9, 41.52), (1000, 0.9, 415.18)]:
        sigma = correlation_matrix(dim, rho, "paired")
        assert abs(gaussian_total_correlation(sigma) - tc) < 0.01


def test_sample_tc_agrees_with_closed_form_and_noise():
    data = get_dataset("correlated_gaussian", dim=6, rho=0.5, structure="equicorrelated", noise_sd=0.1, n=200000, seed=3)
    det = 0.5**5 * (1 + 5 * 0.5)  # |Σ| = (1−ρ)^{D−1}(1+(D−1)ρ)
    assert math.isclose(data.total_correlation_mean, -0.5 * math.log(det), rel_tol=1e-10)
    assert data.total_correlation < data.total_correlation_mean  # noise σ² I weakens the dependence
    sample_tc = gaussian_total_correlation(np.cov(data.images.double().numpy().T))
    assert abs(sample_tc - data.total_correlation) < 0.01
    with pytest.raises(ValueError, match="rho=-0.5 gives no valid covariance"):
        get_dataset("correlated_gaussian", dim=6, rho=-0.5, structure="equicorrelated")
    with pytest.raises(ValueError, match="structure must be 'paired' or 'equicorrelated'"):
        get_dataset("correlated_gaussian", structure="banded")


# ---------------------------------------------------------------- digits
def test_digits_bundled():
    data = get_dataset("digits")
    assert data.images.shape == (1797, 1, 8, 8) and data.images.dtype == torch.float32
    assert float(data.images.min()) == 0.0 and float(data.images.max()) == 1.0
    assert data.factor_sizes == [10] and set(np.unique(data.factors)) == set(range(10))
