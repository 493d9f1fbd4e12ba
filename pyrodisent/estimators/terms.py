"""Batch estimates of the KL-decomposition terms from the aggregate-posterior estimates.

With log q̂ from :func:`~pyrodisent.estimators.aggregate.log_aggregate_posterior`
(docs/estimators.md), for groups g of latent dims (β-STCVAE: Chen et al. 2022, eq. 9-10;
PDisVAE, an anonymous ICLR submission, eq. 3):

    MI        = mean_i [log q(z_i | x_i) − log q̂(z_i)]
    TC        = mean_i [log q̂(z_i) − Σ_d log q̂(z_id)]
    TC_joint  = PC = mean_i [log q̂(z_i) − Σ_g log q̂(z_ig)]            (between groups)
    TC_within = Σ_g TC(z_g) = mean_i [Σ_g log q̂(z_ig) − Σ_d log q̂(z_id)]
    DWKL      = mean_i Σ_d [log q̂(z_id) − log p(z_id)]

so TC = TC_joint + TC_within and MI + TC + DWKL = mean_i [log q(z_i|x_i) − log p(z_i)] exactly
(batch identities: the log q̂ terms telescope). Every constant is kept: these are true values.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pyrodisent.estimators.aggregate import log_aggregate_posterior
from pyrodisent.estimators.families import make_family


def total_correlation(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor | None,
    dataset_size: int,
    groups: Sequence | None = None,
    method: str = "is",
    *,
    scale_tril: torch.Tensor | None = None,
    rho=None,
) -> torch.Tensor:
    """Batch estimate of TC(z) = KL(q(z) ‖ Π_d q(z_d)), or with ``groups`` of
    PC = KL(q(z) ‖ Π_g q(z_g)) (PDisVAE, eq. 3; the TC_joint of Chen et al. 2022):

        mean_i [ log q̂(z_i) − Σ_g log q̂(z_ig) ].
    """
    if groups is None:
        est = log_aggregate_posterior(z, loc, scale, dataset_size, method, dims=True, scale_tril=scale_tril, rho=rho)
        return (est.joint - est.dims.sum(-1)).mean()
    est = log_aggregate_posterior(
        z, loc, scale, dataset_size, method, groups=groups, dims=False, scale_tril=scale_tril, rho=rho
    )
    return (est.joint - est.groups.sum(-1)).mean()


def partial_correlation(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor | None,
    dataset_size: int,
    groups: Sequence,
    method: str = "is",
    *,
    scale_tril: torch.Tensor | None = None,
    rho=None,
) -> torch.Tensor:
    """PC between latent groups (PDisVAE, eq. 3-4); ``groups`` as sizes or dim lists.
    One group gives 0; K singleton groups give TC."""
    return total_correlation(z, loc, scale, dataset_size, groups, method, scale_tril=scale_tril, rho=rho)


def kl_decomposition_terms(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor | None,
    dataset_size: int,
    groups: Sequence | None = None,
    method: str = "is",
    log_prior_dims: torch.Tensor | None = None,
    *,
    scale_tril: torch.Tensor | None = None,
    rho=None,
) -> dict[str, torch.Tensor]:
    """MI, TC and (with ``groups``) TC_joint and TC_within, and (with ``log_prior_dims`` [M, D],
    the per-dim prior log densities log p(z_id)) DWKL, from one pass (module docstring)."""
    est = log_aggregate_posterior(
        z, loc, scale, dataset_size, method, groups=groups, dims=True, scale_tril=scale_tril, rho=rho
    )
    log_posterior = make_family(loc, scale, scale_tril, rho).log_prob(z)
    dims_sum = est.dims.sum(-1)
    out = {
        "mi": (log_posterior - est.joint).mean(),
        "tc": (est.joint - dims_sum).mean(),
    }
    if est.groups is not None:
        groups_sum = est.groups.sum(-1)
        out["tc_joint"] = (est.joint - groups_sum).mean()
        out["tc_within"] = (groups_sum - dims_sum).mean()
    if log_prior_dims is not None:
        if log_prior_dims.shape != z.shape:
            raise ValueError(f"log_prior_dims must be [M, D] = {tuple(z.shape)}, got {tuple(log_prior_dims.shape)}")
        out["dwkl"] = (est.dims - log_prior_dims).sum(-1).mean()
    return out
