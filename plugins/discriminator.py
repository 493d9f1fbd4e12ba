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

:class:`AuxiliaryNetworkRegularizer` holds the machinery any regularizer with a network and
optimizer of its own needs (an adversarial prior, a critic-based MI bound): the lazily built
network and optimizer, the penalty computed on a frozen copy of the weights (so the VAE's
backward never writes gradients into them and the in-place optimizer step cannot corrupt
the VAE's graph), and checkpointing through ``get_extra_state``/``set_extra_state``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from pyrodisent import PosteriorBatch, Regularizer, hookimpl
from pyrodisent.optim import fast_adam
from pyrodisent.regularizer import check_weight

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


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class AuxiliaryNetworkRegularizer(Regularizer, abc.ABC):
    """A regularizer that trains a network of its own inside the ELBO's training step.

    Subclasses implement :meth:`build_network` (called with the latent dimension on first
    use, or at construction when ``latent_dim`` is given), :meth:`auxiliary_loss` (the
    network's own loss on detached codes) and :meth:`penalty`, which evaluates the network
    through :meth:`frozen_network`. Per training pass the ELBO calls :meth:`penalty` and then
    :meth:`auxiliary_step`, which takes one optimizer step. The network's weights, the
    optimizer state, the random generator's state and the step count are all in
    ``state_dict()`` (tensors, numbers, lists, dicts: loadable with ``weights_only=True``);
    a state dict restores an unbuilt instance, building the network first.
    """

    def __init__(self, lr: float, betas: Sequence[float], seed: int):
        super().__init__()
        self.lr = check_weight("lr", lr)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        try:
            b1, b2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}") from None
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        self.betas = (b1, b2)
        self.seed = _check_int("seed", seed, 0)
        self.register_module("network", None)
        self.optimizer: torch.optim.Optimizer | None = None
        self.auxiliary_steps = 0
        self._generator: torch.Generator | None = None
        self._pending_generator_state: tuple[str, torch.Tensor] | None = None

    # ------------------------------------------------------------ to implement
    @abc.abstractmethod
    def build_network(self, latent_dim: int) -> nn.Module:
        """The plugin's network for codes of ``latent_dim`` dims."""

    @abc.abstractmethod
    def auxiliary_loss(self, posterior: PosteriorBatch) -> torch.Tensor:
        """The network's own scalar loss on this batch; use ``posterior.z.detach()``."""

    # ------------------------------------------------------------------ pieces
    @property
    def latent_dim(self) -> int | None:
        return None if self.network is None else self._latent_dim

    def build_now(self, latent_dim: int | None) -> None:
        """Build the network on the CPU now (subclasses call this at the end of ``__init__``
        with their ``latent_dim`` parameter); ``None`` leaves it to the first batch."""
        if latent_dim is not None:
            self._build(_check_int("latent_dim", latent_dim, 1), torch.device("cpu"))

    def _build(self, latent_dim: int, device: torch.device) -> None:
        self._latent_dim = int(latent_dim)
        self.network = self.build_network(self._latent_dim).to(device)
        self.optimizer = fast_adam(self.network.parameters(), lr=self.lr, betas=self.betas)

    def ensure_network(self, z: torch.Tensor) -> nn.Module:
        """Build the network for z's dimension on first use and keep it on z's device."""
        if self.network is None:
            self._build(z.shape[-1], z.device)
        elif z.shape[-1] != self._latent_dim:
            raise ValueError(
                f"{self.name}: the network was built for {self._latent_dim} latent dims, got codes "
                f"with {z.shape[-1]}; one regularizer instance serves one model"
            )
        first = next(self.network.parameters(), None)
        if first is not None and first.device != z.device:
            self.network.to(z.device)
            for state in self.optimizer.state.values():
                for key, value in state.items():
                    if torch.is_tensor(value) and key != "step":
                        state[key] = value.to(z.device)
        return self.network

    def generator(self, device: torch.device) -> torch.Generator:
        """The plugin's random generator on ``device``, seeded by ``seed`` (restored from a
        checkpoint when its device type matches, else reseeded from seed and step count)."""
        if self._generator is None or self._generator.device.type != device.type:
            gen = torch.Generator(device=device)
            pending = self._pending_generator_state
            if pending is not None and pending[0] == device.type:
                gen.set_state(pending[1])
            else:
                gen.manual_seed(self.seed + 1_000_003 * self.auxiliary_steps)
            self._pending_generator_state = None
            self._generator = gen
        return self._generator

    def frozen_network(self, x: torch.Tensor) -> torch.Tensor:
        """The network applied to ``x`` with its current weights treated as constants.

        While gradients are on, the weights are cloned: gradients flow to ``x`` only, and
        the optimizer step that follows in :meth:`auxiliary_step` cannot invalidate the
        graph the VAE's backward pass will use.
        """
        network = self.ensure_network(x)
        if not torch.is_grad_enabled():
            return network(x)
        params = {name: p.detach().clone() for name, p in network.named_parameters()}
        return functional_call(network, params, (x,))

    def auxiliary_step(self, posterior: PosteriorBatch) -> None:
        """One optimizer step on :meth:`auxiliary_loss`; gradients are cleared before the
        backward and released after the step."""
        self.ensure_network(posterior.z)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = self.auxiliary_loss(posterior)
            loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.auxiliary_steps += 1

    # ------------------------------------------------------------- checkpoints
    def get_extra_state(self) -> dict:
        gen = self._generator
        if gen is not None:
            generator = {"device": gen.device.type, "state": gen.get_state()}
        elif self._pending_generator_state is not None:
            generator = {"device": self._pending_generator_state[0], "state": self._pending_generator_state[1]}
        else:
            generator = {}
        return {
            "latent_dim": self.latent_dim,
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else {},
            "generator": generator,
            "auxiliary_steps": self.auxiliary_steps,
        }

    def set_extra_state(self, state: dict) -> None:
        if state.get("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
        self.auxiliary_steps = int(state.get("auxiliary_steps", 0))
        generator = state.get("generator") or {}
        self._generator = None
        self._pending_generator_state = (
            (generator["device"], generator["state"].cpu()) if generator else None
        )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        extra = state_dict.get(prefix + "_extra_state")
        saved_dim = extra.get("latent_dim") if isinstance(extra, dict) else None
        if saved_dim is not None:
            if self.network is None:
                self._build(saved_dim, torch.device("cpu"))
            elif saved_dim != self._latent_dim:
                error_msgs.append(
                    f"{self.name}: checkpoint has a network for {saved_dim} latent dims, this "
                    f"instance one for {self._latent_dim}"
                )
                return
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


class DiscriminatorTotalCorrelation(AuxiliaryNetworkRegularizer):
    """FactorVAE's γ·TC with TC from a discriminator (Cheng et al. 2020, eq. 6; Kim & Mnih 2018
    eq. 3).

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
        self.hidden_units = _check_int("hidden_units", hidden_units, 1)
        self.layers = _check_int("layers", layers, 1)
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
