"""β-VAE (Higgins et al. 2017): loss = −E log p(x|z) + β·KL(q(z|x) ‖ p(z)).

The ELBO already holds KL once, so the plugin adds (β − 1)·KL per data point, using the
analytic KL where one is registered and log q(z|x) − log p(z) otherwise. β = 1 is the VAE.
"""

from __future__ import annotations

import torch

from pyrodisent import PosteriorBatch, Regularizer, check_weight, hookimpl


class BetaVAE(Regularizer):
    """β-VAE (Higgins et al. 2017): β·KL(q(z|x) ‖ p(z)) in the loss, so (β − 1)·KL on top of
    the ELBO's own KL.

    :param beta: weight β of the KL (default 4; β = 1 is the VAE).
    """

    name = "beta_vae"

    def __init__(self, beta: float = 4.0):
        super().__init__()
        self.beta = check_weight("beta", beta)
        self._hyperparameters = {"beta": self.beta}

    def penalty(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        kl = posterior.kl().mean()
        posterior.record("beta_vae/kl", kl)
        return {"kl": (self.beta - 1.0) * kl}


@hookimpl
def pyrodisent_regularizers():
    return {"beta_vae": BetaVAE}
