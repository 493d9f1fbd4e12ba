"""AnnealedVAE (Burgess et al. 2018): γ·|KL − C| with C raised linearly, following the step counter."""

import pyro
import pytest
import torch

from pyrodisent import DisentELBO, regularizer


def test_capacity_rises_linearly_then_stays():
    reg = regularizer("annealed_vae", gamma=1000.0, c_max=25.0, iterations=100)
    assert [reg.capacity(t) for t in (0, 10, 50, 100, 250)] == [0.0, 2.5, 12.5, 25.0, 25.0]


@pytest.mark.parametrize("step", [0, 40, 400])
def test_the_loss_is_reconstruction_plus_gamma_times_the_kl_gap(vae_and_batch, step):
    vae, x = vae_and_batch
    elbo = DisentELBO([regularizer("annealed_vae", gamma=7.0, c_max=30.0, iterations=100)])
    elbo.step = step
    pyro.set_rng_seed(0)
    loss = elbo.differentiable_loss(vae.model, vae.guide, x)
    t = elbo.last_terms
    # the analytic KL of the diagonal Gaussian guide to N(0, I), per data point
    loc, scale = vae.encode(x)
    kl = (0.5 * (loc**2 + scale**2 - 1) - scale.log()).sum(-1).mean().detach()
    c = 30.0 * min(1.0, step / 100)
    assert float(t["annealed_vae/kl"]) == pytest.approx(float(kl), rel=1e-5)
    assert float(t["annealed_vae/capacity"]) == pytest.approx(c)
    # −ELBO + γ|KL − C| − KL = −E log p(x|z) + γ|KL − C|, per data point
    expected = -float(t["log_likelihood"]) + 7.0 * abs(float(kl) - c)
    assert float(loss.detach()) / len(x) == pytest.approx(expected, rel=1e-5)


def test_a_resumed_elbo_continues_the_schedule(vae_and_batch):
    vae, x = vae_and_batch
    elbo = DisentELBO([regularizer("annealed_vae", c_max=10.0, iterations=4)])
    for _ in range(3):
        elbo.differentiable_loss(vae.model, vae.guide, x)
    resumed = DisentELBO([regularizer("annealed_vae", c_max=10.0, iterations=4)])
    resumed.load_state_dict(elbo.state_dict())
    with torch.no_grad():
        resumed.differentiable_loss(vae.model, vae.guide, x)
    assert float(resumed.last_terms["annealed_vae/capacity"]) == pytest.approx(7.5)  # step 3 of 4


@pytest.mark.parametrize("bad", [{"gamma": -1.0}, {"c_max": "a lot"}, {"iterations": 0}, {"iterations": 2.5}])
def test_bad_parameters_are_named(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        regularizer("annealed_vae", **bad)
