"""Active units (Burda et al. 2016): dimensions whose posterior mean varies with x.

A_d = Cov_x( E_{q(z|x)}[z_d] ) = Var_x μ_d(x),    active ⟺ A_d > 0.01
"""

from __future__ import annotations

import numpy as np

from pyrodisent.metrics.utils import as_representation, check_codes, check_random_state
from pyrodisent.validation import check_int

THRESHOLD = 0.01
NUM_POINTS = 10_000


def active_units(codes, threshold: float = THRESHOLD) -> dict[str, float]:
    """Number and fraction of dims with Var(mean code) > ``threshold`` (ddof = 1)."""
    codes = check_codes(codes)
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    active = np.var(codes, axis=0, ddof=1) > threshold
    return {"active_units": float(active.sum()), "active_units/fraction": float(active.mean())}


def active_units_score(
    representation,
    dataset,
    random_state,
    num_points: int = NUM_POINTS,
    threshold: float = THRESHOLD,
) -> dict[str, float]:
    rs = check_random_state(random_state)
    rep = as_representation(representation)
    factors = dataset.sample_factors(check_int("num_points", num_points, 2), rs)
    return active_units(rep(dataset.sample_observations_from_factors(factors, rs)), threshold)
