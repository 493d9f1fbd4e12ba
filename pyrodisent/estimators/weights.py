"""Minibatch weightings for the aggregate posterior q(z) = (1/N) Σ_n q(z | x_n).

With a batch of M points drawn from a dataset of N, every estimator here has the form

    log q̂(z_i) = logsumexp_j ( log q(z_i | x_j) + log W[i, j] )

and differs only in the weight matrix W (docs/estimators.md). All constants are kept, so the
estimates are true log densities (not "up to a constant").

- ``mws``  minibatch weighted sampling (Chen et al. 2018): W = 1/(N·M). Biased; each
  log q̂ is about log N too low, and the bias does not vanish with M.
- ``mss``  minibatch stratified sampling as corrected in RTC-VAE (Cheng et al. 2020), App. 1.2
  ("MSS1"): m = M − 1, W[i, i] = 1/N, W[i, (i+1) mod M] = (N − m)/(N·m), every other entry 1/m.
- ``mss_chen_code``  the weights of the code released with Chen et al. 2018 ("MSS0"), which fill
  columns 0 and 1 instead of the diagonal. Kept only to reproduce Cheng et al. 2020, Fig. 2.
- ``is``  importance sampling (PDisVAE, an anonymous ICLR submission, eq. 4; the HFVAE
  estimator): W[i, i] = 1/N, W[i, j ≠ i] = (N − 1)/(N·(M − 1)). Unbiased for q(z_i) with the
  lowest variance (PDisVAE, eq. 14-15, Table 3).

Rows of ``mss`` and ``is`` sum to 1. The weights above were checked against Cheng et al. 2020,
App. 1.2 (MSS1: ``W[i, (1 + i) % M] = strat_weight`` replacing the released code's lines,
and the released code's flattened-stride assignment for MSS0) and PDisVAE, eq. 4 / eq. 11
(IS); :func:`inverse_weight_dataset` and :func:`inverse_weight_variance` give the variance
comparison of PDisVAE, eq. 13-16.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from pyrodisent.estimators.cache import TensorCache

ESTIMATOR_METHODS = ("mws", "mss", "mss_chen_code", "is")


def check_method(method: str) -> str:
    if method not in ESTIMATOR_METHODS:
        raise ValueError(
            f"unknown aggregate-posterior estimator {method!r}; choose one of "
            f"{', '.join(ESTIMATOR_METHODS)} (docs/estimators.md)"
        )
    return method


def log_importance_weights(
    batch_size: int,
    dataset_size: int,
    method: str = "is",
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The [M, M] matrix log W of the chosen weighting (module docstring)."""
    check_method(method)
    M, N = int(batch_size), int(dataset_size)
    if M < 2 and method != "mws":
        raise ValueError(f"the {method!r} estimator needs a batch of at least 2 points, got {M}")
    if N < M:
        raise ValueError(
            f"dataset_size ({N}) is smaller than the batch ({M}); pass the number of data "
            f"points the batch is drawn from"
        )
    if method == "mws":
        return torch.full((M, M), -math.log(N * M), device=device, dtype=dtype)
    m = M - 1
    if method == "is":
        W = torch.full((M, M), (N - 1) / (N * m), device=device, dtype=torch.float64)
        W.fill_diagonal_(1.0 / N)
        return W.log().to(dtype)
    strat = (N - m) / (N * m)
    W = torch.full((M, M), 1.0 / m, device=device, dtype=torch.float64)
    if method == "mss":
        W.fill_diagonal_(1.0 / N)
        rows = torch.arange(M, device=device)
        W[rows, (rows + 1) % M] = strat
    else:  # mss_chen_code: the released code's flattened-stride assignment (columns 0, 1)
        flat = W.view(-1)
        flat[:: m + 1] = 1.0 / N
        flat[1 :: m + 1] = strat
        W[m - 1, 0] = strat
    # W may hold zeros only if N == m; log(0) = -inf is then the correct weight.
    return W.log().to(dtype)


def inverse_weight_dataset(batch_size: int, dataset_size: int, method: str) -> list[Fraction]:
    """The "dataset" N·W[i, :] of one row of the weights, exactly (PDisVAE, App. A.3.2).

    For ``is``: {1, (N − 1)/(M − 1) × (M − 1)}; for ``mss``: {1, N/(M − 1) × (M − 2),
    (N − M + 1)/(M − 1)} (PDisVAE writes these datasets as IS₀ and MSS₀). Its mean is N/M for
    both; its variance is proportional to the variance of the density estimate.
    """
    check_method(method)
    M, N = int(batch_size), int(dataset_size)
    if M < 2 or N < M:
        raise ValueError(f"need 2 <= batch_size <= dataset_size, got batch_size={M}, dataset_size={N}")
    m = M - 1
    if method == "is":
        return [Fraction(1)] + [Fraction(N - 1, m)] * m
    if method == "mss":
        return [Fraction(1)] + [Fraction(N, m)] * (m - 1) + [Fraction(N - m, m)]
    if method == "mws":
        return [Fraction(1, M)] * M
    raise ValueError(f"inverse_weight_dataset: {method!r} has no single row pattern (rows differ)")


def inverse_weight_variance(batch_size: int, dataset_size: int, method: str) -> Fraction:
    """Closed-form population variance of :func:`inverse_weight_dataset`.

    ``mss``: (2M² − (2N + 2)M + N²) / (M²(M − 1))   (PDisVAE, eq. 14)
    ``is``:  (N − M)² / (M²(M − 1))                  (PDisVAE, eq. 15)

    so Var[IS] − Var[MSS] = (2 − M)/(M(M − 1)) < 0 for M > 2 (PDisVAE, eq. 16, Theorem 3.1).
    """
    M, N = int(batch_size), int(dataset_size)
    if method == "mss":
        return Fraction(2 * M * M - (2 * N + 2) * M + N * N, M * M * (M - 1))
    if method == "is":
        return Fraction((N - M) ** 2, M * M * (M - 1))
    raise ValueError(f"inverse_weight_variance: closed forms exist for 'is' and 'mss' only, got {method!r}")


_WEIGHTS = TensorCache()


def cached_log_importance_weights(
    batch_size: int,
    dataset_size: int,
    method: str = "is",
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """:func:`log_importance_weights`, built once per (M, N, method, device, dtype): a
    training step asks for the same matrix every time. The result is shared: do not write
    to it (:class:`~pyrodisent.estimators.cache.TensorCache`)."""
    key = (int(batch_size), int(dataset_size), method, str(torch.device(device) if device is not None else "cpu"), dtype)
    return _WEIGHTS.get(key, lambda: log_importance_weights(batch_size, dataset_size, method, device=device, dtype=dtype))
