"""Conformance with the reference implementation: the properties disentanglement_lib's own
tests assert (Locatello et al. 2019; its ``mig_test``, ``dci_test``, ``modularity_explicitness_test``
and ``sap_score_test`` cases), on its *identity* data set — ten factors of ten classes, the
observation is the factor vector — and the behaviour we promise whatever scikit-learn does.
"""

import numpy as np
import pytest
import torch

from pyrodisent import metrics
from pyrodisent.data import FactorDataset
from pyrodisent.metrics.dci import completeness, disentanglement
from pyrodisent.metrics.utils import discrete_mutual_information

K, CLASSES = 10, 10


@pytest.fixture(scope="module")
def identity_data():
    """disentanglement_lib's IdentityObservationsData: observations = factors (10 × 10 classes)."""

    class Identity(FactorDataset):
        def sample_factors(self, n, random_state):
            return random_state.randint(CLASSES, size=(n, K))

        def sample_observations_from_factors(self, factors, random_state):
            return torch.as_tensor(np.asarray(factors, dtype=np.float32))

    grid = np.zeros((2, K), dtype=np.int64)  # only the metadata is used: the sampler is overridden
    grid[1] = CLASSES - 1
    return Identity(torch.zeros(2, K), grid, [f"f{k}" for k in range(K)], [CLASSES] * K, name="identity")


def _codes(data, represent, n, seed=0):
    rs = np.random.RandomState(seed)
    factors = data.sample_factors(n, rs)
    return represent(factors.astype(np.float64)), factors


def test_mig_identity_zero_and_duplicated(identity_data):
    codes, f = _codes(identity_data, lambda x: x, 3000)
    assert 0.9 <= metrics.mig(codes, f)["mig"] <= 1.0
    zeros, f = _codes(identity_data, np.zeros_like, 3000)
    assert 0.0 <= metrics.mig(zeros, f)["mig"] <= 0.2
    dup, f = _codes(identity_data, lambda x: np.hstack([x, x]), 3000)
    assert 0.0 <= metrics.mig(dup, f)["mig"] <= 0.1


def test_dci_importance_matrix_cases():
    diagonal = np.diag(5.0 * np.ones(5))
    assert disentanglement(diagonal) == pytest.approx(1.0) and completeness(diagonal) == pytest.approx(1.0)
    empty_codes = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    assert disentanglement(empty_codes) == pytest.approx(1.0) and completeness(empty_codes) == pytest.approx(1.0)
    zero = np.zeros((10, 10))
    assert disentanglement(zero) == pytest.approx(0.0) and completeness(zero) == pytest.approx(0.0, abs=1e-7)
    redundant = np.vstack([diagonal, diagonal])  # each factor in two codes
    assert disentanglement(redundant) == pytest.approx(1.0)
    assert completeness(redundant) == pytest.approx(1 - np.log(2) / np.log(10))
    assert disentanglement(diagonal[:2]) == pytest.approx(1.0) and completeness(diagonal[:2]) == pytest.approx(1.0)
    one_code_two_factors = np.hstack([diagonal, diagonal])
    assert disentanglement(one_code_two_factors) == pytest.approx(1 - np.log(2) / np.log(10))
    assert completeness(one_code_two_factors) == pytest.approx(1.0)


def test_dci_identity_permuted_and_duplicated(identity_data):
    def score(represent, seed=0):
        codes, f = _codes(identity_data, represent, 1000, seed)
        test, ft = _codes(identity_data, represent, 1000, seed + 1)
        return metrics.dci(codes, f, test, ft, random_state=0)

    good = score(lambda x: x)
    assert 0.9 <= good["dci/disentanglement"] <= 1.0 and 0.9 <= good["dci/completeness"] <= 1.0
    rs = np.random.RandomState(0)
    permuted = score(lambda x: np.stack([rs.permutation(row) for row in x]))
    assert permuted["dci/disentanglement"] <= 0.2 and permuted["dci/completeness"] <= 0.2
    dup = score(lambda x: np.hstack([x, x]))
    assert 0.9 <= dup["dci/disentanglement"] <= 1.0
    target = 1 - np.log(2) / np.log(10)
    assert target - 0.1 <= dup["dci/completeness"] <= target + 0.1


def test_modularity_and_sap_identity(identity_data):
    codes, f = _codes(identity_data, lambda x: x, 3000)
    test, ft = _codes(identity_data, lambda x: x, 3000, 1)
    assert 0.9 <= metrics.modularity_explicitness(codes, f, test, ft)["modularity"] <= 1.0
    # SAP with continuous factors (the reference test's setting): R² of each code for each factor
    assert 0.9 <= metrics.sap(codes, f, test, ft, continuous_factors=True)["sap"] <= 1.0
    zeros, fz = _codes(identity_data, np.zeros_like, 3000)
    zeros_t, fzt = _codes(identity_data, np.zeros_like, 3000, 1)
    assert 0.0 <= metrics.sap(zeros, fz, zeros_t, fzt, continuous_factors=True)["sap"] <= 0.2
    dup, fd = _codes(identity_data, lambda x: np.hstack([x, x]), 3000)
    dup_t, fdt = _codes(identity_data, lambda x: np.hstack([x, x]), 3000, 1)
    assert 0.0 <= metrics.sap(dup, fd, dup_t, fdt, continuous_factors=True)["sap"] <= 0.2


