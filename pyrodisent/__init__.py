"""pyrodisent: disentangled representation learning on Pyro.

Public API (kept stable for outside scripts):

- :class:`DisentELBO` — Pyro's mean-field ELBO plus plugin regularizers.
- :func:`regularizer` — build a registered regularizer by name, ``regularizer("tc", beta=6)``.
- :class:`Regularizer`, :class:`PosteriorBatch`, :data:`hookimpl` — for writing plugins;
  :class:`AuxiliaryNetworkRegularizer` for one that trains a network of its own,
  :func:`check_weight` (validated hyperparameters; :mod:`pyrodisent.validation` has the
  integer and number checks too) and :func:`fast_adam` (the engine's Adam), exactly what
  the built-in plugins use.
- :func:`compile_step` — the whole training step (Pyro model/guide, ELBO, regularizers,
  backward, optimizer) recorded as one tensor program and compiled (``train.compile: step``).
- :class:`InfoGANLoss`, :class:`GeneratedBatch` — the objective of a generator model/guide
  pair (InfoGAN, Chen et al. 2016) and the batch its adversarial plugins see.
- :mod:`pyrodisent.models` (``VAE``), :mod:`pyrodisent.estimators`, :mod:`pyrodisent.data`,
  :mod:`pyrodisent.distributions`, :mod:`pyrodisent.metrics`.
"""

from pyrodisent import estimators, models  # noqa: E402  (submodules as attributes)
from pyrodisent.adversarial import GeneratedBatch, InfoGANLoss
from pyrodisent.auxiliary import AuxiliaryNetworkRegularizer
from pyrodisent.compiled import compile_step
from pyrodisent.elbo import DisentELBO
from pyrodisent.hookspecs import hookimpl
from pyrodisent.optim import fast_adam
from pyrodisent.plugin_manager import get_component, register_plugin
from pyrodisent.posterior import PosteriorBatch, UnsupportedPosteriorError
from pyrodisent.regularizer import Regularizer, regularizer
from pyrodisent.validation import check_weight

__version__ = "0.1.0"

__all__ = [
    "AuxiliaryNetworkRegularizer",
    "DisentELBO",
    "GeneratedBatch",
    "InfoGANLoss",
    "PosteriorBatch",
    "Regularizer",
    "UnsupportedPosteriorError",
    "check_weight",
    "compile_step",
    "estimators",
    "fast_adam",
    "get_component",
    "hookimpl",
    "models",
    "register_plugin",
    "regularizer",
]
