"""Exact TC, PC and mutual information of a discrete joint distribution (a probability table).

These are the definitions the minibatch estimators approximate, evaluated exactly:

    TC(z) = KL(p(z) ‖ Π_k p(z_k)),   PC(z) = KL(p(z) ‖ Π_g p(z_g))   (PDisVAE, eq. 3),
    I(z_A; z_B) = KL(p(z_A, z_B) ‖ p(z_A) p(z_B)).

PDisVAE is the anonymous ICLR submission "A Revisit of Total Correlation in Disentangled
Variational Auto-Encoder with Partial Disentanglement". The XOR table of its Table 2
(:func:`xor_table`) has every pairwise mutual information 0 and yet PC = log 2 for the split
(z1, z2) | z3 (App. A.2): marginal independence does not imply group-wise independence. Values
in nats, float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pyrodisent.estimators.aggregate import normalize_groups


def _as_table(table) -> torch.Tensor:
    p = torch.as_tensor(table, dtype=torch.float64)
    if p.dim() < 1 or bool((p < 0).any()) or abs(float(p.sum()) - 1.0) > 1e-9:
        raise ValueError("table must be a non-negative probability table (one axis per variable) summing to 1")
    return p


def _marginal(p: torch.Tensor, keep: Sequence[int]) -> torch.Tensor:
    """p(z_keep), with the kept axes left in place as size-1-free axes (broadcastable)."""
    drop = [a for a in range(p.dim()) if a not in set(keep)]
    return p.sum(dim=drop, keepdim=True) if drop else p


def discrete_partial_correlation(table, groups: Sequence | None = None) -> torch.Tensor:
    """KL(p ‖ Π_g p_g) for a table with one axis per variable; ``groups=None`` gives TC."""
    p = _as_table(table)
    group_lists = normalize_groups(groups, p.dim()) or [[a] for a in range(p.dim())]
    product = torch.ones_like(p)
    for g in group_lists:
        product = product * _marginal(p, g)
    support = p > 0
    return (p[support] * (p[support].log() - product[support].log())).sum()


def discrete_total_correlation(table) -> torch.Tensor:
    """KL(p ‖ Π_k p_k) (Watanabe's total correlation)."""
    return discrete_partial_correlation(table, None)


def discrete_mutual_information(table, a: Sequence[int], b: Sequence[int]) -> torch.Tensor:
    """I(z_A; z_B) for disjoint axis sets A, B (other axes are marginalized out)."""
    p = _as_table(table)
    a, b = list(a), list(b)
    if not a or not b or set(a) & set(b):
        raise ValueError(f"a and b must be non-empty and disjoint, got {a} and {b}")
    joint = _marginal(p, a + b)
    keep = sorted(a + b)
    squeeze = [ax for ax in range(p.dim()) if ax not in keep]
    joint = joint.squeeze(squeeze) if squeeze else joint
    remap = {ax: i for i, ax in enumerate(keep)}
    return discrete_partial_correlation(joint, [[remap[x] for x in a], [remap[x] for x in b]])


def xor_table() -> torch.Tensor:
    """p(z1, z2, z3) of PDisVAE, Table 2: z3 = 1 − XOR(z1, z2), each of the 4 rows with p = 0.25."""
    p = torch.zeros(2, 2, 2, dtype=torch.float64)
    for z1, z2, z3 in [(0, 0, 1), (0, 1, 0), (1, 0, 0), (1, 1, 1)]:
        p[z1, z2, z3] = 0.25
    return p
