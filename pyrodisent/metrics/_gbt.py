"""The reference DCI estimator, sklearn's ``GradientBoostingClassifier()``, refitted faster.

The same algorithm with the same defaults (100 stages, learning rate 0.1, depth-3
squared-error regression trees on the negative gradient of the (multinomial or binomial)
log loss, Newton leaf updates, prior initialisation, impurity-based importances averaged over
the trees that split and normalised): the difference is only that every feature is sorted
once per fit instead of once per tree node (the codes do not change between trees), and a
stage's trees are built from one gather per level.

Split choice is exact up to floating-point rounding. sklearn breaks exact ties between
features with its random feature order, which cannot be reproduced, so :func:`fit_gbt`
raises :class:`AmbiguousSplit` when two candidate splits of a node are within 1e-9
(relative) of each other — e.g. duplicated or discrete codes — and the caller falls back to
sklearn itself (:func:`pyrodisent.metrics.dci.gbt_importance_matrix` does). Tested against
sklearn in ``tests/metrics/test_gbt.py``.
"""

from __future__ import annotations

import numpy as np

N_ESTIMATORS = 100
LEARNING_RATE = 0.1
MAX_DEPTH = 3
_FEATURE_THRESHOLD = 1e-7  # sklearn's tree splitter: values closer than this are equal
_EPSILON = np.finfo(np.float64).eps
_TIE_RTOL = 1e-9
_LEAF_IMPURITY = 1e-12  # below this a node's residuals are equal up to rounding: no split matters


class AmbiguousSplit(RuntimeError):
    """Two candidate splits tie; sklearn's random feature order would decide."""


class _Tree:
    __slots__ = ("feature", "left", "right", "threshold", "value")

    def __init__(self):
        self.feature, self.threshold, self.left, self.right, self.value = [], [], [], [], []

    def add(self) -> int:
        self.feature.append(-1)
        self.threshold.append(0.0)
        self.left.append(-1)
        self.right.append(-1)
        self.value.append(0.0)
        return len(self.feature) - 1

    def freeze(self):
        self.feature = np.asarray(self.feature)
        self.threshold = np.asarray(self.threshold)
        self.left = np.asarray(self.left)
        self.right = np.asarray(self.right)
        self.value = np.asarray(self.value)

    def apply(self, x: np.ndarray) -> np.ndarray:
        node = np.zeros(len(x), dtype=np.int64)
        rows = np.arange(len(x))
        for _ in range(MAX_DEPTH):
            internal = self.left[node] >= 0
            if not internal.any():
                break
            go_left = x[rows, np.maximum(self.feature[node], 0)] <= self.threshold[node]
            node = np.where(internal, np.where(go_left, self.left[node], self.right[node]), node)
        return node


def _impurity(g: np.ndarray) -> tuple[float, float, float]:
    m = g.shape[0]
    s = float(np.sum(g))
    sq = float(np.sum(g * g))
    return s, sq, sq / m - (s / m) ** 2


def _build_tree(order: np.ndarray, xs: np.ndarray, g: np.ndarray, importance: np.ndarray, rng):
    """Depth-3 squared-error tree on residuals ``g``; adds impurity decreases to ``importance``.

    ``order`` [F, n]: samples sorted by each feature; ``xs`` [F, n] the sorted values.
    Returns the tree (leaf values unset) and whether it split at all.
    """
    n_features, n = order.shape
    tree = _Tree()
    root = tree.add()
    _, _, root_impurity = _impurity(g)
    # (node id, start, end, impurity) of the nodes to split at this depth; order/xs segments
    frontier = [(root, 0, n, root_impurity)]
    split_any = False
    counts = np.arange(1, n, dtype=np.float64)
    buf_left, buf_right = np.empty((n_features, n - 1)), np.empty((n_features, n - 1))
    for depth in range(MAX_DEPTH):
        next_frontier = []
        last = depth == MAX_DEPTH - 1  # children are leaves: no need to partition
        if not last:
            new_order, new_xs = np.empty_like(order), np.empty_like(xs)
        for node, start, end, impurity in frontier:
            m = end - start
            if m < 2 or impurity <= _LEAF_IMPURITY:
                continue  # a leaf; its segment of new_order is never read again
            seg = order[:, start:end]
            xseg = xs[:, start:end]
            gs = g[seg]
            left_sum = np.cumsum(gs, axis=1)[:, :-1]
            total = left_sum[0, -1] + gs[0, -1]
            # proxy impurity improvement of sklearn's squared error: S_L²/n_L + S_R²/n_R
            proxy, right = buf_left[:, : m - 1], buf_right[:, : m - 1]
            np.multiply(left_sum, left_sum, out=proxy)
            proxy /= counts[: m - 1]
            np.subtract(total, left_sum, out=right)
            right *= right
            right /= counts[m - 2 :: -1]
            proxy += right
            np.copyto(proxy, -np.inf, where=xseg[:, 1:] <= xseg[:, :-1] + _FEATURE_THRESHOLD)
            row_best = proxy.max(axis=1)
            best = row_best.max()
            if not np.isfinite(best):
                continue  # every feature constant in this node
            tied = np.flatnonzero(row_best >= best - _TIE_RTOL * abs(best))
            if (
                len(tied) > 1
            ):  # features giving the same best partition: sklearn's random order decides
                if rng is None:
                    raise AmbiguousSplit(
                        f"features {tied.tolist()} tie for the best split of a node ({m} samples)"
                    )
                f = int(tied[rng.randint(len(tied))])
            else:
                f = int(tied[0])
            p = int(
                np.argmax(proxy[f])
            )  # left = positions start .. start + p (first maximum, as sklearn)
            lo, hi = xseg[f, p], xseg[f, p + 1]
            threshold = lo / 2.0 + hi / 2.0
            if threshold == hi or not np.isfinite(threshold):
                threshold = lo
            goes_right = np.ones(len(g), dtype=bool)
            goes_right[seg[f, : p + 1]] = False
            n_l = p + 1
            _, _, imp_l = _impurity(g[seg[f, :n_l]])
            _, _, imp_r = _impurity(g[seg[f, n_l:]])
            importance[f] += (m * impurity - n_l * imp_l - (m - n_l) * imp_r) / n
            left_node, right_node = tree.add(), tree.add()
            tree.feature[node], tree.threshold[node] = f, threshold
            tree.left[node], tree.right[node] = left_node, right_node
            split_any = True
            next_frontier.append((left_node, start, start + n_l, imp_l))
            next_frontier.append((right_node, start + n_l, end, imp_r))
            if last:
                continue
            # stable partition of every feature's segment: left samples first
            permutation = np.argsort(goes_right[seg].view(np.uint8), axis=1, kind="stable")
            new_order[:, start:end] = np.take_along_axis(seg, permutation, axis=1)
            new_xs[:, start:end] = np.take_along_axis(xseg, permutation, axis=1)
        if not next_frontier or last:
            break
        order, xs, frontier = new_order, new_xs, next_frontier
    tree.freeze()
    return tree, split_any


