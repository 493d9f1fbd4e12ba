"""tc, grouped_tc and pc take their terms from one KL decomposition, computed once per step.

The decomposition (Chen et al. 2018; grouped: Chen et al. 2022, eq. 9-10; PDisVAE, eq. 3) is
written out once (:func:`pyrodisent.estimators.kl_decomposition`), and the posterior batch
computes every estimate the ELBO's regularizers declared in one pass over the pairwise
densities log q(z_i | x_j).
"""

from __future__ import annotations

import pyro
import pytest
import torch

import pyrodisent.posterior
from pyrodisent import DisentELBO, PosteriorBatch, regularizer
from pyrodisent.estimators import (
    ESTIMATOR_METHODS,
    GaussianFamily,
    aggregate_log_densities,
    aggregate_log_densities_multi,
    kl_decomposition,
    log_importance_weights,
)
from pyrodisent.estimators import aggregate as aggregate_module

N = 400


def _loss(elbo, vae, x, seed=3):
    pyro.set_rng_seed(seed)
    return elbo.differentiable_loss(vae.model, vae.guide, x, dataset_size=N)


@pytest.fixture
def count_passes(monkeypatch):
    """Counts, per step, the calls of the batch's aggregate function and of the kernels that
    form pairwise densities (the exact per-dim chunks, the joint's and the subsets' GEMMs)."""
    counts = {"aggregate": 0, "kernels": 0}

    def counted_multi(*args, **kwargs):
        counts["aggregate"] += 1
        return aggregate_log_densities_multi(*args, **kwargs)

    def counting(fn):
        def wrapper(*args, **kwargs):
            counts["kernels"] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(pyrodisent.posterior, "aggregate_log_densities_multi", counted_multi)
    monkeypatch.setattr(aggregate_module, "_chunk_terms", counting(aggregate_module._chunk_terms))
    monkeypatch.setattr(aggregate_module, "_subset_log_aggregate", counting(aggregate_module._subset_log_aggregate))
    monkeypatch.setattr(GaussianFamily, "pairwise_log_prob", counting(GaussianFamily.pairwise_log_prob))
    return counts


@pytest.mark.parametrize(
    "regularizers",
    [
        [{"name": "tc", "beta": 6.0}, {"name": "pc", "beta": 4.0, "groups": [2, 2, 2]}],  # mss + is
        [{"name": "pc", "groups": [[0, 3], [1, 4, 5], [2]]}, {"name": "tc", "estimator": "is"}],
        [{"name": "tc"}, {"name": "grouped_tc", "grouping_factor": 3, "gamma": 0.5}],
    ],
    ids=["tc+pc", "pc+tc", "tc+grouped_tc"],
)
def test_tc_with_a_grouped_regularizer_computes_the_pairwise_densities_once(vae_and_batch, count_passes, regularizers):
    vae, x = vae_and_batch
    elbo = DisentELBO(regularizers)
    _loss(elbo, vae, x).backward()
    assert count_passes == {"aggregate": 1, "kernels": 1}
    count_passes.update(aggregate=0, kernels=0)
    _loss(elbo, vae, x)  # the next step pays once again, not zero times (no stale cache)
    assert count_passes == {"aggregate": 1, "kernels": 1}


def test_shared_pass_gives_each_regularizer_its_own_numbers(vae_and_batch):
    vae, x = vae_and_batch
    tc_alone = DisentELBO([regularizer("tc", beta=6.0)])
    pc_alone = DisentELBO([regularizer("pc", groups=[2, 2, 2])])
    both = DisentELBO([regularizer("tc", beta=6.0), regularizer("pc", groups=[2, 2, 2])])
    _loss(tc_alone, vae, x), _loss(pc_alone, vae, x), _loss(both, vae, x)
    for key in ("tc/tc", "tc/mi", "tc/dwkl"):
        assert torch.equal(both.last_terms[key], tc_alone.last_terms[key])
    # pc alone uses the float64 matrix products, with tc the exact per-dim densities: the same
    # estimate up to float32 rounding of the log densities
    assert both.last_terms["pc/pc"].item() == pytest.approx(pc_alone.last_terms["pc/pc"].item(), abs=1e-6)


