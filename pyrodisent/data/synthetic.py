"""Vector-valued synthetic data sets with known latents (no download, deterministic by seed).

* :func:`groupwise` — PDisVAE (anonymous ICLR submission), §4.1 (Fig. 1): K = 6 latents in three
  independent groups (z1, z2) ⊥ (z3, z4) ⊥ (z5, z6), dependent within each group, mapped
  linearly to D = 20 and observed with i.i.d. N(0, 0.5²) noise, N = 2000: x = A z + ε.
* :func:`independent` — PDisVAE, App. A.4.2: K = 3 mutually independent non-Gaussian
  latents, same linear-Gaussian observation model.
* :func:`correlated_gaussian` — Gaussian total-correlation benchmarks with closed-form TC
  (RTC-VAE, Cheng et al. 2020, Prop. 1 / eq. 5: TC = ½(log|diag Σ| − log|Σ|)): the paired
  design of DeVAE (anonymous ICLR submission), eq. 9 (TC = −(D/4)·log(1 − ρ²)) and the
  equicorrelated design used to sweep |Σ| in Cheng et al. 2020, §5 (μ ~ N(0, Σ), diag Σ = I,
  z | μ ~ N(μ, σ² I) with σ = 0.1).

The papers show the group / component distributions only as figures; the shapes used
here (ring, two moons, sine band; uniform, Laplace, two-mode mixture) are this module's
choice and are documented in docs/datasets.md. What the papers fix is kept: group
structure, K, D, N, the linear map and the noise level.

Metrics need integer factor classes: each continuous latent is cut into ``bins``
equal-frequency classes (quantile bins of the sample, :func:`discretize`); the continuous
values stay in ``dataset.latents`` [N, K] and ``factor_values`` holds each bin's median.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from pyrodisent.data.base import FactorDataset
from pyrodisent.estimators.gaussian import gaussian_total_correlation as estimators_gaussian_tc
from pyrodisent.validation import check_int


def discretize(latents: np.ndarray, bins: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Equal-frequency classes [N, K] of continuous latents and each class's median value.

    Class c of latent k holds the values between the c/bins and (c+1)/bins sample quantiles.
    """
    latents = np.asarray(latents, dtype=np.float64)
    classes = np.empty(latents.shape, dtype=np.int64)
    values = []
    for k in range(latents.shape[1]):
        edges = np.quantile(latents[:, k], np.linspace(0, 1, bins + 1)[1:-1])
        classes[:, k] = np.searchsorted(edges, latents[:, k], side="right")
        values.append(np.array([np.median(latents[classes[:, k] == c, k]) if (classes[:, k] == c).any() else np.nan
                                for c in range(bins)]))
    return classes, values


def _linear_gaussian_dataset(
    sample_latents, n, seed, obs_dim, noise_sd, mixing_seed, bins, name: str
) -> FactorDataset:
    """x = A z + ε with z = ``sample_latents(rs, n)`` [N, K], A [D, K] ~ N(0, 1) entries
    (from ``mixing_seed``) and ε ~ N(0, noise_sd²); options validated here."""
    n = check_int(f"{name}: n", n, 1)
    obs_dim = check_int(f"{name}: obs_dim", obs_dim, 1)
    bins = check_int(f"{name}: bins", bins, 2)
    if not noise_sd >= 0:
        raise ValueError(f"{name}: noise_sd must be ≥ 0, got {noise_sd!r}")
    rs = np.random.RandomState(check_int(f"{name}: seed", seed, error=TypeError))
    mixing_rs = np.random.RandomState(check_int(f"{name}: mixing_seed", mixing_seed, error=TypeError))
    latents = sample_latents(rs, n)
    mixing = mixing_rs.randn(obs_dim, latents.shape[1])
    x = latents @ mixing.T + noise_sd * rs.randn(n, obs_dim)
    classes, values = discretize(latents, bins)
    data = FactorDataset(
        torch.as_tensor(x, dtype=torch.float32),
        classes,
        [f"z{i + 1}" for i in range(latents.shape[1])],
        [bins] * latents.shape[1],
        values,
        name=name,
    )
    data.latents = latents
    data.mixing = mixing
    data.noise_sd = float(noise_sd)
    return data


