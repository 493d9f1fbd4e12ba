"""PDisVAE: partial correlation between latent groups (eq. 3 of "A Revisit of Total Correlation
in Disentangled Variational Auto-Encoder with Partial Disentanglement", an anonymous ICLR
submission).

    L = (1/N) Σ_n ELBO(x_n) − β·PC,     PC = KL(q(z) ‖ Π_{g=1..G} q(z_g)),

so the loss is −ELBO + β·PC and this plugin adds β·PC per data point (PC is an extra term:
PDisVAE's β is the *extra* weight, unlike β-TCVAE's Chen-style β of the ``tc`` plugin; with G
singleton groups this is the ``tc`` plugin with beta = 1 + β). One group gives PC ≡ 0 (the
VAE). Groups may differ in size: give ``groups`` as sizes ``[2, 2, 3]`` or dim lists, or
``num_groups`` G and ``group_rank`` H for G groups of H dims (K = G × H, §4).
PC is estimated with importance sampling (``is``, eq. 4, unbiased with the lowest
variance, App. A.3) by default; β = 4 is the paper's setting (recommended range 2-10).
The true PC (all constants kept) is logged as ``pc/pc``. PC is the TC_joint of
``PosteriorBatch.kl_decomposition``; with ``tc`` in the same ELBO both come from one pass
over the pairwise densities.
"""

from __future__ import annotations

import numbers

import torch

from pyrodisent import PosteriorBatch, Regularizer, check_weight, hookimpl
from pyrodisent.estimators import ESTIMATOR_METHODS, normalize_groups
from pyrodisent.validation import check_int


class PartialCorrelation(Regularizer):
    """PDisVAE (an anonymous ICLR submission, eq. 3-4): −ELBO + β·PC, the partial correlation
    between latent groups; see the module docstring.

    :param beta: weight of PC (default 4).
    :param groups: group sizes or dim lists partitioning the latent dims; or
    :param num_groups, group_rank: G groups of H contiguous dims each.
    :param estimator: ``is`` (default), ``mss``, ``mws`` or ``mss_chen_code``.
    """

    name = "pc"

    def __init__(
        self,
        beta: float = 4.0,
        groups=None,
        num_groups: int | None = None,
        group_rank: int | None = None,
        estimator: str = "is",
    ):
        super().__init__()
        self.beta = check_weight("beta", beta)
        if estimator not in ESTIMATOR_METHODS:
            raise ValueError(f"pc: estimator must be one of {ESTIMATOR_METHODS}, got {estimator!r}")
        self.estimator = estimator
        if groups is not None:
            if num_groups is not None or group_rank is not None:
                raise ValueError("pc: give either groups or num_groups × group_rank, not both")
            groups = [int(g) if isinstance(g, numbers.Integral) else [int(d) for d in g] for g in groups]
            if all(isinstance(g, int) for g in groups):
                normalize_groups(groups, sum(groups))  # sizes must be positive
        elif num_groups is not None and group_rank is not None:
            G, H = check_int("pc: num_groups", num_groups, 1), check_int("pc: group_rank", group_rank, 1)
            groups = [H] * G
        else:
            raise ValueError(
                "pc: say which latent groups to make independent: groups=[sizes or dim lists], "
                "or num_groups=G with group_rank=H (PDisVAE: K = G × H)"
            )
        self.groups = groups
        self._hyperparameters = {"beta": self.beta, "groups": groups, "estimator": estimator}

    def group_lists(self, latent_dim: int) -> list[list[int]]:
        try:
            return normalize_groups(self.groups, latent_dim)
        except ValueError as exc:
            raise ValueError(f"pc: {exc}") from None

    def prepare(self, posterior: PosteriorBatch) -> None:
        posterior.request_aggregate(self.estimator, groups=self.group_lists(posterior.latent_dim), dims=False)

    def penalty(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        groups = self.group_lists(posterior.latent_dim)
        pc = posterior.kl_decomposition(self.estimator, groups=groups, dims=False)["tc_joint"]
        posterior.record("pc/pc", pc)
        return {"pc": self.beta * pc}


@hookimpl
def pyrodisent_regularizers():
    return {"pc": PartialCorrelation}
