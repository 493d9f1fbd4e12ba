"""TC_mean / TC_sample (RTC-VAE, Cheng et al. 2020, §6, Prop. 1) on encoders whose representations
are known Gaussians."""

from __future__ import annotations

import math

import torch

from pyrodisent.diagnostics import gaussian_tc, gaussian_tc_diagnostics


def prop1(cov: torch.Tensor) -> float:
    """½ (log |diag Σ| − log |Σ|), Cheng et al. 2020, eq. 5."""
    cov = cov.double()
    return 0.5 * (torch.diagonal(cov).log().sum() - torch.logdet(cov)).item()


class LinearGaussianEncoder(torch.nn.Module):
    """μ(x) = x Aᵀ, σ(x) = s: with x ~ N(0, I), Cov(μ) = A Aᵀ and Cov(z) = A Aᵀ + diag(s²)."""

    def __init__(self, mixing: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("mixing", mixing)
        self.register_buffer("scale", scale)
        self.seen_training_flags: list[bool] = []

    def encode(self, x):
        self.seen_training_flags.append(self.training)
        loc = x @ self.mixing.T
        return loc, self.scale.expand_as(loc)


MIXING = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.5, 0.0], [0.0, -0.4, 1.2]])
SCALE = torch.tensor([0.5, 1.0, 0.3])


def test_tc_mean_and_tc_sample_match_prop_1_of_the_population_covariances():
    model = LinearGaussianEncoder(MIXING, SCALE)
    x = torch.randn(100_000, 3, generator=torch.Generator().manual_seed(0))
    out = gaussian_tc_diagnostics(model, x, torch.Generator().manual_seed(1), batch_size=5000)
    cov_mean = MIXING @ MIXING.T
    assert math.isclose(out["tc_mean"], prop1(cov_mean), rel_tol=0.03)
    assert math.isclose(out["tc_sample"], prop1(cov_mean + torch.diag(SCALE**2)), rel_tol=0.03)
    assert out["tc_sample"] < out["tc_mean"]  # the posterior noise decorrelates z


def test_values_equal_prop_1_of_the_fitted_covariances_and_do_not_depend_on_chunking():
    model = LinearGaussianEncoder(MIXING, SCALE)
    x = torch.randn(5000, 3, generator=torch.Generator().manual_seed(2))
    one = gaussian_tc_diagnostics(model, x, torch.Generator().manual_seed(3), batch_size=5000)
    chunked = gaussian_tc_diagnostics(model, x, torch.Generator().manual_seed(3), batch_size=333)
    assert math.isclose(one["tc_mean"], chunked["tc_mean"], rel_tol=1e-9)
    assert math.isclose(one["tc_sample"], chunked["tc_sample"], rel_tol=1e-5)
    mu = x.double() @ MIXING.double().T
    assert math.isclose(one["tc_mean"], prop1(torch.cov(mu.T)), rel_tol=1e-6)
    eps = torch.randn(5000, 3, generator=torch.Generator().manual_seed(3))
    z = (x @ MIXING.T + SCALE * eps).double()
    assert math.isclose(one["tc_sample"], prop1(torch.cov(z.T)), rel_tol=1e-5)


def test_independent_codes_read_zero_and_the_model_mode_is_restored():
    model = LinearGaussianEncoder(torch.diag(torch.tensor([1.0, 2.0, 0.5])), SCALE)
    model.train()
    x = torch.randn(20_000, 3, generator=torch.Generator().manual_seed(4))
    out = gaussian_tc_diagnostics(model, x, torch.Generator().manual_seed(5))
    assert abs(out["tc_mean"]) < 1e-3 and abs(out["tc_sample"]) < 1e-3
    assert model.seen_training_flags and not any(model.seen_training_flags)  # encoded in eval mode
    assert model.training


def test_a_constant_code_is_dropped_instead_of_breaking_the_determinant():
    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    x = torch.stack([x[:, 0], 0.6 * x[:, 0] + 0.8 * x[:, 1], torch.full_like(x[:, 0], 3.0)], 1)
    assert math.isclose(gaussian_tc(x), prop1(torch.cov(x[:, :2].T)), rel_tol=1e-9)
    assert math.isclose(prop1(torch.tensor([[1.0, 0.6], [0.6, 1.0]], dtype=torch.float64)), -0.5 * math.log(1 - 0.36), rel_tol=1e-9)
