"""DIP-VAE-I and -II (Kumar et al. 2018; docs/methods/dipvae.md): the terms on hand-built
covariances."""

from __future__ import annotations

import pyro.distributions as dist
import pytest
import torch
from pyrodisent_plugins.dip import DIPVAE, batch_covariance, dip_terms

import pyrodisent
from pyrodisent import PosteriorBatch

# μ rows with mean (1, 1); centered [[0, 1], [2, -1], [-2, 0]] ⇒ Cov(μ) = [[8/3, -2/3], [-2/3, 2/3]]
LOC = torch.tensor([[1.0, 2.0], [3.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
# E_x[σ²] = [(1 + 0.25 + 1)/3, (0.25 + 0.25 + 1)/3] = [0.75, 0.5]
SCALE = torch.tensor([[1.0, 0.5], [0.5, 0.5], [1.0, 1.0]], dtype=torch.float64)


def hand_built_posterior(posterior=None) -> PosteriorBatch:
    return PosteriorBatch(z=LOC.clone(), posterior=posterior or dist.Normal(LOC, SCALE).to_event(1), prior=None,
                          dataset_size=3, loc=LOC, scale=SCALE)


def test_batch_covariance_is_the_population_covariance():
    expected = torch.tensor([[8 / 3, -2 / 3], [-2 / 3, 2 / 3]], dtype=torch.float64)
    assert torch.allclose(batch_covariance(LOC), expected)


def test_dip_terms_of_a_hand_built_covariance():
    off, diag = dip_terms(torch.tensor([[2.0, 0.5, -1.0], [0.5, 1.0, 0.0], [-1.0, 0.0, 0.25]]))
    assert off.item() == pytest.approx(2 * (0.25 + 1.0))
    assert diag.item() == pytest.approx(1.0 + 0.0 + 0.5625)


def test_dip_vae_i_penalizes_cov_of_the_means_with_lambda_d_10_lambda_od():
    posterior = hand_built_posterior()
    reg = DIPVAE("i", lambda_od=10.0)
    assert reg.lambda_d == 100.0
    terms = reg(posterior)
    # off-diagonal: 2·(2/3)² = 8/9; diagonal: (8/3 − 1)² + (2/3 − 1)² = 26/9
    assert terms["off_diagonal"].item() == pytest.approx(10 * 8 / 9)
    assert terms["diagonal"].item() == pytest.approx(100 * 26 / 9)
    assert posterior.diagnostics["dip/off_diagonal_unweighted"].item() == pytest.approx(8 / 9)


def test_dip_vae_ii_adds_the_mean_posterior_variance_with_lambda_d_lambda_od():
    reg = DIPVAE("ii", lambda_od=10.0)
    assert reg.lambda_d == 10.0
    terms = reg(hand_built_posterior())
    # Cov(z) = [[8/3 + 3/4, −2/3], [−2/3, 2/3 + 1/2]]: diagonal (29/12)² + (1/6)² = 845/144
    assert terms["off_diagonal"].item() == pytest.approx(10 * 8 / 9)
    assert terms["diagonal"].item() == pytest.approx(10 * 845 / 144)


def test_dip_vae_ii_uses_a_full_posterior_covariance_when_there_is_one():
    cov = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=torch.float64).expand(3, 2, 2)
    mvn = dist.MultivariateNormal(LOC, covariance_matrix=cov)
    posterior = PosteriorBatch(z=LOC.clone(), posterior=mvn, prior=None, dataset_size=3)
    c = DIPVAE("ii").covariance(posterior)
    expected = torch.tensor([[8 / 3 + 1.0, -2 / 3 + 0.3], [-2 / 3 + 0.3, 2 / 3 + 0.5]], dtype=torch.float64)
    assert torch.allclose(c, expected)


def test_dip_vae_ii_matrix_is_the_covariance_of_z_by_total_covariance():
    gen = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.5, 1.0]])
    loc = torch.randn(200_000, 3, generator=gen) @ mix.T
    scale = 0.2 + torch.rand(200_000, 3, generator=gen)
    z = loc + scale * torch.randn(200_000, 3, generator=gen)
    posterior = PosteriorBatch(z=z, posterior=dist.Normal(loc, scale).to_event(1), prior=None,
                               dataset_size=200_000, loc=loc, scale=scale)
    assert torch.allclose(DIPVAE("ii").covariance(posterior), batch_covariance(z), atol=0.02)


def test_bad_variant_and_weights_are_named():
    with pytest.raises(ValueError, match="variant"):
        DIPVAE("iii")
    with pytest.raises(ValueError, match="lambda_od"):
        DIPVAE("i", lambda_od=-1)
    assert DIPVAE("II", lambda_od=2, lambda_d=7).hyperparameters() == {"variant": "ii", "lambda_od": 2.0, "lambda_d": 7.0}


def test_registered_and_trains_in_disent_elbo():
    torch.manual_seed(0)
    model = pyrodisent.models.VAE(input_shape=(1, 16, 16), latent_dim=4, encoder="mlp", hidden_width=32,
                                  register_params=False)
    elbo = pyrodisent.DisentELBO([{"name": "dip", "variant": "ii", "lambda_od": 5}])
    x = (torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    loss = elbo.differentiable_loss(model.model, model.guide, x)
    loss.backward()
    t = elbo.last_terms
    loc, scale = model.encode(x)
    off, diag = dip_terms(batch_covariance(loc) + torch.diag(scale.pow(2).mean(0)))
    assert t["penalty/dip/off_diagonal"].item() == pytest.approx(5 * off.item(), rel=1e-5)
    assert t["penalty/dip/diagonal"].item() == pytest.approx(5 * diag.item(), rel=1e-5)
    assert t["loss"].item() == pytest.approx(-t["elbo"].item() + 5 * (off + diag).item(), rel=1e-5)
