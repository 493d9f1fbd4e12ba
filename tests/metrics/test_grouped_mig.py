"""Grouped MIG (Chen et al. 2022, eq. 15-16): estimators that hold up at every group size.

An *ideal grouped code* puts factor k in exactly one dim of group k and fills every other dim
with noise independent of the factors; its grouped MIG is 1 whatever the group size, and a
code independent of the factors scores 0.
"""

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from pyrodisent import metrics
from pyrodisent.data import FactorDataset
from pyrodisent.metrics.mig import tree_mutual_information
from pyrodisent.metrics.utils import Representation

D, K, SIZE = 24, 4, 10


def _ideal_means(n, group_size, rs):
    factors = rs.randint(SIZE, size=(n, K))
    codes = rs.standard_normal((n, D))
    codes[:, np.arange(K) * group_size] = factors
    return codes, factors


def _ideal_posterior(n, group_size, rs, jitter=0.0):
    """Factor k sharp in the first dim of group k (loc = class, scale 0.005, an x-specific jitter),
    every other dim the prior N(0, 1): the posterior form of an ideal code."""
    factors = rs.randint(SIZE, size=(n, K))
    loc, scale = np.zeros((n, D)), np.ones((n, D))
    info = np.arange(K) * group_size
    loc[:, info] = 2 * factors / SIZE + jitter * rs.standard_normal((n, K))
    scale[:, info] = 0.005
    return loc, scale, factors


def test_tree_mutual_information_against_closed_forms():
    rs = np.random.RandomState(0)
    v = rs.randint(SIZE, size=4000)
    assert tree_mutual_information(v[:, None].astype(float), v, 0) == pytest.approx(np.log(SIZE), abs=0.02)
    assert tree_mutual_information(rs.standard_normal((4000, 3)), v, 0) < 0.01
    # binary v, z = v + N(0, 0.5²): I = H(v) − E_z H(v | z), by quadrature
    b = rs.randint(2, size=8000)
    z = b + 0.5 * rs.standard_normal(8000)

    def conditional_entropy_density(t):
        p0, p1 = stats.norm.pdf(t, 0, 0.5), stats.norm.pdf(t, 1, 0.5)
        post = p1 / (p0 + p1)
        h = -sum(q * np.log(q) for q in (post, 1 - post) if q > 0)
        return 0.5 * (p0 + p1) * h

    exact = np.log(2) - integrate.quad(conditional_entropy_density, -5, 6)[0]
    estimate = tree_mutual_information(z[:, None], b, 0)
    assert exact - 0.04 < estimate < exact + 0.01  # a lower bound, up to sampling error


