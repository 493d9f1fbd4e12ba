"""AuxiliaryNetworkRegularizer: the base of regularizers that train a network of their own.

FactorVAE's discriminator (Kim & Mnih 2018; the ``discriminator`` plugin), an adversarial
prior or a critic-based MI bound all need the same machinery inside the ELBO's training
step: the lazily built network and its optimizer (:func:`pyrodisent.optim.fast_adam`), the
penalty computed on a frozen copy of the weights (so the VAE's backward never writes
gradients into them and the in-place optimizer step cannot corrupt the VAE's graph), a
seeded random generator, device moves, and checkpointing through
``get_extra_state``/``set_extra_state``. It is part of the public plugin API
(``from pyrodisent import AuxiliaryNetworkRegularizer``); the built-in ``discriminator``
plugin uses it exactly as a third-party plugin would.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call

from pyrodisent.optim import fast_adam
from pyrodisent.posterior import PosteriorBatch
from pyrodisent.regularizer import Regularizer
from pyrodisent.validation import check_int, check_number


class AuxiliaryNetworkRegularizer(Regularizer, abc.ABC):
    """A regularizer that trains a network of its own inside the ELBO's training step.

    Subclasses implement :meth:`build_network` (called with the latent dimension on first
    use, or at construction when ``latent_dim`` is given), :meth:`auxiliary_loss` (the
    network's own loss on detached codes) and :meth:`penalty`, which evaluates the network
    through :meth:`frozen_network`. A network that reads something other than the codes (an
    image discriminator) overrides :meth:`network_input`; its :meth:`build_network` then gets
    the input's shape without the batch dim (a tuple) where its input is not a vector. Per training pass the ELBO calls :meth:`penalty` and then
    :meth:`auxiliary_step`, which takes one optimizer step. The network's weights, the
    optimizer state, the random generator's state and the step count are all in
    ``state_dict()`` (tensors, numbers, lists, dicts: loadable with ``weights_only=True``);
    a state dict restores an unbuilt instance, building the network first.
    """

    #: what only the eager auxiliary step reads and writes (pyrodisent.compiled: not frozen into a
    #: recorded program, and no reason to record a new one when it changes)
    eager_state = ("optimizer", "auxiliary_steps", "_generator", "_pending_generator_state", "_input_size")

    def __init__(self, lr: float, betas: Sequence[float], seed: int):
        super().__init__()
        self.lr = check_number("lr", lr, 0, exclusive_minimum=True)
        try:
            b1, b2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}") from None
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        self.betas = (b1, b2)
        self.seed = check_int("seed", seed, 0)
        self.register_module("network", None)
        self.optimizer: torch.optim.Optimizer | None = None
        self.auxiliary_steps = 0
        self._generator: torch.Generator | None = None
        self._pending_generator_state: tuple[str, torch.Tensor] | None = None

    # ------------------------------------------------------------ to implement
    @abc.abstractmethod
    def build_network(self, latent_dim: int | tuple[int, ...]) -> nn.Module:
        """The plugin's network for codes of ``latent_dim`` dims (an int), or for inputs of
        that shape without the batch dim (a tuple) when :meth:`network_input` is not a vector."""

    @abc.abstractmethod
    def auxiliary_loss(self, posterior: PosteriorBatch) -> torch.Tensor:
        """The network's own scalar loss on this batch; use ``posterior.z.detach()``."""

    def network_input(self, batch) -> torch.Tensor:
        """What the network reads in :meth:`auxiliary_step`, [B, ...]: the codes ``batch.z``
        by default."""
        return batch.z

    # ------------------------------------------------------------------ pieces
    @property
    def latent_dim(self) -> int | None:
        """The input size of a network over vectors (codes); ``None`` before it is built or
        when its input is not a vector (see :attr:`input_size`)."""
        size = self.input_size
        return size if isinstance(size, int) else None

    @property
    def input_size(self) -> int | tuple[int, ...] | None:
        """The network's input: an int for vectors [B, D], the shape without the batch dim
        for anything else; ``None`` before the network is built."""
        return None if self.network is None else self._input_size

    def build_now(self, latent_dim: int | None) -> None:
        """Build the network on the CPU now (subclasses call this at the end of ``__init__``
        with their ``latent_dim`` parameter); ``None`` leaves it to the first batch."""
        if latent_dim is not None:
            self._build(check_int("latent_dim", latent_dim, 1), torch.device("cpu"))

    def _build(self, size: int | tuple[int, ...], device: torch.device) -> None:
        self._input_size = int(size) if isinstance(size, int) else tuple(int(v) for v in size)
        self.network = self.build_network(self._input_size).to(device)
        self.optimizer = fast_adam(self.network.parameters(), lr=self.lr, betas=self.betas)

    def ensure_network(self, z: torch.Tensor) -> nn.Module:
        """Build the network for the input's size on first use (z's dimension for codes
        [B, D], its shape without the batch dim otherwise) and keep it on z's device."""
        size = int(z.shape[-1]) if z.dim() == 2 else tuple(int(v) for v in z.shape[1:])
        if self.network is None:
            self._build(size, z.device)
        elif size != self._input_size:
            raise ValueError(
                f"{self.name}: the network was built for {_describe(self._input_size)}, got "
                f"{_describe(size)}; one regularizer instance serves one model"
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
        graph the VAE's backward pass will use. Buffers are cloned too, so a batch norm's
        running statistics are not updated by this pass.
        """
        network = self.ensure_network(x)
        if not torch.is_grad_enabled():
            return network(x)
        state = {name: p.detach().clone() for name, p in network.named_parameters()}
        state.update({name: b.clone() for name, b in network.named_buffers()})
        return functional_call(network, state, (x,))

    def auxiliary_step(self, posterior: PosteriorBatch) -> None:
        """One optimizer step on :meth:`auxiliary_loss`; gradients are cleared before the
        backward and released after the step."""
        self.ensure_network(self.network_input(posterior))
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
        size = self.input_size
        return {
            "latent_dim": self.latent_dim,
            "input_shape": list(size) if isinstance(size, tuple) else None,
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
        extra = extra if isinstance(extra, dict) else {}
        saved = tuple(extra["input_shape"]) if extra.get("input_shape") else extra.get("latent_dim")
        if saved is not None:
            if self.network is None:
                self._build(saved, torch.device("cpu"))
            elif saved != self._input_size:
                error_msgs.append(
                    f"{self.name}: checkpoint has a network for {_describe(saved)}, this "
                    f"instance one for {_describe(self._input_size)}"
                )
                return
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def _describe(size: int | tuple[int, ...]) -> str:
    return f"{size} latent dims" if isinstance(size, int) else f"inputs of shape {list(size)}"
