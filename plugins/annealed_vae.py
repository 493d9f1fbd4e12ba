"""AnnealedVAE (Burgess et al. 2018, "Understanding disentangling in β-VAE", eq. 8):

    loss = −E_q log p(x | z) + γ · |KL(q(z | x) ‖ p(z)) − C|,   C = c_max · min(1, t / T)

a capacity C (nats) raised linearly from 0 to ``c_max`` over the first ``iterations`` training
steps t, with γ large so the KL tracks C. As in disentanglement_lib (``annealed_vae``), the
absolute value is taken of the *batch mean* KL. The ELBO already holds KL once, so the plugin
adds γ·|mean KL − C| − mean KL per data point. C follows the ELBO's step counter, which is in
every checkpoint, so a resumed run continues the schedule where it stopped. Logged:
``annealed_vae/kl`` (the batch mean KL) and ``annealed_vae/capacity`` (C).

Defaults are disentanglement_lib's (Locatello et al. 2019): γ = 1000, c_max = 25 of its grid
{5, 10, 25, 50, 75, 100}, T = 100,000 steps.
"""

from __future__ import annotations

import torch

from pyrodisent import PosteriorBatch, Regularizer, check_weight, hookimpl
from pyrodisent.validation import check_int


class AnnealedVAE(Regularizer):
    """AnnealedVAE (Burgess et al. 2018, eq. 8): γ·|KL − C| with a linear capacity schedule."""

    name = "annealed_vae"

    def __init__(self, gamma: float = 1000.0, c_max: float = 25.0, iterations: int = 100_000):
        super().__init__()
        self.gamma = check_weight("gamma", gamma)
        self.c_max = check_weight("c_max", c_max)
        self.iterations = check_int("annealed_vae: iterations (steps)", iterations, 1)
        self._hyperparameters = {"gamma": self.gamma, "c_max": self.c_max, "iterations": iterations}

    def capacity(self, step: int | torch.Tensor) -> float | torch.Tensor:
        """C at training step ``step``: c_max · min(1, step / iterations); a tensor for a
        tensor step (inside a compiled step the counter is a 0-d tensor, pyrodisent.compiled)."""
        if torch.is_tensor(step):
            return self.c_max * torch.clamp(step.double() / self.iterations, max=1.0)  # float64, as Python's
        return self.c_max * min(1.0, step / self.iterations)

    def penalty(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        kl = posterior.kl().mean()
        c = torch.as_tensor(self.capacity(posterior.step), dtype=kl.dtype, device=kl.device)
        posterior.record("annealed_vae/kl", kl)
        posterior.record("annealed_vae/capacity", c)
        return {"capacity": self.gamma * (kl - c).abs() - kl}


@hookimpl
def pyrodisent_regularizers():
    return {"annealed_vae": AnnealedVAE}
