"""FactorVAE score (Kim & Mnih 2018): accuracy of a majority-vote classifier.

One vote: pick a factor k uniformly, draw ``batch_size`` = 64 factor configurations that
share the value of factor k, encode them, divide each code dimension's variance in the batch
by its global variance, and vote (k, argmin over active dims). The classifier maps each
dimension to the factor with most votes; the score is the fraction of evaluation votes it
gets right.

Reference defaults (disentanglement_lib; Locatello et al. 2019): 10,000 points for the global
variances (ddof = 1), 64 per vote, 10,000 training and 5,000 evaluation votes, and a
dimension is active when its global standard deviation is ≥ 0.05 (the reference prunes on
√variance ≥ 0.05).
"""

from __future__ import annotations

import numpy as np

from pyrodisent.metrics.utils import (
    ObservationFetcher,
    as_representation,
    check_random_state,
)
from pyrodisent.validation import check_int

BATCH_SIZE = 64
NUM_TRAIN = 10_000
NUM_EVAL = 5_000
NUM_VARIANCE_ESTIMATE = 10_000
PRUNE_THRESHOLD = 0.05
_VOTES_PER_CALL = 64  # votes whose observations are encoded in one call (no effect on numbers)


def global_variances(representation, dataset, num_points: int, random_state) -> np.ndarray:
    """Var (ddof = 1) of each code dimension over ``num_points`` random observations."""
    rs = check_random_state(random_state)
    rep = as_representation(representation)
    factors = dataset.sample_factors(num_points, rs)
    codes = rep(dataset.sample_observations_from_factors(factors, rs))
    return np.var(codes, axis=0, ddof=1)


def _votes(rep, dataset, batch_size, num_votes, rs, variances, active) -> np.ndarray:
    """[K, D] vote counts (the reference's ``_generate_training_batch``)."""
    num_factors = dataset.num_factors
    votes = np.zeros((num_factors, variances.shape[0]), dtype=np.int64)
    fetcher = ObservationFetcher(dataset, rs)
    done = 0
    while done < num_votes:
        chunk = min(_VOTES_PER_CALL, num_votes - done)
        indices = []
        for _ in range(chunk):
            k = rs.randint(num_factors)
            factors = dataset.sample_factors(batch_size, rs)
            factors[:, k] = factors[0, k]
            indices.append(k)
            fetcher.add(factors)
        codes = rep(fetcher.fetch()).reshape(chunk, batch_size, -1)
        local = np.var(codes, axis=1, ddof=1)
        argmins = np.argmin(local[:, active] / variances[active], axis=1)
        np.add.at(votes, (np.asarray(indices), argmins), 1)
        done += chunk
    return votes


def factor_vae_votes_accuracy(
    train_votes: np.ndarray, eval_votes: np.ndarray
) -> tuple[float, float]:
    """Majority-vote classifier from ``train_votes`` [K, D]: (train accuracy, eval accuracy)."""
    classifier = np.argmax(train_votes, axis=0)
    cols = np.arange(train_votes.shape[1])
    train_acc = np.sum(train_votes[classifier, cols]) / np.sum(train_votes)
    eval_acc = np.sum(eval_votes[classifier, cols]) / np.sum(eval_votes)
    return float(train_acc), float(eval_acc)


def factor_vae_score(
    representation,
    dataset,
    random_state,
    batch_size: int = BATCH_SIZE,
    num_train: int = NUM_TRAIN,
    num_eval: int = NUM_EVAL,
    num_variance_estimate: int = NUM_VARIANCE_ESTIMATE,
    prune_threshold: float = PRUNE_THRESHOLD,
) -> dict[str, float]:
    """FactorVAE score of ``representation`` (x → codes, or a model) on a FactorDataset.

    Returns ``factor_vae/train_accuracy``, ``factor_vae/eval_accuracy`` (the score) and
    ``factor_vae/num_active_dims``.
    """
    rs = check_random_state(random_state)
    batch_size = check_int("batch_size", batch_size, 2)
    num_train = check_int("num_train", num_train, 1)
    num_eval = check_int("num_eval", num_eval, 1)
    num_variance_estimate = check_int("num_variance_estimate", num_variance_estimate, 2)
    if not prune_threshold >= 0:
        raise ValueError(f"prune_threshold must be >= 0, got {prune_threshold}")
    rep = as_representation(representation)
    variances = global_variances(rep, dataset, num_variance_estimate, rs)
    active = np.sqrt(variances) >= prune_threshold
    if not active.any():
        return {
            "factor_vae/train_accuracy": 0.0,
            "factor_vae/eval_accuracy": 0.0,
            "factor_vae/num_active_dims": 0.0,
        }
    train_votes = _votes(rep, dataset, batch_size, num_train, rs, variances, active)
    eval_votes = _votes(rep, dataset, batch_size, num_eval, rs, variances, active)
    train_acc, eval_acc = factor_vae_votes_accuracy(train_votes, eval_votes)
    return {
        "factor_vae/train_accuracy": train_acc,
        "factor_vae/eval_accuracy": eval_acc,
        "factor_vae/num_active_dims": float(active.sum()),
    }
