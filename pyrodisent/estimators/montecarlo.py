"""Monte-Carlo total correlation of a batch's aggregate posterior (Yang et al. 2020, "Towards
Better Understanding of Disentangled Representations via Mutual Information", App. D).

Encode a batch of B data points to posteriors q(z | x_i); treat their mixture
q(z) ≈ (1/B) Σ_i q(z | x_i) as the aggregate posterior, with marginals
q(z_j) ≈ (1/B) Σ_i q(z_j | x_i); draw B' samples z^(ik) from every posterior and average

    r(z) = log q(z) − Σ_j log q(z_j),      TC ≈ (1/(BB')) Σ_i Σ_k r(z^(ik)).

The paper uses B = 64 and B' = 30. This is a metric (no gradient is needed), but it is
differentiable. With ``groups`` the same recipe gives the partial correlation
KL(q(z) ‖ Π_g q(z_g)). Every posterior family of :mod:`.families` works; samples come from
the family (z = μ + L ε), and the generator makes them reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from pyrodisent.estimators.aggregate import aggregate_log_densities, normalize_groups
from pyrodisent.estimators.families import GaussianFamily, make_family


def sample_family(family: GaussianFamily, num_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """[num_samples, K, D] reparameterized draws z = μ_j + L_j ε from every component j."""
    K, D = family.loc.shape
    eps = torch.randn(num_samples, K, D, generator=generator, dtype=family.loc.dtype, device=family.loc.device)
    if family.kind == "diagonal":
        return family.loc + family.scale * eps
    if family.kind == "equicorrelated":
        # ε ~ N(0, Σ_ρ):  sqrt(1 − ρ)·e + sqrt(ρ)·s·1 with e ~ N(0, I), s ~ N(0, 1) (ρ ≥ 0),
        # or in general the Cholesky factor of Σ_ρ.
        rho = family.rho
        eye = torch.eye(D, dtype=eps.dtype, device=eps.device)
        corr = (1 - rho)[:, None, None] * eye + rho[:, None, None] * torch.ones_like(eye)
        noise = (torch.linalg.cholesky(corr) @ eps.unsqueeze(-1)).squeeze(-1)
        return family.loc + family.scale * noise
    return family.loc + (family.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)


def monte_carlo_total_correlation(
    loc: torch.Tensor,
    scale: torch.Tensor | None = None,
    samples_per_posterior: int = 30,
    groups: Sequence | None = None,
    generator: torch.Generator | None = None,
    *,
    scale_tril: torch.Tensor | None = None,
    rho=None,
) -> torch.Tensor:
    """TC (or with ``groups`` PC) of the mixture of the B posteriors in ``loc``/``scale`` [B, D],
    by B' = ``samples_per_posterior`` samples from each (Yang et al. 2020, App. D; B = 64,
    B' = 30)."""
    return family_monte_carlo_total_correlation(
        make_family(loc, scale, scale_tril, rho), samples_per_posterior, groups, generator
    )


def family_monte_carlo_total_correlation(
    family: GaussianFamily,
    samples_per_posterior: int = 30,
    groups: Sequence | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """:func:`monte_carlo_total_correlation` of the mixture of the posteriors ``family``."""
    est, group_lists = _mixture_log_densities(family, samples_per_posterior, groups, generator, dims=groups is None)
    marginals = est.dims if group_lists is None else est.groups
    return (est.joint - marginals.sum(-1)).mean()


def family_monte_carlo_tc_parts(
    family: GaussianFamily,
    samples_per_posterior: int = 30,
    groups: Sequence | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(TC, between-group TC) of the mixture of the posteriors ``family`` from the same draws
    and one pass over the pairwise densities; the second is None without ``groups``."""
    est, group_lists = _mixture_log_densities(family, samples_per_posterior, groups, generator, dims=True)
    tc = (est.joint - est.dims.sum(-1)).mean()
    return tc, None if group_lists is None else (est.joint - est.groups.sum(-1)).mean()


def _mixture_log_densities(family: GaussianFamily, samples_per_posterior: int, groups, generator, dims: bool):
    """log q of B' draws from every posterior under the equal-weight mixture of the B posteriors
    (App. D), with the per-dim marginals if ``dims`` and the group marginals of ``groups``."""
    if samples_per_posterior < 1:
        raise ValueError(f"samples_per_posterior must be >= 1, got {samples_per_posterior}")
    B, D = family.loc.shape
    z = sample_family(family, samples_per_posterior, generator).reshape(-1, D)
    log_w = torch.full((1, B), -math.log(B), dtype=z.dtype, device=z.device)
    group_lists = normalize_groups(groups, D)
    return aggregate_log_densities(z, family, log_w, groups=group_lists, dims=dims), group_lists
