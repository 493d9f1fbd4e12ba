"""The InfoGAN objective (Chen et al. 2016) on a Pyro model/guide pair.

The model is the generator: it samples the codes c ~ p(c) (sites ``"codes"`` and, when the
model has one, ``"category"``) and the noise n, and records the generated images as the
deterministic site ``"generated"``. The guide is the recognition network Q(c | x) over the
same code sites. Chen et al. 2016 (eq. 5) maximise the variational lower bound

    L_I(G, Q) = E_{c ~ p(c), x ~ G(c, n)} [log Q(c | x)] + H(c)  ≤  I(c; G(c, n)),

so the generator and Q minimise λ·(−E log Q(c | G(c, n))) beside the generator's adversarial
loss. In Pyro's terms this is the sleep phase of wake-sleep: the model is traced, and the
guide is replayed on the generated images at the model's codes (``poutine.replay``), so each
of its sites scores log Q(c | x) at the code that made x. Nothing outside the two programs
models the codes: a correlated Q (Yang et al. 2020, eq. 12) is just the guide's family.

The adversarial part belongs to regularizer plugins (the built-in ``gan_discriminator``):
each gets a :class:`GeneratedBatch` — the real images of the step and the generated ones —
adds its generator terms (per image) to the loss, and takes its own discriminator step in
``auxiliary_step``, as FactorVAE's discriminator does for a VAE
(:class:`pyrodisent.AuxiliaryNetworkRegularizer`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from pyro import poutine
from pyro.infer.util import is_validation_enabled
from pyro.poutine.util import site_is_subsample
from pyro.util import warn_if_nan

from pyrodisent.elbo import DisentELBO
from pyrodisent.validation import check_weight

#: the model's deterministic site holding the generated images
GENERATED_SITE = "generated"


class GeneratedBatch:
    """What an adversarial regularizer sees in one InfoGAN step.

    ``real`` [B, C, H, W]: the training batch; ``fake`` [B, C, H, W]: the generator's images
    (differentiable in the generator's parameters); ``step`` and ``training`` as in
    :class:`~pyrodisent.PosteriorBatch`. ``z`` is ``fake`` as well, so a plugin built on
    :class:`~pyrodisent.AuxiliaryNetworkRegularizer` can override ``network_input`` or not.
    Unweighted quantities worth logging go through :meth:`record`.
    """

    def __init__(self, real: torch.Tensor, fake: torch.Tensor, step: int, training: bool):
        if real.shape[1:] != fake.shape[1:]:
            raise ValueError(
                f"the generator makes images of shape {list(fake.shape[1:])}, the data are "
                f"{list(real.shape[1:])}; build the model for the data set's observation shape"
            )
        self.real, self.fake, self.z = real, fake, fake
        self.step, self.training = step, training
        self.diagnostics: dict[str, torch.Tensor] = {}

    def record(self, name: str, value: torch.Tensor) -> None:
        self.diagnostics[name] = value.detach()


class InfoGANLoss(DisentELBO):
    """Σ_s λ_s·(−E log Q(c_s | G(c, n))) over the code sites s plus the adversarial
    regularizers' generator terms (Chen et al. 2016, eq. 6), as a loss on the generator and Q;
    the regularizers train their discriminators in their own steps.

    It keeps :class:`DisentELBO`'s interface — ``differentiable_loss(model, guide, x, ...)``,
    ``loss``/``loss_and_grads`` for stock :class:`pyro.infer.SVI`, ``state_dict`` — so the
    engine trains it as it trains a VAE.

    :param regularizers: the adversarial plugins (at least one; InfoGAN needs a discriminator).
    :param mi_weight: λ of every code site, or ``{site: λ}`` (a site left out gets 1).
        Chen et al. 2016 (§6) set λ = 1 for a discrete code and smaller for continuous ones;
        Yang et al. 2020 (§5) use 0.1 for their two continuous codes.
    :param code_entropy: H(c) in nats, for the logged lower bound ``info/mi_lower_bound``
        = H(c) + E log Q(c | x) ≤ I(c; x) (eq. 5).

    :attr:`last_terms`: ``loss``, ``info/neg_log_q`` (−E log Q per image, summed over the
    code sites), ``info/neg_log_q/<site>`` per site, ``info/mi_lower_bound``, ``penalty/<reg>/<term>`` and the plugins' records.
    """

    batch_type = GeneratedBatch

    def __init__(self, regularizers: Iterable = (), num_particles: int = 1,
                 mi_weight: float | dict[str, float] = 1.0, code_entropy: float = 0.0):
        super().__init__(regularizers, num_particles=num_particles)
        if not self.regularizers:
            raise ValueError(
                "InfoGAN needs an adversarial regularizer (e.g. regularizers: [{name: gan_discriminator}])"
            )
        if isinstance(mi_weight, dict):
            self.mi_weights = {str(k): check_weight(f"mi_weight[{k!r}]", v) for k, v in mi_weight.items()}
            self.mi_weight = 1.0
        else:
            self.mi_weights, self.mi_weight = {}, check_weight("mi_weight", mi_weight)
        self.code_entropy = float(code_entropy)

    def particle_loss(self, model, guide, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        """One draw of codes and noise: the loss, with its terms appended to the step's."""
        model_trace = poutine.trace(model).get_trace(x, *args, **kwargs)
        if GENERATED_SITE not in model_trace.nodes:
            raise ValueError(f"an InfoGAN model must record its images as pyro.deterministic({GENERATED_SITE!r}, ...)")
        fake = model_trace.nodes[GENERATED_SITE]["value"]
        guide_trace = poutine.trace(poutine.replay(guide, trace=model_trace)).get_trace(fake, *args, **kwargs)
        loss, neg_log_q, terms = 0.0, 0.0, {}
        for name, site in guide_trace.nodes.items():
            if site["type"] == "sample" and not site["is_observed"] and not site_is_subsample(site):
                if name not in model_trace.nodes:
                    raise ValueError(f"the guide's site {name!r} is not a code of the model")
                site_term = -site["fn"].log_prob(site["value"]).mean()
                loss = loss + self.mi_weights.get(name, self.mi_weight) * site_term
                neg_log_q = neg_log_q + site_term.detach()
                terms[f"info/neg_log_q/{name}"] = site_term.detach()
        neg_log_q = torch.as_tensor(neg_log_q)
        terms["info/neg_log_q"] = neg_log_q
        terms["info/mi_lower_bound"] = self.code_entropy - neg_log_q
        batch = GeneratedBatch(x, fake, step=self.step, training=torch.is_grad_enabled())
        for reg in self.regularizers:
            for key, value in reg(batch).items():
                loss = loss + value
                terms[f"penalty/{reg.name}/{key}"] = value.detach()
            if batch.training:
                self._auxiliary_step(reg, batch)
        terms.update(batch.diagnostics)
        terms["loss"] = loss.detach()
        self._particle_terms.append(terms)
        return loss

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        """The loss to call ``.backward()`` on (per image, averaged over particles)."""
        self._start()
        loss = sum(self.particle_loss(model, guide, *args, **kwargs) for _ in range(self.num_particles))
        self._finish(count_step=torch.is_grad_enabled())
        if is_validation_enabled():
            warn_if_nan(loss, "loss")
        return loss / self.num_particles
