"""pyrodisent: disentangled representation learning on Pyro.

Public API (kept stable for outside scripts):

- :class:`DisentELBO` — Pyro's mean-field ELBO plus plugin regularizers.
- :func:`regularizer` — build a registered regularizer by name, ``regularizer("tc", beta=6)``.
- :class:`Regularizer`, :class:`PosteriorBatch`, :data:`hookimpl` — for writing plugins.
- :mod:`pyrodisent.models` (``VAE``), :mod:`pyrodisent.estimators`, :mod:`pyrodisent.data`,
  :mod:`pyrodisent.distributions`, :mod:`pyrodisent.metrics`.
"""

from pyrodisent import estimators, models  # noqa: E402  (submodules as attributes)
from pyrodisent.elbo import DisentELBO
from pyrodisent.hookspecs import hookimpl
from pyrodisent.plugin_manager import get_component, register_plugin
from pyrodisent.posterior import PosteriorBatch, UnsupportedPosteriorError
from pyrodisent.regularizer import Regularizer, regularizer

__version__ = "0.1.0"

__all__ = [
    "DisentELBO",
    "PosteriorBatch",
    "Regularizer",
    "UnsupportedPosteriorError",
    "estimators",
    "get_component",
    "hookimpl",
    "models",
    "register_plugin",
    "regularizer",
]
