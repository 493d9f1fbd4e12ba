"""LpNested (ISA-VAE prior, Stühmer et al. 2020): normalization, sampler moments, special cases."""

import math

import pyro.distributions as dist
import pytest
import torch

from pyrodisent.distributions import LpNested

D64 = torch.float64


def _grid(n_dims: int, half_width: float, points: int):
    axis = torch.linspace(-half_width, half_width, points, dtype=D64)
    mesh = torch.meshgrid(*([axis] * n_dims), indexing="ij")
    cell = (axis[1] - axis[0]) ** n_dims
    return torch.stack(mesh, -1).reshape(-1, n_dims), cell


def _isa_formula(z, p0, groups, s):
    """The closed form for the two-level ISA tree (docs/guides_priors/lp_nested_prior.md), written
    independently."""
    n = sum(nj for _, nj in groups)
    l0 = len(groups)
    const = l0 * math.log(p0) - n * math.log(2) - (n / p0) * math.log(s)
    const -= sum(math.lgamma(nj / p0) for _, nj in groups)
    const += sum(
        (nj - 1) * math.log(pj) + math.lgamma(nj / pj) - nj * math.lgamma(1 / pj)
        for pj, nj in groups
    )
    f_p0, start = 0.0, 0
    for pj, nj in groups:
        f_p0 = f_p0 + (z[..., start : start + nj].abs() ** pj).sum(-1) ** (p0 / pj)
        start += nj
    return const - f_p0 / s


