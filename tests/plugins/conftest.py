"""Shared by the estimator-based plugin tests (pc, grouped_tc)."""

import pytest
import torch

from pyrodisent.models import VAE


@pytest.fixture
def vae_and_batch():
    """A small MLP VAE (D = 6, 12 × 12 inputs) and a fixed binary batch of 32."""
    torch.manual_seed(0)
    vae = VAE((1, 12, 12), latent_dim=6, encoder="mlp", hidden_width=32)
    x = (torch.rand(32, 1, 12, 12) > 0.5).float()
    return vae, x