def test_an_undeclared_request_is_computed_on_demand():
    g = torch.Generator().manual_seed(0)
    loc, scale = torch.randn(20, 4, generator=g), torch.rand(20, 4, generator=g) + 0.3
    z = loc + scale * torch.randn(20, 4, generator=g)
    q = pyro.distributions.Normal(loc, scale).to_event(1)
    prior = pyro.distributions.Normal(torch.zeros(4), 1.0).to_event(1)
    pb = PosteriorBatch(z=z, posterior=q, prior=prior, dataset_size=100, loc=loc, scale=scale)
    grouped = pb.kl_decomposition("is", groups=[2, 2])
    assert set(grouped) == {"mi", "tc", "dwkl", "tc_joint", "tc_within"}
    # the grouped pass answers the ungrouped request; a new weighting needs a pass of its own
    assert pb.log_aggregate("is").joint is pb.log_aggregate("is", groups=[2, 2]).joint
    assert pb.log_aggregate("is").groups is None
    assert len(pb._cache["aggregates"]) == 1
    pb.log_aggregate("mss")
    assert len(pb._cache["aggregates"]) == 2
    assert torch.allclose(grouped["tc_joint"] + grouped["tc_within"], grouped["tc"], atol=1e-6)
    assert set(pb.kl_decomposition("is", groups=[2, 2], dims=False)) == {"mi", "tc_joint"}


@pytest.mark.parametrize("dims", [True, False, ("is",)])
@pytest.mark.parametrize("kind", ["diagonal", "equicorrelated"])
def test_several_weightings_in_one_pass_equal_one_pass_each(dims, kind):
    g = torch.Generator().manual_seed(1)
    M, D = 24, 5
    loc, scale = torch.randn(M, D, generator=g), torch.rand(M, D, generator=g) + 0.2
    z = loc + scale * torch.randn(M, D, generator=g)
    family = GaussianFamily.diagonal(loc, scale) if kind == "diagonal" else GaussianFamily.equicorrelated(loc, scale, 0.6)
    groups = [[0, 3], [1, 2], [4]]
    weights = {m: log_importance_weights(M, 300, m) for m in ESTIMATOR_METHODS}
    together = aggregate_log_densities_multi(z, family, weights, groups, dims=dims)
    for m, log_w in weights.items():
        # the path (exact per-dim densities or matrix products) is chosen once for the pass
        alone = aggregate_log_densities(z, family, log_w, groups, dims=bool(dims))
        assert torch.equal(together[m].joint, alone.joint) and torch.equal(together[m].groups, alone.groups)
        if dims is True or m in (dims or ()):
            assert torch.equal(together[m].dims, alone.dims)
        else:
            assert together[m].dims is None


def test_kl_decomposition_leaves_out_what_its_inputs_do_not_allow():
    from pyrodisent.estimators import AggregateLogDensities

    joint, dims, groups = torch.zeros(3), torch.zeros(3, 4), torch.zeros(3, 2)
    assert set(kl_decomposition(AggregateLogDensities(joint, None, groups))) == {"tc_joint"}
    assert set(kl_decomposition(AggregateLogDensities(joint, dims, None), torch.zeros(3))) == {"mi", "tc"}
    full = kl_decomposition(AggregateLogDensities(joint, dims, groups), torch.zeros(3), torch.zeros(3, 4))
    assert set(full) == {"mi", "tc", "tc_joint", "tc_within", "dwkl"}
    with pytest.raises(ValueError, match="log_prior_dims must be"):
        kl_decomposition(AggregateLogDensities(joint, dims, None), None, torch.zeros(3, 5))
