"""The adversarial part of InfoGAN (Chen et al. 2016; Goodfellow et al. 2014): a discriminator
D of real against generated images, and the generator's non-saturating loss.

    discriminator step:  min_D  E_x softplus(−D(x)) + E_c,n softplus(D(G(c, n)))
                         (−log σ(D(x)) − log(1 − σ(D(G))): the cross-entropy of real vs fake)
    generator term:      γ · E_c,n softplus(−D(G(c, n)))   (−log σ(D(G)), Goodfellow et al.
                         2014, §3: the non-saturating form of log(1 − D(G)))

D is Chen et al. 2016's MNIST discriminator (App. C: 4×4 conv 64 stride 2 + lReLU 0.1, 4×4
conv 128 stride 2 + BN + lReLU, FC 1024 + BN + lReLU, FC 1), built for the data's image shape
on the first batch, with its own Adam (lr 2e-4, Chen et al. 2016 App. C; betas (0.5, 0.999)).
It runs on :class:`pyrodisent.adversarial.GeneratedBatch` (the InfoGAN model's objective), and
uses the core's :class:`pyrodisent.AuxiliaryNetworkRegularizer` for the network, its optimizer,
the frozen copy in the generator's term and the checkpointing, as FactorVAE's discriminator
does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pyrodisent import AuxiliaryNetworkRegularizer, GeneratedBatch, check_weight, hookimpl
from pyrodisent.models.infogan import infogan_discriminator


class GANDiscriminator(AuxiliaryNetworkRegularizer):
    """InfoGAN's discriminator (Chen et al. 2016, App. C) and the generator's non-saturating
    loss (Goodfellow et al. 2014, §3); see the module docstring.

    :param gamma: weight of the generator's adversarial term (1).
    :param lr, betas: the discriminator's Adam (2e-4, (0.5, 0.999)).
    :param seed: the plugin's generator seed (the discriminator draws no noise; kept for the
        base's checkpoint format).

    Logged: ``gan/d_loss`` (the discriminator's loss), ``gan/d_real`` and ``gan/d_fake`` (its
    mean probability of "real" on the real and on the generated images).
    """

    name = "gan_discriminator"
    batch_type = GeneratedBatch

    def __init__(self, gamma: float = 1.0, lr: float = 2e-4, betas: Sequence[float] = (0.5, 0.999), seed: int = 0):
        super().__init__(lr=lr, betas=betas, seed=seed)
        self.gamma = check_weight("gamma", gamma)
        self._hyperparameters = {"gamma": self.gamma, "lr": self.lr, "betas": list(self.betas), "seed": self.seed}

    def build_network(self, input_shape) -> nn.Module:
        if isinstance(input_shape, int):
            raise ValueError(f"{self.name} discriminates images [C, H, W], got vectors of {input_shape} dims")
        return infogan_discriminator(input_shape)

    @staticmethod
    def _batch(batch) -> GeneratedBatch:
        if not isinstance(batch, GeneratedBatch):
            raise ValueError(
                "gan_discriminator needs a generator model (model: {name: infogan}); a VAE's "
                "posterior batch has no generated images"
            )
        return batch

    def network_input(self, batch) -> torch.Tensor:
        return self._batch(batch).real

    def penalty(self, batch) -> dict[str, torch.Tensor]:
        """γ · mean softplus(−D(G(c, n))), differentiable in the generated images only."""
        fake = self._batch(batch).fake
        logits = self.frozen_network(fake).squeeze(-1)
        batch.record("gan/d_fake", torch.sigmoid(logits).mean())
        return {"generator": self.gamma * F.softplus(-logits).mean()}

    def auxiliary_loss(self, batch) -> torch.Tensor:
        """mean softplus(−D(x)) + mean softplus(D(G)) on the real and the detached generated
        images, each batch through D on its own."""
        batch = self._batch(batch)
        # two passes, as the generator's term sees the generated images alone: batch norm
        # then normalises each set by its own statistics in both places
        real_logits = self.network(batch.real).squeeze(-1)
        fake_logits = self.network(batch.fake.detach()).squeeze(-1)
        loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        batch.record("gan/d_loss", loss)
        batch.record("gan/d_real", torch.sigmoid(real_logits).mean())
        return loss


@hookimpl
def pyrodisent_regularizers():
    return {"gan_discriminator": GANDiscriminator}
