"""Closed-form total correlation of a Gaussian (RTC-VAE: Cheng et al. 2020, Prop. 1) and its
grouped forms.

For x ~ N(m, Σ):

    TC(x)   = ½ (log |diag Σ| − log |Σ|)                      (Cheng et al. 2020, eq. 5)
    PC(x)   = ½ (Σ_g log |Σ_gg| − log |Σ|)                    (KL(q ‖ Π_g q_g); PDisVAE, eq. 3)
    I(A; B) = ½ (log |Σ_AA| + log |Σ_BB| − log |Σ_{A∪B}|)

TC_mean and TC_sample (Cheng et al. 2020, §6; Locatello et al. 2019) are these values for a
Gaussian fitted to the mean representations μ(x) or to samples z ~ q(z|x):
:func:`fitted_gaussian_total_correlation`. (PDisVAE: an anonymous ICLR submission,
docs/references.md.)
All in nats, computed in float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pyrodisent.estimators.aggregate import normalize_groups


def _as_covariance(covariance) -> torch.Tensor:
    cov = torch.as_tensor(covariance, dtype=torch.float64)
    if cov.dim() < 2 or cov.shape[-1] != cov.shape[-2]:
        raise ValueError(f"covariance must be a square [..., D, D] matrix, got shape {tuple(cov.shape)}")
    return cov


def _logdet(cov: torch.Tensor) -> torch.Tensor:
    sign, logabs = torch.linalg.slogdet(cov)
    if bool((sign <= 0).any()):
        raise ValueError("covariance is not positive definite (its determinant is not positive)")
    return logabs


def gaussian_total_correlation(covariance, groups: Sequence | None = None) -> torch.Tensor:
    """TC of N(·, Σ) (Cheng et al. 2020, Prop. 1), or with ``groups`` the partial correlation
    KL(N(Σ) ‖ Π_g N(Σ_gg)). ``covariance``: [..., D, D]; batched matrices give batched values."""
    cov = _as_covariance(covariance)
    D = cov.shape[-1]
    group_lists = normalize_groups(groups, D) or [[d] for d in range(D)]
    parts = sum(_logdet(cov[..., g, :][..., :, g]) for g in group_lists)
    return 0.5 * (parts - _logdet(cov))


def gaussian_mutual_information(covariance, a: Sequence[int], b: Sequence[int]) -> torch.Tensor:
    """I(z_A; z_B) = ½ (log|Σ_AA| + log|Σ_BB| − log|Σ_{A∪B}|) for disjoint dim sets A, B."""
    cov = _as_covariance(covariance)
    a, b = list(a), list(b)
    if not a or not b or set(a) & set(b):
        raise ValueError(f"a and b must be non-empty and disjoint, got {a} and {b}")
    ab = a + b

    def block(s):
        return cov[..., s, :][..., :, s]

    return 0.5 * (_logdet(block(a)) + _logdet(block(b)) - _logdet(block(ab)))


def fitted_gaussian_total_correlation(samples, groups: Sequence | None = None) -> torch.Tensor:
    """Prop. 1 applied to the sample covariance of ``samples`` [n, D] (TC_mean on μ(x),
    TC_sample on z ~ q(z|x); Cheng et al. 2020, §6). Scale-free, so covariance or correlation
    agree."""
    x = torch.as_tensor(samples, dtype=torch.float64)
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"samples must be [n >= 2, D], got shape {tuple(x.shape)}")
    return gaussian_total_correlation(torch.cov(x.T).reshape(x.shape[1], x.shape[1]), groups)


def equicorrelation_matrix(latent_dim: int, rho: float) -> torch.Tensor:
    """Σ_ρ = (1 − ρ)I + ρ11ᵀ (Yang et al. 2020, the mutual-information paper, eq. 11), float64."""
    eye = torch.eye(latent_dim, dtype=torch.float64)
    return (1 - rho) * eye + rho * torch.ones(latent_dim, latent_dim, dtype=torch.float64)
