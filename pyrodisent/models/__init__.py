"""Model/guide pairs. ``VAE`` here; further models come from the ``models`` registry."""

from pyrodisent.models.networks import ENCODERS, build_networks
from pyrodisent.models.vae import LIKELIHOODS, VAE

__all__ = ["ENCODERS", "LIKELIHOODS", "VAE", "build_networks"]