def _ring(rs: np.random.RandomState, n: int) -> np.ndarray:
    theta = rs.uniform(0.0, 2 * math.pi, n)
    radius = rs.uniform(0.75, 1.25, n)
    return np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1)


def _moons(rs: np.random.RandomState, n: int) -> np.ndarray:
    upper = rs.rand(n) < 0.5
    theta = rs.uniform(0.0, math.pi, n)
    a = np.where(upper, np.cos(theta), 1.0 - np.cos(theta)) - 0.5
    b = np.where(upper, np.sin(theta), 0.5 - np.sin(theta)) - 0.25
    return np.stack([a, b], axis=1) + 0.1 * rs.randn(n, 2)


def _sine(rs: np.random.RandomState, n: int) -> np.ndarray:
    u = rs.uniform(-1.0, 1.0, n)
    return np.stack([u, 0.8 * np.sin(math.pi * u) + 0.1 * rs.randn(n)], axis=1)


def _groupwise_latents(rs: np.random.RandomState, n: int) -> np.ndarray:
    return np.concatenate([_ring(rs, n), _moons(rs, n), _sine(rs, n)], axis=1)


def groupwise(
    n: int = 2000,
    seed: int = 0,
    obs_dim: int = 20,
    noise_sd: float = 0.5,
    mixing_seed: int = 0,
    bins: int = 10,
) -> FactorDataset:
    """PDisVAE, §4.1: three independent groups of two dependent latents, x = A z + ε.

    Groups: (z1, z2) a noisy ring (angle ~ U[0, 2π), radius ~ U[0.75, 1.25]); (z3, z4) two
    interleaved half-moons with N(0, 0.1²) jitter; (z5, z6) a sine band
    (u ~ U[−1, 1], v = 0.8·sin(πu) + N(0, 0.1²)). Each group is drawn independently, so
    PC = KL(q(z) ‖ Π_g q(z_g)) = 0 for the true latents (PDisVAE, eq. 3), while each group's
    own TC is > 0. A [D, 6] has N(0, 1) entries from ``mixing_seed`` (shared by train and
    test sets drawn with different ``seed``). Attributes: ``latents`` [N, 6], ``groups``,
    ``mixing``, ``noise_sd``; factors: ``bins`` quantile classes per latent.
    """
    data = _linear_gaussian_dataset(_groupwise_latents, n, seed, obs_dim, noise_sd, mixing_seed, bins, "groupwise")
    data.groups = [[0, 1], [2, 3], [4, 5]]
    return data


def _independent_latents(rs: np.random.RandomState, n: int) -> np.ndarray:
    z1 = rs.uniform(-math.sqrt(3.0), math.sqrt(3.0), n)
    z2 = rs.laplace(0.0, 1.0 / math.sqrt(2.0), n)
    z3 = np.where(rs.rand(n) < 0.5, -0.9, 0.9) + math.sqrt(1 - 0.81) * rs.randn(n)
    return np.stack([z1, z2, z3], axis=1)


def independent(
    n: int = 2000,
    seed: int = 0,
    obs_dim: int = 20,
    noise_sd: float = 0.5,
    mixing_seed: int = 0,
    bins: int = 10,
) -> FactorDataset:
    """PDisVAE, App. A.4.2: K = 3 independent non-Gaussian unit-variance latents, x = A z + ε.

    z1 ~ U(−√3, √3); z2 ~ Laplace(0, 1/√2); z3 ~ ½N(−0.9, 0.436²) + ½N(0.9, 0.436²).
    Attributes as :func:`groupwise` (``groups`` = [[0], [1], [2]]).
    """
    data = _linear_gaussian_dataset(_independent_latents, n, seed, obs_dim, noise_sd, mixing_seed, bins, "independent")
    data.groups = [[0], [1], [2]]
    return data


