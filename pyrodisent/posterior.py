"""The posterior batch: what every regularizer sees of one guide pass.

:class:`PosteriorBatch` is built once per particle from the model and guide traces. It holds
z_i ~ q(z | x_i), the posterior distribution and its parameters per data point, the prior,
the batch size M, the dataset size N (the plate's ``full_size``) and the step number, and
it caches the shared, expensive work — the pairwise log q(z_i | x_j) reductions behind
log q̂(z) and its marginals — so that several regularizers pay for it once per step.

Sharing works in two phases. Before any penalty, :class:`~pyrodisent.DisentELBO` calls every
regularizer's ``prepare``, where it declares the estimates it will use
(:meth:`PosteriorBatch.request_aggregate`). The first :meth:`PosteriorBatch.log_aggregate`
or :meth:`PosteriorBatch.kl_decomposition` call then computes every declared estimate from
one pass over the pairwise densities: several weightings share the densities, and a request
without groups (``tc``) is answered by the pass of a grouped one (``pc``, ``grouped_tc``).
Only two *different* groupings need two passes. An undeclared request still works; it
costs a pass of its own when no earlier one covers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from pyro.distributions import Independent, Normal
from torch.distributions import Distribution, kl_divergence

from pyrodisent.estimators import (
    AggregateLogDensities,
    aggregate_log_densities_multi,
    kl_decomposition,
    normalize_groups,
)

# Defined with the estimators (which raise it too); re-exported here and from pyrodisent.
from pyrodisent.estimators.families import (
    GaussianFamily,
    UnsupportedPosteriorError,
    posterior_family,
)
from pyrodisent.estimators.weights import cached_log_importance_weights, check_method


def _find_plate_size(site: dict) -> tuple[int | None, float]:
    """(full_size, scale) of the outermost subsampling plate around a sample site."""
    for frame in site["cond_indep_stack"]:
        if frame.vectorized and frame.full_size is not None:
            return int(frame.full_size), float(frame.full_size) / frame.size
    return None, 1.0


def _diagonal_normal_parameters(fn: Distribution) -> tuple[torch.Tensor, torch.Tensor] | None:
    base = fn
    while isinstance(base, Independent):
        base = base.base_dist
    if isinstance(base, Normal):
        return base.loc, base.scale
    params = getattr(fn, "diagonal_parameters", None)
    if callable(params):
        return params()
    return None


@dataclass
class PosteriorBatch:
    """One guide pass seen by the regularizers.

    Attributes: ``z`` [M, D]; ``posterior`` q(z|x) for the batch (batch_shape [M]);
    ``prior`` p(z) from the model trace; ``loc``/``scale`` [M, D] when the posterior is a
    diagonal Gaussian (else ``None``); ``dataset_size`` N; ``step``; ``training`` (True
    while gradients are being computed — plugins that train their own networks step then);
    ``site`` the latent site's name; ``trace_scale`` N/M when the plate subsamples, else 1;
    ``paired`` True when the guide marks the site ``infer={"paired": True}``: rows 2i and
    2i + 1 are the two observations of one pair (the weakly-supervised models of Locatello
    et al. 2020), so the batch is not an i.i.d. sample of the data set.
    """

    z: torch.Tensor
    posterior: Distribution
    prior: Distribution | None
    dataset_size: int
    step: int = 0
    training: bool = True
    site: str = "z"
    trace_scale: float = 1.0
    loc: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    paired: bool = False
    diagnostics: dict[str, torch.Tensor] = field(default_factory=dict)
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    # ---------------------------------------------------------------- building
    @classmethod
    def from_traces(
        cls, model_trace, guide_trace, site: str | None = None, step: int = 0, training: bool = True
    ) -> PosteriorBatch:
        """Build the batch view of the latent ``site`` (the only latent site when ``None``)."""
        latent = [
            name
            for name, node in guide_trace.nodes.items()
            if node["type"] == "sample" and not node["is_observed"] and name in model_trace.nodes
        ]
        if site is None:
            if len(latent) != 1:
                raise ValueError(
                    f"the guide has latent sites {latent}; pass latent_site=<name> to DisentELBO "
                    f"to say which one the regularizers act on"
                )
            site = latent[0]
        elif site not in latent:
            raise ValueError(f"latent site {site!r} not in the guide; its latent sites: {latent}")
        guide_site = guide_trace.nodes[site]
        z = guide_site["value"]
        if z.dim() != 2:
            raise ValueError(
                f"regularizers expect the latent site {site!r} to be [batch, latent_dim]; got "
                f"shape {tuple(z.shape)}. Declare it with .to_event(1) inside one data plate."
            )
        full_size, trace_scale = _find_plate_size(guide_site)
        dataset_size = full_size if full_size is not None else z.shape[0]
        fn = guide_site["fn"]
        params = _diagonal_normal_parameters(fn)
        loc, scale = params if params is not None else (None, None)
        prior = model_trace.nodes[site]["fn"]
        batch = cls(
            z=z,
            posterior=fn,
            prior=prior,
            dataset_size=dataset_size,
            step=step,
            training=training,
            site=site,
            trace_scale=trace_scale,
            loc=loc,
            scale=scale,
            paired=bool(guide_site["infer"].get("paired", False)),
        )
        # Pyro's score parts already hold log q(z_i | x_i), unscaled by the plate: reuse it
        log_q = guide_site.get("unscaled_log_prob")
        if torch.is_tensor(log_q) and log_q.shape == z.shape[:1]:
            batch._cache["log_posterior"] = log_q
        return batch

    # -------------------------------------------------------------- basic facts
    @property
    def batch_size(self) -> int:
        return self.z.shape[0]

    @property
    def latent_dim(self) -> int:
        return self.z.shape[1]

    @property
    def num_represented(self) -> float:
        """How many data points the batch stands for in the loss (N when subsampled, else M).

        Regularizers return per-data-point penalties; the ELBO multiplies them by this so they
        live in the same units as Pyro's plate-scaled ELBO.
        """
        return self.batch_size * self.trace_scale

    def record(self, name: str, value: torch.Tensor) -> None:
        """Report a diagnostic (logged, never added to the loss). Keep it a tensor: no host sync."""
        self.diagnostics[name] = value.detach() if torch.is_tensor(value) else torch.tensor(value)

    def require_diagonal_gaussian(self, who: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.loc is None or self.scale is None:
            raise UnsupportedPosteriorError(
                f"{who} needs a diagonal Gaussian posterior (Normal(loc, scale).to_event(1)); "
                f"the guide's site {self.site!r} is {type(self.posterior).__name__}. Use the "
                f"factorized guide, or a posterior family with an estimator that supports it."
            )
        return self.loc, self.scale

    # ----------------------------------------------------------- shared estimates
    def log_posterior(self) -> torch.Tensor:
        """[M] log q(z_i | x_i)."""
        if "log_posterior" not in self._cache:
            self._cache["log_posterior"] = self.posterior.log_prob(self.z)
        return self._cache["log_posterior"]

    def kl(self) -> torch.Tensor:
        """[M] KL(q(z | x_i) ‖ p(z)): analytic where torch has it, else the one-sample
        estimate log q(z_i | x_i) − log p(z_i) (unbiased; the ELBO's own KL term)."""
        if "kl" not in self._cache:
            try:
                kl = kl_divergence(self.posterior, self.prior.expand(self.posterior.batch_shape))
            except NotImplementedError:
                kl = self.log_posterior() - self.prior.log_prob(self.z)
            self._cache["kl"] = kl
        return self._cache["kl"]

    def log_prior_dims(self) -> torch.Tensor:
        """[M, D] per-dimension log p(z_id); only for priors that factorize over dims."""
        if "log_prior_dims" not in self._cache:
            base = self.prior
            while isinstance(base, Independent):
                base = base.base_dist
            if base is self.prior or base.batch_shape[-1:] not in (torch.Size([self.latent_dim]), torch.Size([1])):
                raise UnsupportedPosteriorError(
                    f"this regularizer needs per-dimension prior marginals p(z_d), but the prior "
                    f"{type(self.prior).__name__} does not factorize over dims (an L^p-nested "
                    f"prior factorizes over groups only). Use a factorized prior, or set the "
                    f"dimension-wise KL weight to 1 so it is not estimated separately."
                )
            self._cache["log_prior_dims"] = base.log_prob(self.z)
        return self._cache["log_prior_dims"]

    def gaussian_family(self, who: str = "the aggregate-posterior estimator") -> GaussianFamily:
        """The posterior as a Gaussian family the estimators handle: diagonal, equicorrelated
        (the correlated-noise guide of Yang et al. 2020, the mutual-information paper:
        ``loc``/``scale``/``rho`` attributes) or full
        covariance (a ``scale_tril`` attribute, or a ``covariance_parameters()`` method)."""
        if "gaussian_family" not in self._cache:
            family = posterior_family(self.posterior)
            if family is None or family.loc.shape != self.z.shape:
                raise UnsupportedPosteriorError(
                    f"{who} needs a Gaussian posterior (diagonal Normal(loc, scale).to_event(1), "
                    f"the correlated-noise guide with loc/scale/rho, or a MultivariateNormal with "
                    f"scale_tril) over [batch, latent_dim]; the guide's site {self.site!r} is "
                    f"{type(self.posterior).__name__}"
                )
            self._cache["gaussian_family"] = family
        return self._cache["gaussian_family"]

    def _require_unpaired(self) -> None:
        if self.paired:
            raise UnsupportedPosteriorError(
                "the minibatch estimators of the aggregate posterior q(z) (log_aggregate, "
                "kl_decomposition) treat the batch as an i.i.d. sample of the data set; this "
                "batch holds pairs of observations that share factors (a weakly-supervised "
                "model), whose codes are not independent. Drop this regularizer, or use one "
                "that acts per data point (beta_vae, annealed_vae)."
            )

    def _group_key(self, groups) -> tuple[tuple[int, ...], ...] | None:
        if groups is None:
            return None
        return tuple(tuple(g) for g in normalize_groups(groups, self.latent_dim))

    def request_aggregate(self, method: str = "is", groups=None, dims: bool = True) -> None:
        """Declare an estimate that a penalty will ask :meth:`log_aggregate` or
        :meth:`kl_decomposition` for (call it from ``Regularizer.prepare``): every estimate
        declared before the first of those calls is computed in the same pass (module
        docstring)."""
        check_method(method)
        self._require_unpaired()
        self._cache.setdefault("aggregate_requests", []).append((method, self._group_key(groups), bool(dims)))

    def _covered(self, method: str, group_key, dims: bool) -> AggregateLogDensities | None:
        """The part of an estimate already computed that answers a request, if one does."""
        for grouping, estimates in self._cache.get("aggregates", ()):
            est = estimates.get(method)
            if est is None or (group_key is not None and grouping != group_key) or (dims and est.dims is None):
                continue
            return AggregateLogDensities(
                joint=est.joint,
                dims=est.dims if dims else None,
                groups=est.groups if group_key is not None else None,
            )
        return None

    def _compute_aggregates(self, family: GaussianFamily, requests) -> None:
        """One pass of :func:`~pyrodisent.estimators.aggregate_log_densities_multi` per
        grouping among the open requests; requests without groups join the first grouping."""
        open_requests = [r for r in requests if self._covered(*r) is None]
        groupings = list(dict.fromkeys(g for _, g, _ in open_requests if g is not None)) or [None]
        plans: dict = {g: {} for g in groupings}  # grouping -> {method: per-dim marginals wanted}
        for method, grouping, dims in open_requests:
            plan = plans[grouping if grouping is not None else groupings[0]]
            plan[method] = plan.get(method, False) or dims
        store = self._cache.setdefault("aggregates", [])
        for grouping, methods in plans.items():
            log_weights = {
                m: cached_log_importance_weights(self.batch_size, self.dataset_size, m, device=self.z.device, dtype=self.z.dtype)
                for m in methods
            }
            estimates = aggregate_log_densities_multi(
                self.z,
                family,
                log_weights,
                groups=[list(g) for g in grouping] if grouping is not None else None,
                dims=[m for m, wanted in methods.items() if wanted],
            )
            store.append((grouping, estimates))

    def log_aggregate(self, method: str = "is", groups=None, dims: bool = True) -> AggregateLogDensities:
        """Cached minibatch estimates of log q(z), log q(z_d) (``dims``) and log q(z_g)
        (``groups``) with the weighting ``method`` (docs/estimators.md); with the estimates
        declared by :meth:`request_aggregate`, computed in one pass."""
        self._require_unpaired()
        family = self.gaussian_family()
        check_method(method)
        request = (method, self._group_key(groups), bool(dims))
        found = self._covered(*request)
        if found is None:
            self._compute_aggregates(family, self._cache.get("aggregate_requests", []) + [request])
            found = self._covered(*request)
        return found

    def kl_decomposition(self, method: str = "is", groups=None, dims: bool = True) -> dict[str, torch.Tensor]:
        """Batch estimates of the KL decomposition (Chen et al. 2018; with groups Chen et al.
        2022, eq. 9-10, and PDisVAE, eq. 3; docs/estimators.md), from
        :func:`pyrodisent.estimators.kl_decomposition` of :meth:`log_aggregate`:

        E_x KL(q(z|x) ‖ p(z)) = MI(x; z) + TC(z) + Σ_d KL(q(z_d) ‖ p(z_d)),  TC = TC_joint + TC_within

        Keys: ``mi``; with ``dims`` ``tc`` and, where the prior factorizes over dims, ``dwkl``;
        with ``groups`` ``tc_joint`` (= PC) and, with ``dims`` too, ``tc_within``. Cached.
        """
        key = ("kl_decomposition", method, self._group_key(groups), bool(dims))
        if key not in self._cache:
            est = self.log_aggregate(method, groups, dims)
            log_prior_dims = None
            if est.dims is not None:
                try:
                    log_prior_dims = self.log_prior_dims()
                except UnsupportedPosteriorError:
                    pass  # a prior that does not factorize over dims: no DWKL
            self._cache[key] = kl_decomposition(est, self.log_posterior(), log_prior_dims)
        return self._cache[key]
