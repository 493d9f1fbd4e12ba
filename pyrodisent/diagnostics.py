"""Training-time diagnostics: the Gaussian TC of the mean and of the sampled representation.

RTC-VAE (Cheng et al. 2020, §6, after Locatello et al. 2019) measures how far a model's
representation is from factorizing by Proposition 1 (eq. 5) applied to Gaussians fitted over a
held-out batch of 5000 points:

    TC_mean   = ½ (log |diag Σ_μ| − log |Σ_μ|),   Σ_μ = Cov[μ(x)]
    TC_sample = ½ (log |diag Σ_z| − log |Σ_z|),   Σ_z = Cov[z],  z ~ q(z|x) = N(μ(x), diag σ²(x))

RTC-VAE's claim (Fig. 3) is that its variance penalty keeps TC_mean close to
TC_sample where FactorVAE and β-TCVAE let TC_mean grow while TC_sample falls. These values
are exact only for Gaussian representations: a decorrelated but dependent code (DIP-VAE;
Cheng et al. 2020, §6) reads as TC ≈ 0.
"""

from __future__ import annotations

import math

import torch

from pyrodisent.estimators.gaussian import fitted_gaussian_total_correlation


def gaussian_tc(samples: torch.Tensor) -> float:
    """Prop. 1 of Cheng et al. 2020 on the sample covariance of ``samples`` [n, D], in nats.

    Dimensions with exactly zero variance (a constant code) are independent of the rest and
    dropped; a covariance that is still singular gives ``nan`` instead of stopping a run.
    """
    x = samples.detach().to(torch.float64)
    x = x[:, x.var(0) > 0]
    if x.shape[1] < 2:
        return 0.0
    try:
        return float(fitted_gaussian_total_correlation(x))
    except ValueError:  # not positive definite
        return math.nan


def encode_representations(
    model, x: torch.Tensor, generator: torch.Generator, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ, z) [n, D] for the points ``x``, encoded in eval mode in chunks of ``batch_size``;
    z = μ + σ ⊙ ε with ε [n, D] drawn at once from ``generator`` (on its device), so the
    result does not depend on the chunking."""
    means, scales = [], []
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                loc, scale = model.encode(x[start : start + batch_size])
                means.append(loc)
                scales.append(scale)
    finally:
        if was_training:
            model.train()
    loc, scale = torch.cat(means), torch.cat(scales)
    eps = torch.randn(loc.shape, generator=generator, device=generator.device, dtype=loc.dtype)
    return loc, loc + scale * eps.to(loc.device)


def gaussian_tc_diagnostics(
    model, x_heldout: torch.Tensor, generator: torch.Generator, batch_size: int = 500
) -> dict[str, float]:
    """``{"tc_mean": TC_mean, "tc_sample": TC_sample}`` over ``x_heldout`` (Cheng et al. 2020, §6).

    ``model`` needs ``.encode(x) -> (loc, scale)``; ``generator`` draws z ~ q(z|x).
    """
    if x_heldout.shape[0] < 2:
        raise ValueError(f"x_heldout needs at least 2 points, got {x_heldout.shape[0]}")
    means, samples = encode_representations(model, x_heldout, generator, batch_size)
    return {"tc_mean": gaussian_tc(means), "tc_sample": gaussian_tc(samples)}
