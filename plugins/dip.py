"""DIP-VAE-I and DIP-VAE-II (Kumar et al. 2018; RTC-VAE, Cheng et al. 2020, Table 1;
docs/methods/dipvae.md).

Both match a moment of q(z) to the N(0, I) prior by penalizing a covariance matrix C:

    λ_od · Σ_{i≠j} C_ij²  +  λ_d · Σ_i (C_ii − 1)²

- DIP-VAE-I:  C = Cov_p(x)[μ(x)], λ_d = 10·λ_od by default.
- DIP-VAE-II: C = Cov_q(z)[z] = E_p(x)[Cov_q(z|x)[z]] + Cov_p(x)[μ(x)] (the law of total
  covariance, Cheng et al. 2020, §4), λ_d = λ_od by default.

Batch estimates: Cov(μ) = (1/M) Σ_i (μ_i − μ̄)(μ_i − μ̄)ᵀ and E[Cov_q(z|x)] =
(1/M) Σ_i diag σ_i² (or the mean full covariance for a posterior that has one). The terms
are per-data-point quantities added to −ELBO. Cheng et al. 2020, Table 1, sweep λ_od over
[2, 5, 10, 20, 50]; the default is 10. Cheng et al. 2020 (§6) note the caveat: DIP-VAEs
decorrelate, which does not make the aggregate posterior factorize (a zero Gaussian TC is not a
zero TC).
"""

from __future__ import annotations

import torch

from pyrodisent import PosteriorBatch, Regularizer, check_weight, hookimpl

VARIANTS = ("i", "ii")
DIAGONAL_FACTOR = {"i": 10.0, "ii": 1.0}


def batch_covariance(x: torch.Tensor) -> torch.Tensor:
    """[D, D] (1/M) Σ_i (x_i − x̄)(x_i − x̄)ᵀ of a batch x [M, D]."""
    centered = x - x.mean(0, keepdim=True)
    return centered.T @ centered / x.shape[0]


def expected_posterior_covariance(posterior: PosteriorBatch) -> torch.Tensor:
    """[D, D] E_x[Cov_q(z|x)[z]] over the batch."""
    covariance = getattr(posterior.posterior, "covariance_matrix", None)
    if covariance is not None:
        return covariance.mean(0)
    variance = posterior.scale.pow(2) if posterior.scale is not None else posterior.posterior.variance
    return torch.diag_embed(variance.mean(0))


def dip_terms(covariance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ_{i≠j} C_ij², Σ_i (C_ii − 1)²) of a covariance matrix C."""
    diagonal = torch.diagonal(covariance)
    off_diagonal = covariance.pow(2).sum() - diagonal.pow(2).sum()
    return off_diagonal, (diagonal - 1.0).pow(2).sum()


class DIPVAE(Regularizer):
    """DIP-VAE-I and DIP-VAE-II (Kumar et al. 2018): λ_od · Σ_{i≠j} C_ij² + λ_d · Σ_i (C_ii − 1)²
    with C = Cov(μ) ("i") or Cov(z) ("ii").

    :param variant: ``"i"`` or ``"ii"``.
    :param lambda_od: weight of the off-diagonal term (default 10).
    :param lambda_d: weight of the diagonal term; default 10·λ_od for I, λ_od for II.

    Logged: the weighted terms as ``dip/off_diagonal`` and ``dip/diagonal``, the unweighted
    sums as ``dip/off_diagonal_unweighted`` and ``dip/diagonal_unweighted``.
    """

    name = "dip"

    def __init__(self, variant: str = "i", lambda_od: float = 10.0, lambda_d: float | None = None):
        super().__init__()
        variant = str(variant).lower()
        if variant not in VARIANTS:
            raise ValueError(f"dip: variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        self.lambda_od = check_weight("lambda_od", lambda_od)
        if lambda_d is None:
            lambda_d = DIAGONAL_FACTOR[variant] * self.lambda_od
        self.lambda_d = check_weight("lambda_d", lambda_d)
        self._hyperparameters = {"variant": variant, "lambda_od": self.lambda_od, "lambda_d": self.lambda_d}

    def covariance(self, posterior: PosteriorBatch) -> torch.Tensor:
        """The matrix C the penalty acts on."""
        mean = posterior.loc if posterior.loc is not None else posterior.posterior.mean
        covariance = batch_covariance(mean)
        if self.variant == "ii":
            covariance = covariance + expected_posterior_covariance(posterior)
        return covariance

    def penalty(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        off_diagonal, diagonal = dip_terms(self.covariance(posterior))
        posterior.record(f"{self.name}/off_diagonal_unweighted", off_diagonal)
        posterior.record(f"{self.name}/diagonal_unweighted", diagonal)
        return {"off_diagonal": self.lambda_od * off_diagonal, "diagonal": self.lambda_d * diagonal}


@hookimpl
def pyrodisent_regularizers():
    return {"dip": DIPVAE}
