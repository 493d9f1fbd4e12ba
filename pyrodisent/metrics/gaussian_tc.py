"""Gaussian total correlation of the mean and of the sampled representation (RTC-VAE: Cheng
et al. 2020).

    TC(x) = ½ (log |diag Σ| − log |Σ|)   for x ~ N(m, Σ)        (Cheng et al. 2020, Prop. 1, eq. 5)

TC_mean applies it to the sample covariance (ddof = 1) of the mean codes μ(x), TC_sample to
that of z ~ q(z|x) = μ(x) + σ(x)·ε (Cheng et al. 2020, §6: "correlation matrices of the mean
and sampled latent vectors encoded from the 5000 samples"; Prop. 1 is scale-free, so covariance
and correlation give the same value). The closed form is :mod:`pyrodisent.estimators.gaussian`.

Also the reference's other Gaussian summaries of the mean codes (disentanglement_lib
unsupervised metrics): the Wasserstein correlation 2 tr Σ − 2 tr (Σ ⊙ diag Σ 1ᵀ)^{1/2} and
its value divided by tr Σ.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from pyrodisent.estimators.gaussian import fitted_gaussian_total_correlation
from pyrodisent.metrics.utils import (
    as_representation,
    check_codes,
    check_random_state,
)
from pyrodisent.validation import check_int

NUM_POINTS = 5_000  # Cheng et al. 2020, §6


def gaussian_tc(codes) -> dict[str, float]:
    """Prop. 1 TC of a Gaussian fitted to ``codes`` [n, D] (nats)."""
    codes = check_codes(codes)
    return {"gaussian_tc": float(fitted_gaussian_total_correlation(codes))}


def gaussian_wasserstein_correlation(codes) -> dict[str, float]:
    """The reference's Wasserstein correlation of the fitted covariance, raw and normalized by tr Σ."""
    cov = np.cov(check_codes(codes).T, ddof=1).reshape(codes.shape[1], codes.shape[1])
    root = scipy.linalg.sqrtm(cov * np.diag(cov)[:, None])
    value = float(2 * np.trace(cov) - 2 * np.real(np.trace(root)))
    return {
        "gaussian_wasserstein_correlation": value,
        "gaussian_wasserstein_correlation_norm": value / float(np.sum(np.diag(cov))),
    }


def tc_mean_sample(loc, scale, random_state) -> dict[str, float]:
    """TC_mean (on ``loc``) and TC_sample (on loc + scale·ε, ε ~ N(0, I) from ``random_state``)."""
    rs = check_random_state(random_state)
    loc = check_codes(loc, "loc")
    scale = check_codes(scale, "scale")
    if scale.shape != loc.shape or np.any(scale < 0):
        raise ValueError(
            f"scale must be non-negative with the shape of loc {loc.shape}, got {scale.shape}"
        )
    z = loc + scale * rs.standard_normal(loc.shape)
    return {
        "tc_mean": float(fitted_gaussian_total_correlation(loc)),
        "tc_sample": float(fitted_gaussian_total_correlation(z)),
    }


def _observations(dataset, num_points, rs):
    factors = dataset.sample_factors(num_points, rs)
    return dataset.sample_observations_from_factors(factors, rs)


def gaussian_tc_score(
    representation, dataset, random_state, num_points: int = NUM_POINTS
) -> dict[str, float]:
    """TC_mean and TC_sample on ``num_points`` = 5,000 random observations (needs q(z|x))."""
    rs = check_random_state(random_state)
    rep = as_representation(representation)
    loc, scale = rep.posterior(_observations(dataset, check_int("num_points", num_points, 2), rs))
    scores = tc_mean_sample(loc, scale, rs)
    scores.update(gaussian_wasserstein_correlation(loc))
    return scores
