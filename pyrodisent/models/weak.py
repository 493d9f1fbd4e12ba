"""Ada-GVAE and Ada-ML-VAE: weakly-supervised VAEs trained on pairs of observations
(Locatello et al. 2020, "Weakly-Supervised Disentanglement Without Compromises", §4).

A pair (x¹, x²) shares all but an unknown number of factors (pyrodisent.data.pairs). The
encoder gives q(z | x¹) and q(z | x²), diagonal Gaussians; per latent dimension

    δ_j = KL(q(z_j | x¹) ‖ q(z_j | x²)),     τ = ½ (max_j δ_j + min_j δ_j),

and the dimensions with δ_j < τ are taken as shared (the adaptive estimate of which
factors the pair shares: the "Ada-" of the names). On a shared dimension both posteriors
are replaced by one aggregate a(q(z_j | x¹), q(z_j | x²)); elsewhere each keeps its own:

    q̃(z_j | x¹) = q̃(z_j | x²) = a(q(z_j | x¹), q(z_j | x²))    (δ_j < τ)
    q̃(z_j | xⁱ) = q(z_j | xⁱ)                                   (otherwise)

    GVAE (Hosoya 2019):              μ = ½(μ¹ + μ²),   σ² = ½(σ¹² + σ²²)
    ML-VAE (Bouchacourt et al. 2018): 1/σ² = 1/σ¹² + 1/σ²²,   μ = σ² (μ¹/σ¹² + μ²/σ²²)

(the arithmetic mean of the Gaussians' parameters, and their product), and the objective
is the β-VAE ELBO of both observations under the aggregated posteriors:

    E_q̃(z|x¹) log p(x¹ | z) + E_q̃(z|x²) log p(x² | z)
        − β KL(q̃(z | x¹) ‖ p(z)) − β KL(q̃(z | x²) ‖ p(z)).

As a Pyro model/guide pair: ``x`` is a batch of pairs [B, 2, *input_shape]; its 2B
observations (x¹ of pair i in row 2i, x² in row 2i + 1) are one batch inside the plate
``"data"``, with one latent site ``"z"`` [2B, D] drawn from the aggregated posteriors and
one observed site ``"x"``. The model is :class:`VAE`'s on those 2B observations, so any Pyro
ELBO gives the objective above with β = 1, and :class:`~pyrodisent.DisentELBO` adds β with
the ``beta_vae`` regularizer ((β − 1)·KL on top of the ELBO's own KL, per observation). The
guide marks the site ``infer={"paired": True}``: regularizers that estimate the aggregate
posterior q(z) from the batch (``tc``, ``pc``, ``grouped_tc``) assume i.i.d. batches and
refuse it with an error naming them.

The ``k`` option says which pairs the engine draws for the model (``pair_sampling``); the
model itself never sees k (the point of the adaptive rule). δ_j is the true KL;
disentanglement_lib computes twice it, which leaves τ's choice unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from torch.distributions import kl_divergence

from pyrodisent.models.vae import VAE
from pyrodisent.validation import check_int


def arithmetic_mean(loc1, scale1, loc2, scale2) -> tuple[torch.Tensor, torch.Tensor]:
    """GVAE's aggregate (Hosoya 2019; Locatello et al. 2020, §4): the Gaussian with the mean
    of the two means and the mean of the two variances, as (loc, scale)."""
    return 0.5 * (loc1 + loc2), (0.5 * (scale1.square() + scale2.square())).sqrt()


def product_of_gaussians(loc1, scale1, loc2, scale2) -> tuple[torch.Tensor, torch.Tensor]:
    """ML-VAE's aggregate (Bouchacourt et al. 2018; Locatello et al. 2020, §4): the normalized
    product N(μ¹, σ¹²)·N(μ², σ²²): precision 1/σ¹² + 1/σ²², mean the precision-weighted mean
    of the two, as (loc, scale). disentanglement_lib's ``MLVae`` keeps this mean but takes
    twice this variance (the normalized geometric mean of the two Gaussians); the product is
    the rule the paper names."""
    precision1, precision2 = scale1.square().reciprocal(), scale2.square().reciprocal()
    precision = precision1 + precision2
    return (precision1 * loc1 + precision2 * loc2) / precision, precision.rsqrt()


def adaptive_shared_dims(delta: torch.Tensor) -> torch.Tensor:
    """[..., D] bool: δ_j < τ = ½(max_j δ_j + min_j δ_j) over the last dim (Locatello et al.
    2020, §4). No dimension is shared when all δ_j are equal (then q(z|x¹) and q(z|x²) differ
    by the same amount everywhere, typically not at all, and averaging changes nothing)."""
    tau = 0.5 * (delta.amax(dim=-1, keepdim=True) + delta.amin(dim=-1, keepdim=True))
    return delta < tau


class AdaGVAE(VAE):
    """Ada-GVAE (Locatello et al. 2020, §4): a VAE trained on pairs of observations whose
    posteriors are averaged (GVAE: arithmetic mean of the parameters) on the latent dims the
    adaptive threshold τ finds shared; ``.model``/``.guide`` for any Pyro ELBO.

    :param input_shape, latent_dim, encoder, likelihood, gaussian_scale, hidden_width,
        hidden_layers, prior, prior_options, register_params: as :class:`VAE` (the guide is
        the factorized Gaussian one: the aggregates act per dimension).
    :param k: the number of factors that differ within the pairs the engine draws for this
        model: an int in 1..K−1, or ``"rnd"`` (uniform in 1..K−1 per pair, the paper's
        "k = Rnd"). The model does not use it.
    """

    #: the aggregate a(q¹, q²) of a shared dimension
    aggregate = staticmethod(arithmetic_mean)

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 64, 64),
        latent_dim: int = 10,
        encoder: str = "locatello",
        likelihood: str = "bernoulli",
        gaussian_scale: float = 1.0,
        hidden_width: int = 1000,
        hidden_layers: int = 1,
        k: int | str = 1,
        prior="normal",
        prior_options: dict | None = None,
        register_params: bool = True,
    ):
        super().__init__(
            input_shape,
            latent_dim,
            encoder,
            likelihood,
            gaussian_scale,
            hidden_width,
            hidden_layers,
            prior=prior,
            prior_options=prior_options,
            register_params=register_params,
        )
        if k != "rnd":
            k = check_int("k (the number of factors that differ within a pair; or 'rnd')", k, 1)
        self.k = k

    @property
    def pair_sampling(self) -> dict:
        """What the engine's pair sampler draws for this model (``make_pair_sampler`` options)."""
        return {"k": self.k}

    # ------------------------------------------------------------------ pieces
    def observations(self, x: torch.Tensor) -> torch.Tensor:
        """The pairs [B, 2, *input_shape] as 2B observations (a view: x¹ of pair i in row 2i)."""
        if x.dim() != len(self.input_shape) + 2 or x.shape[1] != 2 or tuple(x.shape[2:]) != self.input_shape:
            raise ValueError(
                f"{type(self).__name__} trains on pairs of observations: x must be "
                f"[B, 2, {', '.join(map(str, self.input_shape))}], got {list(x.shape)} "
                "(the engine draws them with pyrodisent.data.pairs.PairSampler)"
            )
        return x.flatten(0, 1)

    def shared_dims(self, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """[B, D] bool: the dims judged shared by pairs with posterior parameters [B, 2, D]."""
        q1 = dist.Normal(loc[:, 0].detach(), scale[:, 0].detach())
        q2 = dist.Normal(loc[:, 1].detach(), scale[:, 1].detach())
        return adaptive_shared_dims(kl_divergence(q1, q2))

    def aggregated_posterior(
        self, loc: torch.Tensor, scale: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loc, scale) [B, 2, D] of q̃(z | x¹), q̃(z | x²) from those of q(z | x¹), q(z | x²)."""
        shared = self.shared_dims(loc, scale).unsqueeze(1)
        mean_loc, mean_scale = self.aggregate(loc[:, 0], scale[:, 0], loc[:, 1], scale[:, 1])
        return (
            torch.where(shared, mean_loc.unsqueeze(1), loc),
            torch.where(shared, mean_scale.unsqueeze(1), scale),
        )

    # ----------------------------------------------------------- model / guide
    def model(self, x: torch.Tensor, dataset_size: int | None = None) -> None:
        super().model(self.observations(x), dataset_size)

    def guide(self, x: torch.Tensor, dataset_size: int | None = None) -> torch.Tensor:
        if self.register_params:
            pyro.module("encoder", self.encoder)
        observations = self.observations(x)
        loc, scale = self.encode(observations)
        loc, scale = self.aggregated_posterior(loc.unflatten(0, (-1, 2)), scale.unflatten(0, (-1, 2)))
        posterior = dist.Normal(loc.flatten(0, 1), scale.flatten(0, 1)).to_event(1)
        with self._plate(observations, dataset_size):
            return pyro.sample("z", posterior, infer={"paired": True})


class AdaMLVAE(AdaGVAE):
    """Ada-ML-VAE (Locatello et al. 2020, §4): :class:`AdaGVAE` with ML-VAE's aggregate
    (Bouchacourt et al. 2018), the product of the two Gaussians, on the shared dims."""

    aggregate = staticmethod(product_of_gaussians)
