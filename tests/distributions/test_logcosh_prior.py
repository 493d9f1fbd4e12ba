"""The logcosh prior (PDisVAE, an anonymous ICLR submission, §2.2) is Logistic(0, √3/π): unit
variance, sech² density."""

import math

import pytest
import torch
from scipy import integrate

from pyrodisent.distributions import LOGCOSH_SCALE, logcosh_log_density, logcosh_prior


def _sech2_density(z: float) -> float:
    """π sech²(π z / (2√3)) / (4√3), written out as in PDisVAE, §2.2."""
    return math.pi / (4 * math.sqrt(3)) / math.cosh(math.pi * z / (2 * math.sqrt(3))) ** 2


def test_log_prob_equals_the_sech_squared_formula():
    prior = logcosh_prior(3)
    z = torch.linspace(-8, 8, 301, dtype=torch.float32)
    zz = z[:, None].expand(-1, 3)
    per_dim = prior.base_dist.log_prob(zz)
    expected = torch.tensor([math.log(_sech2_density(float(v))) for v in z])
    assert torch.allclose(per_dim[:, 0], expected, atol=1e-5)
    assert torch.allclose(prior.log_prob(zz), 3 * expected, atol=3e-5)
    assert torch.allclose(logcosh_log_density(z.double()), expected.double(), atol=1e-6)


def test_density_integrates_to_one_with_unit_variance():
    mass, _ = integrate.quad(_sech2_density, -80, 80, limit=200)
    var, _ = integrate.quad(lambda z: z * z * _sech2_density(z), -80, 80, limit=200)
    assert mass == pytest.approx(1.0, abs=1e-9)
    assert var == pytest.approx(1.0, abs=1e-9)
    prior = logcosh_prior(4)
    assert torch.allclose(prior.variance, torch.ones(4))
    assert LOGCOSH_SCALE == pytest.approx(math.sqrt(3) / math.pi)


def test_samples_have_unit_variance_and_the_logistic_kurtosis():
    torch.manual_seed(0)
    z = logcosh_prior(4).sample((200_000,)).double()
    assert (z.var(0) - 1).abs().max() < 0.02
    # excess kurtosis of the logistic law is 6/5: heavier tails than a Gaussian (0)
    kurt = (z**4).mean(0) / z.var(0) ** 2 - 3
    assert (kurt - 1.2).abs().max() < 0.15


def test_bad_latent_dim_is_rejected():
    with pytest.raises(ValueError, match="latent_dim"):
        logcosh_prior(0)
