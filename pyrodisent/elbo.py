"""DisentELBO: Pyro's mean-field ELBO plus plugin regularizers.

    loss = −ELBO + Σ_r Σ_k n · term_{r,k}

where the ELBO is :class:`pyro.infer.TraceMeanField_ELBO`'s (analytic KL where Pyro has
one, Monte Carlo otherwise), ``term_{r,k}`` are the per-data-point penalties returned by
regularizer r, and n is the number of data points the batch represents (the plate's full
size when it subsamples). One guide pass per particle; the posterior batch (and its
shared pairwise estimates) is built once per particle and shared by all regularizers: every
regularizer's ``prepare`` declares what it needs before the first ``penalty``, so that, for
example, ``tc`` with ``pc`` compute the pairwise densities once.

It works as ``loss=`` of stock ``pyro.infer.SVI``, as a torch module loss
(``DisentELBO(...)(model, guide)`` is an ``nn.Module``) and in pyrodisent's engine, which
calls :meth:`differentiable_loss` directly: that path makes no host synchronisation.

:func:`mean_field_elbo` is the one deliberate copy of Pyro's per-particle loop
(``TraceMeanField_ELBO._differentiable_loss_particle``, pyro-ppl 1.9): Pyro's ends in
``torch_item`` — a host synchronisation every step, which stalls a GPU — and returns the
ELBO alone, where the logs need the expected log-likelihood too. It keeps Pyro's checks.
Under Pyro's validation (``pyro.enable_validation(True)``), every latent and auxiliary
guide site must be fully reparameterized (``check_fully_reparametrized``; the estimator is
wrong otherwise); always, as in Pyro, a guide-only site must be marked auxiliary and an
analytic KL must have the site's batch shape. The mean-field ordering check
(``_check_mean_field_requirement``) and the enumeration check run where Pyro runs them, in
the ``_get_trace`` that DisentELBO inherits, and validation adds Pyro's NaN warning on the
loss. The engine turns validation off while it trains, so none of this costs a step there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import contextmanager

import torch
from pyro.distributions.util import scale_and_mask
from pyro.infer import TraceMeanField_ELBO
from pyro.infer.util import check_fully_reparametrized, is_validation_enabled, torch_item
from pyro.util import warn_if_nan
from torch.distributions import kl_divergence

from pyrodisent.posterior import PosteriorBatch, UnsupportedPosteriorError
from pyrodisent.regularizer import Regularizer, regularizer


def mean_field_elbo(model_trace, guide_trace) -> tuple[torch.Tensor, torch.Tensor]:
    """(ELBO, expected log-likelihood) of one particle, as TraceMeanField_ELBO computes them,
    kept as tensors (no ``.item()``), with Pyro's checks (module docstring)."""
    validate = is_validation_enabled()
    elbo = 0.0
    log_likelihood = 0.0
    for name, model_site in model_trace.nodes.items():
        if model_site["type"] != "sample":
            continue
        if model_site["is_observed"]:
            elbo = elbo + model_site["log_prob_sum"]
            log_likelihood = log_likelihood + model_site["log_prob_sum"]
            continue
        guide_site = guide_trace.nodes[name]
        if validate:
            check_fully_reparametrized(guide_site)
        try:
            kl = kl_divergence(guide_site["fn"], model_site["fn"])
        except NotImplementedError:
            elbo = elbo + model_site["log_prob_sum"] - guide_site["score_parts"].entropy_term.sum()
            continue
        kl = scale_and_mask(kl, scale=guide_site["scale"], mask=guide_site["mask"])
        if torch.is_tensor(kl):
            assert torch._C._get_tracing_state() or kl.shape == guide_site["fn"].batch_shape
            elbo = elbo - kl.sum()
        else:
            elbo = elbo - kl * torch.Size(guide_site["fn"].batch_shape).numel()
    for name, guide_site in guide_trace.nodes.items():
        if guide_site["type"] == "sample" and name not in model_trace.nodes:
            assert guide_site["infer"].get("is_auxiliary")
            if validate:
                check_fully_reparametrized(guide_site)
            elbo = elbo - guide_site["score_parts"].entropy_term.sum()
    if not torch.is_tensor(elbo):
        elbo = torch.tensor(float(elbo))
    return elbo, log_likelihood


