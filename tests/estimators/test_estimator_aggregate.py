"""The memory-efficient aggregate-posterior paths equal the naive [M, M, D] layout; families."""

from __future__ import annotations

import numpy as np
import pyro.distributions as pdist
import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from pyrodisent import PosteriorBatch, UnsupportedPosteriorError
from pyrodisent.estimators import (
    ESTIMATOR_METHODS,
    GaussianFamily,
    equicorrelation_matrix,
    grouping_factor_groups,
    kl_decomposition_terms,
    log_aggregate_posterior,
    log_aggregate_posterior_naive,
    log_aggregate_subsets,
    normalize_groups,
    partial_correlation,
    posterior_family,
    total_correlation,
)


def batch(M=40, D=7, scale_low=0.05, scale_high=0.6, offset=0.0, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(M, D, generator=g, dtype=torch.float64) + offset
    scale = scale_low + (scale_high - scale_low) * torch.rand(M, D, generator=g, dtype=torch.float64)
    z = loc + scale * torch.randn(M, D, generator=g, dtype=torch.float64)
    return z.to(dtype), loc.to(dtype), scale.to(dtype)


GROUPS = [[0, 4], [1, 2, 3], [5], [6]]


@pytest.mark.parametrize("method", ESTIMATOR_METHODS)
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 64])
@pytest.mark.parametrize("dims", [True, False])
def test_memory_efficient_equals_naive(method, chunk_size, dims):
    z, loc, scale = batch()
    ref = log_aggregate_posterior_naive(z.double(), loc.double(), scale.double(), 500, method, GROUPS, dims=True)
    fast = log_aggregate_posterior(z, loc, scale, 500, method, groups=GROUPS, dims=dims, chunk_size=chunk_size)
    naive32 = log_aggregate_posterior_naive(z, loc, scale, 500, method, GROUPS, dims=True)
    for name in ("joint", "groups") + (("dims",) if dims else ()):
        r, f, n = getattr(ref, name).float(), getattr(fast, name), getattr(naive32, name)
        # as close to the float64 truth as the float32 naive layout is, up to a few ulps
        assert (f - r).abs().max() <= 4 * (n - r).abs().max() + 2e-5, name
    if not dims:
        assert fast.dims is None


@pytest.mark.parametrize("sigma", [1e-2, 1e-3])
def test_matrix_product_path_keeps_precision_when_sigma_is_small(sigma):
    # z²/σ² terms of order 1e8-1e10 cancel to O(1): the float64 centred products keep them exact
    z, loc, scale = batch(M=64, D=16, scale_low=sigma, scale_high=2 * sigma, offset=30.0, seed=1)
    ref = log_aggregate_posterior_naive(z.double(), loc.double(), scale.double(), 1000, "is", [4] * 4, dims=False)
    fast = log_aggregate_posterior(z, loc, scale, 1000, "is", groups=[4] * 4, dims=False)
    # inputs are float32: compare with the float64 evaluation of the same float32 numbers
    assert torch.allclose(fast.joint.double(), ref.joint, rtol=1e-6, atol=1e-3)
    assert torch.allclose(fast.groups.double(), ref.groups, rtol=1e-6, atol=1e-3)


def test_float32_products_would_cancel_catastrophically():
    # documents why gemm_dtype defaults to float64: the same expansion in float32 is far off
    z, loc, scale = batch(M=64, D=16, scale_low=1e-3, scale_high=2e-3, offset=30.0, seed=1)
    ref = log_aggregate_posterior_naive(z.double(), loc.double(), scale.double(), 1000, "is", dims=False)
    f32 = log_aggregate_posterior(z, loc, scale, 1000, "is", dims=False, gemm_dtype=None)
    assert (f32.joint.double() - ref.joint).abs().max() > 1.0


def test_gradients_of_chunked_path_equal_naive():
    z, loc, scale = batch(M=24, D=6, dtype=torch.float64)
    outs = []
    for fn in ("fast", "naive"):
        zz, ll, ss = (t.clone().requires_grad_() for t in (z, loc, scale))
        if fn == "fast":
            est = log_aggregate_posterior(zz, ll, ss, 300, "mss", groups=[2, 3, 1], dims=True, chunk_size=2)
        else:
            est = log_aggregate_posterior_naive(zz, ll, ss, 300, "mss", [2, 3, 1], dims=True)
        loss = est.joint.sum() * 0.3 - est.dims.sum() + 0.7 * est.groups.sum()
        outs.append(torch.autograd.grad(loss, (zz, ll, ss)))
    for a, b in zip(*outs):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9)
    zz, ll, ss = (t.clone().requires_grad_() for t in (z, loc, scale))
    est = log_aggregate_posterior(zz, ll, ss, 300, "is", groups=[2, 3, 1], dims=False)
    g_fast = torch.autograd.grad(est.joint.sum() + est.groups.sum(), (zz, ll, ss))
    zz, ll, ss = (t.clone().requires_grad_() for t in (z, loc, scale))
    est = log_aggregate_posterior_naive(zz, ll, ss, 300, "is", [2, 3, 1], dims=False)
    g_naive = torch.autograd.grad(est.joint.sum() + est.groups.sum(), (zz, ll, ss))
    for a, b in zip(g_fast, g_naive):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-8)


