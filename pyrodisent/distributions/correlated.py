"""The correlated-noise posterior of Yang et al. 2020 ("Towards Better Understanding of
Disentangled Representations via Mutual Information", eq. 11-12, App. B).

    z = μ + σ ⊙ ε,   ε ~ N(0, Σ_ρ),   Σ_ρ = (1 − ρ) I + ρ 11ᵀ,   ρ ∈ [0, 1)

so that q(z | x) = N(μ, diag(σ) Σ_ρ diag(σ)) (eq. 12). ρ = 0 is the factorized
guide. Everything is O(D) per point, through the closed forms of the equicorrelation
matrix Σ_ρ (a = 1 − ρ, b = ρ):

    det Σ_ρ = (1 − ρ)^{D−1} (1 + (D − 1) ρ)
    Σ_ρ⁻¹  = (1 / (1 − ρ)) · [I − ρ / (1 + (D − 1) ρ) · 11ᵀ]          (Sherman–Morrison)
    uᵀ Σ_ρ⁻¹ u = (‖u‖² − ρ (Σ_d u_d)² / (1 + (D − 1) ρ)) / (1 − ρ),    u = (z − μ) / σ

and the reparameterized draw ε = √(1 − ρ) ξ + √ρ η 1 with ξ ~ N(0, I_D), η ~ N(0, 1).

The KL to a diagonal Gaussian prior (App. B; registered for the mean-field ELBO):

    KL(q ‖ N(0, I)) = KL(N(μ, diag σ²) ‖ N(0, I)) + ½ log(1 / det Σ_ρ)

(the trace term is unchanged because diag Σ_ρ = 1). Every sub-vector of z is again of this
family (the sub-block of Σ_ρ is an equicorrelation matrix of the same ρ): see
:meth:`CorrelatedNormal.marginal`, and :meth:`CorrelatedNormal.pairwise_log_prob` for the
[M, M] matrix log q(z_i | x_j) that minibatch aggregate-posterior estimators need.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from pyro.distributions import Independent, Normal
from pyro.distributions.torch_distribution import TorchDistribution
from torch.distributions import constraints, kl_divergence, register_kl
from torch.distributions.utils import _standard_normal

_LOG_2PI = math.log(2 * math.pi)


def _as_rho(rho, like: torch.Tensor) -> torch.Tensor:
    if not torch.is_tensor(rho):
        try:
            value = float(rho)
        except (TypeError, ValueError):
            raise ValueError(f"rho must be a number in [0, 1), got {rho!r}") from None
        if not 0.0 <= value < 1.0:
            raise ValueError(f"rho must be in [0, 1) (Yang et al. 2020, eq. 11), got {value}")
        return torch.tensor(value, dtype=like.dtype, device=like.device)
    return rho.to(dtype=like.dtype, device=like.device)


class CorrelatedNormal(TorchDistribution):
    r"""N(loc, diag(scale) Σ_ρ diag(scale)) with Σ_ρ = (1 − ρ)I + ρ11ᵀ (Yang et al. 2020,
    eq. 11-12).

    :param loc: μ, shape [..., D].
    :param scale: σ > 0, shape [..., D].
    :param rho: ρ ∈ [0, 1), a number or a tensor broadcastable to the batch shape.

    ``batch_shape`` is the broadcast of ``loc.shape[:-1]``, ``scale.shape[:-1]`` and
    ``rho.shape``; ``event_shape`` is ``(D,)``. ``rsample``, ``log_prob`` and ``entropy``
    cost O(D); :attr:`covariance_matrix` and :attr:`scale_tril` build the dense [..., D, D]
    matrices for code that wants them.
    """

    arg_constraints = {
        "loc": constraints.real_vector,
        "scale": constraints.independent(constraints.positive, 1),
        "rho": constraints.half_open_interval(0.0, 1.0),
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, rho=0.0, *, validate_args=None):
        if loc.dim() < 1 or scale.dim() < 1:
            raise ValueError(
                f"loc and scale must have an event dim [..., D]; got shapes {tuple(loc.shape)} "
                f"and {tuple(scale.shape)}"
            )
        rho = _as_rho(rho, loc)
        event_shape = torch.broadcast_shapes(loc.shape[-1:], scale.shape[-1:])
        batch_shape = torch.broadcast_shapes(loc.shape[:-1], scale.shape[:-1], rho.shape)
        self.loc = loc.expand(batch_shape + event_shape)
        self.scale = scale.expand(batch_shape + event_shape)
        self.rho = rho.expand(batch_shape)
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(CorrelatedNormal, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new.scale = self.scale.expand(batch_shape + self.event_shape)
        new.rho = self.rho.expand(batch_shape)
        super(CorrelatedNormal, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    # ------------------------------------------------------------ closed forms
    @property
    def latent_dim(self) -> int:
        return self.event_shape[0]

    def log_det_noise_covariance(self) -> torch.Tensor:
        """log det Σ_ρ = (D − 1) log(1 − ρ) + log(1 + (D − 1) ρ), shape batch_shape."""
        d = self.latent_dim
        return (d - 1) * torch.log1p(-self.rho) + torch.log1p((d - 1) * self.rho)

    def noise_mahalanobis(self, u: torch.Tensor) -> torch.Tensor:
        """uᵀ Σ_ρ⁻¹ u for standardized residuals u [..., D] (Sherman–Morrison, O(D))."""
        d = self.latent_dim
        rho = self.rho
        sq = u.pow(2).sum(-1)
        total = u.sum(-1)
        return (sq - rho * total.pow(2) / (1 + (d - 1) * rho)) / (1 - rho)

    # ----------------------------------------------------------- distribution
    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def variance(self) -> torch.Tensor:
        return self.scale.pow(2)

    @property
    def noise_covariance(self) -> torch.Tensor:
        """Σ_ρ, shape batch_shape + (D, D)."""
        d = self.latent_dim
        eye = torch.eye(d, dtype=self.loc.dtype, device=self.loc.device)
        rho = self.rho[..., None, None]
        return (1 - rho) * eye + rho

    @property
    def covariance_matrix(self) -> torch.Tensor:
        """diag(σ) Σ_ρ diag(σ), shape batch_shape + (D, D) (Yang et al. 2020, eq. 12)."""
        return self.scale[..., :, None] * self.noise_covariance * self.scale[..., None, :]

    @property
    def scale_tril(self) -> torch.Tensor:
        """Lower Cholesky factor diag(σ) · chol(Σ_ρ), shape batch_shape + (D, D)."""
        return self.scale[..., :, None] * torch.linalg.cholesky(self.noise_covariance)

    @property
    def precision_matrix(self) -> torch.Tensor:
        """diag(1/σ) Σ_ρ⁻¹ diag(1/σ) from the Sherman–Morrison closed form."""
        d = self.latent_dim
        eye = torch.eye(d, dtype=self.loc.dtype, device=self.loc.device)
        rho = self.rho[..., None, None]
        inv_noise = (eye - rho / (1 + (d - 1) * rho)) / (1 - rho)
        inv_scale = self.scale.reciprocal()
        return inv_scale[..., :, None] * inv_noise * inv_scale[..., None, :]

    def rsample(
        self, sample_shape=torch.Size(), generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = μ + σ ⊙ (√(1 − ρ) ξ + √ρ η 1); ξ is drawn first, with the shape a factorized
        Normal would draw, so ρ = 0 reproduces its sample exactly under the same seed."""
        shape = self._extended_shape(sample_shape)
        if generator is None:
            xi = _standard_normal(shape, dtype=self.loc.dtype, device=self.loc.device)
            eta = _standard_normal(shape[:-1] + (1,), dtype=self.loc.dtype, device=self.loc.device)
        else:
            xi = torch.randn(
                shape, generator=generator, dtype=self.loc.dtype, device=self.loc.device
            )
            eta = torch.randn(
                shape[:-1] + (1,), generator=generator, dtype=self.loc.dtype, device=self.loc.device
            )
        rho = self.rho[..., None]
        eps = xi * (1 - rho).sqrt() + eta * rho.sqrt()
        return self.loc + eps * self.scale

    def sample(
        self, sample_shape=torch.Size(), generator: torch.Generator | None = None
    ) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape, generator=generator)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """−½ [D log 2π + 2 Σ log σ + log det Σ_ρ + uᵀ Σ_ρ⁻¹ u], u = (z − μ)/σ (App. B)."""
        if self._validate_args:
            self._validate_sample(value)
        u = (value - self.loc) / self.scale
        log_det = 2 * self.scale.log().sum(-1) + self.log_det_noise_covariance()
        return -0.5 * (self.latent_dim * _LOG_2PI + log_det + self.noise_mahalanobis(u))

    def entropy(self) -> torch.Tensor:
        """½ [D (1 + log 2π) + 2 Σ log σ + log det Σ_ρ]."""
        d = self.latent_dim
        return 0.5 * (
            d * (1 + _LOG_2PI) + 2 * self.scale.log().sum(-1) + self.log_det_noise_covariance()
        )

    # -------------------------------------------------- marginals for estimators
    def marginal(self, dims: Sequence[int]) -> CorrelatedNormal:
        """The distribution of z[..., dims]: the same family with the same ρ (the sub-block of
        Σ_ρ is the equicorrelation matrix of size len(dims)); one dim gives N(μ_d, σ_d²)."""
        index = torch.as_tensor(list(dims), dtype=torch.long, device=self.loc.device)
        if index.numel() == 0 or index.min() < 0 or index.max() >= self.latent_dim:
            raise ValueError(
                f"dims must be non-empty indices in [0, {self.latent_dim}), got {list(dims)}"
            )
        return CorrelatedNormal(
            self.loc[..., index], self.scale[..., index], self.rho, validate_args=False
        )

    def pairwise_log_prob(self, z: torch.Tensor, dims: Sequence[int] | None = None) -> torch.Tensor:
        """L[i, j] = log q(z_i[dims] | x_j) for a batch: ``z`` [M, D], this distribution's
        batch_shape [M']; returns [M, M'].

        The quadratic form is expanded into matrix products (no [M, M', D] tensor):
        Σ_d u_d² = Σ z²/σ² − 2 z·(μ/σ²) + Σ μ²/σ² and Σ_d u_d = z·(1/σ) − Σ μ/σ.
        """
        if len(self.batch_shape) != 1 or z.dim() != 2:
            raise ValueError(
                f"pairwise_log_prob needs batch_shape [M'] and z [M, D]; got batch_shape "
                f"{tuple(self.batch_shape)} and z {tuple(z.shape)}"
            )
        q = self if dims is None else self.marginal(dims)
        if dims is not None:
            z = z[:, list(dims)]
        d = q.latent_dim
        inv_var = q.scale.pow(-2)  # [M', d]
        inv_scale = q.scale.reciprocal()
        sq = z.pow(2) @ inv_var.T - 2 * z @ (q.loc * inv_var).T + (q.loc.pow(2) * inv_var).sum(-1)
        total = z @ inv_scale.T - (q.loc * inv_scale).sum(-1)
        rho = q.rho
        quad = (sq - rho * total.pow(2) / (1 + (d - 1) * rho)) / (1 - rho)
        log_det = 2 * q.scale.log().sum(-1) + q.log_det_noise_covariance()
        return -0.5 * (d * _LOG_2PI + log_det + quad)


