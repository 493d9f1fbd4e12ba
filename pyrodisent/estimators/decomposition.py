"""Where the total correlation lives: the three decomposition paths of β-STCVAE (Chen et al.
2022, "Break the Spell of Total Correlation in β-TCVAE"), §3.2-3.4.

Each path writes TC(z) as a sum of mutual informations between disjoint sets of latent dims,

    I(z_A; z_B) = E_q(z)[log q(z_A, z_B) − log q(z_A) − log q(z_B)],

(Chen et al. 2022 write these as I(·;·)|_{q(z) = q(·)q(·)}: an expectation under the full q(z) of
a log-ratio of marginals, which is exactly the mutual information of the marginal q(z_A, z_B)).

- ``bottom_up`` (eq. 2-5, the paper's own path): round r pairs the current
  variables (dims at round 1, then the pairs, pairs of pairs, ...) with cp = adjacent pairs
  (0, 1), (2, 3), ...; an odd one out (z_r) waits for the next round. MU_joint_r is the sum of
  the round's pairwise MIs, TC_joint_r = TC_joint_{r−1} − MU_joint_r (eq. 4), and the rounds
  stop when two variables remain, whose MI I(z_f,1; z_f,2) is the last term (eq. 5).
- ``top_down`` (eq. 13): TC(Z) = TC(Z_A) + TC(Z_Ā) + I(Z_A; Z_Ā) with A the first half,
  applied recursively: TC = Σ over the split tree of I(Z_A; Z_Ā).
- ``line`` (eq. 14): TC(Z_1:n) = I(Z_1:n−1; Z_n) + TC(Z_1:n−1), i.e. TC = Σ_k I(Z_1:k−1; Z_k).

Every path sums to TC exactly (for the closed-form Gaussian values of
:func:`gaussian_tc_decomposition`, and for minibatch estimates of :func:`tc_decomposition`,
whose log q̂ terms telescope to the batch TC estimate with the same weighting).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from pyrodisent.estimators.aggregate import batch_log_aggregate_subsets
from pyrodisent.estimators.families import batch_family
from pyrodisent.estimators.gaussian import gaussian_mutual_information

TC_PATHS = ("bottom_up", "top_down", "line")


@dataclass(frozen=True)
class MITerm:
    """One term I(z_A; z_B) of a path. ``round`` is the bottom-up round (1-based; the tree
    depth for ``top_down``, the step for ``line``); ``value`` is filled by the evaluators."""

    a: tuple[int, ...]
    b: tuple[int, ...]
    round: int
    value: torch.Tensor | None = None


@dataclass
class TCPath:
    """A decomposition of TC into MI terms; ``total`` is their sum."""

    name: str
    latent_dim: int
    terms: list[MITerm] = field(default_factory=list)

    @property
    def total(self) -> torch.Tensor:
        return sum(t.value for t in self.terms)

    def by_round(self) -> dict[int, torch.Tensor]:
        """Σ of the terms of each round: MU_joint_r for ``bottom_up`` (eq. 2-5)."""
        out: dict[int, torch.Tensor] = {}
        for t in self.terms:
            out[t.round] = out.get(t.round, 0.0) + t.value
        return out

    def tc_joint(self) -> list[torch.Tensor]:
        """For ``bottom_up``: TC_joint_r = TC − MU_joint_1 − ... − MU_joint_r (eq. 3-4), r = 1.."""
        total, out = self.total, []
        for _, mu in sorted(self.by_round().items()):
            total = total - mu
            out.append(total)
        return out


def _check_dim(latent_dim: int) -> int:
    if int(latent_dim) < 2:
        raise ValueError(f"a TC decomposition needs latent_dim >= 2, got {latent_dim}")
    return int(latent_dim)


def bottom_up_path(latent_dim: int) -> TCPath:
    """The bottom-up tree of Chen et al. 2022, eq. 2-5 (terms without values)."""
    n = _check_dim(latent_dim)
    variables = [(d,) for d in range(n)]
    terms, r = [], 1
    while len(variables) > 1:
        merged = []
        for k in range(0, len(variables) - 1, 2):
            a, b = variables[k], variables[k + 1]
            terms.append(MITerm(a, b, r))
            merged.append(a + b)
        if len(variables) % 2:
            merged.append(variables[-1])  # z_r waits for the next round
        variables, r = merged, r + 1
    return TCPath("bottom_up", n, terms)


def top_down_path(latent_dim: int) -> TCPath:
    """The top-down tree of Chen et al. 2022, eq. 13: split in halves, recursively."""
    n = _check_dim(latent_dim)
    terms = []

    def split(dims: tuple[int, ...], depth: int) -> None:
        if len(dims) < 2:
            return
        half = (len(dims) + 1) // 2
        a, b = dims[:half], dims[half:]
        terms.append(MITerm(a, b, depth))
        split(a, depth + 1)
        split(b, depth + 1)

    split(tuple(range(n)), 1)
    return TCPath("top_down", n, terms)


def line_path(latent_dim: int) -> TCPath:
    """The line-like path of Chen et al. 2022, eq. 14: TC = Σ_{k=2..n} I(Z_1:k−1; Z_k)."""
    n = _check_dim(latent_dim)
    terms = [MITerm(tuple(range(k)), (k,), k) for k in range(1, n)]
    return TCPath("line", n, terms)


def tc_path(name: str, latent_dim: int) -> TCPath:
    builders = {"bottom_up": bottom_up_path, "top_down": top_down_path, "line": line_path}
    if name not in builders:
        raise ValueError(f"unknown TC decomposition path {name!r}; choose one of {', '.join(TC_PATHS)}")
    return builders[name](latent_dim)


def gaussian_tc_decomposition(covariance, path: str = "bottom_up") -> TCPath:
    """Closed-form MI terms of ``path`` for z ~ N(·, Σ); they sum to the closed-form TC
    (Cheng et al. 2020, Prop. 1)."""
    cov = torch.as_tensor(covariance, dtype=torch.float64)
    p = tc_path(path, cov.shape[-1])
    p.terms = [replace(t, value=gaussian_mutual_information(cov, t.a, t.b)) for t in p.terms]
    return p


def tc_decomposition(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor | None,
    dataset_size: int,
    path: str = "bottom_up",
    method: str = "is",
    *,
    scale_tril: torch.Tensor | None = None,
    rho=None,
) -> TCPath:
    """Minibatch estimates of the MI terms of ``path`` for a batch (estimator ``method``).

    Each term is mean_i [log q̂(z_iA∪B) − log q̂(z_iA) − log q̂(z_iB)]; the terms sum to the
    batch TC estimate mean_i [log q̂(z_i) − Σ_d log q̂(z_id)] with the same weighting.
    """
    p = tc_path(path, z.shape[1])
    subsets: dict[tuple[int, ...], int] = {}
    for t in p.terms:
        for s in (t.a, t.b, tuple(sorted(t.a + t.b))):
            subsets.setdefault(tuple(sorted(s)), len(subsets))
    order = list(subsets)
    log_q = batch_log_aggregate_subsets(z, batch_family(z, loc, scale, scale_tril, rho), dataset_size, order, method)

    def col(s: Sequence[int]) -> torch.Tensor:
        return log_q[:, subsets[tuple(sorted(s))]]

    p.terms = [replace(t, value=(col(t.a + t.b) - col(t.a) - col(t.b)).mean()) for t in p.terms]
    return p