def _brute_force_pairwise(z, loc, cov):
    M = z.shape[0]
    return torch.stack([MultivariateNormal(loc[j], cov[j]).log_prob(z) for j in range(M)], 1)


def test_equicorrelated_family_matches_multivariate_normal():
    z, loc, scale = batch(M=12, D=5, dtype=torch.float64)
    rho = torch.linspace(0.0, 0.9, 12, dtype=torch.float64)
    fam = GaussianFamily.equicorrelated(loc, scale, rho)
    cov = torch.stack(
        [torch.diag(scale[j]) @ equicorrelation_matrix(5, float(rho[j])) @ torch.diag(scale[j]) for j in range(12)]
    )
    assert torch.allclose(fam.pairwise_log_prob(z), _brute_force_pairwise(z, loc, cov), atol=1e-9)
    assert torch.allclose(fam.log_prob(z), MultivariateNormal(loc, cov).log_prob(z), atol=1e-9)
    sub = fam.restrict([1, 3, 4])
    assert torch.allclose(
        sub.pairwise_log_prob(z[:, [1, 3, 4]]),
        _brute_force_pairwise(z[:, [1, 3, 4]], loc[:, [1, 3, 4]], cov[:, [1, 3, 4]][:, :, [1, 3, 4]]),
        atol=1e-9,
    )
    full = GaussianFamily.full(loc, torch.linalg.cholesky(cov))
    assert torch.allclose(full.pairwise_log_prob(z), _brute_force_pairwise(z, loc, cov), atol=1e-9)
    assert torch.allclose(full.scale, scale)  # Σ_ρ has a unit diagonal: marginal sd = σ


def test_correlated_posteriors_give_the_naive_mixture_values():
    z, loc, scale = batch(M=16, D=4, dtype=torch.float64)
    rho = 0.6
    cov = torch.stack([torch.diag(s) @ equicorrelation_matrix(4, rho) @ torch.diag(s) for s in scale])
    groups = [[0, 1], [2, 3]]
    est = log_aggregate_posterior(z, loc, scale, 100, "is", groups=groups, dims=True, rho=rho)
    est_full = log_aggregate_posterior(z, loc, None, 100, "is", groups=groups, dims=True, scale_tril=torch.linalg.cholesky(cov))
    from pyrodisent.estimators import log_importance_weights

    log_w = log_importance_weights(16, 100, "is", dtype=torch.float64)
    joint = torch.logsumexp(_brute_force_pairwise(z, loc, cov) + log_w, 1)
    dims = torch.stack([torch.logsumexp(Normal(loc[:, d], scale[:, d]).log_prob(z[:, d, None]) + log_w, 1) for d in range(4)], 1)
    grp = torch.stack(
        [torch.logsumexp(_brute_force_pairwise(z[:, g], loc[:, g], cov[:, g][:, :, g]) + log_w, 1) for g in groups], 1
    )
    for e in (est, est_full):
        assert torch.allclose(e.joint, joint, atol=1e-9)
        assert torch.allclose(e.dims, dims, atol=1e-9)
        assert torch.allclose(e.groups, grp, atol=1e-9)
    # ρ = 0 is the factorized guide
    a = log_aggregate_posterior(z, loc, scale, 100, "mss", groups=groups, rho=0.0)
    b = log_aggregate_posterior(z, loc, scale, 100, "mss", groups=groups)
    assert torch.allclose(a.joint, b.joint) and torch.allclose(a.groups, b.groups) and torch.allclose(a.dims, b.dims)


def test_posterior_family_duck_typing_and_unsupported_families():
    z, loc, scale = batch(M=6, D=3)
    assert posterior_family(pdist.Normal(loc, scale).to_event(1)).kind == "diagonal"
    cov = torch.diag_embed(scale.square()) + 0.01
    assert posterior_family(MultivariateNormal(loc, cov)).kind == "full"

    class Correlated:  # the attribute layout of the correlated-noise guide (Yang et al. 2020)
        def __init__(self):
            self.loc, self.scale, self.rho = loc, scale, torch.tensor(0.5)

    assert posterior_family(Correlated()).kind == "equicorrelated"
    lap = pdist.Laplace(loc, scale).to_event(1)
    assert posterior_family(lap) is None
    pb = PosteriorBatch(z=z, posterior=lap, prior=None, dataset_size=100)
    with pytest.raises(UnsupportedPosteriorError, match="Laplace|Independent"):
        pb.log_aggregate("is")
    with pytest.raises(ValueError, match="rho must lie in"):
        GaussianFamily.equicorrelated(loc, scale, 1.0)


