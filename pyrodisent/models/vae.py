"""The VAE as a Pyro model/guide pair.

    model:  z ~ p(z),  x | z ~ Bernoulli(logits = f(z))  or  Normal(f(z), gaussian_scale²)
    guide:  z | x ~ N(μ(x), diag σ²(x))                     (factorized guide)
            z | x ~ N(μ(x), diag(σ(x)) Σ_ρ diag(σ(x)))       (correlated guide of Yang et al.
            2020, the mutual-information paper, eq. 11-12, Σ_ρ = (1 − ρ)I + ρ11ᵀ; ρ = 0 is the
            factorized guide)

Both run inside one ``pyro.plate("data")`` whose ``size`` is the dataset size N when
``dataset_size`` is given, so Pyro scales the batch to the full data set and the
regularizers learn N from the plate. The networks are those of
:mod:`pyrodisent.models.networks`. Priors other than N(0, I) come from the ``priors``
registry (a name, or ``{name: options}`` as in a YAML config) or are passed as a Pyro
distribution with ``event_shape == (D,)``: ``"logcosh"`` (PDisVAE, an anonymous ICLR
submission, §2.2) and ``LpNested(...)`` / ``{"lp_nested": {...}}`` (ISA-VAE, Stühmer et al.
2020) ship with pyrodisent.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyrodisent.distributions import CorrelatedNormal
from pyrodisent.models.networks import build_networks, split_posterior_parameters
from pyrodisent.plugin_manager import get_component

LIKELIHOODS = ("bernoulli", "gaussian")
GUIDES = ("factorized", "correlated")
#: ρ of the correlated guide when none is given: the experiments of Yang et al. 2020 use 0.9
DEFAULT_RHO = 0.9


def check_guide(guide: str, rho: float | None) -> float:
    """ρ of a guide family (``"factorized"``: 0; ``"correlated"``: ``rho``, default 0.9), with
    an error that names the bad value."""
    if guide not in GUIDES:
        raise ValueError(f"unknown guide {guide!r}; choose one of {', '.join(GUIDES)}")
    if guide == "factorized":
        if rho not in (None, 0, 0.0):
            raise ValueError(f"rho={rho!r} needs guide='correlated'; the factorized guide has rho = 0")
        return 0.0
    rho = DEFAULT_RHO if rho is None else rho
    try:
        rho = float(rho)
    except (TypeError, ValueError):
        raise ValueError(f"rho must be a number in [0, 1), got {rho!r}") from None
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho must be in [0, 1) (Yang et al. 2020, eq. 11), got {rho}")
    return rho


def gaussian_posterior(loc: torch.Tensor, scale: torch.Tensor, guide: str, rho: float):
    """N(loc, diag scale²) (``"factorized"``) or N(loc, diag(scale) Σ_ρ diag(scale)) with
    Σ_ρ = (1 − ρ)I + ρ11ᵀ (``"correlated"``, Yang et al. 2020, eq. 12); event_shape [D]."""
    if guide == "correlated":
        return CorrelatedNormal(loc, scale, rho)
    return dist.Normal(loc, scale).to_event(1)


class VAE(nn.Module):
    """VAE (Kingma & Welling 2014; Rezende et al. 2014): ``.model``/``.guide`` that work with
    any Pyro ELBO and with :class:`DisentELBO`.

    :param input_shape: (C, H, W) for images, or any shape with ``encoder="mlp"``.
    :param latent_dim: D.
    :param encoder: ``"conv"`` (RTC-VAE: Cheng et al. 2020, Table 2), ``"conv_stcvae"``
        (β-STCVAE: Chen et al. 2022, Table 2) or ``"mlp"`` (Chen et al. 2022, Table 1); the
        decoder mirrors it.
    :param likelihood: ``"bernoulli"`` (binary / [0, 1] images) or ``"gaussian"``.
    :param gaussian_scale: the fixed observation standard deviation of the Gaussian likelihood.
    :param hidden_width, hidden_layers: ``neuron_num`` and ``layer`` of the tables of Chen et al.
        2022.
    :param prior: ``"normal"``, another registered prior's name (``"logcosh"``,
        ``"lp_nested"``), ``{name: options}``, or a distribution with event_shape (D,).
    :param prior_options: options for a prior given by name.
    :param register_params: call ``pyro.module`` in model/guide (needed by stock SVI; the
        engine turns it off because it steps a torch optimizer over ``parameters()``).
    :param guide: ``"factorized"`` (N(μ, diag σ²)) or ``"correlated"`` (Yang et al. 2020, eq. 12).
    :param rho: ρ ∈ [0, 1) of the correlated guide (default 0.9, Yang et al. 2020); the
        factorized guide accepts only ``None`` or 0.
    """

    #: attributes only eager code fills (caches); the compiled step (pyrodisent.compiled) lets
    #: them change while it records
    eager_state = ("_prior_cache", "_index_cache")

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 64, 64),
        latent_dim: int = 10,
        encoder: str = "conv",
        likelihood: str = "bernoulli",
        gaussian_scale: float = 1.0,
        hidden_width: int = 1000,
        hidden_layers: int = 1,
        prior="normal",
        prior_options: dict | None = None,
        register_params: bool = True,
        guide: str = "factorized",
        rho: float | None = None,
    ):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; choose one of {', '.join(LIKELIHOODS)}")
        if not gaussian_scale > 0:
            raise ValueError(f"gaussian_scale must be > 0, got {gaussian_scale}")
        self.input_shape = tuple(int(v) for v in input_shape)
        self.latent_dim = int(latent_dim)
        self.likelihood = likelihood
        self.gaussian_scale = float(gaussian_scale)
        self.register_params = register_params
        self.encoder, self.decoder = build_networks(
            encoder, self.input_shape, self.latent_dim, hidden_width, hidden_layers
        )
        self.rho = check_guide(guide, rho)
        self.guide_family = guide
        if isinstance(prior, dict):
            if len(prior) != 1:
                raise ValueError(
                    "a prior given as a mapping must be {name: options} with one name, "
                    f"got {prior!r}"
                )
            ((prior, options),) = prior.items()
            if options is not None and not isinstance(options, dict):
                raise ValueError(
                    f"the options of prior {prior!r} must be a mapping, got {options!r}"
                )
            prior_options = {**(options or {}), **(prior_options or {})}
        elif not isinstance(prior, (str, torch.distributions.Distribution)):
            raise ValueError(
                "prior must be a registered name, {name: options} or a distribution, "
                f"got {prior!r}"
            )
        self.prior_spec = prior
        self._prior_options = dict(prior_options or {})
        self._prior_cache: tuple[torch.device, torch.distributions.Distribution] | None = None
        self._index_cache: dict = {}

    # ------------------------------------------------------------------ pieces
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and scale, each [B, D]."""
        return split_posterior_parameters(self.encoder(x))

    def posterior(self, x: torch.Tensor) -> torch.distributions.Distribution:
        """q(z | x) for a batch, batch_shape [B], event_shape [D]."""
        loc, scale = self.encode(x)
        return self._posterior_from(loc, scale)

    def _posterior_from(self, loc: torch.Tensor, scale: torch.Tensor):
        """N(loc, diag scale²) or the CorrelatedNormal(loc, scale, ρ) of Yang et al. 2020, per
        ``guide``."""
        return gaussian_posterior(loc, scale, self.guide_family, self.rho)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Likelihood parameters for a batch of codes: logits (Bernoulli) or means (Gaussian)."""
        return self.decoder(z)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """[B] log p(x | z): the ELBO's reconstruction term at the codes ``z``, in nats per image."""
        return self._likelihood(self.decode(z)).log_prob(x)

    def mean_image(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z], for reconstructions and traversals."""
        out = self.decode(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def prior(self, device: torch.device) -> torch.distributions.Distribution:
        """p(z) with event_shape [D] on ``device``."""
        if self._prior_cache is not None and self._prior_cache[0] == device:
            return self._prior_cache[1]
        spec = self.prior_spec
        if isinstance(spec, torch.distributions.Distribution):
            prior = spec
        elif spec == "normal":
            zeros = torch.zeros(self.latent_dim, device=device)
            prior = dist.Normal(zeros, torch.ones_like(zeros)).to_event(1)
        else:
            prior = get_component("priors", spec)(self.latent_dim, device=device, **self._prior_options)
        if tuple(prior.event_shape) != (self.latent_dim,):
            raise ValueError(
                f"the prior's event_shape is {tuple(prior.event_shape)}, expected ({self.latent_dim},)"
            )
        self._prior_cache = (device, prior)
        return prior

    def _likelihood(self, out: torch.Tensor) -> torch.distributions.Distribution:
        if self.likelihood == "bernoulli":
            base = dist.Bernoulli(logits=out, validate_args=False)
        else:
            base = dist.Normal(out, self.gaussian_scale, validate_args=False)
        return base.to_event(len(self.input_shape))

    def _plate(self, x: torch.Tensor, dataset_size: int | None):
        batch = x.shape[0]
        if dataset_size is None:
            return pyro.plate("data", batch)
        if dataset_size < batch:
            raise ValueError(f"dataset_size ({dataset_size}) is smaller than the batch ({batch})")
        key = (batch, x.device)
        if key not in self._index_cache:  # a fixed subsample index: no randperm per step
            self._index_cache = {key: torch.arange(batch, device=x.device)}
        return pyro.plate("data", int(dataset_size), subsample=self._index_cache[key])

    # ----------------------------------------------------------- model / guide
    def model(self, x: torch.Tensor, dataset_size: int | None = None) -> None:
        if self.register_params:
            pyro.module("decoder", self.decoder)
        prior = self.prior(x.device)
        with self._plate(x, dataset_size):
            z = pyro.sample("z", prior.expand([x.shape[0]]))
            pyro.sample("x", self._likelihood(self.decode(z)), obs=x)

    def guide(self, x: torch.Tensor, dataset_size: int | None = None) -> torch.Tensor:
        if self.register_params:
            pyro.module("encoder", self.encoder)
        with self._plate(x, dataset_size):
            return pyro.sample("z", self.posterior(x))
