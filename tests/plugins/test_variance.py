"""RTC-VAE's variance penalty η·Σ_k E_x[σ_k²(x)] (Cheng et al. 2020, eq. 4) and η = max(10, β)."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyrodisent_plugins.variance import VariancePenalty, default_eta

import pyrodisent
from pyrodisent import PosteriorBatch


def hand_built_posterior() -> PosteriorBatch:
    loc = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.5, 0.0]])
    scale = torch.tensor([[0.5, 1.0, 2.0], [1.5, 0.1, 3.0]])
    return PosteriorBatch(z=loc.clone(), posterior=dist.Normal(loc, scale).to_event(1), prior=None,
                          dataset_size=2, loc=loc, scale=scale)


def test_penalty_is_eta_times_the_summed_mean_variances():
    posterior = hand_built_posterior()
    # Σ_k mean_i σ_ik² = ((0.25+2.25) + (1+0.01) + (4+9)) / 2 = 8.255
    terms = VariancePenalty(eta=3.0)(posterior)
    assert terms["variance"].item() == pytest.approx(3.0 * 8.255, rel=1e-6)
    assert posterior.diagnostics["variance/trace"].item() == pytest.approx(8.255, rel=1e-6)


def test_without_loc_and_scale_the_posterior_variance_is_used():
    posterior = hand_built_posterior()
    posterior.loc = posterior.scale = None
    assert VariancePenalty(eta=1.0)(posterior)["variance"].item() == pytest.approx(8.255, rel=1e-6)


def test_gradient_flows_to_the_scales():
    posterior = hand_built_posterior()
    posterior.scale.requires_grad_(True)
    VariancePenalty(eta=2.0)(posterior)["variance"].backward()
    # d/dσ_ik [η Σ_k mean_i σ_ik²] = η · 2σ_ik / M
    assert torch.allclose(posterior.scale.grad, 2.0 * 2 * posterior.scale.detach() / 2)


@pytest.mark.parametrize("beta, eta", [(2.0, 10.0), (10.0, 10.0), (50.0, 50.0)])
def test_eta_from_beta_is_max_of_10_and_beta(beta, eta):
    assert default_eta(beta) == eta
    assert VariancePenalty(beta=beta).eta == eta


def test_default_eta_is_10_and_both_eta_and_beta_is_an_error():
    assert VariancePenalty().eta == 10.0
    with pytest.raises(ValueError, match="not both"):
        VariancePenalty(eta=5, beta=6)
    with pytest.raises(ValueError, match="eta"):
        VariancePenalty(eta=-1)


def test_registered_and_added_to_the_loss_next_to_a_tc_plugin():
    model = pyrodisent.models.VAE(input_shape=(1, 16, 16), latent_dim=4, encoder="mlp", hidden_width=32,
                                  register_params=False)
    x = (torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    losses = {}
    for with_variance in (False, True):
        regs = [pyrodisent.regularizer("tc", beta=6.0)]
        if with_variance:
            regs.append(pyrodisent.regularizer("variance", beta=6.0))
        elbo = pyrodisent.DisentELBO(regs)
        pyro.set_rng_seed(0)  # the same z in both passes
        losses[with_variance] = elbo.differentiable_loss(model.model, model.guide, x).item()
    _, scale = model.encode(x)
    expected = 10.0 * scale.pow(2).mean(0).sum().item()  # η = max(10, 6), per data point
    assert elbo.last_terms["penalty/variance/variance"].item() == pytest.approx(expected, rel=1e-5)
    assert losses[True] - losses[False] == pytest.approx(32 * expected, rel=1e-4)
