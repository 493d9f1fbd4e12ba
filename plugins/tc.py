"""β-TCVAE (Chen et al. 2018), with every weight of the decomposition exposed.

    loss = −E log p(x|z) + α·MI(x; z) + β·TC(z) + γ·Σ_d KL(q(z_d) ‖ p(z_d))

The ELBO already holds KL = MI + TC + DWKL once, so the plugin adds

    (α − 1)·MI + (β − 1)·TC + (γ − 1)·DWKL

per data point; with α = γ = 1 the loss is −ELBO + (β − 1)·TC. MI, TC and DWKL are batch
estimates through log q̂(z) and log q̂(z_d) (``PosteriorBatch.kl_decomposition``, shared with
``grouped_tc`` and ``pc`` in the same ELBO) with the chosen weighting (docs/estimators.md:
``mss`` — Chen's stratified sampling with the corrected weights of RTC-VAE (Cheng et al. 2020),
the default; ``is`` — PDisVAE (anonymous ICLR submission), eq. 4; ``mws``; ``mss_chen_code``).
True values (all constants kept) are logged as ``tc/mi``, ``tc/tc`` and ``tc/dwkl``. Default
β = 6 (the runs of Yang et al. 2020, the mutual-information paper).
"""

from __future__ import annotations

import torch

from pyrodisent import PosteriorBatch, Regularizer, check_weight, hookimpl
from pyrodisent.estimators import ESTIMATOR_METHODS


class TotalCorrelation(Regularizer):
    """β-TCVAE (Chen et al. 2018): α·MI + β·TC + γ·DWKL in the loss, each from minibatch
    estimates of log q̂(z) and log q̂(z_d); see the module docstring.
    """

    name = "tc"

    def __init__(self, alpha: float = 1.0, beta: float = 6.0, gamma: float = 1.0, estimator: str = "mss"):
        super().__init__()
        self.alpha = check_weight("alpha", alpha)
        self.beta = check_weight("beta", beta)
        self.gamma = check_weight("gamma", gamma)
        if estimator not in ESTIMATOR_METHODS:
            raise ValueError(f"tc: estimator must be one of {ESTIMATOR_METHODS}, got {estimator!r}")
        self.estimator = estimator
        self._hyperparameters = {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma, "estimator": estimator}

    def prepare(self, posterior: PosteriorBatch) -> None:
        posterior.request_aggregate(self.estimator, dims=True)

    def penalty(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        kl = posterior.kl_decomposition(self.estimator)
        posterior.record("tc/mi", kl["mi"])
        posterior.record("tc/tc", kl["tc"])
        terms = {}
        if self.alpha != 1.0:
            terms["mi"] = (self.alpha - 1.0) * kl["mi"]
        terms["tc"] = (self.beta - 1.0) * kl["tc"]
        if "dwkl" in kl:
            posterior.record("tc/dwkl", kl["dwkl"])
            if self.gamma != 1.0:
                terms["dwkl"] = (self.gamma - 1.0) * kl["dwkl"]
        elif self.gamma != 1.0:
            posterior.log_prior_dims()  # raises UnsupportedPosteriorError, saying why
        return terms


@hookimpl
def pyrodisent_regularizers():
    return {"tc": TotalCorrelation}
