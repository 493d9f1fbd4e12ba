"""Mutual information gap (Chen et al. 2018) and its grouped form (β-STCVAE: Chen et al. 2022,
eq. 15-16).

    MIG = 1/K Σ_k (I(z_{j(k)}; v_k) − I(z_{j'(k)}; v_k)) / H(v_k)

with j(k) the code dimension of largest mutual information with factor v_k and j'(k) the
second largest. Reference defaults (disentanglement_lib; Locatello et al. 2019): 10,000 points of
the mean representation, every code dimension discretized into 20 equal-width bins, plug-in
mutual information in nats.

Grouped MIG (Chen et al. 2022, eq. 16) puts latent groups Z_A in place of dimensions: I(Z_Ai; v_k)
of each group, gap between the best and second-best group. Three estimators of I(Z_A; v_k):

* ``"tree"`` (the default): the variational lower bound I(Z_A; v) ≥ H(v) + E log q(v | Z_A)
  (Barber & Agakov 2003) with q a decision tree fitted on one half of the points and scored on
  the other (two folds, cross-fitted). The tree splits only where a split tells v apart, so
  dims of the group that carry nothing about v add no bias: an ideal code scores ≈ 1 and a
  random one ≈ 0 at every group size (docs/metrics.md has the numbers).
* ``"histogram"``: the plug-in estimate on the joint cell of the group's dims (each dim in the
  reference's 20 bins); groups of size 1 give exactly MIG. With 20^|A| cells and 10,000 points
  each point soon sits alone in its cell, I → H(v_k) for every group and the gap → 0: safe for
  groups of 1 or 2 dims only.
* ``"posterior"``: eq. 15 itself, both entropies from q(z|x) with the mixture over the whole
  training set (:func:`grouped_mig_posterior`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.tree import DecisionTreeClassifier

from pyrodisent.estimators.families import GaussianFamily
from pyrodisent.metrics.utils import (
    NUM_BINS,
    check_codes,
    check_factors,
    check_posterior,
    check_random_state,
    discrete_entropy,
    discrete_mutual_information,
    generate_codes_and_factors,
    generate_posterior_and_factors,
    histogram_discretize,
    joint_labels,
    normalize_group_lists,
    posterior_of_dataset,
    top_two_gap,
)
from pyrodisent.validation import check_int

NUM_TRAIN = 10_000


def mutual_information_matrix(codes, factors, num_bins: int = NUM_BINS) -> np.ndarray:
    """[D, K] plug-in I(code_d; factor_k) after the 20-bin histogram discretization (nats)."""
    codes = check_codes(codes)
    factors = check_factors(factors, len(codes))
    return discrete_mutual_information(histogram_discretize(codes, num_bins), factors)


def _gap_score(mi: np.ndarray, factors: np.ndarray, prefix: str) -> dict[str, float]:
    entropy = discrete_entropy(factors)
    if np.any(entropy <= 0):
        constant = [int(k) for k in np.flatnonzero(entropy <= 0)]
        raise ValueError(
            f"factors {constant} are constant in the sample (entropy 0); MIG divides by H(v_k)"
        )
    return _normalized_gaps(mi, entropy, prefix)


def _normalized_gaps(mi: np.ndarray, normalizer: np.ndarray, prefix: str) -> dict[str, float]:
    """``{prefix: mean gap, prefix/factor_k: gap_k}`` with gap_k = top-two gap of mi[:, k] / normalizer_k."""
    per_factor = top_two_gap(mi) / normalizer
    scores = {prefix: float(np.mean(per_factor))}
    for k, value in enumerate(per_factor):
        scores[f"{prefix}/factor_{k}"] = float(value)
    return scores


def mig(codes, factors, num_bins: int = NUM_BINS) -> dict[str, float]:
    """MIG of precomputed ``codes`` [n, D] and integer ``factors`` [n, K] (Chen et al. 2018).

    Returns ``{"mig": score, "mig/factor_k": per-factor normalized gap}``.
    """
    codes = check_codes(codes)
    factors = check_factors(factors, len(codes))
    if codes.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 code dimensions, got {codes.shape[1]}")
    mi = discrete_mutual_information(histogram_discretize(codes, num_bins), factors)
    return _gap_score(mi, factors, "mig")


def grouped_mutual_information_matrix(
    codes, factors, groups: Sequence, num_bins: int = NUM_BINS
) -> np.ndarray:
    """[G, K] plug-in I(Z_g; v_k) on the joint histogram cells of each group (Chen et al. 2022,
    eq. 15)."""
    codes = check_codes(codes)
    factors = check_factors(factors, len(codes))
    group_lists = normalize_group_lists(groups, codes.shape[1])
    discrete = histogram_discretize(codes, num_bins)
    cells = np.stack([joint_labels(discrete[:, g]) for g in group_lists], axis=1)
    return discrete_mutual_information(cells, factors)


#: points per leaf of the tree estimator (a leaf's class frequencies are then estimated from
#: at least this many points)
MIN_SAMPLES_LEAF = 20


def tree_mutual_information(codes, labels, random_state, min_samples_leaf: int = MIN_SAMPLES_LEAF) -> float:
    """I(codes; labels) ≥ H(v) − cross-entropy of a held-out decision tree (Barber & Agakov 2003).

    The points are split at random into two halves; a tree (entropy criterion, at least
    ``min_samples_leaf`` points per leaf) is fitted on each and predicts the other, with the
    class frequencies of its leaf smoothed by one pseudo-point spread as the marginal p(v).
    The estimate is H(v) (plug-in, all points) minus the mean held-out −log q(v | codes),
    clipped at 0. It is a lower bound up to sampling error: it never credits information the
    tree cannot find, and a group's uninformative dims cannot raise it.
    """
    rs = check_random_state(random_state)
    codes = check_codes(codes)
    _, v = np.unique(check_factors(labels, len(codes))[:, 0], return_inverse=True)
    n, num_classes = len(v), int(v.max()) + 1
    prior = np.bincount(v, minlength=num_classes) / n
    entropy = float(-(prior * np.log(prior)).sum())
    order = rs.permutation(n)
    halves = (order[: n // 2], order[n // 2 :])
    log_q = np.empty(n)
    for fit, score in (halves, halves[::-1]):
        tree = DecisionTreeClassifier(
            criterion="entropy", min_samples_leaf=min_samples_leaf, random_state=rs.randint(2**31 - 1)
        ).fit(codes[fit], v[fit])
        fit_prior = np.bincount(v[fit], minlength=num_classes) / len(fit)
        counts = np.zeros((tree.tree_.node_count, num_classes))
        np.add.at(counts, (tree.apply(codes[fit]), v[fit]), 1.0)
        leaf = tree.apply(codes[score])
        q = (counts[leaf, v[score]] + fit_prior[v[score]]) / (counts[leaf].sum(1) + 1.0)
        log_q[score] = np.log(q)
    return max(0.0, entropy + float(log_q.mean()))


def grouped_mutual_information_tree(
    codes, factors, groups: Sequence, random_state, min_samples_leaf: int = MIN_SAMPLES_LEAF
) -> np.ndarray:
    """[G, K] :func:`tree_mutual_information` of each group and factor (nats)."""
    rs = check_random_state(random_state)
    codes = check_codes(codes)
    factors = check_factors(factors, len(codes))
    group_lists = normalize_group_lists(groups, codes.shape[1])
    return np.array(
        [
            [tree_mutual_information(codes[:, dims], factors[:, k], rs, min_samples_leaf) for k in range(factors.shape[1])]
            for dims in group_lists
        ]
    )


GROUPED_MIG_ESTIMATORS = ("tree", "histogram", "posterior")


def _check_estimator(estimator: str) -> str:
    if estimator not in GROUPED_MIG_ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(GROUPED_MIG_ESTIMATORS)}, got {estimator!r}")
    return estimator


def grouped_mig(
    codes,
    factors,
    groups: Sequence,
    num_bins: int = NUM_BINS,
    estimator: str = "tree",
    random_state=0,
) -> dict[str, float]:
    """Grouped MIG (Chen et al. 2022, eq. 16): MIG with latent groups in place of dimensions.

    ``groups``: sizes (``[2, 2, 2]``, contiguous blocks) or dim lists (``[[0, 3], [1, 2]]``).
    ``estimator``: ``"tree"`` (default; holds up at every group size) or ``"histogram"``
    (with groups of size 1 exactly :func:`mig`; biased towards 0 from 3 dims per group on;
    module docstring). ``random_state`` seeds the tree's folds. Returns
    ``{"grouped_mig": ..., "grouped_mig/factor_k": ...}``.
    """
    codes = check_codes(codes)
    factors = check_factors(factors, len(codes))
    group_lists = normalize_group_lists(groups, codes.shape[1])
    if len(group_lists) < 2:
        raise ValueError(f"grouped MIG needs at least 2 groups, got groups={groups!r}")
    if _check_estimator(estimator) == "posterior":
        raise ValueError("estimator 'posterior' needs q(z|x): call grouped_mig_posterior(loc, scale, ...)")
    if estimator == "tree":
        mi = grouped_mutual_information_tree(codes, factors, group_lists, random_state)
    else:
        mi = grouped_mutual_information_matrix(codes, factors, group_lists, num_bins)
    return _gap_score(mi, factors, "grouped_mig")


def _class_logsumexp(log_n: torch.Tensor, one_hot: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Row-wise log Σ_j exp(log_n[i, j]) over all columns [B], and per factor over the columns of
    each class ([B, C_k], by one matrix product with the [N, C_k] one-hot class matrix)."""
    top = log_n.amax(dim=1, keepdim=True)
    weights = torch.exp(log_n - top)
    total = weights.sum(1).log() + top[:, 0]
    return total, [(weights @ h).log() + top for h in one_hot]


