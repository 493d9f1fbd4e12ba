"""Grouped total correlation: β-STCVAE (Chen et al. 2022, eq. 9) and HFVAE (Esmaeili et al. 2019,
as Chen et al. 2022 write it in eq. 10).

The latent dims are split into groups g (contiguous blocks of ``grouping_factor`` i dims,
i | D, or explicit ``groups``), and TC splits exactly into a between-group and a within-group
part:

    TC(z) = TC_joint(z) + Σ_g TC(z_g),
    TC_joint = KL(q(z) ‖ Π_g q(z_g)),   TC(z_g) = KL(q(z_g) ‖ Π_{d∈g} q(z_d)).

The objectives (as losses) are

    β-STCVAE:  −E log p(x|z) + MI + β·TC_joint + DWKL                   (eq. 9, γ = 0)
    HFVAE:     −E log p(x|z) + MI + β·TC_joint + γ·Σ_g TC(z_g) + DWKL   (eq. 10)

The ELBO already holds KL = MI + TC_joint + Σ_g TC(z_g) + DWKL once, so this plugin adds,
per data point,

    (β − 1)·TC_joint + (γ − 1)·Σ_g TC(z_g)

(with γ = 0, the β-STCVAE default, the second term *removes* the within-group TC from the
loss). Grouping factor 1 makes every group a single dim: TC_joint = TC, Σ_g TC(z_g) = 0, and the
loss is β-TCVAE's −ELBO + (β − 1)·TC. All terms are minibatch estimates through log q̂(z), log
q̂(z_g) and log q̂(z_d) (``PosteriorBatch.kl_decomposition``, shared with ``tc`` in the same
ELBO) with the chosen weighting (docs/estimators.md): ``mss`` by default
(Chen et al. 2022, §3.3.1, train with stratified sampling; our ``mss`` has the corrected weights of
RTC-VAE, Cheng et al. 2020), ``is`` (HFVAE's and PDisVAE's, an anonymous ICLR submission), ``mws``,
``mss_chen_code``. True values (all constants kept) are logged as ``grouped_tc/tc_joint``,
``grouped_tc/tc_within``, ``grouped_tc/tc``, ``grouped_tc/mi`` and ``grouped_tc/dwkl``.
"""

from __future__ import annotations

import numbers

import torch

from pyrodisent import PosteriorBatch, Regularizer, check_weight, hookimpl
from pyrodisent.estimators import ESTIMATOR_METHODS, grouping_factor_groups, normalize_groups
from pyrodisent.validation import check_int


class GroupedTotalCorrelation(Regularizer):
    """β-STCVAE (Chen et al. 2022, eq. 9; ``gamma=0``, the default) and HFVAE (Esmaeili et al.
    2019, as Chen et al. 2022, eq. 10; ``gamma > 0``): β·TC_joint + γ·Σ_g TC(z_g) in the loss;
    see the module docstring.

    :param beta: weight of the between-group TC_joint (Chen et al. 2022 use β = 6 for β-TCVAE runs).
    :param grouping_factor: i, the size of each contiguous group; must divide the latent size.
    :param groups: explicit groups instead (sizes ``[2, 3, 1]`` or dim lists), for unequal groups.
    :param gamma: weight of the within-group TC Σ_g TC(z_g); 0 drops it (β-STCVAE).
    :param estimator: ``mss`` (default), ``is``, ``mws`` or ``mss_chen_code``.
    """

    name = "grouped_tc"

    def __init__(
        self,
        beta: float = 6.0,
        grouping_factor: int | None = 2,
        groups=None,
        gamma: float = 0.0,
        estimator: str = "mss",
    ):
        super().__init__()
        self.beta = check_weight("beta", beta)
        self.gamma = check_weight("gamma", gamma)
        if estimator not in ESTIMATOR_METHODS:
            raise ValueError(f"grouped_tc: estimator must be one of {ESTIMATOR_METHODS}, got {estimator!r}")
        self.estimator = estimator
        if groups is not None:
            self.grouping_factor = None
            self.groups = [list(g) if not isinstance(g, numbers.Integral) else int(g) for g in groups]
        else:
            try:
                self.grouping_factor = check_int("grouped_tc: grouping_factor", grouping_factor, 1)
            except ValueError as exc:
                raise ValueError(f"{exc}; it must divide the latent size (Chen et al. 2022: i | n)") from None
            self.groups = None
        self._hyperparameters = {
            "beta": self.beta,
            "gamma": self.gamma,
            "grouping_factor": self.grouping_factor,
            "groups": self.groups,
            "estimator": estimator,
        }

    def group_lists(self, latent_dim: int) -> list[list[int]]:
        """The groups for a latent of ``latent_dim`` dims (errors list the valid choices)."""
        if self.groups is not None:
            return normalize_groups(self.groups, latent_dim)
        return grouping_factor_groups(latent_dim, self.grouping_factor)

    def prepare(self, posterior: PosteriorBatch) -> None:
        posterior.request_aggregate(self.estimator, groups=self.group_lists(posterior.latent_dim), dims=True)

    def penalty(self, posterior: PosteriorBatch) -> dict[str, torch.Tensor]:
        kl = posterior.kl_decomposition(self.estimator, groups=self.group_lists(posterior.latent_dim))
        posterior.record("grouped_tc/tc_joint", kl["tc_joint"])
        posterior.record("grouped_tc/tc_within", kl["tc_within"])
        posterior.record("grouped_tc/tc", kl["tc"])
        posterior.record("grouped_tc/mi", kl["mi"])
        if "dwkl" in kl:  # not for a prior that does not factorize over dims
            posterior.record("grouped_tc/dwkl", kl["dwkl"])
        terms = {"tc_joint": (self.beta - 1.0) * kl["tc_joint"]}
        if self.gamma != 1.0:
            terms["tc_within"] = (self.gamma - 1.0) * kl["tc_within"]
        return terms


@hookimpl
def pyrodisent_regularizers():
    return {"grouped_tc": GroupedTotalCorrelation}
