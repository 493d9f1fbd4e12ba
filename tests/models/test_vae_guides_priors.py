"""VAE with the correlated-noise guide (Yang et al. 2020, the mutual-information paper) and the
logcosh / L^p-nested priors (PDisVAE, an anonymous ICLR submission)."""

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, TraceMeanField_ELBO
from pyro.optim import Adam

from pyrodisent import (
    DisentELBO,
    PosteriorBatch,
    UnsupportedPosteriorError,
    get_component,
    regularizer,
)
from pyrodisent.distributions import LOGCOSH_SCALE, CorrelatedNormal, LpNested
from pyrodisent.models import VAE

SHAPE = (1, 8, 8)


def _data(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, *SHAPE, generator=g) > 0.5).float()


def _vae(**kw):
    torch.manual_seed(0)
    return VAE(SHAPE, 4, "mlp", hidden_width=32, **kw)


def test_correlated_guide_posterior_is_the_mi_correlated_eq_12_family():
    vae = _vae(guide="correlated", rho=0.9)
    q = vae.posterior(_data())
    loc, scale = vae.encode(_data())
    assert isinstance(q, CorrelatedNormal)
    assert torch.equal(q.loc, loc) and torch.equal(q.scale, scale)
    assert torch.allclose(q.rho, torch.full((16,), 0.9))
    assert _vae(guide="correlated").rho == 0.9  # the value of Yang et al. 2020 is the default


@pytest.mark.parametrize("make_elbo", [TraceMeanField_ELBO, DisentELBO])
def test_rho_zero_reproduces_the_factorized_guides_loss_exactly(make_elbo):
    x = _data()
    factorized = _vae()
    correlated = _vae(guide="correlated", rho=0.0)
    correlated.load_state_dict(factorized.state_dict())
    losses = []
    for vae in (factorized, correlated):
        pyro.set_rng_seed(3)
        losses.append(make_elbo().differentiable_loss(vae.model, vae.guide, x, dataset_size=100))
    assert torch.equal(losses[0], losses[1])
    pyro.set_rng_seed(3)
    strong = _vae(guide="correlated", rho=0.9)
    strong.load_state_dict(factorized.state_dict())
    assert not torch.equal(
        losses[0], make_elbo().differentiable_loss(strong.model, strong.guide, x, dataset_size=100)
    )


def test_the_elbo_uses_the_analytic_correlated_kl():
    x = _data()
    vae = _vae(guide="correlated", rho=0.9)
    pyro.set_rng_seed(0)
    loss = DisentELBO().differentiable_loss(vae.model, vae.guide, x)
    pyro.set_rng_seed(0)
    z = vae.posterior(x).rsample()
    log_likelihood = vae._likelihood(vae.decode(z)).log_prob(x).sum()
    loc, scale = vae.encode(x)
    D = 4
    diag_kl = (0.5 * (scale**2 + loc**2 - 1) - scale.log()).sum()
    kl = diag_kl + 16 * 0.5 * -math.log(0.1 ** (D - 1) * (1 + (D - 1) * 0.9))
    assert torch.allclose(loss, -log_likelihood + kl, rtol=1e-5)


def test_guide_and_rho_are_validated():
    with pytest.raises(ValueError, match="guide"):
        _vae(guide="full")
    with pytest.raises(ValueError, match="rho"):
        _vae(rho=0.5)  # factorized guide with a correlation
    with pytest.raises(ValueError, match="rho"):
        _vae(guide="correlated", rho=1.0)


def test_priors_are_registered_with_the_documented_signature():
    normal = get_component("priors", "normal")(3)
    logcosh = get_component("priors", "logcosh")(3, device="cpu")
    nested = get_component("priors", "lp_nested")(6, p0=2.0, groups=[[2.1, 3], [2.1, 3]], scale=1.0)
    equal = get_component("priors", "lp_nested")(6, p0=2.0, group_size=2, p=1.5)
    assert normal.event_shape == logcosh.event_shape == (3,)
    assert isinstance(logcosh.base_dist, dist.Logistic)
    assert torch.allclose(logcosh.base_dist.scale, torch.full((3,), LOGCOSH_SCALE))
    assert isinstance(nested, LpNested) and nested.groups == [[0, 1, 2], [3, 4, 5]]
    assert equal.groups == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ValueError, match="latent_dim"):
        get_component("priors", "lp_nested")(5, groups=[[2.1, 3], [2.1, 3]])
    with pytest.raises(ValueError, match="group_size"):
        get_component("priors", "lp_nested")(6)


