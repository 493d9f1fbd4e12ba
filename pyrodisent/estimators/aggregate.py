"""Minibatch estimates of the aggregate posterior and its marginals (DESIGN.md §4).

For a batch z_i ~ q(z | x_i), i = 1..M, from a dataset of N points and a diagonal Gaussian
posterior q(z | x_j) = N(loc_j, diag scale_j²):

    L_d[i, j]     = log N(z_id; loc_jd, scale_jd²)                      (per dim)
    log q̂(z_i)    = logsumexp_j (Σ_d L_d[i, j] + log W[i, j])          (joint)
    log q̂(z_i,g)  = logsumexp_j (Σ_{d ∈ g} L_d[i, j] + log W[i, j])    (group g)

with W from :mod:`pyrodisent.estimators.weights`. The [M, M, D] tensor is never held at
once: dims are processed in chunks (O(M²·chunk) memory), and under autograd each chunk is
recomputed in the backward pass instead of stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch.utils.checkpoint import checkpoint

from pyrodisent.estimators.weights import log_importance_weights

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Chunks above this many elements of [M, M, chunk] are recomputed in backward (~256 MB fp32).
_MAX_CHUNK_ELEMENTS = 1 << 26


@dataclass
class AggregateLogDensities:
    """Per-point log densities of the aggregate posterior and its marginals.

    ``joint``: [M] log q̂(z_i); ``dims``: [M, D] log q̂(z_id); ``groups``: [M, G] log q̂(z_ig).
    A field is ``None`` when it was not requested.
    """

    joint: torch.Tensor | None
    dims: torch.Tensor | None
    groups: torch.Tensor | None


def normalize_groups(groups: Sequence[int] | Sequence[Sequence[int]] | None, latent_dim: int) -> list[list[int]] | None:
    """Turn group sizes ``[2, 3, 1]`` or explicit dim lists ``[[0, 1], [2, 3, 4], [5]]`` into dim lists.

    The groups must partition ``range(latent_dim)``; the error says what is wrong.
    """
    if groups is None:
        return None
    groups = list(groups)
    if not groups:
        raise ValueError("groups must not be empty; pass None for no grouping")
    if all(isinstance(g, int) or (torch.is_tensor(g) and g.dim() == 0) for g in groups):
        sizes = [int(g) for g in groups]
        if any(s <= 0 for s in sizes):
            raise ValueError(f"group sizes must be positive, got {sizes}")
        if sum(sizes) != latent_dim:
            raise ValueError(
                f"group sizes {sizes} sum to {sum(sizes)} but the latent size is {latent_dim}; "
                f"the sizes must add up to the latent size"
            )
        out, start = [], 0
        for s in sizes:
            out.append(list(range(start, start + s)))
            start += s
        return out
    out = [[int(d) for d in g] for g in groups]
    flat = sorted(d for g in out for d in g)
    if flat != list(range(latent_dim)):
        raise ValueError(
            f"groups {out} do not partition the {latent_dim} latent dims: every dim "
            f"0..{latent_dim - 1} must appear in exactly one group"
        )
    return out


def grouping_factor_groups(latent_dim: int, grouping_factor: int) -> list[list[int]]:
    """Contiguous groups of ``grouping_factor`` dims (seed 000 §3: i | n)."""
    if grouping_factor <= 0 or latent_dim % grouping_factor:
        divisors = [i for i in range(1, latent_dim + 1) if latent_dim % i == 0]
        raise ValueError(
            f"grouping_factor {grouping_factor} does not divide the latent size {latent_dim}; "
            f"choose one of {divisors}"
        )
    return normalize_groups([grouping_factor] * (latent_dim // grouping_factor), latent_dim)


def _chunk_terms(z, loc, scale, log_w, group_index, num_groups, want_dims):
    """Exact per-dim log densities of one dim chunk, reduced to what is asked for."""
    diff = (z.unsqueeze(1) - loc.unsqueeze(0)) / scale.unsqueeze(0)  # [M, M, c]
    log_density = -0.5 * diff.square() - scale.log().unsqueeze(0) - _HALF_LOG_2PI
    joint = log_density.sum(-1)
    dims = torch.logsumexp(log_density + log_w.unsqueeze(-1), dim=1) if want_dims else None
    groups = None
    if group_index is not None:
        groups = log_density.new_zeros(log_density.shape[:2] + (num_groups,))
        groups.index_add_(2, group_index, log_density)
    return joint, dims, groups


def log_aggregate_posterior(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    dataset_size: int,
    method: str = "is",
    groups: Sequence | None = None,
    dims: bool = True,
    chunk_size: int | None = None,
) -> AggregateLogDensities:
    """Estimate log q(z_i), log q(z_id) (``dims=True``) and log q(z_ig) (``groups``) for a batch.

    ``z``, ``loc``, ``scale``: [M, D] (diagonal Gaussian posteriors). ``dataset_size``: N.
    ``method``: ``mws | mss | mss_chen_code | is`` (module :mod:`~pyrodisent.estimators.weights`).
    ``groups``: sizes or dim lists partitioning the D dims (see :func:`normalize_groups`).
    """
    if z.dim() != 2 or loc.shape != z.shape or scale.shape != z.shape:
        raise ValueError(
            f"z, loc and scale must all be [M, D]; got {tuple(z.shape)}, {tuple(loc.shape)}, "
            f"{tuple(scale.shape)}"
        )
    M, D = z.shape
    log_w = log_importance_weights(M, dataset_size, method, device=z.device, dtype=z.dtype)
    group_lists = normalize_groups(groups, D)
    group_of_dim = None
    if group_lists is not None:
        group_of_dim = torch.empty(D, dtype=torch.long)
        for g, members in enumerate(group_lists):
            group_of_dim[members] = g
        group_of_dim = group_of_dim.to(z.device)
    num_groups = len(group_lists) if group_lists else 0

    if chunk_size is None:
        chunk_size = max(1, min(D, _MAX_CHUNK_ELEMENTS // max(1, M * M)))
    recompute = torch.is_grad_enabled() and chunk_size < D
    joint_sum = None
    dim_parts, group_sum = [], None
    for start in range(0, D, chunk_size):
        sl = slice(start, min(D, start + chunk_size))
        gi = group_of_dim[sl] if group_of_dim is not None else None
        args = (z[:, sl], loc[:, sl], scale[:, sl], log_w, gi, num_groups, dims)
        if recompute:
            j, d, g = checkpoint(_chunk_terms, *args, use_reentrant=False)
        else:
            j, d, g = _chunk_terms(*args)
        joint_sum = j if joint_sum is None else joint_sum + j
        if d is not None:
            dim_parts.append(d)
        if g is not None:
            group_sum = g if group_sum is None else group_sum + g

    joint = torch.logsumexp(joint_sum + log_w, dim=1)
    group_out = None
    if group_sum is not None:
        group_out = torch.logsumexp(group_sum + log_w.unsqueeze(-1), dim=1)
    return AggregateLogDensities(
        joint=joint,
        dims=torch.cat(dim_parts, dim=1) if dims else None,
        groups=group_out,
    )
