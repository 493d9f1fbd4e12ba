"""RTC-VAE's variance penalty (Cheng et al. 2020, "Revisiting Factorizing Aggregated Posterior
in Learning Disentangled Representations", eq. 4).

    L_RTC = ELBO − β·TC(z) − η · tr(E_p(n) Cov_q(z|n)[z]),
    tr(E_p(n) Cov_q(z|n)[z]) = Σ_k E_p(n)[σ_k²(n)]

The plugin adds η · Σ_k mean_i σ_k²(x_i) per data point; the β·TC part comes from a
sibling regularizer in the same ELBO — ``discriminator`` (FactorVAE's TC, the paper's main
form) or ``tc`` (β-TCVAE's minibatch estimate). σ is the posterior's scale (for a posterior
with a full covariance, the diagonal of Cov_q(z|x): the trace is all that enters).

η: Cheng et al. 2020 (§6, Table 1) set η = max(10, β), with β the TC weight of the sibling plugin.
A plugin does not see its siblings, so give either ``eta`` explicitly or the sibling's
``beta`` (the ``gamma`` of ``discriminator``, the ``beta`` of ``tc``) and let the plugin
resolve η = max(10, β) (:func:`default_eta`); with neither, η = 10.
"""

from __future__ import annotations

import torch

from pyrodisent import PosteriorBatch, Regularizer, check_weight, hookimpl

ETA_FLOOR = 10.0


def default_eta(beta: float) -> float:
    """η = max(10, β) (Cheng et al. 2020, §6, Table 1)."""
    return max(ETA_FLOOR, check_weight("beta", beta))


def expected_posterior_variance(posterior: PosteriorBatch) -> torch.Tensor:
    """[D] E_x[σ_k²(x)], the batch mean of the posterior variances per latent dim."""
    if posterior.scale is not None:
        return posterior.scale.pow(2).mean(0)
    return posterior.posterior.variance.mean(0)


class VariancePenalty(Regularizer):
    """RTC-VAE's variance penalty (Cheng et al. 2020, eq. 4): η · Σ_k E_x[σ_k²(x)].

    :param eta: the weight η (≥ 0). Give ``eta`` or ``beta``, not both.
    :param beta: the sibling TC plugin's weight; η = max(10, β).

    Logged: ``variance/trace`` = Σ_k E_x[σ_k²(x)] (unweighted).
    """

    name = "variance"

    def __init__(self, eta: float | None = None, beta: float | None = None):
        super().__init__()
        if eta is not None and beta is not None:
            raise ValueError(
                f"variance: give eta (the weight) or beta (to use eta = max(10, beta)), not both; "
                f"got eta={eta!r}, beta={beta!r}"
            )
        if eta is not None:
            self.eta = check_weight("eta", eta)
        elif beta is not None:
            self.eta = default_eta(beta)
        else:
            self.eta = ETA_FLOOR
        self._hyperparameters = {"eta": self.eta} if beta is None else {"eta": self.eta, "beta": float(beta)}

    def penalty(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        trace = expected_posterior_variance(posterior).sum()
        posterior.record(f"{self.name}/trace", trace)
        return {"variance": self.eta * trace}


@hookimpl
def pyrodisent_regularizers():
    return {"variance": VariancePenalty}
