"""Diagnostics of a trained model on held-out points: the Gaussian TC of the mean and of the
sampled representation, the ELBO's terms with the aggregate posterior's TC, and the TC of the
aggregate posterior of a whole data set.

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
from contextlib import contextmanager

import torch
from torch.distributions import kl_divergence

from pyrodisent.distributions import CorrelatedNormal
from pyrodisent.estimators.families import make_family
from pyrodisent.estimators.gaussian import fitted_gaussian_total_correlation
from pyrodisent.estimators.montecarlo import (
    family_monte_carlo_tc_parts,
    monte_carlo_total_correlation,
)
from pyrodisent.metrics.active_units import THRESHOLD as ACTIVE_UNIT_THRESHOLD
from pyrodisent.validation import check_int


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


def posterior_rho(model) -> float:
    """ρ of the model's correlated-noise guide (Yang et al. 2020, eq. 12); 0 for a factorized
    one or a model without the attribute."""
    return float(getattr(model, "rho", 0.0) or 0.0)


def sample_posterior(
    loc: torch.Tensor, scale: torch.Tensor, rho: float, generator: torch.Generator
) -> torch.Tensor:
    """z ~ q(z|x) = N(μ, diag(σ) Σ_ρ diag(σ)) for every row, drawn from ``generator`` on its own
    device and returned on ``loc``'s; ρ = 0 is the factorized N(μ, diag σ²) with the same draw."""
    device = generator.device
    z = CorrelatedNormal(loc.to(device), scale.to(device), rho).rsample(generator=generator)
    return z.to(loc.device)


@contextmanager
def _evaluating(model):
    """The model in eval mode without gradients; its training mode is restored after."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            model.train()


def _encode_all(model, x: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ, σ) [n, D] of the points ``x``, encoded in eval mode in chunks of ``batch_size``."""
    with _evaluating(model):
        means, scales = zip(*(model.encode(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)))
    return torch.cat(means), torch.cat(scales)