def test_log_prob_is_the_isa_closed_form():
    groups = [(2.1, 3), (1.4, 2), (0.8, 1)]
    prior = LpNested(1.7, groups, scale=1.3)
    z = torch.randn(50, 6, dtype=D64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(prior.log_prob(z), _isa_formula(z, 1.7, groups, 1.3))


@pytest.mark.parametrize(
    "p0, groups, scale",
    [(1.5, [(2.5, 2)], 1.0), (2.0, [(1.2, 1), (3.0, 1)], 0.7), (0.9, [1, 1], 0.5)],
)
def test_density_integrates_to_one_in_two_dims(p0, groups, scale):
    prior = LpNested(p0, groups, scale=scale)
    z, cell = _grid(2, 14.0, 1401)
    mass = prior.log_prob(z).exp().sum() * cell
    assert float(mass) == pytest.approx(1.0, abs=2e-3)


def test_density_of_a_three_level_tree_integrates_to_one():
    # root p0 = 1.3 over [ (2.0 over [ leaf, (0.9 over 2 leaves) ]), leaf ]: 4 dims, 3 levels
    prior = LpNested(1.3, [(2.0, [1, (0.9, 2)]), 1], scale=1.0)
    assert prior.latent_dim == 4
    # importance sampling with a heavy-tailed proposal: E_q[p/q] = 1
    proposal = dist.StudentT(
        3.0, torch.zeros(4, dtype=D64), 2.0 * torch.ones(4, dtype=D64)
    ).to_event(1)
    torch.manual_seed(1)
    z = proposal.sample((400_000,))
    w = (prior.log_prob(z) - proposal.log_prob(z)).exp()
    estimate, se = w.mean(), w.std() / math.sqrt(w.numel())
    assert abs(float(estimate) - 1.0) < 4 * float(se) + 1e-3, (estimate, se)


def test_one_group_with_p_two_and_scale_two_is_the_standard_normal():
    prior = LpNested(2.0, [(2.0, 5)], scale=2.0)
    normal = dist.Normal(torch.zeros(5, dtype=D64), 1.0).to_event(1)
    z = torch.randn(100, 5, dtype=D64, generator=torch.Generator().manual_seed(2)) * 2
    assert torch.allclose(prior.log_prob(z), normal.log_prob(z))
    samples = prior.sample((100_000,), generator=torch.Generator().manual_seed(3)).double()
    assert (torch.cov(samples.T) - torch.eye(5, dtype=D64)).abs().max() < 0.025
    assert (samples.mean(0)).abs().max() < 0.02


def test_sampler_moments_match_the_density_by_quadrature():
    p0, groups, scale = 1.5, [(3.0, 2), (0.8, 1)], 1.2
    prior = LpNested(p0, groups, scale=torch.tensor(scale, dtype=D64))
    z, cell = _grid(3, 10.0, 181)
    density = prior.log_prob(z).exp() * cell
    assert float(density.sum()) == pytest.approx(1.0, abs=5e-3)
    moments = {
        "z0^2": lambda v: v[..., 0] ** 2,
        "|z1|": lambda v: v[..., 1].abs(),
        "z2^2": lambda v: v[..., 2] ** 2,
        "z0^2 z1^2": lambda v: v[..., 0] ** 2 * v[..., 1] ** 2,
        "|z0 z2|": lambda v: (v[..., 0] * v[..., 2]).abs(),
    }
    samples = prior.sample((300_000,), generator=torch.Generator().manual_seed(4))
    for name, g in moments.items():
        exact = float((g(z) * density).sum() / density.sum())
        values = g(samples)
        mc, se = float(values.mean()), float(values.std()) / math.sqrt(values.numel())
        assert abs(mc - exact) < 4 * se + 2e-3 * abs(exact), (name, mc, exact, se)


def test_radius_follows_the_gamma_law_and_groups_are_independent():
    prior = LpNested(2.0, [(2.1, 3), (1.5, 3)], scale=1.5)
    z = prior.sample((200_000,), generator=torch.Generator().manual_seed(5)).double()
    g = prior.nested_norm(z) ** 2.0 / 1.5  # ~ Gamma(n/p0 = 3, 1): mean 3, var 3
    assert float(g.mean()) == pytest.approx(3.0, abs=0.02)
    assert float(g.var()) == pytest.approx(3.0, abs=0.06)
    a = (z[:, :3].abs() ** 2.1).sum(-1)
    b = (z[:, 3:].abs() ** 1.5).sum(-1)
    assert abs(float(torch.corrcoef(torch.stack([a, b]))[0, 1])) < 0.01


def test_group_log_prob_sums_to_log_prob_and_each_group_is_normalized():
    prior = LpNested(1.6, [(2.4, 2), 1], scale=0.8)
    z = torch.randn(20, 3, dtype=D64, generator=torch.Generator().manual_seed(6))
    assert torch.allclose(prior.group_log_prob(z).sum(-1), prior.log_prob(z))
    assert prior.groups == [[0, 1], [2]]
    grid, cell = _grid(2, 10.0, 401)  # the first group's two dims; the third is irrelevant
    points = torch.cat([grid, torch.zeros(grid.shape[0], 1, dtype=D64)], -1)
    first = prior.group_log_prob(points)[:, 0].exp().sum() * cell
    assert float(first) == pytest.approx(1.0, abs=3e-3)


def test_batched_scale_expand_and_shapes():
    prior = LpNested(2.0, [(2.0, 2), (2.0, 2)], scale=torch.tensor([1.0, 2.0]))
    assert prior.batch_shape == (2,) and prior.event_shape == (4,)
    e = prior.expand([5, 2])
    assert e.sample().shape == (5, 2, 4) and e.log_prob(torch.zeros(5, 2, 4)).shape == (5, 2)
    assert e.sample((3,), generator=torch.Generator().manual_seed(0)).shape == (3, 5, 2, 4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(p0=0.0, groups=[(2.0, 2)]), "exponent"),
        (dict(p0=2.0, groups=[(-1.0, 2)]), "exponent"),
        (dict(p0=2.0, groups=[(2.0, 0)]), "leaves"),
        (dict(p0=2.0, groups=[]), "children"),
        (dict(p0=2.0, groups=[(2.0, 2, 3)]), "pair"),
        (dict(p0=2.0, groups=[(2.0, 2)], scale=0.0), "scale"),
    ],
)
def test_bad_trees_are_rejected_with_the_parameter_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LpNested(**kwargs)