def _diagonal_normal(p: Independent) -> Normal | None:
    """The Normal base of an ``Independent(Normal, 1)``, else None."""
    if p.reinterpreted_batch_ndims != 1:
        return None
    base = p.base_dist
    return base if isinstance(base, Normal) else None


@register_kl(CorrelatedNormal, Independent)
def _kl_correlated_diagonal_normal(q: CorrelatedNormal, p: Independent) -> torch.Tensor:
    """KL(N(μ, diag(σ)Σ_ρdiag(σ)) ‖ N(m, diag s²)) = Σ_d KL(N(μ_d, σ_d²) ‖ N(m_d, s_d²))
    + ½ log(1 / det Σ_ρ) (Yang et al. 2020, App. B; exact because diag Σ_ρ = 1)."""
    base = _diagonal_normal(p)
    if base is None:
        # torch's protocol for "no closed form": DisentELBO then uses a Monte Carlo KL
        raise NotImplementedError(
            f"no closed-form KL from CorrelatedNormal to {type(p.base_dist).__name__}; "
            "DisentELBO falls back to the Monte Carlo estimate log q(z|x) - log p(z)"
        )
    diagonal = kl_divergence(Normal(q.loc, q.scale), base).sum(-1)
    return diagonal - 0.5 * q.log_det_noise_covariance()


