"""Gaussian posterior families the aggregate-posterior estimators handle.

Every estimator needs the pairwise log densities L[i, j] = log q(z_i | x_j) over some set of
latent dims (all of them for log q(z), one for log q(z_d), a group's for log q(z_g)). For a
Gaussian q(z | x_j) = N(μ_j, Σ_j) the marginal over a set S of dims is N(μ_jS, Σ_j[S, S]), so
three layouts cover the guides pyrodisent ships:

- ``diagonal``: Σ_j = diag(σ_j²) (the factorized guide). L over S is a sum over dims, and the
  quadratic form Σ_d (z_id − μ_jd)²/σ_jd² expands into three matrix products.
- ``equicorrelated``: Σ_j = diag(σ_j) Σ_ρ diag(σ_j), Σ_ρ = (1 − ρ)I + ρ11ᵀ (the correlated-noise
  guide of Yang et al. 2020, the mutual-information paper, eq. 11-12). Σ_ρ has a unit diagonal, so
  the marginal of dim d is N(μ_jd, σ_jd²), and the marginal over S is again equicorrelated with the
  same ρ. With u = (z − μ_j)/σ_j over S (|S| = k):
  Σ_ρ⁻¹ = (I − c·11ᵀ)/(1 − ρ), c = ρ/(1 + (k − 1)ρ), log det Σ_ρ = (k − 1) log(1 − ρ) + log(1 + (k − 1)ρ),
  so the quadratic form is (‖u‖² − c (Σ_d u_d)²)/(1 − ρ): four matrix products.
- ``full``: any Σ_j = L_j L_jᵀ (``scale_tril``, e.g. a MultivariateNormal guide). The marginal
  over S uses the Cholesky factor of the sub-covariance Σ_j[S, S]; the quadratic form is
  ‖L_j⁻¹(z_i − μ_j)‖², solved exactly in chunks of components.

A family none of these describe gets :class:`UnsupportedPosteriorError`, never a silent
wrong number (docs/estimators.md).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.distributions import Distribution, Independent, Normal

_LOG_2PI = math.log(2 * math.pi)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# components per exact triangular-solve chunk of the full-covariance path: [Q, chunk, k]
_MAX_SOLVE_ELEMENTS = 1 << 25
FAMILY_KINDS = ("diagonal", "equicorrelated", "full")


class UnsupportedPosteriorError(TypeError):
    """A regularizer or estimator was given a posterior family it cannot handle."""


@dataclass(frozen=True)
class GaussianFamily:
    """Gaussian posteriors q(z | x_j) = N(loc_j, Σ_j), j = 1..K, in one of three layouts.

    ``loc``, ``scale``: [K, D]; ``scale`` is always the marginal standard deviation
    sqrt(Σ_j[d, d]). ``rho``: [K] equicorrelation (``equicorrelated`` only); ``scale_tril``:
    [K, D, D] lower Cholesky factor of Σ_j (``full`` only).
    """

    kind: str
    loc: torch.Tensor
    scale: torch.Tensor
    rho: torch.Tensor | None = None
    scale_tril: torch.Tensor | None = None

    # ------------------------------------------------------------- constructors
    @classmethod
    def diagonal(cls, loc: torch.Tensor, scale: torch.Tensor) -> GaussianFamily:
        _check_matrix("loc", loc)
        if scale.shape != loc.shape:
            raise ValueError(f"scale must have the shape of loc {tuple(loc.shape)}, got {tuple(scale.shape)}")
        return cls("diagonal", loc, scale)

    @classmethod
    def equicorrelated(cls, loc: torch.Tensor, scale: torch.Tensor, rho) -> GaussianFamily:
        """Yang et al. 2020, eq. 12: N(loc, diag(scale) ((1 − ρ)I + ρ11ᵀ) diag(scale))."""
        fam = cls.diagonal(loc, scale)
        K, D = loc.shape
        if isinstance(rho, numbers.Real):
            low = -1.0 / (D - 1) if D > 1 else -math.inf
            if not low < float(rho) < 1.0:
                raise ValueError(
                    f"rho must lie in ({low:.4g}, 1) for Σ_ρ = (1 − ρ)I + ρ11ᵀ to be positive "
                    f"definite with D = {D}; got {rho}"
                )
        rho = torch.as_tensor(rho, dtype=loc.dtype, device=loc.device)
        if rho.dim() == 2 and rho.shape[-1] == 1:
            rho = rho.squeeze(-1)
        if rho.dim() > 1 or (rho.dim() == 1 and rho.shape[0] not in (1, K)):
            raise ValueError(f"rho must be a scalar or have shape [{K}], got {tuple(rho.shape)}")
        return cls("equicorrelated", fam.loc, fam.scale, rho=rho.expand(K))

    @classmethod
    def full(cls, loc: torch.Tensor, scale_tril: torch.Tensor) -> GaussianFamily:
        """N(loc_j, L_j L_jᵀ) with ``scale_tril`` [K, D, D] (or [D, D], shared)."""
        _check_matrix("loc", loc)
        K, D = loc.shape
        if scale_tril.shape[-2:] != (D, D):
            raise ValueError(f"scale_tril must be [{K}, {D}, {D}], got {tuple(scale_tril.shape)}")
        scale_tril = scale_tril.expand(K, D, D)
        scale = scale_tril.square().sum(-1).sqrt()
        return cls("full", loc, scale, scale_tril=scale_tril)

    # ------------------------------------------------------------------ facts
    @property
    def latent_dim(self) -> int:
        return self.loc.shape[1]

    @property
    def num_components(self) -> int:
        return self.loc.shape[0]

    def restrict(self, dims: Sequence[int]) -> GaussianFamily:
        """The marginal family over ``dims`` (sub-covariance Σ_j[S, S])."""
        dims = list(dims)
        index = torch.as_tensor(dims, device=self.loc.device, dtype=torch.long)
        loc, scale = self.loc.index_select(1, index), self.scale.index_select(1, index)
        if self.kind == "diagonal" or len(dims) == 1:
            return GaussianFamily("diagonal", loc, scale)
        if self.kind == "equicorrelated":
            return GaussianFamily("equicorrelated", loc, scale, rho=self.rho)
        cov = self.scale_tril @ self.scale_tril.transpose(-1, -2)
        sub = cov.index_select(1, index).index_select(2, index)
        return GaussianFamily("full", loc, scale, scale_tril=torch.linalg.cholesky(sub))

    # ------------------------------------------------------------- densities
    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """[K] log N(z_j; μ_j, Σ_j) for z [K, D] (each point under its own component)."""
        u = (z - self.loc) / self.scale
        log_scale = self.scale.log().sum(-1)
        D = self.latent_dim
        if self.kind == "diagonal":
            quad, log_det_corr = u.square().sum(-1), 0.0
        elif self.kind == "equicorrelated":
            c = self.rho / (1 + (D - 1) * self.rho)
            quad = (u.square().sum(-1) - c * u.sum(-1).square()) / (1 - self.rho)
            log_det_corr = 0.5 * _log_det_equicorrelation(self.rho, D)
        else:
            w = torch.linalg.solve_triangular(self.scale_tril, (z - self.loc).unsqueeze(-1), upper=False)
            quad = w.squeeze(-1).square().sum(-1)
            log_scale = self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
            log_det_corr = 0.0
        return -0.5 * quad - log_scale - log_det_corr - 0.5 * D * _LOG_2PI

    def pairwise_log_prob(self, z: torch.Tensor, gemm_dtype: torch.dtype | None = torch.float64) -> torch.Tensor:
        """[Q, K] matrix log q(z_i | x_j) for queries z [Q, D] and every component j.

        Never builds [Q, K, D]. The diagonal and equicorrelated layouts expand the quadratic
        form into matrix products; since that expansion cancels catastrophically when σ is
        small (terms of size z²/σ² cancel to O(1)), the products are formed in ``gemm_dtype``
        (float64 by default; ``None`` keeps the input dtype) after centring every dim on the
        components' mean. The full layout solves L_j w = z_i − μ_j exactly, chunked over j.
        """
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be [Q, {self.latent_dim}], got {tuple(z.shape)}")
        D = self.latent_dim
        if self.kind == "full":
            return self._pairwise_full(z)
        out_dtype = z.dtype
        zc, mc, scale = centred(z, self.loc, self.scale, gemm_dtype)
        quad = expanded_quadratic(zc, mc, scale.reciprocal().square())
        log_norm = -scale.log().sum(-1) - 0.5 * D * _LOG_2PI  # [K]
        if self.kind == "equicorrelated":
            rho = self.rho.to(zc.dtype)
            c = rho / (1 + (D - 1) * rho)
            inv_scale = scale.reciprocal()
            s = zc @ inv_scale.T - (mc * inv_scale).sum(-1)  # Σ_d u_ijd
            quad = (quad - c * s.square()) / (1 - rho)
            log_norm = log_norm - 0.5 * _log_det_equicorrelation(rho, D)
        # rounding of the expansion can leave tiny negative values where z_i = μ_j
        return (-0.5 * quad.clamp_min(0.0) + log_norm).to(out_dtype)

    def pairwise_log_prob_dims(self, z: torch.Tensor) -> torch.Tensor:
        """[Q, K, D] per-dim log N(z_id; μ_jd, σ_jd²), formed directly (no expansion, input
        dtype): exact per dim for every layout, since each marginal is N(μ_jd, σ_jd²)."""
        diff = (z.unsqueeze(1) - self.loc.unsqueeze(0)) / self.scale.unsqueeze(0)
        return -0.5 * diff.square() - self.scale.log().unsqueeze(0) - _HALF_LOG_2PI

    def _pairwise_full(self, z: torch.Tensor) -> torch.Tensor:
        Q, D = z.shape
        K = self.num_components
        log_norm = -self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) - 0.5 * D * _LOG_2PI
        chunk = max(1, _MAX_SOLVE_ELEMENTS // max(1, Q * D))
        cols = []
        for start in range(0, K, chunk):
            sl = slice(start, min(K, start + chunk))
            diff = (z.unsqueeze(0) - self.loc[sl].unsqueeze(1)).transpose(-1, -2)  # [c, D, Q]
            w = torch.linalg.solve_triangular(self.scale_tril[sl], diff, upper=False)
            cols.append(-0.5 * w.square().sum(-2) + log_norm[sl].unsqueeze(-1))  # [c, Q]
        return torch.cat(cols, 0).T


def centred(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, gemm_dtype: torch.dtype | None):
    """(z − c, μ − c, σ) in ``gemm_dtype`` (``None``: the input dtype), c the components' mean
    per dim (detached): the first half of the expansion's numerics, shared by
    :meth:`GaussianFamily.pairwise_log_prob` and the batched subsets of
    :mod:`~pyrodisent.estimators.aggregate`."""
    work = gemm_dtype or z.dtype
    loc, scale = loc.to(work), scale.to(work)
    centre = loc.mean(0, keepdim=True).detach()
    return z.to(work) - centre, loc - centre, scale


def expanded_quadratic(zc: torch.Tensor, mc: torch.Tensor, prec: torch.Tensor) -> torch.Tensor:
    """[..., Q, K] Σ_d (z_id − μ_jd)² p_jd by three matrix products, for centred queries
    [..., Q, w], centred means and precisions [..., K, w] (a leading batch of dim subsets is
    allowed): (z²)·pᵀ − 2 z·(μ p)ᵀ + Σ_d μ_jd² p_jd."""
    return (
        zc.square() @ prec.transpose(-1, -2)
        - 2.0 * (zc @ (mc * prec).transpose(-1, -2))
        + (mc.square() * prec).sum(-1).unsqueeze(-2)
    )


def _log_det_equicorrelation(rho: torch.Tensor, k: int) -> torch.Tensor:
    """log det((1 − ρ)I_k + ρ11ᵀ) = (k − 1) log(1 − ρ) + log(1 + (k − 1)ρ)."""
    return (k - 1) * torch.log1p(-rho) + torch.log1p((k - 1) * rho)


def _check_matrix(name: str, value) -> None:
    if not torch.is_tensor(value) or value.dim() != 2:
        shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
        raise ValueError(f"{name} must be a [batch, latent_dim] tensor, got {shape}")


def make_family(
    loc: torch.Tensor,
    scale: torch.Tensor | None = None,
    scale_tril: torch.Tensor | None = None,
    rho=None,
) -> GaussianFamily:
    """The family given by keyword parameters: ``scale`` (diagonal), ``scale`` and ``rho``
    (equicorrelated, Yang et al. 2020) or ``scale_tril`` (full covariance)."""
    if scale_tril is not None:
        if rho is not None:
            raise ValueError("pass either scale_tril (full covariance) or rho (equicorrelated), not both")
        return GaussianFamily.full(loc, scale_tril)
    if scale is None:
        raise ValueError("scale is required unless scale_tril is given")
    if rho is not None:
        return GaussianFamily.equicorrelated(loc, scale, rho)
    return GaussianFamily.diagonal(loc, scale)


def batch_family(
    z: torch.Tensor,
    loc: torch.Tensor,
    scale: torch.Tensor | None = None,
    scale_tril: torch.Tensor | None = None,
    rho=None,
) -> GaussianFamily:
    """:func:`make_family` for the posteriors of a batch ``z`` [M, D] (one component per
    point): checks that ``loc`` and ``scale`` have the shape of ``z``. The one translation
    of the estimators' keyword form (``loc, scale, scale_tril=, rho=``) into a family."""
    if not torch.is_tensor(z) or z.dim() != 2:
        raise ValueError(f"z must be a [M, D] tensor, got {tuple(z.shape) if torch.is_tensor(z) else type(z).__name__}")
    if loc.shape != z.shape:
        raise ValueError(f"loc must have the shape of z {tuple(z.shape)}, got {tuple(loc.shape)}")
    if scale is not None and scale.shape != z.shape:
        raise ValueError(f"scale must have the shape of z {tuple(z.shape)}, got {tuple(scale.shape)}")
    return make_family(loc, scale, scale_tril, rho)


