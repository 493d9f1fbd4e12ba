"""Each metric on a fixed small input equals the value computed by hand from its published definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from pyrodisent import metrics
from pyrodisent.metrics.aligned_r2 import _affine_r2, _groupings, count_groupings
from pyrodisent.metrics.factor_vae import factor_vae_votes_accuracy
from pyrodisent.metrics.modularity import modularity_from_mi
from pyrodisent.metrics.omniscient import latent_entropies
from pyrodisent.metrics.sap import sap_matrix
from pyrodisent.metrics.utils import discrete_mutual_information, histogram_discretize


def test_histogram_discretization_is_the_reference_digitize_of_histogram_edges():
    rs = np.random.RandomState(0)
    codes = np.concatenate([rs.randn(500, 2), rs.rand(500, 1) ** 3, np.full((500, 1), 2.0)], axis=1)
    got = histogram_discretize(codes, 20)
    for d in range(codes.shape[1]):
        expected = np.digitize(codes[:, d], np.histogram(codes[:, d], 20)[1][:-1])
        np.testing.assert_array_equal(got[:, d], expected)
    assert got.min() >= 1 and got.max() <= 20


def test_plugin_mutual_information_matches_sklearn_mutual_info_score():
    rs = np.random.RandomState(1)
    a = rs.randint(0, 7, size=(400, 3))
    b = (a[:, :2] + rs.randint(0, 2, size=(400, 2))) % 5
    m = discrete_mutual_information(a, b)
    for i in range(3):
        for j in range(2):
            assert m[i, j] == pytest.approx(mutual_info_score(b[:, j], a[:, i]), abs=1e-12)


def test_mig_equals_hand_computed_gap():
    # v = 000111; z0 = 001111 (two bins); z1 = 100001.
    v = np.array([0, 0, 0, 1, 1, 1])
    z = np.array([[0, 1], [0, 0], [1, 0], [1, 0], [1, 0], [1, 1]], dtype=float)
    # I(z0; v): cells (0,0)=2, (1,0)=1, (1,1)=3 over 6; p(z0) = (1/3, 2/3), p(v) = (1/2, 1/2)
    i0 = (
        2 / 6 * math.log((2 / 6) / (1 / 3 * 1 / 2))
        + 1 / 6 * math.log((1 / 6) / (2 / 3 * 1 / 2))
        + 3 / 6 * math.log((3 / 6) / (2 / 3 * 1 / 2))
    )
    # I(z1; v): cells (1,0)=1, (0,0)=2, (0,1)=2, (1,1)=1; p(z1) = (2/3, 1/3)
    i1 = 2 * (1 / 6 * math.log((1 / 6) / (1 / 3 * 1 / 2))) + 2 * (
        2 / 6 * math.log((2 / 6) / (2 / 3 * 1 / 2))
    )
    expected = (i0 - i1) / math.log(2)
    assert metrics.mig(z, v[:, None])["mig"] == pytest.approx(expected, abs=1e-12)


def test_sap_continuous_equals_hand_computed_squared_correlations():
    z = np.array([[0, 1], [1, 0], [2, 0], [3, 1]], dtype=float)
    v = np.array([[0, 0], [1, 0], [2, 1], [3, 1]])
    # S = [[corr²(z0,v0)=1, corr²(z0,v1)=4/5], [corr²(z1,v0)=0, corr²(z1,v1)=0]] → gaps (1, 0.8)
    got = metrics.sap(z, v, continuous_factors=True)
    assert got["sap/factor_0"] == pytest.approx(1.0)
    assert got["sap/factor_1"] == pytest.approx(0.8)
    assert got["sap"] == pytest.approx(0.9)


def test_sap_discrete_uses_test_accuracy_of_one_dimensional_classifiers():
    rs = np.random.RandomState(2)
    v = rs.randint(0, 2, size=(400, 1))
    z = np.concatenate([10.0 * v + 0.1 * rs.randn(400, 1), rs.randn(400, 1)], axis=1)
    v_test = rs.randint(0, 2, size=(200, 1))
    z_test = np.concatenate([10.0 * v_test + 0.1 * rs.randn(200, 1), rs.randn(200, 1)], axis=1)
    matrix = sap_matrix(z, v, z_test, v_test)
    assert matrix[0, 0] == 1.0
    assert abs(matrix[1, 0] - 0.5) < 0.12  # chance for a balanced binary factor
    assert metrics.sap(z, v, z_test, v_test)["sap"] == pytest.approx(1.0 - matrix[1, 0])


def test_dci_disentanglement_and_completeness_equal_hand_computed_entropies():
    importance = np.array([[3.0, 0.0], [1.0, 2.0]])
    def h2(p):
        return -sum(x * math.log2(x) for x in p if x > 0)
    # rows (codes): P = (1, 0) and (1/3, 2/3), weights (3/6, 3/6)
    d = 0.5 * (1 - h2([1.0, 0.0])) + 0.5 * (1 - h2([1 / 3, 2 / 3]))
    # columns (factors): (3/4, 1/4) and (0, 1), weights (4/6, 2/6)
    c = 4 / 6 * (1 - h2([3 / 4, 1 / 4])) + 2 / 6 * (1 - h2([0.0, 1.0]))
    got = metrics.dci_from_importance(importance)
    assert got["dci/disentanglement"] == pytest.approx(d, abs=1e-8)
    assert got["dci/completeness"] == pytest.approx(c, abs=1e-8)


def test_dci_dead_code_dimension_has_no_weight():
    got = metrics.dci_from_importance(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    assert got["dci/disentanglement"] == pytest.approx(1.0, abs=1e-8)
    # completeness is in base D = 3: each factor has all its importance on one dim
    assert got["dci/completeness"] == pytest.approx(1.0, abs=1e-8)


def test_factor_vae_majority_vote_accuracy_by_hand():
    train = np.array([[5, 1, 0], [2, 0, 7]])  # dims 0 → factor 0, 1 → factor 0, 2 → factor 1
    evaluation = np.array([[1, 2, 3], [4, 0, 5]])
    train_acc, eval_acc = factor_vae_votes_accuracy(train, evaluation)
    assert train_acc == pytest.approx((5 + 1 + 7) / 15)
    assert eval_acc == pytest.approx((1 + 2 + 5) / 15)


def test_modularity_by_hand():
    # row 0: one factor only → 1; row 1: two equal factors → 1 − 1 = 0; row 2: (2, 1) → 1 − 1/4
    mi = np.array([[1.0, 0.0], [1.0, 1.0], [2.0, 1.0], [0.0, 0.0]])
    assert modularity_from_mi(mi) == pytest.approx((1.0 + 0.0 + 0.75 + 0.0) / 4)


def test_gaussian_tc_equals_prop1_of_the_population_covariance():
    rs = np.random.RandomState(3)
    rho = 0.6
    cov = np.array([[1.0, rho], [rho, 1.0]])
    loc = rs.multivariate_normal([0, 0], cov, size=20000)
    scale = np.ones_like(loc)
    got = metrics.tc_mean_sample(loc, scale, random_state=4)
    assert got["tc_mean"] == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.02)
    # z = μ + ε: Σ_z = Σ + I, TC = ½ (log 4 − log(4 − ρ²))
    assert got["tc_sample"] == pytest.approx(0.5 * (math.log(4) - math.log(4 - rho**2)), abs=0.02)


def test_active_units_count_dims_with_mean_variance_above_threshold():
    rs = np.random.RandomState(5)
    codes = np.stack(
        [rs.randn(1000), 0.05 * rs.randn(1000), 0.2 * rs.randn(1000)], axis=1
    )  # var 1, .0025, .04
    assert metrics.active_units(codes) == {
        "active_units": 2.0,
        "active_units/fraction": pytest.approx(2 / 3),
    }


def test_latent_mi_matrix_by_hand():
    z = np.array([[0, 0, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1]], dtype=float)
    m = metrics.latent_mi_matrix(z)
    assert m[0, 1] == pytest.approx(math.log(2))  # copies share one bit
    assert m[0, 2] == pytest.approx(0.0, abs=1e-12)  # independent bits
    got = metrics.latent_mi(z)
    assert got["latent_mi/mean"] == pytest.approx(2 * math.log(2) / 6)
    assert got["latent_mi/max"] == pytest.approx(math.log(2))


def test_affine_r2_by_hand():
    predictor = np.array([[0.0], [0.0], [1.0], [1.0]])
    target = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert _affine_r2(predictor, target) == pytest.approx(0.8)  # corr² = 2² / (1 · 5)


def test_grouping_search_enumerates_each_partition_once():
    found = list(_groupings(list(range(6)), [2, 2, 2]))
    assert len(found) == count_groupings([2, 2, 2]) == 15  # PDisVAE: K!/(G!(H!)^G)
    assert len({tuple(tuple(g) for g in sorted(p)) for p in found}) == 15
    mixed = list(_groupings(list(range(5)), [2, 3]))
    assert len(mixed) == count_groupings([2, 3]) == 10


def test_partial_correlation_of_gaussian_posteriors_matches_closed_form():
    from pyrodisent.estimators.gaussian import gaussian_total_correlation

    rs = np.random.RandomState(6)
    cov = np.array(
        [[1.0, 0.0, 0.7, 0.0], [0.0, 1.0, 0.0, 0.0], [0.7, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    )
    loc = rs.multivariate_normal(np.zeros(4), cov, size=1500)
    scale = np.full_like(loc, 0.6)
    # q(z) ≈ N(0, Σ + 0.36 I): PC between groups {0,1} and {2,3} = ½ log(1.36² / (1.36² − 0.49))
    expected = float(gaussian_total_correlation(cov + 0.36 * np.eye(4), [2, 2]))
    got = metrics.heldout_partial_correlation(loc, scale, [2, 2], random_state=7)[
        "partial_correlation"
    ]
    assert got == pytest.approx(expected, abs=0.06)
    independent = metrics.heldout_partial_correlation(
        loc[:, [0, 2, 1, 3]], scale, [2, 2], 7
    )  # {0,2} ⊥ {1,3}
    assert abs(independent["partial_correlation"]) < 0.05


def test_omniscient_latent_is_a_dim_whose_entropy_is_below_epsilon():
    rs = np.random.RandomState(8)
    loc = np.stack([rs.randn(1000), np.full(1000, 0.3)], axis=1)
    scale = np.stack([np.full(1000, 0.5), np.full(1000, 1e-3)], axis=1)
    entropies = latent_entropies(loc, scale, 9)
    # dim 0: q(z_0) ≈ N(0, 1.25), H = ½ log(2πe·1.25); dim 1: N(0.3, 1e-6), H = ½ log(2πe·1e-6) < 0
    assert entropies[0] == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 1.25), abs=0.05)
    assert entropies[1] == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 1e-6), abs=0.05)
    got = metrics.omniscient_latents(loc, scale, 9)
    assert got["omniscient/count"] == 1.0
