"""TC_mean / TC_sample (RTC-VAE, Cheng et al. 2020, §6, Prop. 1) and the ELBO terms with the
Monte-Carlo TC (Yang et al. 2020, Fig. 2, App. D) on encoders whose representations are known
Gaussians."""

from __future__ import annotations

import math

import pyro.distributions
import pytest
import torch

from pyrodisent.diagnostics import elbo_terms, gaussian_tc, gaussian_tc_diagnostics
from pyrodisent.distributions import CorrelatedNormal


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


class CorrelatedLinearEncoder(LinearGaussianEncoder):
    """The linear encoder with the correlated-noise guide of Yang et al. 2020 (eq. 12)."""

    def __init__(self, mixing, scale, rho):
        super().__init__(mixing, scale)
        self.rho = rho


def equicorrelation(dim: int, rho: float) -> torch.Tensor:
    return (1 - rho) * torch.eye(dim) + rho * torch.ones(dim, dim)


def test_tc_sample_of_the_correlated_guide_includes_the_noise_correlation():
    rho = 0.9
    model = CorrelatedLinearEncoder(torch.eye(3), SCALE, rho)
    x = torch.randn(100_000, 3, generator=torch.Generator().manual_seed(7))
    out = gaussian_tc_diagnostics(model, x, torch.Generator().manual_seed(8), batch_size=5000)
    cov_z = torch.eye(3) + torch.diag(SCALE) @ equicorrelation(3, rho) @ torch.diag(SCALE)
    assert math.isclose(out["tc_sample"], prop1(cov_z), rel_tol=0.03)
    assert out["tc_sample"] > 0.05 and abs(out["tc_mean"]) < 1e-3  # independent means, correlated noise


class GaussianDecoderModel(CorrelatedLinearEncoder):
    """Adds p(x | z) = N(z, I) and a prior, the pieces :func:`elbo_terms` reads."""

    def __init__(self, mixing, scale, rho, prior=None):
        super().__init__(mixing, scale, rho)
        self._prior = prior

    def log_likelihood(self, x, z):
        return torch.distributions.Normal(z, 1.0).log_prob(x).sum(-1)

    def prior(self, device):
        if self._prior is not None:
            return self._prior
        return pyro.distributions.Normal(torch.zeros(3), torch.ones(3)).to_event(1)


def test_elbo_terms_reconstruction_and_kl_equal_their_closed_forms_at_the_drawn_codes():
    rho = 0.5
    model = GaussianDecoderModel(torch.diag(torch.tensor([1.0, 0.5, 2.0])), SCALE, rho)
    x = torch.randn(640, 3, generator=torch.Generator().manual_seed(9))
    out = elbo_terms(model, x, torch.Generator().manual_seed(10))
    loc, scale = x @ model.mixing.T, SCALE.expand(640, 3)
    z = CorrelatedNormal(loc, scale, rho).rsample(generator=torch.Generator().manual_seed(10))
    nll = 0.5 * (3 * math.log(2 * math.pi) + ((x - z) ** 2).sum(-1))
    assert math.isclose(out["reconstruction"], float(nll.mean()), rel_tol=1e-5)
    # KL(N(μ, diag(σ)Σ_ρdiag(σ)) ‖ N(0, I)) = ½ Σ (σ² + μ² − 1 − log σ²) − ½ log det Σ_ρ (App. B)
    kl = 0.5 * (scale**2 + loc**2 - 1 - (scale**2).log()).sum(-1) - 0.5 * torch.logdet(equicorrelation(3, rho))
    assert math.isclose(out["kl"], float(kl.mean()), rel_tol=1e-5)


def test_elbo_terms_kl_falls_back_to_log_q_minus_log_p_without_a_closed_form():
    prior = pyro.distributions.Laplace(torch.zeros(3), torch.ones(3)).to_event(1)
    model = GaussianDecoderModel(torch.eye(3), SCALE, 0.0, prior=prior)
    x = torch.randn(128, 3, generator=torch.Generator().manual_seed(11))
    out = elbo_terms(model, x, torch.Generator().manual_seed(12))
    loc, scale = x, SCALE.expand(128, 3)
    z = CorrelatedNormal(loc, scale, 0.0).rsample(generator=torch.Generator().manual_seed(12))
    q = torch.distributions.Normal(loc, scale).log_prob(z).sum(-1)
    assert math.isclose(out["kl"], float((q - prior.log_prob(z)).mean()), rel_tol=1e-5)