class FastGradientBoostingClassifier:
    """``GradientBoostingClassifier()`` with default parameters, fitted with presorted features.

    Exposes ``classes_``, ``feature_importances_``, ``predict``. Raises
    :class:`AmbiguousSplit` where sklearn's result would depend on its random feature order.
    """

    def __init__(self, random_state=None):
        #: breaks ties between features at random like sklearn's feature order; ``None`` raises
        #: :class:`AmbiguousSplit` on a tie instead
        self.random_state = random_state

    def fit(self, x, y):
        x = np.asarray(x, dtype=np.float32).astype(np.float64)  # sklearn fits trees on float32
        n, n_features = x.shape
        rng = None if self.random_state is None else np.random.RandomState(self.random_state)
        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError("need at least 2 classes")
        prior = np.clip(np.bincount(encoded, minlength=n_classes) / n, _EPSILON, 1 - _EPSILON)
        self._binary = n_classes == 2
        if self._binary:
            self._init = np.array([np.log(prior[1] / (1 - prior[1]))])
            targets = encoded[:, None].astype(np.float64)
        else:
            logp = np.log(prior)
            self._init = logp - logp.mean()
            targets = (encoded[:, None] == np.arange(n_classes)[None, :]).astype(np.float64)
        n_trees = targets.shape[1]
        raw = np.tile(self._init, (n, 1))
        order = np.argsort(x, axis=0, kind="stable").T.copy()
        xs = np.take_along_axis(x.T, order, axis=1)
        importance_sum = np.zeros(n_features)
        relevant = 0
        self._trees = []
        for _ in range(N_ESTIMATORS):
            neg_gradient = targets - self._probabilities(raw)
            stage = []
            for k in range(n_trees):
                g = neg_gradient[:, k]
                importance = np.zeros(n_features)
                tree, split_any = _build_tree(order, xs, g, importance, rng)
                if split_any:
                    importance_sum += importance
                    relevant += 1
                leaves = tree.apply(x)
                counts = np.bincount(leaves, minlength=len(tree.value))
                prob = targets[:, k] - g
                numerator = np.bincount(leaves, weights=g, minlength=len(tree.value))
                denominator = np.bincount(
                    leaves, weights=prob * (1 - prob), minlength=len(tree.value)
                )
                with np.errstate(divide="ignore", invalid="ignore"):
                    numerator = numerator / counts
                    denominator = denominator / counts
                    if not self._binary:
                        numerator *= (n_classes - 1) / n_classes
                    value = np.where(np.abs(denominator) < 1e-150, 0.0, numerator / denominator)
                tree.value = np.where(counts > 0, value, 0.0)
                raw[:, k] += LEARNING_RATE * tree.value[leaves]
                stage.append(tree)
            self._trees.append(stage)
        if relevant == 0:
            self.feature_importances_ = np.zeros(n_features)
        else:
            mean = importance_sum / relevant
            self.feature_importances_ = mean / mean.sum()
        return self

    def _probabilities(self, raw: np.ndarray) -> np.ndarray:
        if self._binary:
            return 1.0 / (1.0 + np.exp(-raw))
        shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def decision_function(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).astype(np.float64)
        raw = np.tile(self._init, (len(x), 1))
        for stage in self._trees:
            for k, tree in enumerate(stage):
                raw[:, k] += LEARNING_RATE * tree.value[tree.apply(x)]
        return raw

    def predict(self, x) -> np.ndarray:
        raw = self.decision_function(x)
        if self._binary:
            return self.classes_[(raw[:, 0] >= 0).astype(int)]
        return self.classes_[np.argmax(raw, axis=1)]
