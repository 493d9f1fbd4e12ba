"""DisentELBO checkpoints key each regularizer's state by its name, not its position."""

from __future__ import annotations

import io

import pyro
import pytest
import torch
from torch import nn

from pyrodisent import AuxiliaryNetworkRegularizer, DisentELBO, PosteriorBatch, regularizer
from pyrodisent.models import VAE


class Critic(AuxiliaryNetworkRegularizer):
    """A second regularizer with a network, written as a third-party plugin would write it."""

    name = "critic"

    def __init__(self, latent_dim: int | None = None, seed: int = 1):
        super().__init__(lr=1e-2, betas=(0.9, 0.99), seed=seed)
        self.build_now(latent_dim)

    def build_network(self, latent_dim: int) -> nn.Module:
        return nn.Linear(latent_dim, 1)

    def auxiliary_loss(self, posterior: PosteriorBatch) -> torch.Tensor:
        return self.network(posterior.z.detach()).square().mean()

    def penalty(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        return {"critic": 0.1 * self.frozen_network(posterior.z).mean()}


def _discriminator():
    return regularizer("discriminator", gamma=2.0, hidden_units=16, layers=2, seed=3)


def _round_trip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _train(elbo: DisentELBO, steps: int = 2) -> None:
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), latent_dim=4, encoder="mlp", hidden_width=16, register_params=False)
    x = (torch.rand(16, 1, 8, 8) > 0.5).float()
    for _ in range(steps):
        pyro.set_rng_seed(0)
        elbo.differentiable_loss(vae.model, vae.guide, x, dataset_size=100).backward()


def _network(elbo: DisentELBO, name: str) -> list[torch.Tensor]:
    (reg,) = [r for r in elbo.regularizers if r.name == name]
    return [p.detach() for p in reg.network.parameters()]


def test_state_is_keyed_by_name():
    elbo = DisentELBO([regularizer("tc"), _discriminator()])
    _train(elbo)
    state = elbo.state_dict()
    assert state["step"] == 2 and set(state["regularizers"]) == {"tc", "discriminator"}


@pytest.mark.parametrize("second", ["tc", "critic"])
def test_reordered_regularizers_each_get_their_own_state(second):
    make_second = {"tc": lambda: regularizer("tc"), "critic": Critic}[second]
    saved = DisentELBO([make_second(), _discriminator()])
    _train(saved)
    state = _round_trip(saved.state_dict())

    loaded = DisentELBO([_discriminator(), make_second()])  # the other order, networks unbuilt
    loaded.load_state_dict(state)
    assert loaded.step == 2
    names = ["discriminator"] + (["critic"] if second == "critic" else [])
    for name in names:
        for a, b in zip(_network(saved, name), _network(loaded, name)):
            assert torch.equal(a, b)
        (reg,) = [r for r in loaded.regularizers if r.name == name]
        assert reg.auxiliary_steps == 2


def test_a_saved_regularizer_missing_from_the_config_is_named():
    saved = DisentELBO([regularizer("tc"), _discriminator()])
    _train(saved, steps=1)
    state = _round_trip(saved.state_dict())
    with pytest.raises(ValueError, match=r"regularizer\(s\) \['discriminator'\], which this ELBO does not have"):
        DisentELBO([regularizer("tc")]).load_state_dict(state)
    lenient = DisentELBO([regularizer("tc")])
    lenient.load_state_dict(state, strict=False)  # drops the discriminator's state
    assert lenient.step == 1


def test_a_stateful_regularizer_the_checkpoint_lacks_is_named():
    saved = DisentELBO([regularizer("tc")])
    _train(saved, steps=1)
    state = _round_trip(saved.state_dict())
    with pytest.raises(ValueError, match=r"no state for regularizer\(s\) \['discriminator'\]"):
        DisentELBO([regularizer("tc"), _discriminator()]).load_state_dict(state)
    # a stateless one has nothing to restore
    DisentELBO([regularizer("tc"), regularizer("beta_vae")]).load_state_dict(state)


def test_index_keyed_checkpoints_load_in_their_order_and_say_what_to_do_otherwise():
    saved = DisentELBO([regularizer("tc"), _discriminator()])
    _train(saved)
    old = _round_trip({"step": saved.step, "regularizers": saved.regularizers.state_dict()})  # keys '1.'
    assert all(key.startswith("1.") for key in old["regularizers"])

    same_order = DisentELBO([regularizer("tc"), _discriminator()])
    same_order.load_state_dict(old)
    for a, b in zip(_network(saved, "discriminator"), _network(same_order, "discriminator")):
        assert torch.equal(a, b)

    with pytest.raises(ValueError, match="by their position.*in the order the run was saved"):
        DisentELBO([_discriminator(), regularizer("tc")]).load_state_dict(old)
