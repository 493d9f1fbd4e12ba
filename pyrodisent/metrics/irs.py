"""Interventional robustness score (IRS; Suter et al. 2019, eq. 5-7 with the finite-sample
"maximal deviation" of their §4).

For code dim j and factor i, the *post-interventional disagreement* is how far z_j still
moves once g_i is fixed, averaged over the values v of g_i:

    PIDA[j, i] = 1/|V_i| Σ_v  quantile_q( |z_j − E[z_j | g_i = v]|  over the points with g_i = v )
    IRS[j, i]  = 1 − PIDA[j, i] / max_n |z_jn − E z_j|

A dim's score is its best factor, max_i IRS[j, i]; the IRS of the code is the average of
the dims' scores weighted by their maximal deviations (a dim that never moves has weight
0 and is dropped first). Reference defaults (disentanglement_lib; Locatello et al. 2019):
10,000 points of the mean representation, q = 0.99 (``diff_quantile=1.0`` is the paper's
maximum), factors discretised into the 20-bin histogram as for MIG.
"""

from __future__ import annotations

import numpy as np

from pyrodisent.metrics.utils import (
    NUM_BINS,
    check_codes,
    check_factors,
    generate_codes_and_factors,
    histogram_discretize,
)
from pyrodisent.validation import check_int

NUM_TRAIN = 10_000
DIFF_QUANTILE = 0.99


def irs_matrix(codes, factors, diff_quantile: float = DIFF_QUANTILE) -> tuple[np.ndarray, np.ndarray]:
    """([D, K] IRS[j, i], [D] maximal deviations) of codes [n, D] and discrete factors [n, K]."""
    codes = check_codes(codes)
    factors = check_factors(factors, len(codes))
    if not 0.0 < diff_quantile <= 1.0:
        raise ValueError(f"diff_quantile must be in (0, 1], got {diff_quantile!r}")
    max_deviation = np.max(np.abs(codes - codes.mean(0)), axis=0)
    disagreement = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(factors.shape[1]):
        values = np.unique(factors[:, i])
        for v in values:
            rows = codes[factors[:, i] == v]
            disagreement[:, i] += np.quantile(np.abs(rows - rows.mean(0)), diff_quantile, axis=0)
        disagreement[:, i] /= len(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        matrix = 1.0 - disagreement / max_deviation[:, None]
    return matrix, max_deviation


def irs(codes, factors, diff_quantile: float = DIFF_QUANTILE, num_bins: int = NUM_BINS) -> dict[str, float]:
    """IRS of precomputed codes and factors (the factors are discretised into ``num_bins``
    histogram bins first, as the reference does; classes stay distinct up to 20 of them).
    Returns ``irs``, ``irs/num_active_dims`` and ``irs/dim_j`` per active dim."""
    codes = check_codes(codes)
    factors = histogram_discretize(check_factors(factors, len(codes)).astype(np.float64), num_bins)
    active = np.flatnonzero(codes.var(0) > 0)
    scores: dict[str, float] = {"irs/num_active_dims": float(len(active))}
    if len(active) == 0:
        scores["irs"] = 0.0
        return scores
    matrix, max_deviation = irs_matrix(codes[:, active], factors, diff_quantile)
    per_dim = matrix.max(axis=1)
    scores["irs"] = float(np.average(per_dim, weights=max_deviation))
    for j, value in zip(active, per_dim):
        scores[f"irs/dim_{j}"] = float(value)
    return scores


def irs_score(
    representation, dataset, random_state, num_train: int = NUM_TRAIN, diff_quantile: float = DIFF_QUANTILE
) -> dict[str, float]:
    """IRS of a representation on ``num_train`` = 10,000 random points of ``dataset``."""
    check_int("num_train", num_train, 2)
    codes, factors = generate_codes_and_factors(representation, dataset, num_train, random_state)
    return irs(codes, factors, diff_quantile)
