"""Aggregate-posterior estimators: pure tensor functions, usable outside Pyro.

Total correlation (TC, Watanabe; β-TCVAE), partial correlation (PC, seed 003 eq. 3) and
the KL decomposition terms are all differences of minibatch estimates of log q(z) and of
its marginals (DESIGN.md §4).
"""

from __future__ import annotations

from typing import Sequence

import torch

from pyrodisent.estimators.aggregate import (
    AggregateLogDensities,
    grouping_factor_groups,
    log_aggregate_posterior,
    normalize_groups,
)
from pyrodisent.estimators.weights import ESTIMATOR_METHODS, log_importance_weights

__all__ = [
    "ESTIMATOR_METHODS",
    "AggregateLogDensities",
    "grouping_factor_groups",
    "log_aggregate_posterior",
    "log_importance_weights",
    "normalize_groups",
    "partial_correlation",
    "total_correlation",
]


def total_correlation(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    dataset_size: int,
    groups: Sequence | None = None,
    method: str = "is",
) -> torch.Tensor:
    """Batch estimate of TC(z) = KL(q(z) ‖ Π_d q(z_d)), or with ``groups`` of
    PC = KL(q(z) ‖ Π_g q(z_g)) (seed 003 eq. 3; seed 000's TC_joint):

        mean_i [ log q̂(z_i) − Σ_g log q̂(z_ig) ].
    """
    if groups is None:
        est = log_aggregate_posterior(z, loc, scale, dataset_size, method, dims=True)
        return (est.joint - est.dims.sum(-1)).mean()
    est = log_aggregate_posterior(z, loc, scale, dataset_size, method, groups=groups, dims=False)
    return (est.joint - est.groups.sum(-1)).mean()


def partial_correlation(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    dataset_size: int,
    groups: Sequence,
    method: str = "is",
) -> torch.Tensor:
    """PC between latent groups (seed 003 eq. 3-4); ``groups`` as sizes or dim lists."""
    return total_correlation(z, loc, scale, dataset_size, groups=groups, method=method)
