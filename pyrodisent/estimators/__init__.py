"""Aggregate-posterior estimators: pure tensor functions, usable outside Pyro.

Total correlation (TC, Watanabe; β-TCVAE), partial correlation (PC; PDisVAE, an anonymous
ICLR submission, eq. 3), the grouped TC_joint / within-group TC of β-STCVAE (Chen et al. 2022)
and the KL decomposition terms are all differences of minibatch estimates of log q(z) and of
its marginals (docs/estimators.md):

- :mod:`.weights` — the weightings ``mws``, ``mss`` (MSS1, corrected by RTC-VAE: Cheng et al.
  2020), ``mss_chen_code`` (MSS0) and ``is`` (PDisVAE, eq. 4), and PDisVAE's variance comparison;
- :mod:`.families` — diagonal, equicorrelated (Yang et al. 2020, the mutual-information paper)
  and full-covariance Gaussian posteriors, and the one place their pairwise densities are
  formed (the float64 expansion of the quadratic form); every estimator takes a
  :class:`GaussianFamily` (``batch_log_aggregate``, ``family_total_correlation``, ...), and
  the keyword forms ``(z, loc, scale, ..., scale_tril=, rho=)`` turn theirs into one with
  :func:`batch_family`;
- :mod:`.aggregate` — log q̂(z), log q̂(z_d), log q̂(z_g) without the [M, M, D] tensor;
- :mod:`.terms` — TC, PC, TC_joint, TC_within, MI, DWKL (one function, :func:`kl_decomposition`);
- :mod:`.gaussian` — closed-form Gaussian TC (Cheng et al. 2020, Prop. 1), TC_mean / TC_sample;
- :mod:`.montecarlo` — the Monte-Carlo TC of Yang et al. 2020, App. D;
- :mod:`.decomposition` — the TC decomposition paths of Chen et al. 2022, §3.2-3.4;
- :mod:`.discrete` — exact TC / PC / MI of probability tables (PDisVAE, Table 2's XOR).
"""

from __future__ import annotations

from pyrodisent.estimators.aggregate import (
    AggregateLogDensities,
    aggregate_log_densities,
    aggregate_log_densities_multi,
    batch_log_aggregate,
    batch_log_aggregate_subsets,
    grouping_factor_groups,
    log_aggregate_posterior,
    log_aggregate_posterior_naive,
    log_aggregate_subsets,
    normalize_groups,
)
from pyrodisent.estimators.decomposition import (
    TC_PATHS,
    TCPath,
    gaussian_tc_decomposition,
    tc_decomposition,
    tc_path,
)
from pyrodisent.estimators.discrete import (
    discrete_mutual_information,
    discrete_partial_correlation,
    discrete_total_correlation,
    xor_table,
)
from pyrodisent.estimators.families import (
    GaussianFamily,
    UnsupportedPosteriorError,
    batch_family,
    make_family,
    posterior_family,
)
from pyrodisent.estimators.gaussian import (
    equicorrelation_matrix,
    fitted_gaussian_total_correlation,
    gaussian_mutual_information,
    gaussian_total_correlation,
)
from pyrodisent.estimators.montecarlo import (
    family_monte_carlo_total_correlation,
    monte_carlo_total_correlation,
)
from pyrodisent.estimators.terms import (
    family_total_correlation,
    kl_decomposition,
    kl_decomposition_terms,
    partial_correlation,
    total_correlation,
)
from pyrodisent.estimators.weights import (
    ESTIMATOR_METHODS,
    inverse_weight_dataset,
    inverse_weight_variance,
    log_importance_weights,
)

__all__ = [
    "ESTIMATOR_METHODS",
    "TC_PATHS",
    "AggregateLogDensities",
    "GaussianFamily",
    "TCPath",
    "UnsupportedPosteriorError",
    "aggregate_log_densities",
    "aggregate_log_densities_multi",
    "batch_family",
    "batch_log_aggregate",
    "batch_log_aggregate_subsets",
    "discrete_mutual_information",
    "discrete_partial_correlation",
    "discrete_total_correlation",
    "equicorrelation_matrix",
    "family_monte_carlo_total_correlation",
    "family_total_correlation",
    "fitted_gaussian_total_correlation",
    "gaussian_mutual_information",
    "gaussian_tc_decomposition",
    "gaussian_total_correlation",
    "grouping_factor_groups",
    "inverse_weight_dataset",
    "inverse_weight_variance",
    "kl_decomposition",
    "kl_decomposition_terms",
    "log_aggregate_posterior",
    "log_aggregate_posterior_naive",
    "log_aggregate_subsets",
    "log_importance_weights",
    "make_family",
    "monte_carlo_total_correlation",
    "normalize_groups",
    "partial_correlation",
    "posterior_family",
    "tc_decomposition",
    "tc_path",
    "total_correlation",
    "xor_table",
]
