"""pyrodisent's built-in plugins (package ``pyrodisent_plugins``).

Each module is registered through the ``pyrodisent`` entry-point group, the same way a
third-party package registers its own, and uses only the public hook API.

The methods by paper (the README's table): β-VAE → ``beta_vae``; AnnealedVAE (Burgess et al.
2018) → ``annealed_vae``; β-TCVAE (Chen et al. 2018) → ``tc``; FactorVAE (Kim & Mnih 2018) →
``discriminator``; InfoGAN's adversarial part (Chen et al. 2016) → ``gan``; DIP-VAE (Kumar et al. 2018) → ``dip``; HFVAE (Esmaeili et al. 2019) and
β-STCVAE (Chen et al. 2022) → ``grouped_tc``; RTC-VAE (Cheng et al. 2020) → ``variance``;
PDisVAE → ``pc``; the logcosh (nonlinear ICA) and L^p-nested (ISA-VAE, Stühmer et al. 2020)
priors → ``priors``; the VAE, DeVAE, Ada-GVAE/ML-VAE and InfoGAN models → ``models``; data sets → ``datasets``; metrics →
``metrics``. The correlated-noise guide (Yang et al. 2020) is the VAE option ``guide: correlated``.
"""
