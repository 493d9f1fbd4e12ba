"""Pairwise mutual information between latent dimensions (β-STCVAE: Chen et al. 2022, Fig. 4).

    M[i, j] = Î(z_i; z_j)   (plug-in, each dim in 20 equal-width bins, nats)

The score is the mean off-diagonal entry, as the reference's ``mutual_info_score``
(disentanglement_lib unsupervised metrics): Σ_{i≠j} M[i, j] / (D² − D); also the largest.
"""

from __future__ import annotations

import numpy as np

from pyrodisent.metrics.utils import (
    NUM_BINS,
    as_representation,
    check_codes,
    check_random_state,
    discrete_mutual_information,
    histogram_discretize,
)
from pyrodisent.validation import check_int

NUM_POINTS = 10_000


def latent_mi_matrix(codes, num_bins: int = NUM_BINS) -> np.ndarray:
    """[D, D] plug-in mutual information between discretized code dims (diagonal = entropies)."""
    discrete = histogram_discretize(check_codes(codes), num_bins)
    return discrete_mutual_information(discrete, discrete)


def latent_mi(codes, num_bins: int = NUM_BINS) -> dict[str, float]:
    codes = check_codes(codes)
    if codes.shape[1] < 2:
        raise ValueError(f"pairwise latent MI needs >= 2 code dims, got {codes.shape[1]}")
    matrix = latent_mi_matrix(codes, num_bins)
    off = matrix[~np.eye(len(matrix), dtype=bool)]
    return {"latent_mi/mean": float(off.mean()), "latent_mi/max": float(off.max())}


def latent_mi_score(
    representation, dataset, random_state, num_points: int = NUM_POINTS, num_bins: int = NUM_BINS
) -> dict[str, float]:
    rs = check_random_state(random_state)
    rep = as_representation(representation)
    factors = dataset.sample_factors(check_int("num_points", num_points, 2), rs)
    return latent_mi(rep(dataset.sample_observations_from_factors(factors, rs)), num_bins)
