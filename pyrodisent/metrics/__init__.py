"""Disentanglement metrics with the community reference's defaults (docs/metrics.md).

Per model, two levels, each returning a ``dict`` of named floats, and one metric per group of models:

- on precomputed arrays: :func:`mig`, :func:`grouped_mig`, :func:`sap`, :func:`dci`,
  :func:`modularity_explicitness`, :func:`gaussian_tc`, :func:`tc_mean_sample`,
  :func:`heldout_partial_correlation`, :func:`aligned_r2`, :func:`partial_disentanglement`, :func:`omniscient_latents`,
  :func:`active_units`, :func:`latent_mi` (``codes`` [n, D], integer ``factors`` [n, K]);
- on a representation and a :class:`~pyrodisent.data.FactorDataset`, drawing points with
  the reference counts: the ``*_score`` functions, :func:`factor_vae_score` and
  :func:`beta_vae_score` (these two need interventions on the factors), all registered by
  name in the ``metrics`` plugin registry (``plugins/metrics.py``) with the signature
  ``function(representation, dataset, random_state, **options)``;
- over models trained with the same hyper-parameters and different seeds, UDR (Duan et al.
  2020): :func:`udr` on their posteriors, :func:`udr_score` on the models, both returning
  :class:`UDRScores` (not in the registry, which scores one model; ``pyrodisent report --udr``).

A *representation* is a model with ``encode(x) -> (loc, scale)`` (the mean ``loc`` is used,
as in the reference; ``Representation(model.encode, sampled=True, generator=g)`` uses
z ~ q(z|x)), or any callable ``x -> codes``.

:func:`evaluate_metrics` runs several by name (the engine calls it during training with
``fast=True``); :func:`pyrodisent.metrics.evaluate.evaluate_run` is ``pyrodisent evaluate``.
"""

from pyrodisent.metrics.active_units import active_units, active_units_score
from pyrodisent.metrics.aligned_r2 import (
    aligned_r2,
    aligned_r2_score,
    best_alignment,
    r2_alignment_matrix,
)
from pyrodisent.metrics.beta_vae import beta_vae_score
from pyrodisent.metrics.dci import dci, dci_from_importance, dci_score
from pyrodisent.metrics.downstream import downstream_accuracy, downstream_score
from pyrodisent.metrics.evaluate import (
    BUILTIN_METRICS,
    DEFAULT_METRICS,
    FAST_OPTIONS,
    evaluate_metrics,
    evaluate_run,
)
from pyrodisent.metrics.factor_vae import factor_vae_score
from pyrodisent.metrics.gaussian_tc import gaussian_tc, gaussian_tc_score, tc_mean_sample
from pyrodisent.metrics.irs import irs, irs_matrix, irs_score
from pyrodisent.metrics.latent_mi import latent_mi, latent_mi_matrix, latent_mi_score
from pyrodisent.metrics.mig import (
    grouped_mig,
    grouped_mig_posterior,
    grouped_mig_score,
    mig,
    mig_chen,
    mig_chen_score,
    mig_score,
    mutual_information_matrix,
    tree_mutual_information,
)
from pyrodisent.metrics.modularity import modularity_explicitness, modularity_explicitness_score
from pyrodisent.metrics.omniscient import omniscient_latents, omniscient_score
from pyrodisent.metrics.partial_correlation import (
    heldout_partial_correlation,
    partial_correlation_score,
)
from pyrodisent.metrics.partial_disentanglement import (
    partial_disentanglement,
    partial_disentanglement_score,
    true_latents,
)
from pyrodisent.metrics.sap import sap, sap_score
from pyrodisent.metrics.udr import UDRScores, pairwise_udr, udr, udr_score
from pyrodisent.metrics.utils import Representation

__all__ = [
    "BUILTIN_METRICS",
    "DEFAULT_METRICS",
    "FAST_OPTIONS",
    "Representation",
    "UDRScores",
    "active_units",
    "active_units_score",
    "aligned_r2",
    "aligned_r2_score",
    "best_alignment",
    "partial_disentanglement",
    "partial_disentanglement_score",
    "true_latents",
    "beta_vae_score",
    "dci",
    "dci_from_importance",
    "dci_score",
    "evaluate_metrics",
    "evaluate_run",
    "factor_vae_score",
    "gaussian_tc",
    "gaussian_tc_score",
    "grouped_mig",
    "grouped_mig_posterior",
    "grouped_mig_score",
    "mig_chen",
    "irs",
    "downstream_accuracy",
    "downstream_score",
    "irs_matrix",
    "irs_score",
    "mig_chen_score",
    "tree_mutual_information",
    "heldout_partial_correlation",
    "latent_mi",
    "latent_mi_matrix",
    "latent_mi_score",
    "mig",
    "mig_score",
    "modularity_explicitness",
    "modularity_explicitness_score",
    "mutual_information_matrix",
    "omniscient_latents",
    "omniscient_score",
    "pairwise_udr",
    "partial_correlation_score",
    "r2_alignment_matrix",
    "sap",
    "sap_score",
    "tc_mean_sample",
    "udr",
    "udr_score",
]
