"""Minibatch estimates of the aggregate posterior and its marginals (docs/estimators.md).

For a batch z_i ~ q(z | x_i), i = 1..M, from a dataset of N points,

    L_S[i, j]     = log q(z_iS | x_j)                                   (dims S)
    log q̂(z_i)    = logsumexp_j (L_all[i, j] + log W[i, j])            (joint)
    log q̂(z_id)   = logsumexp_j (L_{d}[i, j] + log W[i, j])            (dim d)
    log q̂(z_ig)   = logsumexp_j (L_g[i, j] + log W[i, j])              (group g)

with W from :mod:`pyrodisent.estimators.weights` (``mws``, ``mss``, ``mss_chen_code``, ``is``)
and q(z | x_j) any :class:`~pyrodisent.estimators.families.GaussianFamily` (diagonal,
equicorrelated as in Yang et al. 2020, the mutual-information paper, or full covariance).

Memory. The [M, M, D] tensor of per-dim log densities is never held at once:

- per-dim marginals (diagonal densities are exact per dim) are computed in chunks of dims,
  O(M²·chunk) memory, and under autograd each chunk is recomputed in the backward pass
  instead of stored. When the per-dim densities are computed anyway, the joint and the group
  sums are accumulated from them, exactly (dims are reordered so that each group's dims are
  contiguous, and a chunk ends on a group boundary where it can);
- otherwise the joint and the group terms come from matrix products
  (:meth:`GaussianFamily.pairwise_log_prob`), formed in float64 after centring so that the
  expansion Σ_d (z − μ)²/σ² = z²/σ² − 2zμ/σ² + μ²/σ² does not cancel catastrophically
  when σ is small.

:func:`log_aggregate_posterior_naive` is the direct [M, M, D] layout, kept as the reference
the tests and ``benchmarks/estimators.py`` compare against.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from pyrodisent.estimators.cache import TensorCache
from pyrodisent.estimators.families import GaussianFamily, batch_family, centred, expanded_quadratic
from pyrodisent.estimators.weights import log_importance_weights

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Elements of one [Q, K, chunk] block (~256 MB in fp32); bigger chunks recompute in backward.
_MAX_CHUNK_ELEMENTS = 1 << 26
# Elements of one batched [subsets, Q, K] float64 product block (~128 MB).
_MAX_GEMM_ELEMENTS = 1 << 24


@dataclass
class AggregateLogDensities:
    """Per-point log densities of the aggregate posterior and its marginals.

    ``joint``: [M] log q̂(z_i); ``dims``: [M, D] log q̂(z_id); ``groups``: [M, G] log q̂(z_ig).
    A field is ``None`` when it was not requested.
    """

    joint: torch.Tensor | None
    dims: torch.Tensor | None
    groups: torch.Tensor | None


def _is_integer(value) -> bool:
    if torch.is_tensor(value):
        return value.dim() == 0 and not value.is_floating_point()
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def normalize_groups(groups: Sequence[int] | Sequence[Sequence[int]] | None, latent_dim: int) -> list[list[int]] | None:
    """Turn group sizes ``[2, 3, 1]`` or explicit dim lists ``[[0, 1], [2, 3, 4], [5]]`` into dim lists.

    The groups must partition ``range(latent_dim)``; the error says what is wrong.
    """
    if groups is None:
        return None
    groups = list(groups)
    if not groups:
        raise ValueError("groups must not be empty; pass None for no grouping")
    if all(_is_integer(g) for g in groups):
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
    try:
        out = [[int(d) for d in g] for g in groups]
    except TypeError:
        raise ValueError(
            f"groups must be a list of sizes like [2, 3, 1] or of dim lists like [[0, 1], [2]]; "
            f"got {groups!r}"
        ) from None
    flat = sorted(d for g in out for d in g)
    if any(not g for g in out) or flat != list(range(latent_dim)):
        raise ValueError(
            f"groups {out} do not partition the {latent_dim} latent dims: every dim "
            f"0..{latent_dim - 1} must appear in exactly one (non-empty) group"
        )
    return out


def grouping_factor_groups(latent_dim: int, grouping_factor: int) -> list[list[int]]:
    """Contiguous groups of ``grouping_factor`` dims (β-STCVAE, Chen et al. 2022, eq. 9: the
    grouping factor i | n)."""
    if not _is_integer(grouping_factor) or grouping_factor <= 0 or latent_dim % int(grouping_factor):
        divisors = [i for i in range(1, latent_dim + 1) if latent_dim % i == 0]
        raise ValueError(
            f"grouping_factor {grouping_factor!r} does not divide the latent size {latent_dim}; "
            f"choose one of {divisors}"
        )
    grouping_factor = int(grouping_factor)
    return normalize_groups([grouping_factor] * (latent_dim // grouping_factor), latent_dim)


# --------------------------------------------------------------------------- exact per-dim
def _plan_chunks(latent_dim: int, group_lists, chunk_size: int):
    """Order the dims group by group and cut them into chunks of at most ``chunk_size`` dims.

    Returns a list of (dims, pieces) where pieces are (group id, first local position,
    length, continues_previous, closes_group). A chunk ends on a group boundary unless a
    group is larger than a chunk.
    """
    groups = group_lists if group_lists is not None else [[d] for d in range(latent_dim)]
    pieces = []
    for g, members in enumerate(groups):
        for start in range(0, len(members), chunk_size):
            part = members[start : start + chunk_size]
            pieces.append((g, part, start > 0, start + chunk_size >= len(members)))
    chunks, current, size = [], [], 0
    for piece in pieces:
        if current and size + len(piece[1]) > chunk_size:
            chunks.append(current)
            current, size = [], 0
        current.append(piece)
        size += len(piece[1])
    if current:
        chunks.append(current)
    plan = []
    for chunk in chunks:
        dims, layout = [], []
        for g, part, continues, closes in chunk:
            layout.append((g, len(dims), len(part), continues, closes))
            dims.extend(part)
        plan.append((dims, layout))
    return plan


def _chunk_terms(z, family: GaussianFamily, log_ws, want_dims, layout, carry):
    """Exact per-dim log densities of one chunk of dims, reduced to what is asked for, under
    each weighting of ``log_ws`` (the densities are computed once for all of them).

    Returns (joint part [Q, K], per weighting the per-dim log q̂ [Q, c] or None, per
    weighting the closed groups' log q̂ [Q, n] or None, open group's partial sum [Q, K] or
    None).
    """
    log_density = family.pairwise_log_prob_dims(z)  # [Q, K, c]
    joint = log_density.sum(-1)
    dims = tuple(
        torch.logsumexp(log_density + log_w.unsqueeze(-1), dim=1) if wanted else None
        for log_w, wanted in zip(log_ws, want_dims)
    )
    closed, carry_out = tuple(None for _ in log_ws), None
    if layout is not None:
        sums = []
        for g, start, length, continues, closes in layout:
            s = log_density[..., start : start + length].sum(-1)
            if continues:
                s = s + carry
            if closes:
                sums.append(s)
            else:
                carry_out = s
        if sums:
            stacked = torch.stack(sums, -1)
            closed = tuple(torch.logsumexp(stacked + log_w.unsqueeze(-1), dim=1) for log_w in log_ws)
    return joint, dims, closed, carry_out


def _dimwise(z, family: GaussianFamily, log_ws, group_lists, want_dims, want_joint, chunk_size):
    """Per-dim marginals (and, from the same exact densities, the joint and groups of a
    diagonal ``family``), for each weighting of ``log_ws``; ``want_dims`` says per weighting
    whether its per-dim marginals are wanted. Returns one (joint, dims, groups) triple per
    weighting."""
    Q, D = z.shape
    K = family.num_components
    if chunk_size is None:
        chunk_size = max(1, min(D, _MAX_CHUNK_ELEMENTS // max(1, Q * K)))
    plan = _plan_chunks(D, group_lists, chunk_size)
    recompute = torch.is_grad_enabled() and len(plan) > 1
    want_groups = group_lists is not None
    E = len(log_ws)
    joint_sum, carry = None, None
    dim_out = [[None] * D for _ in range(E)]
    group_out = [[None] * (len(group_lists) if want_groups else 0) for _ in range(E)]
    whole = len(plan) == 1 and plan[0][0] == list(range(D))  # one chunk of every dim, in order
    for dims, layout in plan:
        # the per-dim marginals of a chunk are diagonal whatever the family's layout
        if whole:  # no gather (only a copy where the layout is strided, as the gather made one),
            # and the chunk's outputs are already the per-dim ones
            zs = z.contiguous()
            part = GaussianFamily("diagonal", family.loc.contiguous(), family.scale.contiguous())
        else:
            index = torch.as_tensor(dims, device=z.device)
            zs = z.index_select(1, index)
            part = GaussianFamily("diagonal", family.loc.index_select(1, index), family.scale.index_select(1, index))
        args = (
            zs,
            part,
            log_ws,
            want_dims,
            layout if want_groups else None,
            carry,
        )
        if recompute:
            j, d, closed, carry = checkpoint(_chunk_terms, *args, use_reentrant=False)
        else:
            j, d, closed, carry = _chunk_terms(*args)
        if want_joint:
            joint_sum = j if joint_sum is None else joint_sum + j
        closing = [g for g, _, _, _, closes in layout if closes]
        for e in range(E):
            if d[e] is not None and whole:
                dim_out[e] = d[e]
            elif d[e] is not None:
                for pos, dim in enumerate(dims):
                    dim_out[e][dim] = d[e][:, pos]
            if closed[e] is not None:
                for k, g in enumerate(closing):
                    group_out[e][g] = closed[e][:, k]
    out = []
    for e, log_w in enumerate(log_ws):
        joint = torch.logsumexp(joint_sum + log_w, dim=1) if want_joint else None
        dims_t = (dim_out[e] if whole else torch.stack(dim_out[e], 1)) if want_dims[e] else None
        groups_t = torch.stack(group_out[e], 1) if want_groups else None
        out.append((joint, dims_t, groups_t))
    return out


# --------------------------------------------------------------------------- matrix products
_SUBSET_BATCHES = TensorCache(size=64)


def _padded_subsets(subsets: tuple, per_batch: int, dtype: torch.dtype, device: torch.device) -> list:
    """[(index [B, w], mask [B, w])] of the subsets in batches of ``per_batch``, zero-padded to
    the widest subset; cached, since a training run asks for the same groups every step."""
    return _SUBSET_BATCHES.get((subsets, per_batch, dtype, str(device)),
                               lambda: _build_padded_subsets(subsets, per_batch, dtype, device))


def _build_padded_subsets(subsets: tuple, per_batch: int, dtype: torch.dtype, device: torch.device) -> list:
    width = max(len(s) for s in subsets)
    batches = []
    for start in range(0, len(subsets), per_batch):
        batch = subsets[start : start + per_batch]
        index = torch.zeros(len(batch), width, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=dtype)
        for b, s in enumerate(batch):
            index[b, : len(s)] = torch.as_tensor(s)
            mask[b, : len(s)] = 1.0
        batches.append((index.to(device), mask.to(device)))
    return batches


def _subset_log_aggregate(z, family: GaussianFamily, log_ws, subsets, gemm_dtype, max_elements=_MAX_GEMM_ELEMENTS):
    """Per weighting of ``log_ws``, the [Q, S] log q̂ over each dim subset (subsets may
    overlap), by matrix products; the densities are formed once for all weightings.

    Diagonal families batch the subsets (zero-padded to the largest) into batched GEMMs of
    at most ``max_elements`` [Q, K] entries at once; other families go subset by subset.
    """
    Q = z.shape[0]
    K = family.num_components
    if family.kind != "diagonal":
        cols = [[] for _ in log_ws]
        for s in subsets:
            log_density = family.restrict(s).pairwise_log_prob(z[:, list(s)], gemm_dtype)
            for e, log_w in enumerate(log_ws):
                cols[e].append(torch.logsumexp(log_density + log_w, dim=1))
        return [torch.stack(c, 1) for c in cols]
    zc, mc, scale = centred(z, family.loc, family.scale, gemm_dtype)
    prec = scale.reciprocal().square()
    log_scale = scale.log()
    per_batch = max(1, max_elements // max(1, Q * K))
    out = [[] for _ in log_ws]
    for index, mask in _padded_subsets(tuple(tuple(int(d) for d in s) for s in subsets), per_batch, zc.dtype, z.device):
        zs = zc[:, index].permute(1, 0, 2) * mask.unsqueeze(1)  # [B, Q, w]
        ms = mc[:, index].permute(1, 0, 2) * mask.unsqueeze(1)  # [B, K, w]
        ps = prec[:, index].permute(1, 0, 2) * mask.unsqueeze(1)
        quad = expanded_quadratic(zs, ms, ps)  # [B, Q, K]
        sizes = mask.sum(-1)  # [B]
        log_norm = -(log_scale[:, index].permute(1, 0, 2) * mask.unsqueeze(1)).sum(-1) - sizes.unsqueeze(-1) * _HALF_LOG_2PI
        log_density = (-0.5 * quad.clamp_min(0.0) + log_norm.unsqueeze(1)).to(z.dtype)
        for e, log_w in enumerate(log_ws):
            out[e].append(torch.logsumexp(log_density + log_w, dim=-1).T)  # [Q, B]
    return [torch.cat(o, 1) for o in out]


# --------------------------------------------------------------------------- public
def aggregate_log_densities(
    z: torch.Tensor,
    family: GaussianFamily,
    log_weights: torch.Tensor,
    groups: list[list[int]] | None = None,
    dims: bool = True,
    chunk_size: int | None = None,
    gemm_dtype: torch.dtype | None = torch.float64,
) -> AggregateLogDensities:
    """log q̂ of queries ``z`` [Q, D] under the weighted mixture Σ_j W[i, j] q(z | x_j).

    ``log_weights``: [Q, K] or [1, K] (the same weights for every query). ``groups``: dim
    lists partitioning the D dims (already normalized). The building block of
    :func:`log_aggregate_posterior` (its W) and of the Monte-Carlo TC of Yang et al. 2020,
    App. D (W = 1/B). One weighting of :func:`aggregate_log_densities_multi`.
    """
    out = aggregate_log_densities_multi(z, family, {0: log_weights}, groups, dims, chunk_size, gemm_dtype)
    return out[0]


def aggregate_log_densities_multi(
    z: torch.Tensor,
    family: GaussianFamily,
    log_weights: Mapping[Hashable, torch.Tensor],
    groups: list[list[int]] | None = None,
    dims: bool | Collection[Hashable] = True,
    chunk_size: int | None = None,
    gemm_dtype: torch.dtype | None = torch.float64,
) -> dict[Hashable, AggregateLogDensities]:
    """:func:`aggregate_log_densities` under several weightings at once (``log_weights``:
    name → [Q, K] or [1, K]), from one computation of the pairwise densities log q(z_i | x_j):
    only the weighted log-sum-exps are done per weighting. ``dims``: True (every weighting),
    False, or the names whose per-dim marginals are wanted. The path is chosen once for all
    weightings (exact per-dim densities when any weighting wants per-dim marginals of a
    diagonal family, matrix products otherwise), so each result equals
    :func:`aggregate_log_densities` for that weighting alone with ``dims=bool(dims)``
    (bit for bit), less the per-dim marginals it did not ask for. Returns name →
    :class:`AggregateLogDensities`.
    """
    names = list(log_weights)
    log_ws = tuple(log_weights[n] for n in names)
    if isinstance(dims, bool):
        want_dims = tuple(dims for _ in names)
    else:
        want_dims = tuple(n in dims for n in names)
    if any(want_dims):
        if family.kind == "diagonal":
            parts = _dimwise(z, family, log_ws, groups, want_dims, True, chunk_size)
            return {n: AggregateLogDensities(*p) for n, p in zip(names, parts)}
        dim_out = [d for _, d, _ in _dimwise(z, family, log_ws, None, want_dims, False, chunk_size)]
    else:
        dim_out = [None] * len(names)
    pairwise = family.pairwise_log_prob(z, gemm_dtype)
    joints = [torch.logsumexp(pairwise + log_w, dim=1) for log_w in log_ws]
    group_out = [None] * len(names)
    if groups is not None:
        group_out = _subset_log_aggregate(z, family, log_ws, groups, gemm_dtype)
    return {n: AggregateLogDensities(j, d, g) for n, j, d, g in zip(names, joints, dim_out, group_out)}


def batch_log_aggregate(
    z: torch.Tensor,
    family: GaussianFamily,
    dataset_size: int,
    method: str = "is",
    groups: Sequence | None = None,
    dims: bool = True,
    chunk_size: int | None = None,
    gemm_dtype: torch.dtype | None = torch.float64,
) -> AggregateLogDensities:
    """:func:`log_aggregate_posterior` of a batch whose posteriors are ``family`` (one
    component per point of ``z``): the minibatch weights of ``method`` over ``dataset_size``."""
    M, D = z.shape
    log_w = log_importance_weights(M, dataset_size, method, device=z.device, dtype=z.dtype)
    return aggregate_log_densities(z, family, log_w, normalize_groups(groups, D), dims, chunk_size, gemm_dtype)


def batch_log_aggregate_subsets(
    z: torch.Tensor,
    family: GaussianFamily,
    dataset_size: int,
    subsets: Sequence[Sequence[int]],
    method: str = "is",
    gemm_dtype: torch.dtype | None = torch.float64,
) -> torch.Tensor:
    """:func:`log_aggregate_subsets` of a batch whose posteriors are ``family``."""
    M, D = z.shape
    subsets = [sorted(int(d) for d in s) for s in subsets]
    for s in subsets:
        if not s or s[0] < 0 or s[-1] >= D or len(set(s)) != len(s):
            raise ValueError(f"subset {s} must be non-empty distinct dims in 0..{D - 1}")
    log_w = log_importance_weights(M, dataset_size, method, device=z.device, dtype=z.dtype)
    return _subset_log_aggregate(z, family, (log_w,), subsets, gemm_dtype)[0]


def log_aggregate_posterior(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor | None,
    dataset_size: int,
    method: str = "is",
    groups: Sequence | None = None,
    dims: bool = True,
    chunk_size: int | None = None,
    *,
    scale_tril: torch.Tensor | None = None,
    rho=None,
    gemm_dtype: torch.dtype | None = torch.float64,
) -> AggregateLogDensities:
    """Estimate log q(z_i), log q(z_id) (``dims=True``) and log q(z_ig) (``groups``) for a batch.

    ``z``, ``loc``, ``scale``: [M, D]; the posterior of point j is N(loc_j, diag scale_j²), or
    with ``rho`` the correlated-noise guide N(loc_j, diag(scale_j) Σ_ρ diag(scale_j)) of
    Yang et al. 2020, eq. 12, or with ``scale_tril`` [M, D, D] any N(loc_j, L_j L_jᵀ) (``scale``
    may then be None). ``dataset_size``: N. ``method``: ``mws | mss | mss_chen_code | is``
    (:mod:`~pyrodisent.estimators.weights`). ``groups``: sizes or dim lists partitioning the D
    dims (:func:`normalize_groups`). ``chunk_size``: dims per exact chunk (default: as many as
    fit 2²⁶ elements of [M, M, chunk]). ``gemm_dtype``: precision of the matrix-product path.
    """
    family = batch_family(z, loc, scale, scale_tril, rho)
    return batch_log_aggregate(z, family, dataset_size, method, groups, dims, chunk_size, gemm_dtype)


def log_aggregate_subsets(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor | None,
    dataset_size: int,
    subsets: Sequence[Sequence[int]],
    method: str = "is",
    *,
    scale_tril: torch.Tensor | None = None,
    rho=None,
    gemm_dtype: torch.dtype | None = torch.float64,
) -> torch.Tensor:
    """[M, S] estimates log q̂(z_iS) for arbitrary (possibly overlapping) dim subsets S.

    What the TC decomposition paths of Chen et al. 2022, §3.2-3.4 need (:mod:`.decomposition`).
    """
    family = batch_family(z, loc, scale, scale_tril, rho)
    return batch_log_aggregate_subsets(z, family, dataset_size, subsets, method, gemm_dtype)


def log_aggregate_posterior_naive(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor,
    dataset_size: int,
    method: str = "is",
    groups: Sequence | None = None,
    dims: bool = True,
) -> AggregateLogDensities:
    """The direct layout: the full [M, M, D] tensor of log N(z_id; μ_jd, σ_jd²) (diagonal only).

    O(M²D) memory; the reference for the memory-efficient :func:`log_aggregate_posterior`.
    """
    family = batch_family(z, loc, scale)
    M, D = z.shape
    log_w = log_importance_weights(M, dataset_size, method, device=z.device, dtype=z.dtype)
    log_density = family.pairwise_log_prob_dims(z)  # [M, M, D]
    joint = torch.logsumexp(log_density.sum(-1) + log_w, dim=1)
    dim_out = torch.logsumexp(log_density + log_w.unsqueeze(-1), dim=1) if dims else None
    group_out = None
    group_lists = normalize_groups(groups, D)
    if group_lists is not None:
        group_out = torch.stack(
            [torch.logsumexp(log_density[..., g].sum(-1) + log_w, dim=1) for g in group_lists], 1
        )
    return AggregateLogDensities(joint=joint, dims=dim_out, groups=group_out)
