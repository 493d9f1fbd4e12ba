"""PDisVAE's two scores of partial disentanglement, on data with known latents (PDisVAE §4.1).

* **Latent R² after group alignment** (§4.1, Fig. 2): :func:`pyrodisent.metrics.aligned_r2.best_alignment`
  — each true group fitted affinely from each estimated group, a linear-sum assignment, the
  mean matched R². A model with latent groups (PDisVAE) is scored on its own groups; a model
  without (VAE, ICA, β-TCVAE, ISA-VAE scored dim-wise) on the best of every partition of its
  dims into groups (post hoc, as the paper does: 15 groupings of 6 dims into 3 pairs).
* **PC on the test set** (§4.1): KL(q(z) ‖ Π_g q(z_g)) (eq. 3) of the aggregate posterior of the
  held-out points, over the same estimated groups — the model's own, or the grouping the
  alignment picked. The paper does not say which grouping it uses for methods without groups;
  the aligned one is the grouping it shows them in (Fig. 3c).

Both run on every point of the data set given (the held-out set: ``evaluate.test_data`` of a
sweep) when it has fewer than ``num_points``, else on a random subset without replacement —
the aggregate posterior of a resampled set with repeats would count points twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from pyrodisent.metrics.aligned_r2 import (
    _align,
    affine_residuals,
    best_alignment,
    factor_value_array,
)
from pyrodisent.metrics.mig import grouped_mig
from pyrodisent.metrics.partial_correlation import heldout_partial_correlation
from pyrodisent.metrics.utils import (
    as_representation,
    check_random_state,
    normalize_group_lists,
)
from pyrodisent.validation import check_int

NUM_POINTS = 2_000  # PDisVAE §4.1: the data set size


def true_latents(dataset) -> np.ndarray:
    """[N, K] true latents: ``dataset.latents`` (continuous, the synthetic sets) when present,
    else each factor's value (``factor_values``), else the factor classes."""
    latents = getattr(dataset, "latents", None)
    if latents is not None:
        return np.asarray(latents, dtype=np.float64)
    return factor_value_array(dataset, dataset.factors)


def partial_disentanglement(
    loc,
    scale,
    true,
    true_groups: Sequence,
    random_state,
    code_groups: Sequence | None = None,
    code_group_sizes: Sequence[int] | None = None,
    factors=None,
) -> dict[str, float]:
    """``aligned_r2`` (with each true group's matched R²), ``aligned_r2_any_grouping`` (the best
    partition of the code into groups of the same sizes, as for a model without groups; equal
    to ``aligned_r2`` when ``code_groups`` is None) and ``partial_correlation`` over the
    aligned estimated groups (nats) of a posterior N(loc, diag scale²) [M, D] against true
    latents [M, K]; with integer ``factors`` [M, F] also ``aligned_mse`` and ``grouped_mig``."""
    rs = check_random_state(random_state)
    loc = np.asarray(loc, dtype=np.float64)
    score, matrix, grouping = best_alignment(loc, true, true_groups, code_groups, code_group_sizes)
    rows, cols, _ = _align(matrix)
    out: dict[str, float] = {"aligned_r2": score}
    for r, c in zip(rows, cols):
        out[f"aligned_r2/group_{r}"] = float(matrix[r, c])
    if code_groups is not None:
        # the score the same code gets with the post-hoc search the ungrouped methods get:
        # tells a model that found the true groups across its own groups from one that did not
        sizes = [len(g) for g in normalize_group_lists(code_groups, loc.shape[1])]
        out["aligned_r2_any_grouping"] = best_alignment(loc, true, true_groups, None, sizes)[0]
    else:
        out["aligned_r2_any_grouping"] = score
    out.update(heldout_partial_correlation(loc, scale, grouping, rs))
    if factors is not None:
        true = np.asarray(true, dtype=np.float64)
        tg = normalize_group_lists(true_groups, true.shape[1])
        residuals = np.concatenate([affine_residuals(loc[:, grouping[c]], true[:, tg[r]]) for r, c in zip(rows, cols)], 1)
        out["aligned_mse"] = float(np.mean(residuals**2))
        if len(grouping) >= 2:
            out["grouped_mig"] = grouped_mig(loc, factors, grouping, estimator="histogram")["grouped_mig"]
    return out


def partial_disentanglement_score(
    representation,
    dataset,
    random_state,
    true_groups: Sequence | None = None,
    code_groups: Sequence | None = None,
    code_group_sizes: Sequence[int] | None = None,
    num_points: int = NUM_POINTS,
) -> dict[str, float]:
    """:func:`partial_disentanglement` of a model on ``dataset`` (module docstring).

    ``true_groups`` defaults to ``dataset.groups`` (the synthetic sets define it), else one
    group per latent.
    """
    rs = check_random_state(random_state)
    rep = as_representation(representation)
    true = true_latents(dataset)
    n = min(check_int("num_points", num_points, 2), len(true))
    index = np.arange(len(true)) if n == len(true) else np.sort(rs.choice(len(true), n, replace=False))
    loc, scale = rep.posterior(dataset.batch_to_float(dataset.images[torch.as_tensor(index)]))
    if true_groups is None:
        true_groups = getattr(dataset, "groups", None) or [1] * true.shape[1]
    factors = None if dataset.factors is None else np.asarray(dataset.factors)[index]
    return partial_disentanglement(loc, scale, true[index], true_groups, rs, code_groups, code_group_sizes, factors)
