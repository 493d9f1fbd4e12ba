"""DeVAE (an anonymous ICLR submission, §2.2-2.4): layer transforms, per-layer β, layer draw,
K = 1 is a β-VAE."""

import math

import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI
from pyro.optim import Adam
from torch import nn

from pyrodisent import DisentELBO, get_component, regularizer
from pyrodisent.models import VAE, DeVAE

SHAPE = (1, 8, 8)


def _data(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, *SHAPE, generator=g) > 0.5).float()


def _devae(**kw):
    torch.manual_seed(0)
    return DeVAE(SHAPE, 4, "mlp", hidden_width=32, **kw)


def test_layer_i_mean_and_scale_are_the_disentanglement_invariant_transform_of_layer_0():
    model = _devae(betas=[1, 10, 40, 80])
    with torch.no_grad():
        model.w1.copy_(torch.randn(3, 4, generator=torch.Generator().manual_seed(1)))
        model.w2.copy_(torch.randn(3, 4, generator=torch.Generator().manual_seed(2)))
    x = _data()
    loc0, scale0 = model.encode(x, layer=0)
    for i in range(4):
        loc, scale = model.encode(x, layer=i)
        assert torch.allclose(loc, torch.exp(model.w1[:i].sum(0)) * loc0)
        assert torch.allclose(scale, torch.exp(model.w2[:i].sum(0)) * scale0)
    assert model.representation_layer == 0 and torch.equal(model.encode(x)[0], loc0)


def test_transforms_start_at_identity_and_the_decoder_reads_the_layer_embedding():
    model = _devae()
    assert torch.equal(model.w1, torch.zeros(2, 4)) and torch.equal(model.w2, torch.zeros(2, 4))
    assert model.layer_embedding.weight.shape == (3, 4)  # v_i ∈ R^D (DeVAE, eq. 2)
    z = torch.randn(5, 4)
    assert not torch.allclose(model.decode(z, 0), model.decode(z, 2))
    expected = model.decoder(torch.cat([z, model.layer_embedding.weight[1].expand(5, 4)], -1))
    assert torch.allclose(model.decode(z, 1), expected)


class _FixedLayerDecoder(nn.Module):
    """The DeVAE decoder with layer 0's embedding appended: a plain VAE decoder."""

    def __init__(self, devae):
        super().__init__()
        self.devae = devae

    def forward(self, z):
        return self.devae.decode(z, 0)


@pytest.mark.parametrize("embedding_dim", [0, None])
def test_one_layer_devae_is_a_beta_vae(embedding_dim):
    beta = 4.0
    devae = _devae(betas=[beta], embedding_dim=embedding_dim)
    vae = VAE(SHAPE, 4, "mlp", hidden_width=32)
    vae.encoder = devae.encoder
    vae.decoder = _FixedLayerDecoder(devae)
    x = _data()
    pyro.set_rng_seed(5)
    ours = DisentELBO().differentiable_loss(devae.model, devae.guide, x, dataset_size=200)
    pyro.set_rng_seed(5)
    theirs = DisentELBO([regularizer("beta_vae", beta=beta)]).differentiable_loss(
        vae.model, vae.guide, x, dataset_size=200
    )
    assert torch.allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_the_chosen_layers_kl_is_weighted_by_its_beta(layer):
    x = _data()
    weighted = _devae(betas=[1, 10, 40])
    plain = _devae(betas=[1, 1, 1])
    plain.load_state_dict(weighted.state_dict())
    with torch.no_grad():
        for m in (weighted, plain):
            m.w1.fill_(0.3)
            m.w2.fill_(-0.2)
    pyro.set_rng_seed(1)
    loss_w = DisentELBO().differentiable_loss(weighted.model, weighted.guide, x, layer=layer)
    pyro.set_rng_seed(1)
    loss_p = DisentELBO().differentiable_loss(plain.model, plain.guide, x, layer=layer)
    loc, scale = weighted.encode(x, layer)
    kl = (0.5 * (scale**2 + loc**2 - 1) - scale.log()).sum()
    beta = [1, 10, 40][layer]
    assert torch.allclose(loss_w, loss_p + (beta - 1) * kl, rtol=1e-5)


