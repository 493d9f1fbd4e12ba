"""Partial correlation on held-out data (PDisVAE, an anonymous ICLR submission, §4.1: "PC on
the test set").

    PC = KL(q(z) ‖ Π_g q(z_g)) = E_q(z) [log q(z) − Σ_g log q(z_g)]          (PDisVAE, eq. 3)

with q(z) = (1/M) Σ_j q(z | x_j) the aggregate posterior of M held-out observations, and z_i
~ q(z | x_i). The log densities come from :func:`pyrodisent.estimators.partial_correlation`
with the importance-sampling weights (PDisVAE, eq. 4); with N = M (the held-out set is the
whole population) those weights are 1/M everywhere, so log q̂ is the exact mixture density.
``groups=None`` gives the total correlation (size-1 groups).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pyrodisent.estimators import partial_correlation as _pc_estimate
from pyrodisent.metrics.utils import (
    as_representation,
    check_posterior,
    check_random_state,
    normalize_group_lists,
)
from pyrodisent.validation import check_int

NUM_POINTS = 2_000  # PDisVAE, §4.1 data set size


def heldout_partial_correlation(
    loc, scale, groups: Sequence | None, random_state
) -> dict[str, float]:
    """PC of the held-out aggregate posterior N(loc_j, diag scale_j²), j = 1..M (nats)."""
    rs = check_random_state(random_state)
    loc, scale = check_posterior(loc, scale)
    group_lists = normalize_group_lists(groups, loc.shape[1])
    z = loc + scale * rs.standard_normal(loc.shape)
    value = _pc_estimate(
        torch.from_numpy(z),
        torch.from_numpy(loc),
        torch.from_numpy(scale),
        dataset_size=loc.shape[0],
        groups=group_lists,
        method="is",
    )
    return {"partial_correlation": float(value)}


def partial_correlation_score(
    representation,
    dataset,
    random_state,
    groups: Sequence | None = None,
    num_points: int = NUM_POINTS,
) -> dict[str, float]:
    """PC of a model's posterior on ``num_points`` random held-out observations."""
    rs = check_random_state(random_state)
    rep = as_representation(representation)
    factors = dataset.sample_factors(check_int("num_points", num_points, 2), rs)
    loc, scale = rep.posterior(dataset.sample_observations_from_factors(factors, rs))
    return heldout_partial_correlation(loc, scale, groups, rs)
