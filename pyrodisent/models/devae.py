"""DeVAE: VAE with a decremental information bottleneck ("Variational Autoencoders with
Decremental Information Bottleneck for Disentanglement", an anonymous ICLR submission, §2.2-2.4).

One encoder gives q(z_0 | x) = N(μ_0(x), σ_0²(x)); K − 1 disentanglement-invariant transforms
(eq. 4-5, learnable diagonals w¹_j, w²_j initialised at 0) give the other layers

    μ_i = exp(Σ_{j<i} w¹_j) ⊙ μ_0,    σ_i = exp(Σ_{j<i} w²_j) ⊙ σ_0,    i = 0..K−1.

A shared decoder reads [z_i, v_i] with a learnable layer embedding v_i ∈ R^E (E = D in the
paper). Layer i's objective (eq. 2) is

    L_i = E_{q(z_i|x)} log p(x | z_i, v_i) − β_i KL(q(z_i | x) ‖ p(z_i)),   β = [1, 10, 40] default,

and each minibatch optimizes one layer drawn from p(z_i) (eq. 7-8): p(z_i) ∝ s^i, i.e.
s^i (1 − s)/(1 − s^K) (uniform for s = 1; layer 0 only, the vanilla VAE, for s = 0). Eq. 8
prints the denominator as 1 − s^{i+1}, which does not sum to one over the K layers; the
normalized geometric law is used here. The draw uses the model's own ``torch.Generator``
(``random_state``), saved in ``state_dict()``.

As a Pyro model/guide pair: the chosen layer's code is the latent site ``"z"`` (so every
regularizer finds one latent site), scaled by β_i with ``poutine.scale`` in both model and
guide (``poutine.mask`` for β_i = 0), which the mean-field ELBO and :class:`DisentELBO` apply
to the KL. Pyro's ELBOs run the guide first: the guide draws the layer (``layer=None``) and
the model reads it from :attr:`DeVAE.current_layer`; pass ``layer=i`` to both to fix it.

``connection`` chooses how the layers are linked, for the paper's ablation (§3.3, Table 2):
``"dit"`` (default, DeVAE: hierarchical layers through the disentanglement-invariant
transforms above), ``"linear"`` (hierarchical, with DiT replaced by linear maps
z_{j+1} = W_j z_j, W_j ∈ R^{D×D} initialised at I, so layer i is
N(A_i μ_0, A_i diag(σ_0²) A_iᵀ) with A_i = W_{i−1}⋯W_0, a full-covariance posterior) and
``"parallel"`` (independent latent spaces: layer i > 0 has its own encoder). The single
latent space of Table 2's first row is ``betas`` of length 1.

``train_all_layers=True`` (the variant of a public fork) optimizes the exact expectation of
eq. 7, Σ_i p(z_i) L_i, every step instead of one draw; layer i's sites are then ``"z"``/``"x"``
for i = 0 and ``"z_i"``/``"x_i"`` otherwise (regularizers then need
``DisentELBO(latent_site=...)``). The paper's Algorithm 1 shifts the log-variance by w²
(σ scaled by exp(w²/2)); eq. 5 (scaling σ by exp(w²)) is followed here — the same family.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

from pyrodisent.models.networks import build_networks, split_posterior_parameters
from pyrodisent.models.vae import VAE

#: DeVAE, §3.1: {β_i} = [1, 10, 40], s = 1
DEFAULT_BETAS = (1.0, 10.0, 40.0)
#: how layer i > 0 is obtained (DeVAE, Table 2: DiT, linear transformation, parallel spaces)
CONNECTIONS = ("dit", "linear", "parallel")


class DeVAE(VAE):
    """DeVAE (an anonymous ICLR submission, "Variational Autoencoders with Decremental
    Information Bottleneck for Disentanglement", eq. 2-8): layers of decreasing information
    trained one per minibatch, with ``.model``/``.guide`` for any Pyro ELBO.

    :param input_shape, latent_dim, encoder, likelihood, gaussian_scale, hidden_width,
        hidden_layers, prior, prior_options, register_params: as :class:`VAE`.
    :param betas: β_i per layer, K = len(betas) layers (DeVAE, eq. 2; default [1, 10, 40]).
    :param layer_scale: s of eq. 8, ≥ 0 (1 ⇒ uniform over layers, 0 ⇒ layer 0 only).
    :param embedding_dim: size E of the layer embeddings v_i fed to the decoder with z_i
        (default D, as in the paper; 0 feeds z_i alone).
    :param train_all_layers: optimize Σ_i p(z_i) L_i each step instead of one drawn layer.
    :param connection: ``"dit"`` (DeVAE), ``"linear"`` or ``"parallel"``: the ablations of
        DeVAE, Table 2 (see the module docstring).
    :param representation_layer: the layer whose mean :meth:`encode` returns by default
        (metrics and traversals; 0 by default).
    :param random_state: seed of the generator that draws the layer per minibatch.
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 64, 64),
        latent_dim: int = 10,
        encoder: str = "conv",
        likelihood: str = "bernoulli",
        gaussian_scale: float = 1.0,
        hidden_width: int = 1000,
        hidden_layers: int = 1,
        betas: Sequence[float] = DEFAULT_BETAS,
        layer_scale: float = 1.0,
        embedding_dim: int | None = None,
        train_all_layers: bool = False,
        connection: str = "dit",
        representation_layer: int = 0,
        random_state: int = 0,
        prior="normal",
        prior_options: dict | None = None,
        register_params: bool = True,
    ):
        super().__init__(
            input_shape,
            latent_dim,
            encoder,
            likelihood,
            gaussian_scale,
            hidden_width,
            hidden_layers,
            prior=prior,
            prior_options=prior_options,
            register_params=register_params,
        )
        self.betas = _check_betas(betas)
        K, D = len(self.betas), self.latent_dim
        try:
            layer_scale = float(layer_scale)
        except (TypeError, ValueError):
            raise ValueError(f"layer_scale must be a number >= 0, got {layer_scale!r}") from None
        if not layer_scale >= 0:
            raise ValueError(f"layer_scale (s of DeVAE, eq. 8) must be >= 0, got {layer_scale}")
        self.layer_scale = layer_scale
        embedding_dim = D if embedding_dim is None else embedding_dim
        if (
            isinstance(embedding_dim, bool)
            or not isinstance(embedding_dim, int)
            or embedding_dim < 0
        ):
            raise ValueError(f"embedding_dim must be an int >= 0, got {embedding_dim!r}")
        self.embedding_dim = embedding_dim
        self.train_all_layers = bool(train_all_layers)
        self.representation_layer = self._check_layer(representation_layer, "representation_layer")
        if isinstance(random_state, bool) or not isinstance(random_state, int):
            raise ValueError(f"random_state must be an int seed, got {random_state!r}")
        # The shared decoder reads [z_i, v_i]; the VAE built one for z alone: replace it.
        _, self.decoder = build_networks(
            encoder, self.input_shape, D + embedding_dim, hidden_width, hidden_layers
        )
        if connection not in CONNECTIONS:
            raise ValueError(
                f"connection must be one of {', '.join(CONNECTIONS)} (DeVAE, Table 2), "
                f"got {connection!r}"
            )
        self.connection = connection
        if connection == "dit":
            # w¹_j, w²_j of DeVAE, eq. 4-5: row j maps layer j to layer j + 1; init 0.
            self.w1 = nn.Parameter(torch.zeros(K - 1, D))
            self.w2 = nn.Parameter(torch.zeros(K - 1, D))
        elif connection == "linear":
            # W_j of Table 2's "linear transformation" row: z_{j+1} = W_j z_j; init I.
            self.linear_maps = nn.Parameter(torch.eye(D).repeat(K - 1, 1, 1))
        else:  # parallel: independent latent spaces, one encoder per layer i > 0
            self.layer_encoders = nn.ModuleList(
                build_networks(encoder, self.input_shape, D, hidden_width, hidden_layers)[0]
                for _ in range(K - 1)
            )
        self.layer_embedding = nn.Embedding(K, embedding_dim) if embedding_dim else None
        # kept on the CPU (not a buffer): the draw then never waits for the accelerator
        self.layer_probabilities = _layer_probabilities(K, layer_scale)
        self._generator = torch.Generator().manual_seed(random_state)
        self.current_layer = 0

    def get_extra_state(self) -> dict:
        """The layer generator and the last drawn layer travel in ``state_dict()``."""
        return {"generator": self._generator.get_state(), "current_layer": self.current_layer}

    def set_extra_state(self, state: dict) -> None:
        self._generator.set_state(state["generator"])
        self.current_layer = int(state["current_layer"])

    # ------------------------------------------------------------------ layers
    @property
    def num_layers(self) -> int:
        return len(self.betas)

    def _check_layer(self, layer, name: str = "layer") -> int:
        if (
            isinstance(layer, bool)
            or not isinstance(layer, int)
            or not 0 <= layer < self.num_layers
        ):
            raise ValueError(f"{name} must be an int in [0, {self.num_layers}), got {layer!r}")
        return layer

    def draw_layer(self) -> int:
        """i ~ p(z_i) (DeVAE, eq. 8) from the model's own generator (CPU, no device sync)."""
        return int(torch.multinomial(self.layer_probabilities, 1, generator=self._generator))

    def step_structure(self) -> dict:
        """This training step's Python-side choice, drawn now: ``{"layer": i}`` with
        i ~ p(z_i) (eq. 8), or ``{}`` when every layer is trained each step. The compiled
        step (:mod:`pyrodisent.compiled`) calls it before the step and passes it to the model
        and guide, keeping one recorded program per layer; the draw is the one the guide
        would make, from the same generator."""
        if self.train_all_layers:
            return {}
        self.current_layer = self.draw_layer()  # as the guide's own draw would set it
        return {"layer": self.current_layer}

    def log_scale_shifts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """[K, D] cumulative Σ_{j<i} w¹_j and Σ_{j<i} w²_j (row 0 is zero)."""
        zero = self.w1.new_zeros(1, self.latent_dim)
        return torch.cat([zero, self.w1.cumsum(0)]), torch.cat([zero, self.w2.cumsum(0)])

    def layer_parameters(self, loc0: torch.Tensor, scale0: torch.Tensor, layer: int):
        """(μ_i, σ_i) = (exp(Σ_{j<i} w¹_j) μ_0, exp(Σ_{j<i} w²_j) σ_0) (DeVAE, eq. 5)."""
        if layer == 0:
            return loc0, scale0
        if self.connection != "dit":
            raise ValueError(
                f"layer_parameters is the DiT transform; connection={self.connection!r} "
                "layers come from layer_posterior(x, layer)"
            )
        shift1, shift2 = self.log_scale_shifts()
        return loc0 * shift1[layer].exp(), scale0 * shift2[layer].exp()

    def linear_map(self, layer: int) -> torch.Tensor:
        """A_i = W_{i−1} ⋯ W_0 [D, D] of the ``"linear"`` connection (A_0 = I)."""
        product = torch.eye(self.latent_dim, device=self.linear_maps.device)
        for j in range(layer):
            product = self.linear_maps[j] @ product
        return product

    def layer_posterior(self, x: torch.Tensor, layer: int, base=None):
        """q(z_i | x) of layer ``layer``; ``base`` = (μ_0, σ_0) when already computed."""
        if layer > 0 and self.connection == "parallel":
            loc, scale = split_posterior_parameters(self.layer_encoders[layer - 1](x))
            return dist.Normal(loc, scale).to_event(1)
        loc0, scale0 = split_posterior_parameters(self.encoder(x)) if base is None else base
        if layer > 0 and self.connection == "linear":
            a = self.linear_map(layer)
            root = a * scale0.unsqueeze(-2)  # A diag(σ_0): Σ_i = root rootᵀ
            covariance = root @ root.transpose(-1, -2)
            return dist.MultivariateNormal(loc0 @ a.T, scale_tril=torch.linalg.cholesky(covariance))
        loc, scale = self.layer_parameters(loc0, scale0, layer)
        return dist.Normal(loc, scale).to_event(1)

    # ------------------------------------------------------------------ pieces
    def encode(
        self, x: torch.Tensor, layer: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ_i, σ_i) [B, D] of layer ``layer`` (default :attr:`representation_layer`); for a
        full-covariance layer (``connection="linear"``) σ_i is the marginal standard deviation."""
        posterior = self.posterior(x, layer)
        if isinstance(posterior, dist.MultivariateNormal):
            return posterior.loc, posterior.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()
        return posterior.base_dist.loc, posterior.base_dist.scale

    def posterior(
        self, x: torch.Tensor, layer: int | None = None
    ) -> torch.distributions.Distribution:
        layer = self.representation_layer if layer is None else self._check_layer(layer)
        return self.layer_posterior(x, layer)

    def decode(self, z: torch.Tensor, layer: int | torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output for [z, v_layer]; ``layer`` may be an int or a [B] index tensor."""
        layer = self.representation_layer if layer is None else layer
        if self.layer_embedding is None:
            return self.decoder(z)
        if isinstance(layer, int):
            index = torch.full(
                z.shape[:1], self._check_layer(layer), dtype=torch.long, device=z.device
            )
        else:
            index = layer
        return self.decoder(torch.cat([z, self.layer_embedding(index)], dim=-1))

    def reconstruction_nll(self, x: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """[B] −log p(x | z_i, v_i) at one z_i ~ q(z_i | x) of layer ``layer`` (default
        :attr:`representation_layer`): layer i's reconstruction term of eq. 2, in nats per
        image — the DeVAE paper's "Recon." per layer (Tables 2-4)."""
        layer = self.representation_layer if layer is None else self._check_layer(layer)
        z = self.layer_posterior(x, layer).rsample()
        return -self._likelihood(self.decode(z, layer)).log_prob(x)

    def mean_image(self, z: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """E[x | z, v_layer] (default :attr:`representation_layer`)."""
        out = self.decode(z, layer)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def _weight(self, weight: float):
        """Scale the sites inside by ``weight`` (a mask for 0: poutine.scale rejects it)."""
        if weight == 0:
            return poutine.mask(mask=False)
        if weight == 1:
            return contextlib.nullcontext()
        return poutine.scale(scale=weight)

    def _layers_this_step(self, layer: int | None, from_guide: bool) -> list[tuple[int, float]]:
        """[(layer, weight of its L_i)] for this pass."""
        if layer is not None:
            layer = self._check_layer(layer)
            if from_guide:
                self.current_layer = layer
            return [(layer, 1.0)]
        if self.train_all_layers:
            probs = self.layer_probabilities.tolist()  # a CPU tensor: no device sync
            return [(i, p) for i, p in enumerate(probs) if p > 0]
        if from_guide:
            self.current_layer = self.draw_layer()
        return [(self.current_layer, 1.0)]

    @staticmethod
    def _site(base: str, layer: int, all_layers: bool) -> str:
        return f"{base}_{layer}" if all_layers and layer > 0 else base

    def _register(self) -> None:
        if self.register_params:  # every parameter in both passes: stock SVI steps them all
            pyro.module("devae", self)

    # ----------------------------------------------------------- model / guide
    def guide(
        self, x: torch.Tensor, dataset_size: int | None = None, layer: int | None = None
    ) -> torch.Tensor:
        self._register()
        plan = self._layers_this_step(layer, from_guide=True)
        all_layers = len(plan) > 1 or (layer is None and self.train_all_layers)
        shared = self.connection != "parallel" or any(i == 0 for i, _ in plan)
        base = split_posterior_parameters(self.encoder(x)) if shared else None
        z = None
        with self._plate(x, dataset_size):
            for i, weight in plan:
                with self._weight(weight * self.betas[i]):
                    zi = pyro.sample(
                        self._site("z", i, all_layers), self.layer_posterior(x, i, base)
                    )
                z = zi if z is None else z
        return z

    def model(
        self, x: torch.Tensor, dataset_size: int | None = None, layer: int | None = None
    ) -> None:
        self._register()
        plan = self._layers_this_step(layer, from_guide=False)
        all_layers = len(plan) > 1 or (layer is None and self.train_all_layers)
        prior = self.prior(x.device).expand([x.shape[0]])
        with self._plate(x, dataset_size):
            codes = []
            for i, weight in plan:
                with self._weight(weight * self.betas[i]):
                    codes.append(pyro.sample(self._site("z", i, all_layers), prior))
            # one decoder call for all layers of this pass
            index = torch.cat(
                [torch.full(x.shape[:1], i, dtype=torch.long, device=x.device) for i, _ in plan]
            )
            out = self.decode(torch.cat(codes), index).split(x.shape[0])
            for (i, weight), out_i in zip(plan, out):
                with self._weight(weight):
                    pyro.sample(self._site("x", i, all_layers), self._likelihood(out_i), obs=x)


def _check_betas(betas) -> tuple[float, ...]:
    try:
        values = tuple(float(b) for b in betas)
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a list of numbers >= 0, got {betas!r}") from None
    if not values or any(not b >= 0 for b in values):
        raise ValueError(f"betas must be a non-empty list of numbers >= 0, got {list(betas)!r}")
    return values


def _layer_probabilities(num_layers: int, s: float) -> torch.Tensor:
    """p(z_i) ∝ s^i, i = 0..K−1 (DeVAE, eq. 8, normalized; s = 1 ⇒ uniform)."""
    weights = torch.tensor([s**i for i in range(num_layers)], dtype=torch.float64)  # 0**0 = 1
    return (weights / weights.sum()).float()