def test_a_zero_beta_masks_the_kl():
    x = _data()
    model = _devae(betas=[0.0])
    pyro.set_rng_seed(2)
    elbo = DisentELBO()
    elbo.differentiable_loss(model.model, model.guide, x)
    assert float(elbo.last_terms["kl"]) == 0.0


def test_layer_draw_follows_eq_8_from_the_models_generator():
    counts = torch.zeros(3)
    model = _devae(layer_scale=2.0, random_state=3)
    for _ in range(10_000):
        counts[model.draw_layer()] += 1
    expected = torch.tensor([1.0, 2.0, 4.0]) / 7  # p(z_i) ∝ s^i
    assert (counts / counts.sum() - expected).abs().max() < 0.015  # 3 sd at n = 10⁴
    uniform = _devae(layer_scale=1.0)
    assert torch.allclose(uniform.layer_probabilities, torch.full((3,), 1 / 3))
    vanilla = _devae(layer_scale=0.0)
    assert {vanilla.draw_layer() for _ in range(50)} == {0}
    a, b = _devae(random_state=7), _devae(random_state=7)
    assert [a.draw_layer() for _ in range(20)] == [b.draw_layer() for _ in range(20)]


def test_the_guide_draws_the_layer_and_the_model_decodes_the_same_one():
    model = _devae(random_state=11)
    x = _data()
    seen = set()
    for _ in range(12):
        guide_trace = poutine.trace(model.guide).get_trace(x)
        model_trace = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(x)
        layer = model.current_layer
        seen.add(layer)
        assert (
            guide_trace.nodes["z"]["scale"] == model_trace.nodes["z"]["scale"] == model.betas[layer]
        )
        loc, _ = model.encode(x, layer)
        assert torch.allclose(guide_trace.nodes["z"]["fn"].base_dist.loc, loc)
        expected = model.decode(guide_trace.nodes["z"]["value"], layer)
        assert torch.allclose(model_trace.nodes["x"]["fn"].base_dist.logits, expected)
    assert seen == {0, 1, 2}
    # regularizers find the single latent site "z"
    pyro.set_rng_seed(0)
    DisentELBO([regularizer("beta_vae", beta=2.0)]).differentiable_loss(
        model.model, model.guide, x, dataset_size=64
    )