@register_kl(CorrelatedNormal, CorrelatedNormal)
def _kl_correlated_correlated(q: CorrelatedNormal, p: CorrelatedNormal) -> torch.Tensor:
    """Gaussian KL ½[tr(P⁻¹Q) + (m−μ)ᵀP⁻¹(m−μ) − D + log det P − log det Q], all O(D)."""
    d = q.latent_dim
    # tr(P⁻¹Q) = tr(Σ_p⁻¹ R Σ_q R), R = diag(σ_q/σ_p); with Σ_p⁻¹ = (I − c11ᵀ)/(1 − ρ_p):
    # tr(RΣ_qR) = Σ r² (diag Σ_q = 1) and 1ᵀRΣ_qR1 = (1 − ρ_q) Σ r² + ρ_q (Σ r)².
    r = q.scale / p.scale
    c = p.rho / (1 + (d - 1) * p.rho)
    r_sq, r_sum = r.pow(2).sum(-1), r.sum(-1)
    trace = (r_sq - c * ((1 - q.rho) * r_sq + q.rho * r_sum.pow(2))) / (1 - p.rho)
    u = (q.loc - p.loc) / p.scale
    quad = p.noise_mahalanobis(u)
    log_det_p = 2 * p.scale.log().sum(-1) + p.log_det_noise_covariance()
    log_det_q = 2 * q.scale.log().sum(-1) + q.log_det_noise_covariance()
    return 0.5 * (trace + quad - d + log_det_p - log_det_q)