def grouped_mig_posterior(
    loc, scale, factors, groups: Sequence, random_state, num_eval: int | None = None
) -> dict[str, float]:
    """Grouped MIG with Chen et al. 2022, eq. 15: I(Z_A; v_k) = H(Z_A) − H(Z_A | v_k), both
    entropies from the posterior q(z|x) = N(loc, diag scale²) with the mixture over **all** N
    given points (eq. 15's sum over the training samples):

        H(Z_A)       = −mean_i log (1/N) Σ_j q(z_iA | x_j),                z_i ~ q(z | x_i)
        H(Z_A | v_k) = −mean_i log (1/|X_v|) Σ_{j ∈ X_v} q(z_iA | x_j),   v = v_k(x_i)

    (the empirical p(n | v_k) of eq. 15), then eq. 16. The means over i run over ``num_eval``
    random points of the N (all when None). Pass the whole training set: with a mixture of
    only a few thousand points, sharp posteriors leave each z_i alone in its component,
    I(Z_A; v_k) → H(v_k) for every group and the gap shrinks towards 0 (docs/metrics.md).
    Cost O(num_eval · N · |A|) per group. Returns ``grouped_mig_posterior`` and
    ``grouped_mig_posterior/factor_k``.
    """
    rs = check_random_state(random_state)
    loc, scale = check_posterior(loc, scale)
    factors = check_factors(factors, len(loc))
    group_lists = normalize_group_lists(groups, loc.shape[1])
    if len(group_lists) < 2:
        raise ValueError(f"grouped MIG needs at least 2 groups, got groups={groups!r}")
    n = len(loc)
    num_eval = n if num_eval is None else min(check_int("num_eval", num_eval, 1), n)
    rows_all = np.sort(rs.choice(n, size=num_eval, replace=False))
    z = torch.from_numpy(loc + scale * rs.standard_normal(loc.shape))[rows_all]
    num_factors = factors.shape[1]
    one_hot = [torch.nn.functional.one_hot(torch.from_numpy(factors[:, k].astype(np.int64))).double()
               for k in range(num_factors)]
    log_class_size = [torch.log(h.sum(0)) for h in one_hot]
    own_class = torch.from_numpy(factors[rows_all].astype(np.int64))  # [num_eval, K]
    lt, st = torch.from_numpy(loc), torch.from_numpy(scale)
    chunk = max(1, 20_000_000 // n)  # [chunk, N] float64 ≈ 160 MB at a time
    mi = np.zeros((len(group_lists), num_factors))
    for g, dims in enumerate(group_lists):
        family = GaussianFamily.diagonal(lt[:, dims], st[:, dims])
        marginal, conditional = 0.0, np.zeros(num_factors)
        for start in range(0, num_eval, chunk):
            log_n = family.pairwise_log_prob_dims(z[start : start + chunk][:, dims]).sum(-1)  # [B, N]
            total, per_class = _class_logsumexp(log_n, one_hot)
            marginal -= float((total - np.log(n)).sum())
            for k in range(num_factors):
                own = own_class[start : start + chunk, k : k + 1]
                log_q = (per_class[k] - log_class_size[k]).gather(1, own)  # own class holds z_i's own term
                conditional[k] -= float(log_q.sum())
        mi[g] = (marginal - conditional) / num_eval
    return _gap_score(mi, factors, "grouped_mig_posterior")


def _mean_neg_log_mixture(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """[D] −mean_i log (1/N) Σ_n N(z_id; loc_nd, scale_nd²) for each dim d separately (float64)."""
    n, d = loc.shape
    chunk = max(1, 20_000_000 // (n * d))
    family = GaussianFamily.diagonal(loc, scale)
    total = torch.zeros(d, dtype=torch.float64)
    for start in range(0, len(z), chunk):
        log_n = family.pairwise_log_prob_dims(z[start : start + chunk])  # [B, N, D]
        total -= (torch.logsumexp(log_n, dim=1) - np.log(n)).sum(0)
    return total / len(z)


def mig_chen(loc, scale, factors, random_state, num_eval: int = NUM_TRAIN, factor_sizes=None) -> dict[str, float]:
    """MIG as Chen et al. 2018 (§4.1) compute it: one z_n ~ q(z|x_n) for **every** point of the data
    set, I(z_j; v_k) = H(z_j) − H(z_j | v_k) from the posterior mixtures

        H(z_j)       = −mean_i log (1/N) Σ_n q(z_ij | x_n)            (``num_eval`` random i of the N)
        H(z_j | v_k) = Σ_v p(v) · −mean_{i: v_k = v} log (1/N_v) Σ_{n: v_k = v} q(z_ij | x_n)

    (``num_eval`` random i per class, all when the class is smaller), clipped at 0, and each
    factor's gap normalised by log(its number of classes) instead of the plug-in H(v_k) (the
    same on a uniform grid). ``factor_sizes`` overrides the class counts. Pass the whole data
    set: the mixtures are eq. 15-style sums over it. Returns ``{"mig_chen": ...,
    "mig_chen/factor_k": ...}``.
    """
    rs = check_random_state(random_state)
    loc, scale = check_posterior(loc, scale)
    factors = check_factors(factors, len(loc))
    num_eval = check_int("num_eval", num_eval, 1)
    if loc.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 code dimensions, got {loc.shape[1]}")
    n = len(loc)
    z = torch.from_numpy(loc + scale * rs.standard_normal(loc.shape))
    lt, st = torch.from_numpy(loc), torch.from_numpy(scale)
    rows = rs.choice(n, size=min(num_eval, n), replace=False)
    marginal = _mean_neg_log_mixture(z[rows], lt, st)
    mi = np.zeros((loc.shape[1], factors.shape[1]))
    sizes = []
    for k in range(factors.shape[1]):
        values, counts = np.unique(factors[:, k], return_counts=True)
        sizes.append(len(values) if factor_sizes is None else int(factor_sizes[k]))
        conditional = torch.zeros(loc.shape[1], dtype=torch.float64)
        for value, count in zip(values, counts):
            members = np.flatnonzero(factors[:, k] == value)
            chosen = members[rs.choice(count, size=min(num_eval, count), replace=False)]
            part = _mean_neg_log_mixture(z[chosen], lt[members], st[members])
            conditional += part * (count / n)
        mi[:, k] = np.maximum((marginal - conditional).numpy(), 0.0)
    log_sizes = np.log(np.asarray(sizes, dtype=np.float64))
    if np.any(log_sizes <= 0):
        raise ValueError(f"every factor needs at least 2 classes for MIG, got sizes {sizes}")
    return _normalized_gaps(mi, log_sizes, "mig_chen")


#: factors Chen et al. 2018 leave out of their MIG, per data set (dSprites: shape, "since the
#: shape factor is discrete and hard to capture by a single dimension" — their code scores
#: scale, orientation and the two positions only)
MIG_CHEN_EXCLUDED = {"dsprites": ("shape",), "generated_dsprites": ("shape",)}


# -------------------------------------------------------- representation level
def mig_score(
    representation, dataset, random_state, num_train: int = NUM_TRAIN, num_bins: int = NUM_BINS
) -> dict[str, float]:
    """MIG of a representation on ``num_train`` = 10,000 random points of ``dataset``."""
    check_int("num_train", num_train, 2)
    codes, factors = generate_codes_and_factors(representation, dataset, num_train, random_state)
    return mig(codes, factors, num_bins)


def grouped_mig_score(
    representation,
    dataset,
    random_state,
    groups: Sequence | None = None,
    num_train: int = NUM_TRAIN,
    num_bins: int = NUM_BINS,
    estimator: str = "tree",
    num_eval: int = 2000,
) -> dict[str, float]:
    """Grouped MIG of a representation on ``num_train`` random points; ``groups=None`` means
    size-1 groups (with ``estimator="histogram"`` that is MIG).

    ``estimator``: ``"tree"`` (default), ``"histogram"`` or ``"posterior"`` (module
    docstring). For ``"posterior"`` the ``num_train`` points form the mixture of eq. 15 and
    the entropies average over ``num_eval`` of them; ``num_train=None`` takes the whole data
    set (eq. 15 exactly: the training set; O(num_eval · N) memory-light, chunked).
    """
    estimator = _check_estimator(estimator)
    rs = check_random_state(random_state)
    if estimator == "posterior":
        if num_train is None:
            loc, scale, factors = posterior_of_dataset(representation, dataset)
        else:
            check_int("num_train", num_train, 2)
            loc, scale, factors = generate_posterior_and_factors(representation, dataset, num_train, rs)
        return grouped_mig_posterior(
            loc, scale, factors, groups if groups is not None else [1] * loc.shape[1], rs, num_eval=num_eval
        )
    check_int("num_train", num_train, 2)
    codes, factors = generate_codes_and_factors(representation, dataset, num_train, rs)
    return grouped_mig(
        codes, factors, groups if groups is not None else [1] * codes.shape[1], num_bins, estimator, rs
    )


def mig_chen_score(
    representation, dataset, random_state, num_eval: int = NUM_TRAIN, exclude_factors: Sequence[str] | None = None
) -> dict[str, float]:
    """:func:`mig_chen` of a representation over the whole data set (every observation's
    posterior, in chunks). ``exclude_factors``: factor names to leave out; ``None`` = Chen et
    al. 2018's choice (:data:`MIG_CHEN_EXCLUDED`: shape on dSprites, nothing elsewhere).
    The per-factor scores keep the data set's factor indices."""
    loc, scale, factors = posterior_of_dataset(representation, dataset)
    names = list(getattr(dataset, "factor_names", [f"factor_{k}" for k in range(factors.shape[1])]))
    if exclude_factors is None:
        exclude_factors = MIG_CHEN_EXCLUDED.get(getattr(dataset, "name", ""), ())
    unknown = [name for name in exclude_factors if name not in names]
    if unknown:
        raise ValueError(f"exclude_factors {unknown} are not factors of {dataset.name} ({', '.join(names)})")
    keep = [k for k, name in enumerate(names) if name not in exclude_factors]
    if not keep:
        raise ValueError("exclude_factors leaves no factor to score")
    scores = mig_chen(loc, scale, factors[:, keep], random_state, num_eval)
    out = {"mig_chen": scores["mig_chen"]}
    for j, k in enumerate(keep):
        out[f"mig_chen/factor_{k}"] = scores[f"mig_chen/factor_{j}"]
    return out