def test_all_layers_mode_weights_each_layer_by_its_probability():
    model = _devae(train_all_layers=True, layer_scale=2.0)
    x = _data()
    guide_trace = poutine.trace(model.guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(x)
    probs = [1 / 7, 2 / 7, 4 / 7]
    for i, name in enumerate(["z", "z_1", "z_2"]):
        assert guide_trace.nodes[name]["scale"] == pytest.approx(probs[i] * model.betas[i])
        assert model_trace.nodes[name]["scale"] == pytest.approx(probs[i] * model.betas[i])
    for i, name in enumerate(["x", "x_1", "x_2"]):
        assert model_trace.nodes[name]["scale"] == pytest.approx(probs[i])
    pyro.set_rng_seed(0)
    loss = DisentELBO().differentiable_loss(model.model, model.guide, x)
    assert math.isfinite(loss.item())


@pytest.mark.parametrize("train_all_layers", [False, True])
def test_training_steps_update_the_transforms_and_the_embeddings(train_all_layers):
    model = _devae(train_all_layers=train_all_layers, random_state=0)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    svi = SVI(model.model, model.guide, Adam({"lr": 1e-2}), DisentELBO())
    x = _data(32)
    layers = set()
    for _ in range(8):
        assert math.isfinite(svi.step(x, dataset_size=256))
        layers.add(model.current_layer)
    for name in ("w1", "w2", "layer_embedding.weight"):
        after = dict(model.named_parameters())[name]
        assert not torch.equal(after, before[name]), name
    if not train_all_layers:
        assert layers == {0, 1, 2}


def test_generator_state_resumes_from_the_state_dict():
    a = _devae(random_state=1)
    [a.draw_layer() for _ in range(5)]
    b = _devae(random_state=99)
    b.load_state_dict(a.state_dict())
    assert [a.draw_layer() for _ in range(10)] == [b.draw_layer() for _ in range(10)]


def test_registered_as_a_model_and_validated():
    model = get_component("models", "devae")(
        input_shape=SHAPE, latent_dim=4, encoder="mlp", hidden_width=16
    )
    assert isinstance(model, DeVAE) and model.betas == (1.0, 10.0, 40.0) and model.latent_dim == 4
    with pytest.raises(ValueError, match="betas"):
        _devae(betas=[])
    with pytest.raises(ValueError, match="betas"):
        _devae(betas=[1, -1])
    with pytest.raises(ValueError, match="layer_scale"):
        _devae(layer_scale=-1)
    with pytest.raises(ValueError, match="layer"):
        _devae().encode(_data(), layer=3)
    with pytest.raises(ValueError, match="representation_layer"):
        _devae(representation_layer=5)


def test_linear_connection_gives_layer_i_the_pushforward_by_the_product_of_the_maps():
    # DeVAE, Table 2, "linear transformation": z_{j+1} = W_j z_j, so
    # q(z_i|x) = N(A_i μ_0, A_i diag(σ_0²) A_iᵀ) with A_i = W_{i-1} ⋯ W_0.
    model = _devae(connection="linear")
    x = _data()
    loc0, scale0 = (t.detach() for t in model.encode(x, layer=0))
    for i in range(3):  # W_j = I at init: every layer is layer 0
        assert torch.allclose(model.encode(x, layer=i)[0], loc0, atol=1e-6)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        model.linear_maps.copy_(torch.eye(4) + 0.3 * torch.randn(2, 4, 4, generator=g))
    w0, w1 = model.linear_maps.detach()
    a2 = w1 @ w0
    with torch.no_grad():
        q = model.posterior(x, layer=2)
    assert isinstance(q, pyro.distributions.MultivariateNormal)
    assert torch.allclose(q.loc, loc0 @ a2.T, atol=1e-5)
    expected_cov = a2 @ torch.diag_embed(scale0.pow(2)) @ a2.T
    assert torch.allclose(q.covariance_matrix, expected_cov, atol=1e-5)
    # the sample covariance of z for one data point matches it
    pyro.set_rng_seed(0)
    z = q.sample((20000,))[:, 0]
    assert torch.allclose(
        torch.cov(z.T), expected_cov[0], atol=0.05 * float(expected_cov[0].abs().max())
    )
    assert torch.allclose(
        model.encode(x, layer=2)[1], expected_cov.diagonal(dim1=-2, dim2=-1).sqrt(), atol=1e-5
    )


def test_parallel_connection_trains_only_the_drawn_layers_own_encoder():
    # DeVAE, Table 2, "parallel": independent latent spaces, one encoder per layer.
    model = _devae(connection="parallel", betas=[1.0, 10.0])
    x = _data()
    assert not torch.allclose(model.encode(x, layer=0)[0], model.encode(x, layer=1)[0])
    loss = DisentELBO().differentiable_loss(model.model, model.guide, x, layer=1)
    loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.layer_encoders[0].parameters()
    )
    assert not hasattr(model, "w1")


def test_linear_connection_trains_through_the_maps_with_a_monte_carlo_kl():
    model = _devae(connection="linear", betas=[1.0, 10.0])
    pyro.set_rng_seed(0)
    loss = DisentELBO().differentiable_loss(model.model, model.guide, _data(), layer=1)
    loss.backward()
    assert math.isfinite(loss.item()) and model.linear_maps.grad.abs().sum() > 0


def test_unknown_connection_names_the_choices():
    with pytest.raises(ValueError, match="connection must be one of dit, linear, parallel"):
        _devae(connection="ladder")
    with pytest.raises(ValueError, match="layer_parameters is the DiT transform"):
        _devae(connection="parallel").layer_parameters(torch.zeros(2, 4), torch.ones(2, 4), 1)


def test_reconstruction_nll_is_the_bernoulli_negative_log_likelihood_at_a_posterior_draw():
    model = _devae()
    x = _data()
    with torch.no_grad():
        torch.manual_seed(5)
        nll = model.reconstruction_nll(x, layer=2)
        torch.manual_seed(5)
        z = model.layer_posterior(x, 2).rsample()
        p = torch.sigmoid(model.decode(z, 2))
    by_hand = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(-1)
    assert nll.shape == (16,) and torch.allclose(nll, by_hand, rtol=1e-4)
