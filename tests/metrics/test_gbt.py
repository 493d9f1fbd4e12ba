"""The presorted boosted trees are sklearn's GradientBoostingClassifier() (the reference DCI estimator)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from pyrodisent.metrics import dci
from pyrodisent.metrics._gbt import AmbiguousSplit, FastGradientBoostingClassifier


def _sklearn(x, y, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return GradientBoostingClassifier(random_state=seed).fit(x, y)


@pytest.mark.parametrize("num_classes", [2, 3])
def test_single_feature_fit_equals_sklearn_tree_for_tree(num_classes):
    """With one feature no tie between features exists, so every tree must be sklearn's."""
    rs = np.random.RandomState(num_classes)
    y = rs.randint(num_classes, size=600)
    x = (y / num_classes + 0.4 * rs.randn(600))[:, None]
    ours = FastGradientBoostingClassifier().fit(x[:400], y[:400])
    ref = _sklearn(x[:400], y[:400])
    x_test = x[400:].astype(np.float32)
    for stage_ours, stage_ref in zip(ours._trees, ref.estimators_):
        for tree, ref_tree in zip(stage_ours, stage_ref):
            np.testing.assert_allclose(
                tree.value[tree.apply(x_test.astype(np.float64))],
                ref_tree.tree_.value[ref_tree.apply(x_test), 0, 0],
                rtol=0,
                atol=1e-10,
            )
    np.testing.assert_allclose(
        ours.decision_function(x[400:]), ref.decision_function(x[400:]).reshape(200, -1), atol=1e-10
    )
    np.testing.assert_array_equal(ours.predict(x[400:]), ref.predict(x[400:]))


def test_feature_ties_raise_without_random_state_and_are_broken_at_random_with_one():
    x = np.repeat(np.arange(6.0)[:, None], 2, axis=1)  # two identical features: every split ties
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(AmbiguousSplit, match="tie"):
        FastGradientBoostingClassifier().fit(x, y)
    firsts = {
        int(
            np.argmax(FastGradientBoostingClassifier(random_state=s).fit(x, y).feature_importances_)
        )
        for s in range(8)
    }
    assert firsts == {0, 1}


def test_presorted_dci_agrees_with_sklearn_up_to_sklearns_own_seed_to_seed_spread():
    rs = np.random.RandomState(0)
    sizes = [2, 3]
    f = np.stack([rs.randint(s, size=330) for s in sizes], 1)
    z = np.concatenate([f / np.array(sizes) + 0.25 * rs.randn(330, 2), rs.randn(330, 1)], 1)
    ours = [dci(z[:220], f[:220], z[220:], f[220:], random_state=s, n_jobs=1) for s in range(2)]
    ref = [
        dci(z[:220], f[:220], z[220:], f[220:], random_state=s, n_jobs=1, estimator="sklearn")
        for s in range(2)
    ]
    for key in ("dci/disentanglement", "dci/completeness", "dci/informativeness_test"):
        a, b = np.array([r[key] for r in ours]), np.array([r[key] for r in ref])
        spread = max(np.ptp(a), np.ptp(b))  # the reference varies with its random feature order
        assert abs(a.mean() - b.mean()) <= spread + 0.005, (key, a, b)
