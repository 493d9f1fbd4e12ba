"""Model/guide pairs: ``VAE`` and ``DeVAE`` here; further models come from the ``models`` registry."""

from pyrodisent.models.devae import DeVAE
from pyrodisent.models.networks import ENCODERS, build_networks
from pyrodisent.models.vae import LIKELIHOODS, VAE

__all__ = ["ENCODERS", "LIKELIHOODS", "DeVAE", "VAE", "build_networks"]