@pytest.mark.parametrize(
    "prior",
    [
        "logcosh",
        {"lp_nested": {"p0": 2.0, "groups": [[2.1, 2], [2.1, 2]], "scale": 1.0}},
        LpNested(2.0, [(2.1, 4)]),
    ],
)
def test_vae_accepts_names_config_mappings_and_distributions(prior):
    vae = _vae(prior=prior)
    p = vae.prior(torch.device("cpu"))
    assert p.event_shape == (4,)
    if isinstance(prior, dict):
        assert isinstance(p, LpNested) and p.groups == [[0, 1], [2, 3]]
    x = _data()
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    svi = SVI(vae.model, vae.guide, Adam({"lr": 1e-3}), DisentELBO())
    losses = [svi.step(x, dataset_size=64) for _ in range(3)]
    assert all(math.isfinite(v) for v in losses)


def test_bad_prior_specs_are_rejected():
    with pytest.raises(ValueError, match="one name"):
        _vae(prior={"logcosh": {}, "normal": {}})
    with pytest.raises(ValueError, match="prior"):
        _vae(prior=3)
    with pytest.raises(ValueError, match="event_shape"):
        _vae(prior=LpNested(2.0, [(2.1, 3)])).prior(torch.device("cpu"))


def _posterior_batch(vae, x):
    pyro.set_rng_seed(0)
    model_trace, guide_trace = next(DisentELBO()._get_traces(vae.model, vae.guide, (x,), {}))
    return PosteriorBatch.from_traces(model_trace, guide_trace)


def test_per_dimension_prior_marginals_exist_for_logcosh_and_not_for_lp_nested():
    x = _data()
    batch = _posterior_batch(_vae(prior="logcosh"), x)
    expected = dist.Logistic(0.0, LOGCOSH_SCALE).log_prob(batch.z)
    assert torch.allclose(batch.log_prior_dims(), expected)
    nested = _posterior_batch(_vae(prior={"lp_nested": {"group_size": 2, "p": 2.1}}), x)
    with pytest.raises(UnsupportedPosteriorError, match="groups"):
        nested.log_prior_dims()
    # the group marginals exist instead and add up to the joint prior
    assert torch.allclose(
        nested.prior.group_log_prob(nested.z).sum(-1), nested.prior.log_prob(nested.z)
    )


def test_aggregate_estimators_use_the_correlated_guides_full_quadratic_form():
    x = _data(24)
    M, N = 24, 1000
    batch = PosteriorBatch.from_traces(*_traces_with_size(_vae(guide="correlated", rho=0.9), x, N))
    q = batch.posterior
    assert isinstance(q, CorrelatedNormal)
    assert torch.allclose(batch.log_posterior(), q.log_prob(batch.z))
    # IS weights (PDisVAE, eq. 4): W[i,i] = 1/N, W[i,j≠i] = (N−1)/(N(M−1))
    log_w = torch.full((M, M), math.log((N - 1) / (N * (M - 1))))
    log_w.fill_diagonal_(math.log(1 / N))
    est = batch.log_aggregate("is", dims=True)
    joint = torch.logsumexp(q.pairwise_log_prob(batch.z) + log_w, 1)
    assert torch.allclose(est.joint, joint, atol=1e-4)
    dim2 = torch.logsumexp(q.pairwise_log_prob(batch.z, [2]) + log_w, 1)
    assert torch.allclose(est.dims[:, 2], dim2, atol=1e-4)


def _traces_with_size(vae, x, dataset_size):
    pyro.set_rng_seed(0)
    return next(
        DisentELBO()._get_traces(vae.model, vae.guide, (x,), {"dataset_size": dataset_size})
    )


def test_dimension_wise_kl_weight_needs_per_dim_prior_marginals():
    x = _data(32)
    tc = regularizer("tc", beta=4, gamma=2, estimator="is")
    pyro.set_rng_seed(0)
    elbo = DisentELBO([tc])
    loss = elbo.differentiable_loss(
        _vae(prior="logcosh").model, _vae(prior="logcosh").guide, x, dataset_size=500
    )
    assert math.isfinite(loss.item()) and "tc/dwkl" in elbo.last_terms
    nested = _vae(prior={"lp_nested": {"group_size": 2, "p": 2.1}})
    with pytest.raises(UnsupportedPosteriorError, match="L\\^p-nested|groups"):
        DisentELBO([regularizer("tc", beta=4, gamma=2)]).differentiable_loss(
            nested.model, nested.guide, x, dataset_size=500
        )
    # γ = 1 never needs the DWKL separately, so β-TCVAE still runs with this prior
    loss = DisentELBO([regularizer("tc", beta=4)]).differentiable_loss(
        nested.model, nested.guide, x, dataset_size=500
    )
    assert math.isfinite(loss.item())