class DisentELBO(TraceMeanField_ELBO):
    """Mean-field ELBO augmented by regularizer plugins.

    Its per-particle loop (:func:`mean_field_elbo`) is the one deliberate copy of
    :class:`~pyro.infer.TraceMeanField_ELBO`'s: Pyro's calls ``.item()`` on every particle,
    a host synchronisation per step, and this one keeps the loss on the device. Pyro's own
    checks apply as they do to :class:`~pyro.infer.TraceMeanField_ELBO` (module docstring):
    with ``pyro.enable_validation(True)`` a guide that is not fully reparameterized raises
    Pyro's ``NotImplementedError`` and sites out of order get Pyro's mean-field warning.

    :param regularizers: :class:`~pyrodisent.Regularizer` instances, registry names, or
        ``(name, params)`` pairs / ``{"name": ..., **params}`` dicts.
    :param num_particles: guide passes per step (each gets its own regularizer terms).
    :param latent_site: the guide site the regularizers act on (default: the only latent).

    After each evaluation :attr:`last_terms` holds the detached per-data-point terms
    (``loss``, ``elbo``, ``log_likelihood``, ``kl``, every weighted penalty term as
    ``penalty/<reg>/<term>`` and every unweighted diagnostic a regularizer records as
    ``<reg>/<name>``), averaged over particles.
    """

    def __init__(
        self,
        regularizers: Iterable = (),
        num_particles: int = 1,
        latent_site: str | None = None,
        **kwargs,
    ):
        super().__init__(num_particles=num_particles, **kwargs)
        self.regularizers = torch.nn.ModuleList(_as_regularizer(r) for r in regularizers)
        self._check_batch_types()
        names = [r.name for r in self.regularizers]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"regularizer(s) {sorted(duplicates)} given twice; combine their weights")
        self.latent_site = latent_site
        self.step = 0
        self.last_terms: dict[str, torch.Tensor] = {}

    #: the batch this objective hands its regularizers
    batch_type: type = PosteriorBatch

    def _check_batch_types(self) -> None:
        wrong = [r.name for r in self.regularizers if not issubclass(self.batch_type, r.batch_type)]
        if wrong:
            kind = "a VAE's posterior batch" if self.batch_type is PosteriorBatch else "generated images"
            raise ValueError(
                f"regularizer(s) {wrong} cannot act on {kind}: "
                + ("they are adversarial plugins of a generator model (model: infogan)"
                   if self.batch_type is PosteriorBatch else
                   "they read a VAE's posterior; an InfoGAN takes adversarial plugins such as gan_discriminator")
            )

    # ------------------------------------------------------------------ per particle
    def _differentiable_loss_particle(self, model_trace, guide_trace):
        elbo, log_likelihood = mean_field_elbo(model_trace, guide_trace)
        loss = -elbo
        posterior = None
        if self.regularizers:
            posterior = PosteriorBatch.from_traces(
                model_trace,
                guide_trace,
                site=self.latent_site,
                step=self.step,
                training=torch.is_grad_enabled(),
            )
            n = posterior.num_represented
            for reg in self.regularizers:
                with _naming(reg):
                    reg.prepare(posterior)
        else:
            n = _represented_count(model_trace)
        terms = {
            "elbo": elbo.detach() / n,
            "log_likelihood": torch.as_tensor(log_likelihood).detach() / n,
        }
        terms["kl"] = terms["log_likelihood"] - terms["elbo"]
        for reg in self.regularizers:
            with _naming(reg):
                penalty = reg(posterior)
            for key, value in penalty.items():
                loss = loss + n * value
                terms[f"penalty/{reg.name}/{key}"] = value.detach()
            if posterior.training:
                self._auxiliary_step(reg, posterior)
        if posterior is not None:
            terms.update(posterior.diagnostics)
        terms["loss"] = loss.detach() / n
        self._particle_terms.append(terms)
        return loss.detach(), loss

    def _start(self) -> None:
        self._particle_terms: list[dict[str, torch.Tensor]] = []

    #: where :class:`pyrodisent.compiled.CompiledStep` collects the plugins' own training
    #: steps while it records the loss as a tensor program (``None``: take them at once)
    deferred_auxiliary: list | None = None

    def _auxiliary_step(self, reg: Regularizer, batch) -> None:
        """The regularizer's own training step on this batch, now, or after the recorded
        program has run when a compiled step is recording (the step is a backward and an
        optimizer step of the plugin's network, which is not part of the loss's graph)."""
        if self.deferred_auxiliary is None:
            reg.auxiliary_step(batch)
        else:
            self.deferred_auxiliary.append((reg, batch))

    def _finish(self, count_step: bool) -> None:
        parts = self._particle_terms
        if len(parts) == 1:
            self.last_terms = parts[0]
        else:
            keys = list(parts[0])  # a list, not the dict's key iterator: torch.compile traces it
            self.last_terms = {k: sum(p[k] for p in parts) / len(parts) for k in keys}
        if count_step:
            self.step += 1

    # --------------------------------------------------------------- entry points
    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        """The loss to call ``.backward()`` on; no host sync (all sites reparameterized)
        unless Pyro's validation is on, which adds Pyro's NaN warning on the loss."""
        self._start()
        loss = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            _, surrogate = self._differentiable_loss_particle(model_trace, guide_trace)
            loss = loss + surrogate / self.num_particles
        self._finish(count_step=torch.is_grad_enabled())
        if is_validation_enabled():
            warn_if_nan(loss, "loss")
        return loss

    def loss(self, model, guide, *args, **kwargs) -> float:
        """The loss (−ELBO + penalties) as a float, without gradients; warns on NaN as
        Pyro's does."""
        with torch.no_grad():
            return _warned_item(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        """Used by :class:`pyro.infer.SVI`: backward on the loss, return it as a float;
        warns on NaN as Pyro's does."""
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward(retain_graph=self.retain_graph)
        return _warned_item(loss)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """Step counter and every regularizer's state (networks, optimizer state), keyed by
        the regularizer's name, so that a config that lists its regularizers in another
        order still gives each one its own state."""
        return {"step": self.step, "regularizers": {reg.name: reg.state_dict() for reg in self.regularizers}}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Restore :meth:`state_dict`. Every regularizer gets the state saved under its name;
        with ``strict`` (the default) a saved regularizer this ELBO lacks, or one with state
        (a network) that the checkpoint lacks, is an error naming them. A state saved before
        regularizers were keyed by name (keys ``'0.'``, ``'1.'``: their positions) loads
        into the regularizers in the same order, and says so when the order differs."""
        saved = state["regularizers"]
        if saved and all(_INDEX_KEY.match(key) for key in saved):
            self._load_index_keyed(saved, strict)
        else:
            self._load_name_keyed(saved, strict)
        self.step = int(state["step"])

    def _load_name_keyed(self, saved: dict, strict: bool) -> None:
        ours = {reg.name: reg for reg in self.regularizers}
        if strict:
            unknown = sorted(set(saved) - set(ours))
            if unknown:
                raise ValueError(
                    f"the checkpoint holds the state of regularizer(s) {unknown}, which this ELBO "
                    f"does not have (its regularizers: {sorted(ours) or 'none'}); add them to the "
                    f"config's regularizers, or load with strict=False to drop their state"
                )
            # a stateless regularizer (tc, pc, ...) has nothing to restore
            absent = sorted(name for name, reg in ours.items() if name not in saved and reg.state_dict())
            if absent:
                raise ValueError(
                    f"the checkpoint holds no state for regularizer(s) {absent} (it has "
                    f"{sorted(saved) or 'none'}); remove them from the config's regularizers, or "
                    f"load with strict=False to keep them as built"
                )
        for name, reg in ours.items():
            if name in saved:
                try:
                    reg.load_state_dict(saved[name], strict=strict)
                except RuntimeError as exc:
                    raise ValueError(f"regularizer {name!r}: its checkpointed state does not load: {exc}") from None

    def _load_index_keyed(self, saved: dict, strict: bool) -> None:
        try:
            self.regularizers.load_state_dict(saved, strict=strict)
        except RuntimeError as exc:
            order = [reg.name for reg in self.regularizers]
            raise ValueError(
                f"this checkpoint keys the regularizers' state by their position in the config "
                f"(saved before pyrodisent keyed it by name), and it does not fit the regularizers "
                f"{order} in this order; list the regularizers in the order the run was saved "
                f"with ({exc})"
            ) from None


#: a key of a state saved by a ModuleList: the regularizer's position, a dot, the rest
_INDEX_KEY = re.compile(r"^\d+\.")


@contextmanager
def _naming(reg: Regularizer):
    """A posterior the regularizer cannot handle: the error names the regularizer."""
    try:
        yield
    except UnsupportedPosteriorError as exc:
        if repr(reg.name) in str(exc):
            raise
        raise type(exc)(f"regularizer {reg.name!r}: {exc}") from exc


def _warned_item(loss: torch.Tensor) -> float:
    """The loss as a float (these entry points sync anyway), with Pyro's NaN warning unless
    :meth:`DisentELBO.differentiable_loss` gave it already (under validation)."""
    value = torch_item(loss)
    return value if is_validation_enabled() else warn_if_nan(value, "loss")


def _represented_count(model_trace) -> float:
    """Data points one particle stands for: batch size × plate scale of the observed site."""
    for site in model_trace.nodes.values():
        if site["type"] == "sample" and site["is_observed"]:
            for frame in site["cond_indep_stack"]:
                if frame.vectorized:
                    return float(frame.full_size if frame.full_size is not None else frame.size)
            return 1.0
    return 1.0


def _as_regularizer(spec) -> Regularizer:
    if isinstance(spec, Regularizer):
        return spec
    if isinstance(spec, str):
        return regularizer(spec)
    if isinstance(spec, dict):
        params = dict(spec)
        try:
            name = params.pop("name")
        except KeyError:
            raise ValueError(f"regularizer spec {spec!r} has no 'name'") from None
        return regularizer(name, **params)
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return regularizer(spec[0], **dict(spec[1]))
    raise TypeError(
        f"cannot make a regularizer from {spec!r}; pass a Regularizer, a name, "
        f"(name, params) or {{'name': ..., **params}}"
    )