def test_elbo_terms_tc_of_identical_posteriors_is_the_gaussian_tc_of_the_noise():
    # every x has the same posterior N(0, diag(σ)Σ_ρdiag(σ)): the aggregate posterior is that
    # Gaussian, so App. D's estimate converges to −½ log det Σ_ρ (and is 0 for ρ = 0 exactly)
    x = torch.randn(64 * 8, 3, generator=torch.Generator().manual_seed(13))
    for rho, rel in ((0.0, None), (0.6, 0.05)):
        model = GaussianDecoderModel(torch.zeros(3, 3), SCALE, rho)
        out = elbo_terms(model, x, torch.Generator().manual_seed(14))
        truth = -0.5 * math.log(torch.det(equicorrelation(3, rho).double()).item())
        if rel is None:
            assert abs(out["tc"]) < 1e-9
        else:
            assert math.isclose(out["tc"], truth, rel_tol=rel)


def test_elbo_terms_rejects_a_single_point_and_a_bad_batch():
    model = GaussianDecoderModel(torch.eye(3), SCALE, 0.0)
    with pytest.raises(ValueError, match="at least 2 points"):
        elbo_terms(model, torch.zeros(1, 3), torch.Generator())
    with pytest.raises(ValueError, match="batch_size"):
        elbo_terms(model, torch.zeros(4, 3), torch.Generator(), batch_size=0)


def test_a_collapsed_dim_carries_tc_mean_and_the_active_dim_values_leave_it_out():
    # dims 0, 1: active and independent; dim 2: a collapsed code, μ_2 = 0.01 (x_0 + x_1) with
    # σ_2 = 1 — Var μ_2 = 2e-4 < 0.01 (Burda et al. 2016), yet it is a linear function of the
    # active means, so Prop. 1 on all dims is large while the active dims read 0
    mixing = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.01, 0.01, 0.0]])
    model = LinearGaussianEncoder(mixing, torch.tensor([0.1, 0.1, 1.0]))
    x = torch.randn(20_000, 3, generator=torch.Generator().manual_seed(15))
    out = gaussian_tc_diagnostics(model, x, torch.Generator().manual_seed(16))
    assert out["active_dims"] == 2
    assert out["tc_mean"] > 3  # the collapsed dim is (nearly) determined by the active ones
    assert abs(out["tc_mean_active"]) < 1e-3 and abs(out["tc_sample_active"]) < 1e-3
    assert out["tc_sample"] < 0.01  # its σ = 1 noise hides it from TC_sample


def test_dataset_total_correlation_is_the_tc_of_the_data_sets_aggregate_posterior():
    """With x ~ N(0, I), μ = A x and σ = s the aggregate posterior of many points is
    N(0, A Aᵀ + diag s²): its TC and between-group TC are Prop. 1's closed forms, and the
    within-group part is their difference."""
    from pyrodisent.diagnostics import dataset_total_correlation

    x = torch.randn(3000, 3, generator=torch.Generator().manual_seed(0))
    encoder = LinearGaussianEncoder(MIXING, SCALE)
    cov = (MIXING @ MIXING.T + torch.diag(SCALE**2)).double()
    tc = prop1(cov)
    # {0} vs {1, 2} carries most of the TC (dims 0 and 1 share A's first column); {0, 1} vs {2} little
    first = 0.5 * (cov[0, 0].log() + torch.logdet(cov[1:, 1:]) - torch.logdet(cov)).item()
    last = 0.5 * (torch.logdet(cov[:2, :2]) + cov[2, 2].log() - torch.logdet(cov)).item()
    assert tc == pytest.approx(0.197, abs=1e-3) and first == pytest.approx(0.192, abs=1e-3)
    assert last == pytest.approx(0.008, abs=1e-3)
    out = dataset_total_correlation(encoder, x, torch.Generator().manual_seed(1), groups=[1, 2], samples_per_posterior=2)
    assert out["tc"] == pytest.approx(tc, abs=0.02) and out["tc_joint"] == pytest.approx(first, abs=0.02)
    other = dataset_total_correlation(encoder, x, torch.Generator().manual_seed(1), groups=[2, 1], samples_per_posterior=2)
    assert other["tc"] == out["tc"] and other["tc_joint"] == pytest.approx(last, abs=0.02)
    assert out["tc_within"] == pytest.approx(out["tc"] - out["tc_joint"])
    assert set(encoder.seen_training_flags) == {False}  # encoded in eval mode
    # singleton groups: the between-group TC is the TC itself, from the same draws
    same = dataset_total_correlation(encoder, x[:500], torch.Generator().manual_seed(2), groups=[1, 1, 1])
    assert same["tc_joint"] == pytest.approx(same["tc"], abs=1e-9)
    # an independent code: ≈ 0 (the Monte-Carlo error of 3000 draws)
    independent = LinearGaussianEncoder(torch.diag(torch.tensor([1.0, 2.0, 0.5])), SCALE)
    assert abs(dataset_total_correlation(independent, x, torch.Generator().manual_seed(3))["tc"]) < 0.02
    with pytest.raises(ValueError, match="at least 2 points"):
        dataset_total_correlation(encoder, x[:1], torch.Generator())
