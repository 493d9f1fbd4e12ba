"""The pc plugin: PDisVAE (an anonymous ICLR submission), −ELBO + β·PC (eq. 3)."""

from __future__ import annotations

import pyro
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO

from pyrodisent import DisentELBO, regularizer

N = 400


def _loss(elbo, vae, x, seed=3):
    pyro.set_rng_seed(seed)
    return elbo.differentiable_loss(vae.model, vae.guide, x, dataset_size=N)


def test_defaults_are_the_papers():
    reg = regularizer("pc", groups=[2, 2, 2])
    assert reg.beta == 4.0 and reg.estimator == "is"


def test_one_group_is_the_vae(vae_and_batch):
    vae, x = vae_and_batch
    elbo = DisentELBO([regularizer("pc", groups=[6])])
    assert torch.allclose(_loss(elbo, vae, x), _loss(TraceMeanField_ELBO(), vae, x), rtol=1e-6)
    assert elbo.last_terms["pc/pc"].abs().item() < 1e-5


def test_singleton_groups_are_tc_with_beta_plus_one(vae_and_batch):
    vae, x = vae_and_batch
    pc = DisentELBO([regularizer("pc", beta=4.0, groups=[1] * 6)])
    tc = DisentELBO([regularizer("tc", beta=5.0, estimator="is")])
    assert torch.allclose(_loss(pc, vae, x), _loss(tc, vae, x), rtol=1e-6)
    assert pc.last_terms["pc/pc"].item() == pytest.approx(tc.last_terms["tc/tc"].item(), abs=1e-5)


def test_loss_adds_beta_pc_and_g_times_h_equals_sizes(vae_and_batch):
    vae, x = vae_and_batch
    a = DisentELBO([regularizer("pc", beta=3.0, num_groups=3, group_rank=2)])
    b = DisentELBO([regularizer("pc", beta=3.0, groups=[[0, 1], [2, 3], [4, 5]])])
    la, lb = _loss(a, vae, x), _loss(b, vae, x)
    assert torch.allclose(la, lb)
    base = _loss(TraceMeanField_ELBO(), vae, x)
    assert torch.allclose(la - base, N * 3.0 * a.last_terms["pc/pc"], rtol=1e-4, atol=1e-2)


def test_pc_penalty_has_gradients_for_the_encoder(vae_and_batch):
    vae, x = vae_and_batch
    elbo = DisentELBO([regularizer("pc", groups=[3, 3])])
    _loss(elbo, vae, x).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.parameters())


def test_bad_group_specifications(vae_and_batch):
    vae, x = vae_and_batch
    with pytest.raises(ValueError, match="num_groups=G with group_rank=H"):
        regularizer("pc")
    with pytest.raises(ValueError, match="not both"):
        regularizer("pc", groups=[2, 2], num_groups=2, group_rank=2)
    with pytest.raises(ValueError, match="pc: group_rank must be an integer >= 1, got 0"):
        regularizer("pc", num_groups=2, group_rank=0)
    elbo = DisentELBO([regularizer("pc", num_groups=2, group_rank=2)])
    with pytest.raises(ValueError, match="sum to 4 but the latent size is 6"):
        _loss(elbo, vae, x)
