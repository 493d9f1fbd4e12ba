"""Metric behaviour on representations with known structure (small sample counts).

- perfect representation (codes = factors): MIG, SAP, DCI-D, FactorVAE, BetaVAE near 1;
- codes independent of the factors: MIG, SAP, DCI-D near 0; FactorVAE and BetaVAE at chance
  (1/K: a classifier of K factors cannot score below chance);
- one factor split over two independent dims (RTC-VAE, Cheng et al. 2020, §6.3: factor
  disintegration): MIG and SAP drop for that factor;
- grouped MIG with size-1 groups equals MIG; aligned R² recovers a known permutation.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyrodisent import metrics
from pyrodisent.data import FactorDataset

SIZES = [3, 4, 5, 6]


def grid_dataset(sizes=SIZES) -> FactorDataset:
    """Observations are the factor classes themselves (as float vectors), the full grid."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(
        -1, len(sizes)
    )
    return FactorDataset(
        torch.tensor(grid, dtype=torch.float32), grid, [f"f{k}" for k in range(len(sizes))], sizes
    )


def perfect(x):
    return x


def independent(x):
    """Codes that depend on nothing but a hash of the row's position in the call: noise."""
    gen = torch.Generator().manual_seed(int(x.sum().item() * 1000) % (2**31))
    return torch.randn(x.shape[0], 4, generator=gen)


def split_first_factor(x):
    """Factor 0 (3 values) becomes two independent dims: min(v, 1) and max(v, 1) − 1."""
    v = x[:, :1]
    return torch.cat([torch.clamp(v, max=1.0), torch.clamp(v, min=1.0) - 1.0, x[:, 1:]], dim=1)


@pytest.fixture(scope="module")
def data():
    return grid_dataset()


@pytest.fixture(scope="module")
def codes(data):
    """(perfect, independent, split) codes and factors on 3,000 random points."""
    out = {}
    for name, fn in [
        ("perfect", perfect),
        ("independent", independent),
        ("split", split_first_factor),
    ]:
        out[name] = metrics.utils.generate_codes_and_factors(fn, data, 3000, random_state=0)
    return out


def test_mig(codes):
    assert metrics.mig(*codes["perfect"])["mig"] > 0.95
    assert metrics.mig(*codes["independent"])["mig"] < 0.05
    split = metrics.mig(*codes["split"])
    assert split["mig/factor_0"] < 0.5 < metrics.mig(*codes["perfect"])["mig/factor_0"]
    assert split["mig"] < metrics.mig(*codes["perfect"])["mig"] - 0.1


def test_sap(codes):
    # SAP as the R² of Cheng et al. 2020, §6.4 (continuous_factors=True): optimal value 1
    assert metrics.sap(*codes["perfect"], continuous_factors=True)["sap"] > 0.95
    assert metrics.sap(*codes["independent"], continuous_factors=True)["sap"] < 0.05
    split = metrics.sap(*codes["split"], continuous_factors=True)
    assert split["sap/factor_0"] < 0.5
    assert split["sap"] < metrics.sap(*codes["perfect"], continuous_factors=True)["sap"] - 0.1
    # the reference's discrete SAP (1-D LinearSVC accuracy, C = 0.01): drops too
    perfect_discrete = metrics.sap(*codes["perfect"], test_size=0.3, random_state=0)
    split_discrete = metrics.sap(*codes["split"], test_size=0.3, random_state=0)
    assert split_discrete["sap/factor_0"] < perfect_discrete["sap/factor_0"] - 0.3


def test_dci(codes):
    z, f = codes["perfect"]
    perfect_scores = metrics.dci(z[:300], f[:300], z[300:450], f[300:450], random_state=0)
    assert perfect_scores["dci/disentanglement"] > 0.9
    assert perfect_scores["dci/informativeness_test"] > 0.95
    z, f = codes["independent"]
    noise_scores = metrics.dci(z[:300], f[:300], z[300:450], f[300:450], random_state=0)
    assert noise_scores["dci/disentanglement"] < 0.15


def test_dci_is_reproducible_and_thread_count_does_not_change_it(codes):
    z, f = codes["split"]
    one = metrics.dci(z[:200], f[:200], test_size=0.25, random_state=3, n_jobs=1)
    two = metrics.dci(z[:200], f[:200], test_size=0.25, random_state=3, n_jobs=2)
    assert one == two


def test_grouped_mig_with_size_one_groups_equals_mig(codes):
    z, f = codes["split"]
    assert metrics.grouped_mig(z, f, [1] * z.shape[1], estimator="histogram")["grouped_mig"] == pytest.approx(
        metrics.mig(z, f)["mig"], abs=1e-12
    )
    # grouping the two halves of the split factor gives back its information in one group
    grouped = metrics.grouped_mig(z, f, [[0, 1], [2], [3], [4]])
    assert grouped["grouped_mig/factor_0"] > 0.95
    assert metrics.mig(z, f)["mig/factor_0"] < 0.5


FAST_FVAE = {"num_variance_estimate": 1000, "num_train": 300, "num_eval": 200}
FAST_BVAE = {"num_train": 300, "num_eval": 200}


