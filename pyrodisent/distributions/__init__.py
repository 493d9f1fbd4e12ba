"""Posterior families and priors beyond the factorized Gaussian (docs/guides_priors.md).

- :class:`CorrelatedNormal` — the correlated-noise guide of Yang et al. 2020 (the
  mutual-information paper, eq. 11-12), with an analytic KL to a diagonal Gaussian prior
  registered for the mean-field ELBO.
- :func:`logcosh_prior` — the nonlinear-ICA prior Π_k Logistic(0, √3/π) (PDisVAE, an anonymous
  ICLR submission, §2.2).
- :class:`LpNested` — the L^p-nested prior of ISA-VAE (Stühmer et al. 2020; a baseline of
  PDisVAE).

Importing this package registers the KL divergences with ``torch.distributions``.
"""

from pyrodisent.distributions.correlated import CorrelatedNormal
from pyrodisent.distributions.logcosh import LOGCOSH_SCALE, logcosh_log_density, logcosh_prior
from pyrodisent.distributions.lp_nested import LpNested

__all__ = ["LOGCOSH_SCALE", "CorrelatedNormal", "LpNested", "logcosh_log_density", "logcosh_prior"]
