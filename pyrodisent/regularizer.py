"""The regularizer interface: an ELBO augmentation contributed by a plugin.

A regularizer is a ``torch.nn.Module`` (so its own networks, buffers and optimizer state
travel in checkpoints and to the device). Each step, :class:`pyrodisent.DisentELBO` calls
it with a :class:`~pyrodisent.posterior.PosteriorBatch` and adds every returned term to the
loss. Terms are *per-data-point* expectations; the ELBO scales them to the plate's units.
Before any regularizer's :meth:`Regularizer.penalty`, the ELBO calls every regularizer's
:meth:`Regularizer.prepare`, where it declares the shared estimates it will use, so that the
batch computes them for all regularizers at once.

Plugins that train a network of their own (a discriminator, a critic) do so in
:meth:`Regularizer.auxiliary_step`, which the ELBO calls after :meth:`penalty` on training
passes only; optimizer state belongs in ``get_extra_state``/``set_extra_state`` so that it
is part of ``state_dict()`` and resumes with the run.
"""

from __future__ import annotations

import abc
from typing import Any

import torch

from pyrodisent.plugin_manager import get_component
from pyrodisent.posterior import PosteriorBatch
from pyrodisent.validation import check_weight  # noqa: F401  (re-exported: its old home)


class Regularizer(torch.nn.Module, abc.ABC):
    """Base class of ELBO augmentations. Subclasses implement :meth:`penalty`."""

    #: the registry name, set by subclasses for messages and logs
    name: str = "regularizer"
    #: the batch :meth:`penalty` reads: a VAE's :class:`PosteriorBatch`, or
    #: :class:`pyrodisent.GeneratedBatch` for an adversarial plugin of a generator model (InfoGAN)
    batch_type: type = PosteriorBatch

    @abc.abstractmethod
    def penalty(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        """Named scalar terms (per data point) to *add* to the loss (−ELBO).

        Return ``{}`` for a pure diagnostic. Unweighted quantities worth logging go through
        ``posterior.record(name, value)``.
        """

    def prepare(self, posterior: PosteriorBatch) -> None:
        """Declare the shared estimates :meth:`penalty` will ask the batch for, e.g.
        ``posterior.request_aggregate("is", groups=[2, 2])``; called on every regularizer
        before the first penalty of the particle. The default declares nothing (an
        undeclared estimate still works, at the cost of a pass of its own)."""
        return None

    def auxiliary_step(self, posterior: PosteriorBatch) -> None:
        """Train the plugin's own parameters on this batch (training passes only).

        Called after :meth:`penalty`; work on ``posterior.z.detach()``. The default has
        nothing to train.
        """
        return None

    def forward(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        return self.penalty(posterior)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor parameters, for logs and the resolved config."""
        return dict(getattr(self, "_hyperparameters", {}))


def regularizer(name: str, **params: Any) -> Regularizer:
    """Build the regularizer registered as ``name``, e.g. ``regularizer("tc", beta=6)``.

    Unknown names raise an error listing every known one; bad parameters raise an error
    naming the regularizer and the parameter.
    """
    factory = get_component("regularizers", name)
    try:
        reg = factory(**params)
    except TypeError as exc:
        raise TypeError(f"regularizer {name!r}: {exc}") from exc
    if not isinstance(reg, Regularizer):
        raise TypeError(
            f"the factory registered as regularizer {name!r} returned {type(reg).__name__}, "
            f"not a pyrodisent.Regularizer"
        )
    return reg