def test_factor_vae_score(data):
    assert (
        metrics.factor_vae_score(perfect, data, 0, **FAST_FVAE)["factor_vae/eval_accuracy"] == 1.0
    )
    chance = metrics.factor_vae_score(independent, data, 0, **FAST_FVAE)["factor_vae/eval_accuracy"]
    assert chance < 1 / len(SIZES) + 0.15


def test_factor_vae_prunes_on_standard_deviation_like_the_reference(data):
    def with_small_dim(x):  # a 5th dim of standard deviation ≈ 0.07 (variance 0.005): active
        return torch.cat([x, 0.07 * (x[:, :1] - 1.0) / 0.8165], dim=1)

    got = metrics.factor_vae_score(
        with_small_dim, data, 0, num_variance_estimate=500, num_train=10, num_eval=10
    )
    assert got["factor_vae/num_active_dims"] == 5.0


def test_beta_vae_score(data):
    assert metrics.beta_vae_score(perfect, data, 0, **FAST_BVAE)["beta_vae/eval_accuracy"] > 0.98
    chance = metrics.beta_vae_score(independent, data, 0, **FAST_BVAE)["beta_vae/eval_accuracy"]
    assert chance < 1 / len(SIZES) + 0.15


def test_modularity_explicitness(codes):
    z, f = codes["perfect"]
    got = metrics.modularity_explicitness(z[:2000], f[:2000], z[2000:], f[2000:])
    assert got["modularity"] > 0.99 and got["explicitness_test"] > 0.9
    z, f = codes["independent"]
    got = metrics.modularity_explicitness(z[:2000], f[:2000], z[2000:], f[2000:])
    assert got["explicitness_test"] < 0.6


def test_same_seed_same_number(data):
    a = metrics.mig_score(split_first_factor, data, 5, num_train=500)
    b = metrics.mig_score(split_first_factor, data, np.random.RandomState(5), num_train=500)
    assert a == b
    with pytest.raises(ValueError, match="random_state"):
        metrics.mig_score(perfect, data, None, num_train=500)


def test_aligned_r2_recovers_a_known_permutation_of_groups():
    rs = np.random.RandomState(11)
    true = rs.randn(1000, 6)
    true[:, 1] += 0.8 * true[:, 0]  # entangled within groups (PDisVAE, §4.1)
    true[:, 3] -= 0.5 * true[:, 2]
    permutation = [2, 0, 1]  # estimated group g holds true group permutation[g]
    codes = np.concatenate(
        [true[:, 2 * t : 2 * t + 2] @ rs.randn(2, 2) + rs.randn(2) for t in permutation], axis=1
    )
    got = metrics.aligned_r2(codes, true, true_groups=[2, 2, 2], code_groups=[2, 2, 2])
    assert got["aligned_r2"] == pytest.approx(1.0, abs=1e-9)
    for g, t in enumerate(permutation):
        assert got[f"aligned_r2/match_{t}"] == g
    # without code groups, the search over the 15 groupings finds the same alignment
    shuffled = codes[:, [3, 0, 5, 1, 4, 2]]
    searched = metrics.aligned_r2(shuffled, true, true_groups=[2, 2, 2])
    assert searched["aligned_r2"] == pytest.approx(1.0, abs=1e-9)
    # a grouping that mixes the true groups scores lower
    mixed = metrics.aligned_r2(codes[:, [0, 2, 1, 4, 3, 5]], true, [2, 2, 2], code_groups=[2, 2, 2])
    assert mixed["aligned_r2"] < 0.8


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="codes"):
        metrics.mig(np.zeros((1, 3)), np.zeros((1, 1), dtype=int))
    with pytest.raises(ValueError, match="factors"):
        metrics.mig(np.zeros((5, 3)), np.full((5, 1), 0.5))
    with pytest.raises(ValueError, match="test_size"):
        metrics.sap(np.zeros((5, 3)), np.zeros((5, 1), dtype=int), test_size=2.0, random_state=0)
    with pytest.raises(ValueError, match="num_train"):
        metrics.mig_score(perfect, grid_dataset(), 0, num_train=0)


def test_grouped_mig_posterior_estimator_is_stcvae_eq_15():
    rs = np.random.RandomState(12)
    f = np.stack([rs.randint(s, size=500) for s in (3, 4)], axis=1)
    v = f[:, :1].astype(float)
    loc = np.concatenate([np.minimum(v, 1), np.maximum(v, 1) - 1, f[:, 1:] / 3.0], axis=1)
    scale = np.full(loc.shape, 0.05)
    per_dim = metrics.grouped_mig_posterior(loc, scale, f, [1, 1, 1], random_state=0)
    grouped = metrics.grouped_mig_posterior(loc, scale, f, [[0, 1], [2]], random_state=0)
    assert per_dim["grouped_mig_posterior/factor_1"] > 0.95  # factor 1 sits in one dim
    assert per_dim["grouped_mig_posterior/factor_0"] < 0.1  # factor 0 is split over dims 0 and 1
    assert grouped["grouped_mig_posterior/factor_0"] > 0.95  # ...and whole in their group
    noise = metrics.grouped_mig_posterior(rs.randn(500, 3), np.full((500, 3), 0.3), f, [1, 1, 1], 0)
    assert noise["grouped_mig_posterior"] < 0.05
