"""Omniscient latent variables (β-STCVAE: Chen et al. 2022, §4.4): dimensions whose entropy is
below ε.

    H(z_d) = E_{q(z_d)} [−log q(z_d)] < ε,   ε = 0.001                          (§4.4)

H(z_d) is estimated from the posterior as Chen et al. 2022 do (minibatch sampling of q(z_d),
eq. 15): z_i ~ q(z|x_i) for M observations and log q̂(z_id) = log (1/M) Σ_j N(z_id; μ_jd, σ_jd²)
(the importance-sampling weights of PDisVAE, an anonymous ICLR submission, eq. 4, with N = M).
The paper's model-level statement P[H < ε] ≥ 1 − δ (δ = 0.01) is over many trained models: a
sweep aggregates ``omniscient/count > 0`` across runs.
"""

from __future__ import annotations

import numpy as np
import torch

from pyrodisent.estimators import log_aggregate_posterior
from pyrodisent.metrics.utils import (
    as_representation,
    check_posterior,
    check_random_state,
)
from pyrodisent.validation import check_int

EPSILON = 0.001
NUM_POINTS = 2_000


def latent_entropies(loc, scale, random_state) -> np.ndarray:
    """[D] estimates of the marginal differential entropies H(z_d) in nats."""
    rs = check_random_state(random_state)
    loc, scale = check_posterior(loc, scale)
    z = loc + scale * rs.standard_normal(loc.shape)
    est = log_aggregate_posterior(
        torch.from_numpy(z),
        torch.from_numpy(loc),
        torch.from_numpy(scale),
        loc.shape[0],
        "is",
        dims=True,
    )
    return (-est.dims.mean(0)).numpy()


def omniscient_latents(loc, scale, random_state, epsilon: float = EPSILON) -> dict[str, float]:
    """Count of dims with H(z_d) < ε, and the smallest entropy."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    entropy = latent_entropies(loc, scale, random_state)
    return {
        "omniscient/count": float(np.sum(entropy < epsilon)),
        "omniscient/min_entropy": float(entropy.min()),
    }


def omniscient_score(
    representation, dataset, random_state, num_points: int = NUM_POINTS, epsilon: float = EPSILON
) -> dict[str, float]:
    rs = check_random_state(random_state)
    rep = as_representation(representation)
    factors = dataset.sample_factors(check_int("num_points", num_points, 2), rs)
    loc, scale = rep.posterior(dataset.sample_observations_from_factors(factors, rs))
    return omniscient_latents(loc, scale, rs, epsilon)