@pytest.mark.parametrize("group_size", [1, 3, 6])
def test_tree_grouped_mig_is_one_on_an_ideal_code_at_every_group_size(group_size):
    rs = np.random.RandomState(group_size)
    codes, factors = _ideal_means(4000, group_size, rs)
    groups = [group_size] * (D // group_size)
    assert metrics.grouped_mig(codes, factors, groups)["grouped_mig"] > 0.95
    assert metrics.grouped_mig(rs.standard_normal((4000, D)), factors, groups)["grouped_mig"] < 0.02


def test_histogram_estimator_collapses_on_large_groups_as_documented():
    # the reason "tree" is the default: 20^6 cells for 4000 points put each point alone
    codes, factors = _ideal_means(4000, 6, np.random.RandomState(1))
    assert metrics.grouped_mig(codes, factors, [6] * 4, estimator="histogram")["grouped_mig"] < 0.1


@pytest.mark.parametrize("group_size", [1, 6])
def test_posterior_grouped_mig_is_one_on_an_ideal_posterior(group_size):
    rs = np.random.RandomState(10 + group_size)
    loc, scale, factors = _ideal_posterior(3000, group_size, rs)
    groups = [group_size] * (D // group_size)
    assert metrics.grouped_mig_posterior(loc, scale, factors, groups, 0, num_eval=600)["grouped_mig_posterior"] > 0.95
    noise = metrics.grouped_mig_posterior(rs.standard_normal(loc.shape), np.full(loc.shape, 0.3), factors, groups, 0,
                                          num_eval=600)
    assert noise["grouped_mig_posterior"] < 0.02


def test_posterior_mixture_over_the_whole_training_set_removes_the_small_mixture_bias():
    # sharp posteriors whose means differ from point to point: in a mixture of a few hundred
    # points each z_i sits alone in its own component, and I(Z_A; v) → H(v) for every group
    loc, scale, factors = _ideal_posterior(6000, 3, np.random.RandomState(3), jitter=0.03)
    full = metrics.grouped_mig_posterior(loc, scale, factors, [3] * 8, 0, num_eval=600)["grouped_mig_posterior"]
    small = metrics.grouped_mig_posterior(loc[:600], scale[:600], factors[:600], [3] * 8, 0)["grouped_mig_posterior"]
    assert full > 0.95 and small < full - 0.1


def test_grouped_mig_estimator_errors_name_the_choices():
    codes, factors = _ideal_means(100, 2, np.random.RandomState(0))
    with pytest.raises(ValueError, match="tree, histogram, posterior"):
        metrics.grouped_mig(codes, factors, [2] * 12, estimator="knn")
    with pytest.raises(ValueError, match="grouped_mig_posterior"):
        metrics.grouped_mig(codes, factors, [2] * 12, estimator="posterior")


def test_representation_level_estimators_on_a_perfect_grouped_encoder():
    # observations are the factor classes (the full grid of 3 × 4 × 5 × 6); the encoder
    # pairs each factor with a dim that is the prior: groups [[0, 4], [1, 5], [2, 6], [3, 7]]
    sizes = [3, 4, 5, 6]
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, 4)
    data = FactorDataset(torch.tensor(grid, dtype=torch.float32), grid, list("abcd"), sizes)

    def encode(x):
        loc = torch.cat([x, torch.zeros_like(x)], 1)
        scale = torch.cat([torch.full_like(x, 0.01), torch.ones_like(x)], 1)
        return loc, scale

    rep = Representation(encode=encode)
    groups = [[0, 4], [1, 5], [2, 6], [3, 7]]
    tree = metrics.grouped_mig_score(rep, data, 0, groups=groups, num_train=2000)
    whole = metrics.grouped_mig_score(rep, data, 0, groups=groups, num_train=None, estimator="posterior", num_eval=200)
    assert tree["grouped_mig"] > 0.95
    assert whole["grouped_mig_posterior"] > 0.95  # the mixture is all 360 rows, eq. 15 exactly


# ----------------------------------------------------------------- Chen et al. 2018's MIG
def test_mig_chen_mutual_information_against_a_gaussian_mixture_closed_form():
    # v ∈ {0, 1} uniform; every x of class v has q(z_0 | x) = N(2v − 1, 0.8²): I(z_0; v) is the
    # MI of an equal two-component mixture; z_1 carries nothing. Gap = I / log 2.
    n = 16000
    v = np.repeat([0, 1], n // 2)[:, None]
    loc = np.stack([2.0 * v[:, 0] - 1, np.zeros(n)], 1)
    scale = np.stack([np.full(n, 0.8), np.ones(n)], 1)

    def density(t):
        p0, p1 = stats.norm.pdf(t, -1, 0.8), stats.norm.pdf(t, 1, 0.8)
        m = 0.5 * (p0 + p1)
        return 0.5 * (p0 * np.log(p0 / m) + p1 * np.log(p1 / m))

    exact = integrate.quad(density, -6, 6)[0] / np.log(2)
    assert metrics.mig_chen(loc, scale, v, 0, num_eval=n)["mig_chen"] == pytest.approx(exact, abs=0.025)  # MC sd ≈ 0.007


def test_mig_chen_on_a_perfect_and_a_random_posterior():
    sizes = [3, 4, 5, 6]
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, 4)
    rs = np.random.RandomState(0)
    perfect = metrics.mig_chen(grid.astype(float), np.full(grid.shape, 0.01), grid, 0)
    assert perfect["mig_chen"] > 0.98
    noise = metrics.mig_chen(rs.standard_normal((360, 4)), np.full((360, 4), 0.3), grid, 0)
    assert noise["mig_chen"] < 0.05


def test_mig_chen_score_leaves_dsprites_shape_out_as_chen_et_al():
    from pyrodisent.data import get_dataset

    data = get_dataset("generated_dsprites", shapes=2, scales=2, orientations=2, positions=2, image_size=16)

    def encode(x):  # the mean intensity of each quarter of the image, a fixed code
        quarters = x.reshape(len(x), 2, 8, 2, 8).mean((2, 4)).reshape(len(x), 4)
        return quarters, torch.full_like(quarters, 0.05)

    scores = metrics.mig_chen_score(Representation(encode=encode), data, 0, num_eval=200)
    assert "mig_chen/factor_0" not in scores and {f"mig_chen/factor_{k}" for k in (1, 2, 3, 4)} <= set(scores)
    kept = metrics.mig_chen_score(Representation(encode=encode), data, 0, num_eval=200, exclude_factors=[])
    assert "mig_chen/factor_0" in kept
    with pytest.raises(ValueError, match="not factors of generated_dsprites"):
        metrics.mig_chen_score(Representation(encode=encode), data, 0, exclude_factors=["colour"])
