"""FactorVAE (Kim & Mnih 2018): total correlation by the density-ratio trick.

    loss = −ELBO + γ·TC(z),      TC(z) = KL(q(z) ‖ Π_d q(z_d)) ≈ E_q(z)[log D(z) / (1 − D(z))]

(RTC-VAE, Cheng et al. 2020, eq. 6, whose printed form drops the log; the density-ratio trick needs
it). D is a classifier of "z ~ q(z)" (class 0, *real*) against "z ~ Π_d q(z_d)" (class 1, *fake*)
with a two-logit head, so log D/(1 − D) = logit_real − logit_fake and the plugin adds

    γ · mean_i [logit_real(z_i) − logit_fake(z_i)]

per data point. Samples of Π_d q(z_d) are made by permuting every latent dimension
independently across the batch (Kim & Mnih's Algorithm 2). The paper permutes a *second*,
independent batch; ``independent_batch=True`` splits each batch in halves instead — the
first half is the real sample of the discriminator's step, the permuted second half its fake
sample — so the two are independent without a second data loader.

The discriminator (default: 6 linear layers, 1000 hidden units, leaky ReLU 0.2; Cheng et al. 2020
§6) has its own Adam (lr 1e-4, betas (0.5, 0.9)) and takes one step per training pass of the ELBO,
on detached codes, minimising ½[CE(D(z), real) + CE(D(perm z), fake)]. γ = 35 by default (the runs
of Yang et al. 2020, the mutual-information paper); Kim & Mnih and Cheng et al. 2020, Table 1, use
2-100 (10-100 is the useful range on dSprites; larger γ trades reconstruction for a lower TC).

The network, its optimizer, the frozen-copy penalty and the checkpointing come from the core's
:class:`pyrodisent.AuxiliaryNetworkRegularizer`, the public base any regularizer with a
network and optimizer of its own uses (an adversarial prior, a critic-based MI bound).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pyrodisent import AuxiliaryNetworkRegularizer, PosteriorBatch, check_weight, hookimpl
from pyrodisent.validation import check_int

REAL, FAKE = 0, 1


def discriminator_mlp(
    latent_dim: int, hidden_units: int = 1000, layers: int = 6, negative_slope: float = 0.2
) -> nn.Sequential:
    """``layers`` linear layers (latent_dim → hidden_units → … → 2) with leaky ReLU between
    (Kim & Mnih 2018 App.; Cheng et al. 2020, §6: 6 layers, 1000 units)."""
    sizes = [latent_dim] + [hidden_units] * (layers - 1) + [2]
    modules: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        modules.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            modules.append(nn.LeakyReLU(negative_slope))
    return nn.Sequential(*modules)


def permute_dims(z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute each column of ``z`` [M, D] independently across the batch (Kim & Mnih
    Algorithm 2): a sample of Π_d q̂(z_d) from a sample of q(z)."""
    keys = torch.rand(z.shape, generator=generator, device=z.device)
    return z.gather(0, keys.argsort(dim=0))


class DiscriminatorTotalCorrelation(AuxiliaryNetworkRegularizer):
    """FactorVAE (Kim & Mnih 2018, eq. 3): γ·TC, with TC from a discriminator by the
    density-ratio trick (RTC-VAE, Cheng et al. 2020, eq. 6).

    :param gamma: weight γ of TC in the loss −ELBO + γ·TC (default 35; useful range 10-100).
    :param latent_dim: build the discriminator now; ``None`` (default) builds it on the first
        batch, from the codes' dimension and on their device.
    :param hidden_units, layers, negative_slope: the discriminator MLP (1000, 6, 0.2).
    :param lr, betas: its Adam (1e-4, (0.5, 0.9)).
    :param independent_batch: ``False`` (default) — the discriminator's fake sample is the
        training batch permuted per dimension; ``True`` — the batch is split in halves, real =
        first half, fake = second half permuted (the paper's independent second batch).
    :param seed: seeds the generator of the permutations.

    Logged: ``discriminator/tc_estimate`` (the unweighted TC estimate),
    ``discriminator/loss`` and ``discriminator/accuracy`` (of the discriminator's own step).
    """

    name = "discriminator"

    def __init__(
        self,
        gamma: float = 35.0,
        latent_dim: int | None = None,
        hidden_units: int = 1000,
        layers: int = 6,
        negative_slope: float = 0.2,
        lr: float = 1e-4,
        betas: Sequence[float] = (0.5, 0.9),
        independent_batch: bool = False,
        seed: int = 0,
    ):
        super().__init__(lr=lr, betas=betas, seed=seed)
        self.gamma = check_weight("gamma", gamma)
        self.hidden_units = check_int("hidden_units", hidden_units, 1)
        self.layers = check_int("layers", layers, 1)
        self.negative_slope = check_weight("negative_slope", negative_slope)
        if not isinstance(independent_batch, bool):
            raise ValueError(f"independent_batch must be true or false, got {independent_batch!r}")
        self.independent_batch = independent_batch
        self._hyperparameters = {
            "gamma": self.gamma,
            "latent_dim": latent_dim,
            "hidden_units": self.hidden_units,
            "layers": self.layers,
            "negative_slope": self.negative_slope,
            "lr": self.lr,
            "betas": list(self.betas),
            "independent_batch": independent_batch,
            "seed": self.seed,
        }
        self.build_now(latent_dim)

    def build_network(self, latent_dim: int) -> nn.Module:
        return discriminator_mlp(latent_dim, self.hidden_units, self.layers, self.negative_slope)

    def total_correlation(self, z: torch.Tensor) -> torch.Tensor:
        """mean_i [logit_real(z_i) − logit_fake(z_i)] ≈ TC(z), differentiable in z only."""
        logits = self.frozen_network(z)
        return (logits[:, REAL] - logits[:, FAKE]).mean()

    def penalty(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        tc = self.total_correlation(posterior.z)
        posterior.record(f"{self.name}/tc_estimate", tc)
        return {"tc": self.gamma * tc}

    def auxiliary_loss(self, posterior: PosteriorBatch) -> torch.Tensor:
        """½[CE(D(z), real) + CE(D(permute_dims(z')), fake)] on detached codes."""
        z = posterior.z.detach()
        if self.independent_batch:
            if z.shape[0] < 4:
                raise ValueError(
                    f"discriminator: independent_batch=True splits the batch in halves and needs "
                    f"at least 4 codes, got a batch of {z.shape[0]}"
                )
            half = z.shape[0] // 2
            real, other = z[:half], z[half:]
        else:
            real, other = z, z
        fake = permute_dims(other, self.generator(z.device))
        logits = self.network(torch.cat([real, fake]))
        labels = torch.cat([
            torch.full((real.shape[0],), REAL, device=z.device),
            torch.full((fake.shape[0],), FAKE, device=z.device),
        ])
        n_real = real.shape[0]
        loss = 0.5 * (
            F.cross_entropy(logits[:n_real], labels[:n_real])
            + F.cross_entropy(logits[n_real:], labels[n_real:])
        )
        posterior.record(f"{self.name}/loss", loss)
        posterior.record(f"{self.name}/accuracy", (logits.argmax(-1) == labels).float().mean())
        return loss


@hookimpl
def pyrodisent_regularizers():
    return {"discriminator": DiscriminatorTotalCorrelation}
