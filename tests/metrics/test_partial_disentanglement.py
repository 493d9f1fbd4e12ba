"""PDisVAE §4.1's scores: group alignment (with the grouping search) and PC on held-out data."""

import numpy as np
import pytest
import torch

from pyrodisent.data.synthetic import groupwise, independent
from pyrodisent.metrics import best_alignment, partial_disentanglement
from pyrodisent.metrics.aligned_r2 import count_groupings


def test_the_search_finds_a_hidden_pairing_and_its_score():
    data = groupwise(n=1500, seed=3)
    perm = [3, 0, 5, 1, 2, 4]  # true group (0,1) sits in code dims 1, 3; (2,3) in 4, 0; (4,5) in 5, 2
    codes = data.latents[:, perm]
    score, matrix, grouping = best_alignment(codes, data.latents, data.groups)
    assert score == pytest.approx(1.0, abs=1e-9)
    assert sorted(map(sorted, grouping)) == [[0, 4], [1, 3], [2, 5]]
    # a fixed, wrong grouping scores below 1
    wrong, *_ = best_alignment(codes, data.latents, data.groups, code_groups=[2, 2, 2])
    assert wrong < 0.9
    assert count_groupings([2, 2, 2]) == 15


def test_more_code_dims_than_true_dims_search_pairs():
    # PDisVAE App. A.4.2: three independent true latents, six code dims in three pairs
    data = independent(n=1000, seed=0)
    rs = np.random.RandomState(0)
    codes = np.concatenate([data.latents, rs.standard_normal((1000, 3))], 1)[:, [0, 3, 1, 4, 2, 5]]
    with pytest.raises(ValueError, match="code_group_sizes"):
        best_alignment(codes, data.latents, data.groups)
    score, _, grouping = best_alignment(codes, data.latents, data.groups, code_group_sizes=[2, 2, 2])
    assert score == pytest.approx(1.0, abs=1e-3)
    assert sorted(map(sorted, grouping)) == [[0, 1], [2, 3], [4, 5]]


def test_partial_correlation_is_zero_for_independent_groups_and_large_for_mixed_ones():
    data = groupwise(n=2000, seed=1)
    scale = np.full_like(data.latents, 0.3)
    ideal = partial_disentanglement(data.latents, scale, data.latents, data.groups, 0, code_groups=data.groups)
    assert ideal["aligned_r2"] == pytest.approx(1.0)
    # groups independent by construction: the held-out PC is only the estimator's small bias
    assert 0 <= ideal["partial_correlation"] < 0.1
    # a rotation that mixes all six dims keeps R² < 1 and makes the groups dependent
    q, _ = np.linalg.qr(np.random.RandomState(0).standard_normal((6, 6)))
    mixed = partial_disentanglement(data.latents @ q, scale, data.latents, data.groups, 0)
    assert mixed["aligned_r2"] < 0.9
    assert mixed["partial_correlation"] > 5 * ideal["partial_correlation"] + 0.05


class _CodeImage:
    """A 'model' whose code is the observation and whose decoded image is the code itself."""

    def encode(self, x):
        return x, torch.ones_like(x)

    def mean_image(self, z):
        return torch.sigmoid(z).reshape(len(z), 1, 1, z.shape[1])


def test_group_traversals_draw_one_panel_per_group(tmp_path):
    import matplotlib.image

    from pyrodisent.metrics.plots import plot_group_traversals

    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    path = plot_group_traversals(_CodeImage(), x, [[0, 1], [2, 3]], tmp_path / "t.png", steps=5)
    assert matplotlib.image.imread(path).shape[1] > 100
    with pytest.raises(ValueError, match="one or two dims"):
        plot_group_traversals(_CodeImage(), x, [[0, 1, 2], [3]], tmp_path / "u.png")


def test_a_code_whose_groups_straddle_the_models_groups_scores_high_only_under_the_search():
    data = groupwise(n=1500, seed=4)
    codes = data.latents[:, [0, 2, 1, 3, 4, 5]]  # true pairs (0,1), (2,3) split across code pairs
    scale = np.full_like(codes, 0.3)
    out = partial_disentanglement(codes, scale, data.latents, data.groups, 0, code_groups=[2, 2, 2])
    assert out["aligned_r2"] < 0.9
    assert out["aligned_r2_any_grouping"] == pytest.approx(1.0)
    searched = partial_disentanglement(codes, scale, data.latents, data.groups, 0)
    assert searched["aligned_r2_any_grouping"] == searched["aligned_r2"] == pytest.approx(1.0)