def encode_representations(
    model, x: torch.Tensor, generator: torch.Generator, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ, z) [n, D] for the points ``x``, encoded in eval mode in chunks of ``batch_size``;
    z ~ q(z|x) of the model's guide family (:func:`sample_posterior`), drawn at once from
    ``generator``, so the result does not depend on the chunking."""
    loc, scale = _encode_all(model, x, batch_size)
    return loc, sample_posterior(loc, scale, posterior_rho(model), generator)


def elbo_terms(
    model, x: torch.Tensor, generator: torch.Generator, batch_size: int = 64, samples_per_posterior: int = 30
) -> dict[str, float]:
    """``{"reconstruction", "kl", "tc"}`` of a trained model on the points ``x`` (Yang et al. 2020,
    Fig. 2), in nats per point, in eval mode.

    - reconstruction: the mean of −log p(x | z) at one z ~ q(z|x) per point;
    - kl: the mean of KL(q(z|x) ‖ p(z)), in closed form where torch has one (N(0, I) with the
      factorized or the correlated guide), else at the same z as log q(z|x) − log p(z);
    - tc: the Monte-Carlo TC of Yang et al. 2020, App. D, averaged over consecutive batches of
      ``batch_size`` = B points with B' = ``samples_per_posterior`` draws from each posterior; a
      trailing partial batch is left out (all points form one batch when there are fewer than B).
      Each batch's mixture of B posteriors stands in for q(z), so the estimate is at most
      log B-scale and biased like every minibatch estimate of the aggregate posterior.

    ``model`` needs ``encode``, ``log_likelihood(x, z)`` and ``prior(device)`` (:class:`VAE`).
    """
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 points, got {x.shape[0]}")
    batch_size = min(check_int("batch_size", batch_size, 1), x.shape[0])
    samples_per_posterior = check_int("samples_per_posterior", samples_per_posterior, 1)
    rho = posterior_rho(model)
    loc, scale = _encode_all(model, x, batch_size)
    z = sample_posterior(loc, scale, rho, generator)
    with _evaluating(model):
        nll = torch.cat([
            -model.log_likelihood(x[i : i + batch_size], z[i : i + batch_size])
            for i in range(0, x.shape[0], batch_size)
        ])
        posterior = CorrelatedNormal(loc, scale, rho)
        prior = model.prior(loc.device)
        try:
            kl = kl_divergence(posterior, prior)
        except NotImplementedError:
            kl = posterior.log_prob(z) - prior.log_prob(z)
    device = generator.device
    tcs = [
        monte_carlo_total_correlation(
            loc[i : i + batch_size].to(device, torch.float64), scale[i : i + batch_size].to(device, torch.float64),
            samples_per_posterior, generator=generator, rho=rho,
        )
        for i in range(0, x.shape[0] - batch_size + 1, batch_size)
    ]
    return {"reconstruction": float(nll.mean()), "kl": float(kl.mean()), "tc": float(torch.stack(tcs).mean())}


def gaussian_tc_diagnostics(
    model, x_heldout: torch.Tensor, generator: torch.Generator, batch_size: int = 500
) -> dict[str, float]:
    """TC_mean and TC_sample over ``x_heldout`` (Cheng et al. 2020, §6), over all dims and
    over the active ones.

    Returns ``tc_mean``, ``tc_sample`` (all D dims, the paper's quantities), ``active_dims``
    (dims with Var_x μ_d(x) > 0.01, the active units of Burda et al. 2016) and
    ``tc_mean_active``, ``tc_sample_active`` (the same TCs over the active dims only). Prop. 1
    is invariant to each dim's scale, so a collapsed dim — μ_d(x) nearly constant, σ_d ≈ 1 —
    whose tiny fluctuations correlate with the active dims adds as much to TC_mean as an
    active one, while its posterior noise hides it in TC_sample: the active-dim values show
    whether a disparity lies in the code that carries information.

    ``model`` needs ``.encode(x) -> (loc, scale)``; ``generator`` draws z ~ q(z|x).
    """
    if x_heldout.shape[0] < 2:
        raise ValueError(f"x_heldout needs at least 2 points, got {x_heldout.shape[0]}")
    means, samples = encode_representations(model, x_heldout, generator, batch_size)
    active = means.detach().to(torch.float64).var(0) > ACTIVE_UNIT_THRESHOLD
    return {
        "tc_mean": gaussian_tc(means),
        "tc_sample": gaussian_tc(samples),
        "active_dims": int(active.sum()),
        "tc_mean_active": gaussian_tc(means[:, active]),
        "tc_sample_active": gaussian_tc(samples[:, active]),
    }


def dataset_total_correlation(
    model,
    x: torch.Tensor,
    generator: torch.Generator,
    groups=None,
    samples_per_posterior: int = 1,
    batch_size: int = 500,
) -> dict[str, float]:
    """TC of the aggregate posterior of the points ``x`` itself, q(z) = (1/n) Σ_i q(z | x_i)
    (Chen et al. 2018, §3), in nats; with ``groups`` also the between-group TC
    KL(q(z) ‖ Π_g q(z_g)) (β-STCVAE's TC_joint, Chen et al. 2022, eq. 9).

    The Monte-Carlo recipe of Yang et al. 2020, App. D (:func:`monte_carlo_total_correlation`)
    with one batch of all n points instead of batches of 64: q(z) and its marginals are then
    the exact mixtures over the data set, so the only error is the Monte-Carlo average over
    ``samples_per_posterior`` draws per point, with none of the log B-scale bias of a minibatch
    estimate (a training estimate over a batch of 64 out of 1,797 points can be negative).
    Costs n² · D density evaluations (chunked): use a few thousand points, not millions.

    Returns ``tc`` and, with ``groups`` (sizes or dim lists), ``tc_joint`` (between groups) and
    ``tc_within`` = ``tc`` − ``tc_joint`` (the within-group TC that β-STCVAE leaves
    unpenalized) from the same draws.
    """
    if x.shape[0] < 2:
        raise ValueError(f"x needs at least 2 points, got {x.shape[0]}")
    samples_per_posterior = check_int("samples_per_posterior", samples_per_posterior, 1)
    loc, scale = _encode_all(model, x, check_int("batch_size", batch_size, 1))
    loc, scale = loc.to(generator.device, torch.float64), scale.to(generator.device, torch.float64)
    family = make_family(loc, scale, rho=posterior_rho(model))
    tc, tc_joint = family_monte_carlo_tc_parts(family, samples_per_posterior, groups, generator)
    out = {"tc": float(tc)}
    if tc_joint is not None:
        out["tc_joint"] = float(tc_joint)
        out["tc_within"] = out["tc"] - out["tc_joint"]
    return out