def test_posterior_batch_uses_the_full_covariance_path():
    z, loc, scale = batch(M=10, D=3, dtype=torch.float64)
    cov = torch.stack([torch.diag(s) @ equicorrelation_matrix(3, 0.7) @ torch.diag(s) for s in scale])
    pb = PosteriorBatch(z=z, posterior=MultivariateNormal(loc, cov), prior=None, dataset_size=50)
    got = pb.log_aggregate("is", groups=[[0, 1], [2]])
    want = log_aggregate_posterior(z, loc, scale, 50, "is", groups=[[0, 1], [2]], rho=0.7)
    assert torch.allclose(got.joint, want.joint, atol=1e-9) and torch.allclose(got.groups, want.groups, atol=1e-9)
    # ignoring the correlation would give a different (wrong) joint
    diag = log_aggregate_posterior(z, loc, scale, 50, "is")
    assert (diag.joint - want.joint).abs().max() > 1e-2


def test_pc_identities_and_grouped_factor_one():
    z, loc, scale = batch(M=48, D=6, dtype=torch.float64)
    for method in ESTIMATOR_METHODS:
        tc = total_correlation(z, loc, scale, 400, method=method)
        assert partial_correlation(z, loc, scale, 400, [6], method).abs().item() < 1e-12  # one group
        singletons = partial_correlation(z, loc, scale, 400, [1] * 6, method)
        assert torch.allclose(singletons, tc, atol=1e-10)  # K groups = TC
        assert torch.allclose(total_correlation(z, loc, scale, 400, grouping_factor_groups(6, 1), method), tc, atol=1e-10)


def test_kl_decomposition_terms_add_up():
    z, loc, scale = batch(M=32, D=6, dtype=torch.float64)
    prior = Normal(0.0, 1.0)
    terms = kl_decomposition_terms(z, loc, scale, 1000, groups=[2, 2, 2], method="is", log_prior_dims=prior.log_prob(z))
    log_q = Normal(loc, scale).log_prob(z).sum(-1)
    kl_mc = (log_q - prior.log_prob(z).sum(-1)).mean()
    assert torch.allclose(terms["mi"] + terms["tc"] + terms["dwkl"], kl_mc, atol=1e-10)
    assert torch.allclose(terms["tc_joint"] + terms["tc_within"], terms["tc"], atol=1e-10)


def test_subset_estimates_match_groups():
    z, loc, scale = batch(M=20, D=5, dtype=torch.float64)
    subsets = [[0, 1], [1, 2, 3], [4], [0, 1, 2, 3, 4]]
    got = log_aggregate_subsets(z, loc, scale, 90, subsets, "mss")
    ref = log_aggregate_posterior_naive(z, loc, scale, 90, "mss", [[0, 1], [2, 3], [4]], dims=True)
    assert torch.allclose(got[:, 0], ref.groups[:, 0]) and torch.allclose(got[:, 2], ref.dims[:, 4])
    assert torch.allclose(got[:, 3], ref.joint)


def test_group_arguments_are_validated():
    assert normalize_groups(np.array([2, 1]), 3) == [[0, 1], [2]]
    assert normalize_groups([np.int64(1), np.int64(2)], 3) == [[0], [1, 2]]
    with pytest.raises(ValueError, match="sum to 4 but the latent size is 5"):
        normalize_groups([2, 2], 5)
    with pytest.raises(ValueError, match="do not partition"):
        normalize_groups([[0, 1], [1, 2]], 3)
    with pytest.raises(ValueError, match=r"choose one of \[1, 2, 3, 6\]"):
        grouping_factor_groups(6, 4)


def test_correlated_normal_guide_uses_the_equicorrelated_path():
    from pyrodisent.distributions import CorrelatedNormal

    z, loc, scale = batch(M=12, D=4, dtype=torch.float64)
    q = CorrelatedNormal(loc, scale, rho=0.9)
    prior = pdist.Normal(torch.zeros(4, dtype=torch.float64), 1.0).to_event(1)
    pb = PosteriorBatch(z=z, posterior=q, prior=prior, dataset_size=100)
    assert pb.gaussian_family().kind == "equicorrelated"
    cov = torch.stack([torch.diag(s) @ equicorrelation_matrix(4, 0.9) @ torch.diag(s) for s in scale])
    full = PosteriorBatch(z=z, posterior=MultivariateNormal(loc, cov), prior=prior, dataset_size=100)
    for a, b in zip(pb.kl_decomposition("is").values(), full.kl_decomposition("is").values()):
        assert torch.allclose(a, b, atol=1e-8)