def posterior_family(fn: Distribution) -> GaussianFamily | None:
    """Recognize a posterior distribution over [M, D] as a :class:`GaussianFamily` (duck typing).

    In order: a ``covariance_parameters()`` method returning a dict with ``loc`` and either
    ``scale`` (+ optional ``rho``) or ``scale_tril``; ``Independent(Normal)`` or a
    ``diagonal_parameters()`` method (diagonal); attributes ``loc``, ``scale`` and ``rho``
    (the correlated-noise guide of Yang et al. 2020); a ``scale_tril`` attribute
    (MultivariateNormal and friends). ``None`` when none applies.
    """
    params = getattr(fn, "covariance_parameters", None)
    if callable(params):
        p = dict(params())
        return make_family(p["loc"], p.get("scale"), p.get("scale_tril"), p.get("rho"))
    base = fn
    while isinstance(base, Independent):
        base = base.base_dist
    if isinstance(base, Normal):
        return GaussianFamily.diagonal(base.loc, base.scale)
    diag = getattr(fn, "diagonal_parameters", None)
    if callable(diag):
        return GaussianFamily.diagonal(*diag())
    loc = getattr(fn, "loc", None)
    if loc is not None and getattr(fn, "rho", None) is not None and getattr(fn, "scale", None) is not None:
        return GaussianFamily.equicorrelated(loc, fn.scale, fn.rho)
    tril = getattr(fn, "scale_tril", None)
    if loc is not None and tril is not None:
        return GaussianFamily.full(loc, tril)
    return None