def test_plug_in_mutual_information_is_ours_not_the_installed_scikit_learns():
    # disentanglement_lib calls sklearn.metrics.mutual_info_score, and its users report MIG and
    # modularity moving between scikit-learn versions (disentanglement_lib issue #33). We compute
    # the plug-in estimate ourselves, Σ p(a,b) log(p(a,b) / p(a)p(b)) in nats, so the value of a
    # fixed table never depends on the installed version: pinned here by hand.
    a = np.array([0, 0, 1, 1, 1, 2])
    b = np.array([0, 0, 1, 1, 0, 1])
    # joint counts: (0,0)=2, (1,1)=2, (1,0)=1, (2,1)=1 over 6; p(a) = 1/3, 1/2, 1/6; p(b) = 1/2, 1/2
    expected = (2 / 6) * np.log((2 / 6) / (1 / 3 * 1 / 2)) + (2 / 6) * np.log((2 / 6) / (1 / 2 * 1 / 2)) \
        + (1 / 6) * np.log((1 / 6) / (1 / 2 * 1 / 2)) + (1 / 6) * np.log((1 / 6) / (1 / 6 * 1 / 2))
    assert discrete_mutual_information(a[:, None], b[:, None])[0, 0] == pytest.approx(expected, abs=1e-15)
    assert expected == pytest.approx(0.374890096412539, abs=1e-14)


# ------------------------------------------------------------------ IRS (Suter et al. 2019)
def test_irs_closed_forms():
    g = np.tile(np.stack(np.meshgrid(np.arange(10), np.arange(10), indexing="ij"), -1).reshape(100, 2), (50, 1))
    # the identity code: fixing g_i fixes z_i exactly
    assert metrics.irs(g.astype(float), g)["irs"] == pytest.approx(1.0)
    # z = g_0 + g_1 on the full grid: fixing g_0 leaves |g_1 − 4.5|, whose 99 % quantile is 4.5, against a
    # maximal deviation of |z − 9| = 9: IRS = 1 − 4.5 / 9 = 0.5 (for either factor)
    mixed = (g[:, :1] + g[:, 1:]).astype(float)
    assert metrics.irs(mixed, g)["irs"] == pytest.approx(0.5, abs=1e-9)
    # a constant dim is dropped; the weights are the dims' maximal deviations
    with_dead = np.hstack([g[:, :1].astype(float), np.zeros((len(g), 1)), mixed])
    out = metrics.irs(with_dead, g)
    assert out["irs/num_active_dims"] == 2 and "irs/dim_1" not in out
    assert out["irs"] == pytest.approx((1.0 * 4.5 + 0.5 * 9) / (4.5 + 9), abs=1e-9)
    assert metrics.irs(np.zeros((100, 3)), g[:100])["irs"] == 0.0


def test_irs_identity_data_and_registry(identity_data):
    codes, f = _codes(identity_data, lambda x: x, 3000)
    assert metrics.irs(codes, f)["irs"] > 0.99
    assert "irs" in metrics.BUILTIN_METRICS


# -------------------------------------------------- downstream accuracy (Locatello et al. 2019)
def test_downstream_accuracy_perfect_and_uninformative(identity_data):
    codes, f = _codes(identity_data, lambda x: x, 1000)
    test, ft = _codes(identity_data, lambda x: x, 500, 1)
    for predictor in ("logistic_regression", "gradient_boosting"):
        good = metrics.downstream_accuracy(codes[:, :3], f[:, :3], test[:, :3], ft[:, :3], predictor)
        assert good["mean_test_accuracy"] > 0.95, predictor
    rs = np.random.RandomState(0)
    noise = metrics.downstream_accuracy(rs.randn(1000, 3), f[:, :3], rs.randn(500, 3), ft[:, :3])
    assert abs(noise["mean_test_accuracy"] - 1 / CLASSES) < 0.06  # chance
    with pytest.raises(ValueError, match="logistic_regression, gradient_boosting"):
        metrics.downstream_accuracy(codes, f, test, ft, "svm")


def test_downstream_score_keys_per_training_size(identity_data):
    scores = metrics.downstream_score(lambda x: x[:, :2], identity_data, 0, num_train=[10, 100], num_test=200)
    assert {"downstream/10/mean_test_accuracy", "downstream/100/min_test_accuracy",
            "downstream/100/test_accuracy_factor_9"} <= set(scores)
    # ten labelled points can't beat a hundred on the two factors the code holds
    assert scores["downstream/100/test_accuracy_factor_0"] >= scores["downstream/10/test_accuracy_factor_0"]
