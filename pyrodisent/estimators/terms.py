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

:func:`kl_decomposition` is the one place these differences are written out: the functions
below, :meth:`pyrodisent.PosteriorBatch.kl_decomposition` and the ``tc``, ``grouped_tc`` and
``pc`` plugins all take their terms from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pyrodisent.estimators.aggregate import AggregateLogDensities, batch_log_aggregate
from pyrodisent.estimators.families import GaussianFamily, batch_family


def kl_decomposition(
    estimates: AggregateLogDensities,
    log_posterior: torch.Tensor | None = None,
    log_prior_dims: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The KL-decomposition terms (module docstring) that one set of aggregate estimates
    allows: ``tc`` needs ``estimates.dims``; ``tc_joint`` (= PC) ``estimates.groups``;
    ``tc_within`` both; ``mi`` the [M] log q(z_i | x_i) ``log_posterior``; ``dwkl`` the dims
    and the [M, D] per-dim prior log densities ``log_prior_dims``. Terms whose inputs are
    missing are left out.
    """
    joint, dims, groups = estimates.joint, estimates.dims, estimates.groups
    out: dict[str, torch.Tensor] = {}
    if log_posterior is not None:
        out["mi"] = (log_posterior - joint).mean()
    dims_sum = dims.sum(-1) if dims is not None else None
    if dims_sum is not None:
        out["tc"] = (joint - dims_sum).mean()
    if groups is not None:
        groups_sum = groups.sum(-1)
        out["tc_joint"] = (joint - groups_sum).mean()
        if dims_sum is not None:
            out["tc_within"] = (groups_sum - dims_sum).mean()
    if dims is not None and log_prior_dims is not None:
        if log_prior_dims.shape != dims.shape:
            raise ValueError(
                f"log_prior_dims must be [M, D] = {tuple(dims.shape)}, got {tuple(log_prior_dims.shape)}"
            )
        out["dwkl"] = (dims - log_prior_dims).sum(-1).mean()
    return out


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
    return family_total_correlation(z, batch_family(z, loc, scale, scale_tril, rho), dataset_size, groups, method)


def family_total_correlation(
    z: torch.Tensor, family: GaussianFamily, dataset_size: int, groups: Sequence | None = None, method: str = "is"
) -> torch.Tensor:
    """:func:`total_correlation` of a batch whose posteriors are ``family``."""
    if groups is None:
        return kl_decomposition(batch_log_aggregate(z, family, dataset_size, method, dims=True))["tc"]
    est = batch_log_aggregate(z, family, dataset_size, method, groups=groups, dims=False)
    return kl_decomposition(est)["tc_joint"]


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
    return family_total_correlation(z, batch_family(z, loc, scale, scale_tril, rho), dataset_size, groups, method)


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
    if log_prior_dims is not None and log_prior_dims.shape != z.shape:
        raise ValueError(f"log_prior_dims must be [M, D] = {tuple(z.shape)}, got {tuple(log_prior_dims.shape)}")
    family = batch_family(z, loc, scale, scale_tril, rho)
    est = batch_log_aggregate(z, family, dataset_size, method, groups=groups, dims=True)
    return kl_decomposition(est, family.log_prob(z), log_prior_dims)
