"""FactorVAE's discriminator TC (RTC-VAE, Cheng et al. 2020, eq. 6): accuracy on Gaussians with a
known TC (DeVAE, an anonymous ICLR submission, §3.2), checkpoint round trip, isolation from the
VAE's gradients, end to end in DisentELBO."""

from __future__ import annotations

import io
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyrodisent_plugins.discriminator import DiscriminatorTotalCorrelation, permute_dims

import pyrodisent
from pyrodisent import PosteriorBatch
from pyrodisent.estimators.gaussian import gaussian_total_correlation


@pytest.fixture(autouse=True)
def one_thread():
    # Small MLPs on a shared 2-core machine run far faster on one thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def paired_covariance(latent_dim: int, rho: float, dtype=torch.float32) -> torch.Tensor:
    """Two halves, dim i of the first correlated with dim i of the second by rho (DeVAE, §3.2)."""
    half = latent_dim // 2
    ones = torch.ones(half, dtype=dtype)
    return torch.eye(latent_dim, dtype=dtype) + rho * (torch.diag(ones, half) + torch.diag(ones, -half))


def gaussian_batch(cov: torch.Tensor, size: int, generator: torch.Generator) -> PosteriorBatch:
    z = torch.randn(size, cov.shape[0], generator=generator) @ torch.linalg.cholesky(cov).T
    scale = torch.full_like(z, 1e-3)
    return PosteriorBatch(z=z, posterior=dist.Normal(z, scale).to_event(1), prior=None,
                          dataset_size=size, loc=z, scale=scale)


def trained_estimate(rho: float, latent_dim: int = 4, steps: int = 1000, seed: int = 0) -> float:
    reg = DiscriminatorTotalCorrelation(gamma=1.0, hidden_units=128, layers=4, lr=1e-3, seed=seed)
    cov = paired_covariance(latent_dim, rho)
    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        reg.auxiliary_step(gaussian_batch(cov, 256, gen))
    with torch.no_grad():
        return reg.total_correlation(gaussian_batch(cov, 20000, gen).z).item()


# the DeVAE paper, Table 1, "TC" column
PAPER_TRUE_TC = {(10, 0.3): 0.24, (10, 0.6): 1.12, (10, 0.9): 4.15, (100, 0.3): 2.36, (100, 0.6): 11.16,
                 (100, 0.9): 41.52, (1000, 0.3): 23.58, (1000, 0.6): 111.57, (1000, 0.9): 415.18}


def test_prop_1_on_the_paired_gaussian_is_devae_eq_9_and_its_table():
    for (D, rho), table_value in PAPER_TRUE_TC.items():
        expected = -D / 4 * math.log(1 - rho**2)
        assert float(gaussian_total_correlation(paired_covariance(D, rho, torch.float64))) == pytest.approx(expected, rel=1e-9)
        assert round(expected, 2) == table_value


def test_tc_of_independent_codes_is_near_zero():
    assert abs(trained_estimate(rho=0.0)) < 0.05


def test_tc_of_correlated_codes_is_near_the_closed_form():
    truth = -4 / 4 * math.log(1 - 0.9**2)  # 1.66 nats
    assert trained_estimate(rho=0.9) == pytest.approx(truth, rel=0.15)


