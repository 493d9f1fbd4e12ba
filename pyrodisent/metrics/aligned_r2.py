"""Group-aligned latent R² (PDisVAE, an anonymous ICLR submission, §4.1, Fig. 2).

For estimated latent groups ẑ_1..ẑ_G and true latent groups z'_1..z'_G:

    R2[g1, g2] = R² of the affine least-squares fit of the true group z'_g1 from the
                 estimated group ẑ_g2 (1 − SS_res / SS_tot per target dim, averaged over
                 the dims of z'_g1, as sklearn's ``r2_score``)
    π = argmax_π Σ_g R2[g, π(g)]     (linear-sum assignment, scipy ``linear_sum_assignment``)
    score = 1/G Σ_g R2[g, π(g)]

For a method without latent groups (β-TCVAE, VAE, ICA) PDisVAE grid-searches every way of
partitioning the estimated dims into groups of the true sizes and keeps the best alignment
(K!/(G!(H!)^G) groupings for G groups of H dims): pass ``code_groups=None``, and
``code_group_sizes`` when the code has more dims than the truth (PDisVAE App. A.4.2: three
true latents, six code dims in three pairs).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from math import factorial

import numpy as np
from scipy.optimize import linear_sum_assignment

from pyrodisent.metrics.utils import (
    as_representation,
    check_codes,
    check_random_state,
    normalize_group_lists,
)
from pyrodisent.validation import check_int

MAX_GROUPINGS = 200_000


def affine_residuals(predictors: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """[n, T] residuals of the affine least-squares fit of ``targets`` [n, T] on ``predictors``."""
    design = np.concatenate([predictors, np.ones((len(predictors), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design, targets, rcond=None)
    return targets - design @ coef


def _affine_r2(predictors: np.ndarray, targets: np.ndarray) -> float:
    """Mean over target columns of the R² of an affine least-squares fit on ``predictors``."""
    residual = affine_residuals(predictors, targets)
    centered = targets - targets.mean(0)
    ss_tot = (centered**2).sum(0)
    ss_res = (residual**2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res > 0, 0.0, 1.0))
    return float(r2.mean())


def r2_alignment_matrix(
    codes, true_latents, code_groups: Sequence, true_groups: Sequence
) -> np.ndarray:
    """[G_true, G_code] matrix R2[g1, g2]: true group g1 fitted from estimated group g2."""
    codes = check_codes(codes)
    true_latents = check_codes(true_latents, "true_latents")
    if len(true_latents) != len(codes):
        raise ValueError(f"true_latents has {len(true_latents)} rows but codes have {len(codes)}")
    cg = normalize_group_lists(code_groups, codes.shape[1])
    tg = normalize_group_lists(true_groups, true_latents.shape[1])
    return np.array([[_affine_r2(codes[:, c], true_latents[:, t]) for c in cg] for t in tg])


def _align(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return rows, cols, float(matrix[rows, cols].mean())


def _groupings(dims: list[int], sizes: list[int]) -> Iterator[list[list[int]]]:
    """Every partition of ``dims`` into unordered groups with the given sizes.

    Groups of equal size are unordered: the group that holds the smallest remaining dim is
    chosen first among groups of its size, so each partition appears once.
    """
    if not sizes:
        yield []
        return
    first, rest = dims[0], dims[1:]
    for size in sorted(set(sizes)):
        remaining = list(sizes)
        remaining.remove(size)
        for others in itertools.combinations(rest, size - 1):
            group = [first, *others]
            left = [d for d in rest if d not in others]
            for tail in _groupings(left, remaining):
                yield [group, *tail]


def count_groupings(sizes: Sequence[int]) -> int:
    """Number of partitions of sum(sizes) dims into unordered groups of these sizes."""
    total = factorial(sum(sizes))
    for s in sizes:
        total //= factorial(s)
    for s in set(sizes):
        total //= factorial(list(sizes).count(s))
    return total


def best_alignment(
    codes,
    true_latents,
    true_groups: Sequence,
    code_groups: Sequence | None = None,
    code_group_sizes: Sequence[int] | None = None,
    max_groupings: int = MAX_GROUPINGS,
) -> tuple[float, np.ndarray, list[list[int]]]:
    """(score, R2 matrix [G_true, G_code], code groups) of the best group alignment.

    ``code_groups`` fixes the estimated groups (a model's own latent groups); ``None``
    searches every partition of the code dims into groups of ``code_group_sizes`` (default:
    the true group sizes, which then need as many code dims as true dims) and keeps the one
    whose assignment has the highest mean R² — PDisVAE §4.1's post-hoc grouping of methods
    without latent groups (15 groupings of 6 dims into 3 pairs).
    """
    codes = check_codes(codes)
    true_latents = check_codes(true_latents, "true_latents")
    if len(true_latents) != len(codes):
        raise ValueError(f"true_latents has {len(true_latents)} rows but codes have {len(codes)}")
    tg = normalize_group_lists(true_groups, true_latents.shape[1])
    if code_groups is not None:
        cg = normalize_group_lists(code_groups, codes.shape[1])
        matrix = r2_alignment_matrix(codes, true_latents, cg, tg)
        return _align(matrix)[2], matrix, cg
    sizes = [len(g) for g in tg] if code_group_sizes is None else [int(s) for s in code_group_sizes]
    if any(s < 1 for s in sizes):
        raise ValueError(f"code_group_sizes must be positive, got {sizes}")
    if sum(sizes) != codes.shape[1]:
        hint = "pass code_group_sizes or code_groups" if code_group_sizes is None else "fix code_group_sizes"
        raise ValueError(
            f"the grouping search partitions the code dims into groups of sizes {sizes}, which needs "
            f"{sum(sizes)} code dims; got {codes.shape[1]}: {hint}"
        )
    if len(sizes) < len(tg):
        raise ValueError(f"{len(sizes)} code groups cannot be matched one-to-one to {len(tg)} true groups")
    n = count_groupings(sizes)
    if n > max_groupings:
        raise ValueError(f"{n} groupings to search exceed max_groupings={max_groupings}; pass code_groups")
    cache: dict[tuple[int, ...], np.ndarray] = {}

    def column(group):
        key = tuple(group)
        if key not in cache:
            cache[key] = np.array([_affine_r2(codes[:, list(group)], true_latents[:, t]) for t in tg])
        return cache[key]

    best = None
    for grouping in _groupings(list(range(codes.shape[1])), sizes):
        m = np.stack([column(g) for g in grouping], axis=1)
        value = _align(m)[2]
        if best is None or value > best[0]:
            best = (value, m, grouping)
    return best


def aligned_r2(
    codes,
    true_latents,
    true_groups: Sequence,
    code_groups: Sequence | None = None,
    max_groupings: int = MAX_GROUPINGS,
    code_group_sizes: Sequence[int] | None = None,
) -> dict[str, float]:
    """Group-aligned latent R² (PDisVAE §4.1, Fig. 2); the grouping as :func:`best_alignment`.

    Returns ``aligned_r2`` (mean matched R²), ``aligned_r2/group_g`` (true group g's matched R²)
    and ``aligned_r2/match_g`` (the estimated group index matched to true group g).
    """
    _, matrix, _ = best_alignment(codes, true_latents, true_groups, code_groups, code_group_sizes, max_groupings)
    rows, cols, score = _align(matrix)
    out = {"aligned_r2": score}
    for r, c in zip(rows, cols):
        out[f"aligned_r2/group_{r}"] = float(matrix[r, c])
        out[f"aligned_r2/match_{r}"] = float(c)
    return out


def factor_value_array(dataset, factors: np.ndarray) -> np.ndarray:
    """[n, K] float values of factor classes [n, K]: ``dataset.factor_values`` when known,
    else the classes themselves."""
    factors = np.asarray(factors)
    if dataset.factor_values is None:
        return factors.astype(np.float64)
    return np.stack([np.asarray(v, dtype=np.float64)[factors[:, k]] for k, v in enumerate(dataset.factor_values)], 1)


def aligned_r2_score(
    representation,
    dataset,
    random_state,
    true_groups: Sequence | None = None,
    code_groups: Sequence | None = None,
    num_points: int = 2_000,
) -> dict[str, float]:
    """Group-aligned latent R² (PDisVAE, §4.1) against the dataset's factor values
    (``dataset.factor_values`` when known, else the classes). ``true_groups`` groups the
    factors (default: one per factor); ``code_groups=None`` searches the groupings."""
    rs = check_random_state(random_state)
    rep = as_representation(representation)
    factors = dataset.sample_factors(check_int("num_points", num_points, 2), rs)
    codes = rep(dataset.sample_observations_from_factors(factors, rs))
    true = factor_value_array(dataset, factors)
    groups = true_groups if true_groups is not None else [1] * true.shape[1]
    return aligned_r2(codes, true, groups, code_groups)
