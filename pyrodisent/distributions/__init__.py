"""Posterior families and priors beyond the factorized Gaussian (DESIGN.md §5).

- :class:`CorrelatedNormal` — the correlated-noise guide of seed 002 (eq. 11-12), with an
  analytic KL to a diagonal Gaussian prior registered for the mean-field ELBO.
- :func:`logcosh_prior` — the nonlinear-ICA prior Π_k Logistic(0, √3/π) (seed 003 §2.2).
- :class:`LpNested` — the L^p-nested prior of ISA-VAE (seed 003; DESIGN.md §5).

Importing this package registers the KL divergences with ``torch.distributions``.
"""

from pyrodisent.distributions.correlated import CorrelatedNormal
from pyrodisent.distributions.logcosh import LOGCOSH_SCALE, logcosh_log_density, logcosh_prior
from pyrodisent.distributions.lp_nested import LpNested

__all__ = ["LOGCOSH_SCALE", "CorrelatedNormal", "LpNested", "logcosh_log_density", "logcosh_prior"]