def test_permute_dims_permutes_each_column_independently():
    z = torch.arange(200.0).reshape(100, 2)
    out = permute_dims(z, torch.Generator().manual_seed(0))
    for d in range(2):
        assert torch.equal(out[:, d].sort().values, z[:, d])
    assert not torch.equal(out[:, 0] - z[:, 0], out[:, 1] - z[:, 1])  # different permutations
    again = permute_dims(z, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_penalty_is_gamma_times_the_mean_logit_difference():
    reg = DiscriminatorTotalCorrelation(gamma=7.0, latent_dim=3, hidden_units=16, layers=3)
    batch = gaussian_batch(torch.eye(3), 32, torch.Generator().manual_seed(0))
    logits = reg.network(batch.z)
    terms = reg(batch)
    assert terms["tc"].item() == pytest.approx(7.0 * (logits[:, 0] - logits[:, 1]).mean().item(), rel=1e-5)
    assert batch.diagnostics["discriminator/tc_estimate"].item() == pytest.approx(terms["tc"].item() / 7.0, rel=1e-5)


def _save_load(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("independent_batch", [False, True])
def test_network_optimizer_and_generator_round_trip_through_a_checkpoint(independent_batch):
    params = dict(gamma=5.0, hidden_units=32, layers=3, seed=4, independent_batch=independent_batch)
    reg = DiscriminatorTotalCorrelation(**params)
    gen = torch.Generator().manual_seed(0)
    cov = paired_covariance(4, 0.5)
    for _ in range(5):
        reg.auxiliary_step(gaussian_batch(cov, 64, gen))
    state = _save_load(reg.state_dict())

    resumed = DiscriminatorTotalCorrelation(**params)  # unbuilt: the state builds it
    assert resumed.network is None
    resumed.load_state_dict(state)
    assert resumed.auxiliary_steps == 5
    for a, b in zip(reg.network.parameters(), resumed.network.parameters()):
        assert torch.equal(a, b)
    saved_opt, loaded_opt = reg.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert saved_opt["param_groups"] == loaded_opt["param_groups"]
    for k, v in saved_opt["state"].items():
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(v[name], loaded_opt["state"][k][name])

    # The next steps are identical: same weights, same Adam moments, same permutations.
    batches = [gaussian_batch(cov, 64, gen) for _ in range(3)]
    for batch in batches:
        reg.auxiliary_step(batch)
        resumed.auxiliary_step(batch)
    for a, b in zip(reg.network.parameters(), resumed.network.parameters()):
        assert torch.equal(a, b)


def test_loading_a_checkpoint_of_another_latent_dim_fails_clearly():
    reg = DiscriminatorTotalCorrelation(latent_dim=4, hidden_units=8, layers=2)
    other = DiscriminatorTotalCorrelation(latent_dim=6, hidden_units=8, layers=2)
    with pytest.raises(RuntimeError, match="6 latent dims"):
        reg.load_state_dict(_save_load(other.state_dict()))


@pytest.mark.parametrize("bad, match", [
    (dict(gamma=-1), "gamma"), (dict(layers=0), "layers"), (dict(hidden_units=2.5), "hidden_units"),
    (dict(betas=(0.5,)), "betas"), (dict(lr=0), "lr"), (dict(independent_batch="yes"), "independent_batch"),
    (dict(latent_dim=0), "latent_dim"),
])
def test_bad_parameters_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        DiscriminatorTotalCorrelation(**bad)


def test_vae_loss_leaves_no_gradient_on_the_discriminator_and_training_updates_both():
    pyro.set_rng_seed(0)
    model = pyrodisent.models.VAE(input_shape=(1, 16, 16), latent_dim=4, encoder="mlp", hidden_width=32,
                                  register_params=False)
    reg = pyrodisent.regularizer("discriminator", gamma=10.0, hidden_units=32, layers=3)
    elbo = pyrodisent.DisentELBO([reg])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = (torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()

    before_vae = [p.detach().clone() for p in model.parameters()]
    disc_snapshots = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = elbo.differentiable_loss(model.model, model.guide, x, dataset_size=1000)
        disc_snapshots.append([p.detach().clone() for p in reg.network.parameters()])
        loss.backward()
        assert all(p.grad is None for p in reg.network.parameters())
        assert all(p.grad is not None for p in model.encoder.parameters())
        optimizer.step()
    assert torch.isfinite(loss)
    assert not all(torch.equal(a, b) for a, b in zip(before_vae, model.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(disc_snapshots[0], disc_snapshots[-1]))
    terms = elbo.last_terms
    assert {"penalty/discriminator/tc", "discriminator/tc_estimate", "discriminator/loss", "discriminator/accuracy"} <= set(terms)
    assert terms["penalty/discriminator/tc"].item() == pytest.approx(10.0 * terms["discriminator/tc_estimate"].item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx(-terms["elbo"].item() + terms["penalty/discriminator/tc"].item(), rel=1e-5)
    assert reg.auxiliary_steps == 3

    # Evaluation passes (no gradients) neither train the discriminator nor count a step.
    with torch.no_grad():
        elbo.differentiable_loss(model.model, model.guide, x, dataset_size=1000)
    assert reg.auxiliary_steps == 3


def test_works_with_stock_svi():
    from pyro.infer import SVI
    from pyro.optim import Adam

    pyro.clear_param_store()
    pyro.set_rng_seed(1)
    model = pyrodisent.models.VAE(input_shape=(1, 16, 16), latent_dim=4, encoder="mlp", hidden_width=32)
    reg = pyrodisent.regularizer("discriminator", hidden_units=32, layers=3, independent_batch=True)
    svi = SVI(model.model, model.guide, Adam({"lr": 1e-3}), loss=pyrodisent.DisentELBO([reg]))
    x = (torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    losses = [svi.step(x) for _ in range(2)]
    assert all(math.isfinite(v) for v in losses)
    assert reg.auxiliary_steps == 2
    store_names = set(pyro.get_param_store().keys())
    assert not any("network" in name for name in store_names)  # SVI never steps the discriminator
