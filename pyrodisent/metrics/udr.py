"""Unsupervised disentanglement ranking, UDR (Duan et al. 2020, §3).

UDR scores a model against other models trained with the *same hyper-parameters and different
seeds*, without factor labels: disentangled models of one setting agree up to a permutation and
sign flips of their latents, entangled ones agree far less. All models encode the same N points.

Informative latents. Latent a is informative, I_KL(a) = 1, when its KL to the prior averaged
over the points exceeds 0.01 (Duan et al. 2020, §3):

    KL_a = 1/N Σ_n KL(N(μ_a(x_n), σ_a(x_n)²) ‖ N(0, 1)) = 1/N Σ_n ½ (μ_a² + σ_a² − log σ_a² − 1)

(the N(0, 1) prior of the paper; for a model with another prior this is the KL to N(0, 1)).

Similarity. R(a, b) ≥ 0 relates latent a of model i to latent b of model j:

* UDR_S: R(a, b) = |Spearman ρ(μ_a, μ_b)| over the N points (:func:`spearman_correlation`);
* UDR_L: R(a, b) = |w_ab|, the weight of a in a Lasso regression of μ_b on all informative μ
  of model i, both standardised, α = 0.1 (:func:`similarity_matrix`).

Pairwise score. With d_a, d_b the numbers of informative latents of models i and j, and each
latent's strongest similarity r_b = max_a R(a, b) (over the informative a), r_a = max_b R(a, b):

    UDR_ij = 1/(d_a + d_b) [ Σ_b r_b² I_KL(b) / Σ_a R(a, b) I_KL(a)
                           + Σ_a r_a² I_KL(a) / Σ_b R(a, b) I_KL(b) ]

Each ratio is 1 when the latent is matched to exactly one latent of the other model with
similarity 1, and shrinks towards 1/d when its similarity is spread; with R ≤ 1 it lies in
[0, 1]. A ratio 0/0 (a latent unrelated to every informative latent of the other model)
counts 0. Model i's UDR is the median of its pairwise scores over the other models of its
group. Permuting, flipping the sign of or (for UDR_S) monotonically transforming the latents
of a model leaves every score unchanged.

Reading of the paper's notation: each maximum runs over the same index as the sum it is
divided by (the column maximum for a latent b of model j, the row maximum for a latent a of
model i), which is also what disentanglement_lib computes.

Where disentanglement_lib (``evaluation/udr/metrics/udr.py``, Duan et al.'s release) differs:

* **Normalisation.** It averages the two sums separately, ½ (Σ_b …/d_b + Σ_a …/d_a), instead
  of dividing their total by d_a + d_b. The two agree when d_a = d_b; here the paper's form is
  computed (for R = [[0.9], [0.3]] the paper gives 0.625, disentanglement_lib 0.6375).
* **Default similarity.** Its default is the Lasso (UDR_L); here it is Spearman (UDR_S: no
  regularisation weight, symmetric, invariant to monotone transforms). Under UDR_L on
  standardised, uncorrelated latents the Lasso shrinks each weight by α, so two identical
  models score 1 − α = 0.9, not 1.
* **Direction (UDR_L only).** R of the pair (i, j) regresses model j's latents on model i's;
  a model's score takes the pairs in which its own latents are the targets, as
  disentanglement_lib does. Under UDR_S the pairwise matrix is symmetric.
* **Masking.** It zeroes the uninformative latents with a fixed 0.01 before computing R,
  whatever ``kl_filter_threshold`` says; here only ``kl_threshold`` decides.
* **Number of points.** It has no default (``num_data_points`` is required; its own tests use
  1,000). Here: 1,000 points drawn with the metric's ``random_state``.
* **Degenerate pairs.** When neither model has an informative latent the pair's score is NaN
  (0/0) and is left out of the medians; a model with informative latents paired with one
  without scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import Lasso

from pyrodisent.metrics.utils import (
    as_representation,
    check_codes,
    check_posterior,
    check_random_state,
)
from pyrodisent.validation import check_int, check_number

#: points every model encodes (disentanglement_lib has no default; its tests use 1,000)
NUM_POINTS = 1000
#: an informative latent has mean KL to the prior above this (Duan et al. 2020, §3)
KL_THRESHOLD = 0.01
#: Lasso regularisation weight of UDR_L (disentanglement_lib's)
LASSO_ALPHA = 0.1
CORRELATIONS = ("spearman", "lasso")


@dataclass(frozen=True)
class UDRScores:
    """UDR of a group of M models trained with the same hyper-parameters.

    :ivar udr: [M] each model's UDR, the median of ``pairwise[j, i]`` over j ≠ i (NaN pairs left out).
    :ivar pairwise: [M, M] UDR_ij with R from model i's latents to model j's; NaN on the diagonal.
    :ivar informative: per model, [D_i] bool, I_KL of each latent.
    :ivar kl: per model, [D_i] mean KL of each latent to N(0, 1), nats.
    """

    udr: np.ndarray
    pairwise: np.ndarray
    informative: list[np.ndarray]
    kl: list[np.ndarray]


def latent_kl(loc, scale) -> np.ndarray:
    """[D] mean over the points of KL(N(μ_d, σ_d²) ‖ N(0, 1)) = ½ (μ² + σ² − log σ² − 1), nats."""
    loc, scale = check_posterior(loc, scale)
    return np.mean(0.5 * (loc**2 + scale**2 - 2.0 * np.log(scale) - 1.0), axis=0)


def informative_latents(loc, scale, kl_threshold: float = KL_THRESHOLD) -> np.ndarray:
    """[D] bool: I_KL(d), mean KL of latent d to N(0, 1) above ``kl_threshold``."""
    kl_threshold = check_number("kl_threshold", kl_threshold, 0.0)
    return latent_kl(loc, scale) > kl_threshold


def spearman_correlation(codes_a, codes_b) -> np.ndarray:
    """[D_a, D_b] Spearman ρ between the columns of ``codes_a`` [n, D_a] and ``codes_b`` [n, D_b]:
    the Pearson correlation of their ranks (ties get their average rank, as scipy's
    ``spearmanr``). NaN where a column is constant."""
    a = _standardised_ranks(check_codes(codes_a, "codes_a"))
    b = _standardised_ranks(check_codes(codes_b, "codes_b"))
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"codes_a has {a.shape[0]} rows but codes_b has {b.shape[0]}; encode the same points")
    return np.clip(a.T @ b, -1.0, 1.0)


def _standardised_ranks(codes: np.ndarray) -> np.ndarray:
    centred = rankdata(codes, axis=0)
    centred = centred - centred.mean(axis=0)
    norm = np.sqrt(np.sum(centred**2, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return centred / norm  # a constant column: 0/0 = NaN


def similarity_matrix(
    codes_a, codes_b, correlation: str = "spearman", lasso_alpha: float = LASSO_ALPHA
) -> np.ndarray:
    """R [D_a, D_b] ≥ 0 between the latents of two models on the same points (module docstring):
    |Spearman ρ| (a constant latent relates to nothing: 0) or the |weights| of a Lasso fit of
    each standardised column of ``codes_b`` on all standardised columns of ``codes_a``."""
    if correlation not in CORRELATIONS:
        raise ValueError(f"correlation must be one of {CORRELATIONS}, got {correlation!r}")
    if correlation == "spearman":
        return np.nan_to_num(np.abs(spearman_correlation(codes_a, codes_b)), nan=0.0)
    lasso_alpha = check_number("lasso_alpha", lasso_alpha, 0.0, exclusive_minimum=True)
    a, b = _standardised(check_codes(codes_a, "codes_a")), _standardised(check_codes(codes_b, "codes_b"))
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"codes_a has {a.shape[0]} rows but codes_b has {b.shape[0]}; encode the same points")
    # coordinate descent visits the weights in order (selection="cyclic"): nothing random
    weights = Lasso(alpha=lasso_alpha).fit(a, b).coef_
    return np.abs(np.reshape(weights, (b.shape[1], a.shape[1]))).T


def _standardised(codes: np.ndarray) -> np.ndarray:
    """Zero mean, unit (population) variance per column; a constant column becomes zeros."""
    centred = codes - codes.mean(axis=0)
    sd = codes.std(axis=0)
    return centred / np.where(sd > 0, sd, 1.0)


def pairwise_udr(similarity, informative_a=None, informative_b=None) -> float:
    """UDR_ij of the module docstring for R = ``similarity`` [D_a, D_b] (non-negative) and the
    I_KL masks of both models (default: every latent informative). NaN when neither model
    has an informative latent."""
    R = np.asarray(similarity, dtype=np.float64)
    if R.ndim != 2 or not np.all(np.isfinite(R)) or np.any(R < 0):
        raise ValueError(f"similarity must be a finite non-negative [D_a, D_b] matrix, got shape {R.shape}")
    keep_a = _mask(informative_a, R.shape[0], "informative_a")
    keep_b = _mask(informative_b, R.shape[1], "informative_b")
    d_a, d_b = int(keep_a.sum()), int(keep_b.sum())
    if d_a + d_b == 0:
        return float("nan")
    R = R[keep_a][:, keep_b]  # the I_KL weights: only informative rows and columns count
    if R.size == 0:
        return 0.0  # the informative latents of one model have no partner in the other
    return float((_relative_strength(R, axis=0).sum() + _relative_strength(R, axis=1).sum()) / (d_a + d_b))


def _relative_strength(R: np.ndarray, axis: int) -> np.ndarray:
    """max² / sum along ``axis`` (0/0 = 0)."""
    total = R.sum(axis=axis)
    peak = R.max(axis=axis)
    return np.where(total > 0, peak**2 / np.where(total > 0, total, 1.0), 0.0)


def _mask(mask, size: int, name: str) -> np.ndarray:
    if mask is None:
        return np.ones(size, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (size,):
        raise ValueError(f"{name} must be a [{size}] boolean mask, got shape {mask.shape}")
    return mask


def udr(
    locs: Sequence,
    scales: Sequence,
    correlation: str = "spearman",
    kl_threshold: float = KL_THRESHOLD,
    lasso_alpha: float = LASSO_ALPHA,
) -> UDRScores:
    """UDR of M ≥ 2 models from their posteriors on the same N points: ``locs[i]``, ``scales[i]``
    are model i's posterior mean and standard deviation [N, D_i]."""
    if len(locs) != len(scales) or len(locs) < 2:
        raise ValueError(
            f"udr needs the posteriors of >= 2 models (as many locs as scales), got {len(locs)} locs "
            f"and {len(scales)} scales"
        )
    posteriors = [check_posterior(loc, scale) for loc, scale in zip(locs, scales)]
    if len({loc.shape[0] for loc, _ in posteriors}) > 1:
        raise ValueError("every model must encode the same points: the locs have different numbers of rows")
    kl_threshold = check_number("kl_threshold", kl_threshold, 0.0)
    kl = [latent_kl(loc, scale) for loc, scale in posteriors]
    informative = [k > kl_threshold for k in kl]
    codes = [loc[:, keep] for (loc, _), keep in zip(posteriors, informative)]
    M = len(codes)
    pairwise = np.full((M, M), np.nan)
    for i in range(M):
        for j in range(M):
            if i == j:
                continue
            if codes[i].shape[1] == 0 or codes[j].shape[1] == 0:
                R = np.zeros((codes[i].shape[1], codes[j].shape[1]))
            else:
                R = similarity_matrix(codes[i], codes[j], correlation, lasso_alpha)
            pairwise[i, j] = pairwise_udr(R)
    scores = np.array([_median(np.delete(pairwise[:, i], i)) for i in range(M)])
    return UDRScores(udr=scores, pairwise=pairwise, informative=informative, kl=kl)


def _median(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def encode_points(representations: Sequence, dataset, num_points: int, random_state) -> tuple[list, list]:
    """(locs, scales): the posteriors of every model on the same ``num_points`` observations,
    drawn from ``dataset`` (factors, then their observations) with ``random_state``."""
    rs = check_random_state(random_state)
    factors = dataset.sample_factors(check_int("num_points", num_points, 2), rs)
    x = dataset.sample_observations_from_factors(factors, rs)
    locs, scales = [], []
    for representation in representations:
        loc, scale = as_representation(representation).posterior(x)
        locs.append(loc)
        scales.append(scale)
    return locs, scales


def udr_score(
    representations: Sequence,
    dataset,
    random_state,
    num_points: int = NUM_POINTS,
    correlation: str = "spearman",
    kl_threshold: float = KL_THRESHOLD,
    lasso_alpha: float = LASSO_ALPHA,
) -> UDRScores:
    """UDR of models (each with ``encode(x) -> (loc, scale)``) trained with the same
    hyper-parameters and different seeds, on ``num_points`` = 1,000 observations of ``dataset``."""
    locs, scales = encode_points(representations, dataset, num_points, random_state)
    return udr(locs, scales, correlation, kl_threshold, lasso_alpha)