def gaussian_total_correlation(covariance: np.ndarray) -> float:
    """Closed-form TC of N(0, Σ): ½(log|diag Σ| − log|Σ|) (Cheng et al. 2020, Prop. 1, eq. 5),
    in nats, as a float: :func:`pyrodisent.estimators.gaussian_total_correlation`."""
    return float(estimators_gaussian_tc(covariance))


def correlation_matrix(dim: int, rho: float, structure: str) -> np.ndarray:
    """Σ with unit diagonal: ``"paired"`` (DeVAE, eq. 9) or ``"equicorrelated"`` ((1−ρ)I + ρ11ᵀ).

    paired: two halves x¹, x² of D/2 dims; Cov(x¹_i, x²_i) = ρ, every other off-diagonal 0.
    """
    if structure == "paired":
        if dim % 2:
            raise ValueError(f"correlated_gaussian: structure='paired' needs an even dim, got {dim}")
        half = dim // 2
        sigma = np.eye(dim)
        sigma[np.arange(half), np.arange(half) + half] = rho
        sigma[np.arange(half) + half, np.arange(half)] = rho
        return sigma
    if structure == "equicorrelated":
        return (1.0 - rho) * np.eye(dim) + rho * np.ones((dim, dim))
    raise ValueError(f"correlated_gaussian: structure must be 'paired' or 'equicorrelated', got {structure!r}")


def correlated_gaussian(
    dim: int = 10,
    rho: float = 0.6,
    structure: str = "paired",
    noise_sd: float = 0.0,
    n: int = 10000,
    seed: int = 0,
    bins: int = 10,
) -> FactorDataset:
    """Samples z = μ + σ·ε, μ ~ N(0, Σ), ε ~ N(0, I): a Gaussian with known total correlation.

    ``structure="paired"`` with ``noise_sd=0`` is the DeVAE paper's benchmark,
    TC = −(D/4)·log(1−ρ²) (eq. 9); ``structure="equicorrelated"`` with ``noise_sd=0.1`` is the
    set-up of Cheng et al. 2020, §5 (|Σ| = (1−ρ)^{D−1}(1+(D−1)ρ) sweeps TC). Observations are
    z [N, D] (float32); ``latents`` holds μ. Attributes: ``total_correlation`` — the closed-form
    TC of z (Cheng et al. 2020, eq. 5 on Σ + σ²I), ``total_correlation_mean`` — that of μ,
    ``covariance`` (of z), ``correlation`` (Σ). Factors: ``bins`` quantile classes of μ.
    """
    dim = check_int("correlated_gaussian: dim", dim, 2)
    n = check_int("correlated_gaussian: n", n, 1)
    bins = check_int("correlated_gaussian: bins", bins, 2)
    if not noise_sd >= 0:
        raise ValueError(f"correlated_gaussian: noise_sd must be ≥ 0, got {noise_sd!r}")
    sigma = correlation_matrix(dim, float(rho), structure)
    if np.linalg.eigvalsh(sigma).min() <= 0:
        low = "−1/(dim−1)" if structure == "equicorrelated" else "−1"
        raise ValueError(f"correlated_gaussian: rho={rho} gives no valid covariance; need {low} < rho < 1")
    rs = np.random.RandomState(check_int("correlated_gaussian: seed", seed, error=TypeError))
    mu = rs.randn(n, dim) @ np.linalg.cholesky(sigma).T
    z = mu + noise_sd * rs.randn(n, dim)
    classes, values = discretize(mu, bins)
    data = FactorDataset(
        torch.as_tensor(z, dtype=torch.float32),
        classes,
        [f"mu{i + 1}" for i in range(dim)],
        [bins] * dim,
        values,
        name="correlated_gaussian",
    )
    data.latents = mu
    data.correlation = sigma
    data.covariance = sigma + noise_sd**2 * np.eye(dim)
    data.total_correlation = gaussian_total_correlation(data.covariance)
    data.total_correlation_mean = gaussian_total_correlation(sigma)
    return data
