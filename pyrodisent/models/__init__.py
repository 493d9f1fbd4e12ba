"""Model/guide pairs: ``VAE``, ``DeVAE``, ``AdaGVAE`` and ``AdaMLVAE`` here; further models come
from the ``models`` registry."""

from pyrodisent.models.devae import DeVAE
from pyrodisent.models.networks import ENCODERS, build_networks
from pyrodisent.models.vae import LIKELIHOODS, VAE
from pyrodisent.models.weak import AdaGVAE, AdaMLVAE

__all__ = ["ENCODERS", "LIKELIHOODS", "AdaGVAE", "AdaMLVAE", "DeVAE", "VAE", "build_networks"]
