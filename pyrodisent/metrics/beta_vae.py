"""BetaVAE score (Higgins et al. 2017): accuracy of a linear classifier of the fixed factor.

One training point: pick a factor k uniformly; draw two batches of ``batch_size`` = 64
factor configurations, the second sharing factor k with the first row-wise; the feature is
the mean over the batch of |r(x¹) − r(x²)| (per code dimension) and the label is k. A
logistic regression (sklearn defaults, ``random_state`` passed) is fitted on the training
points; the score is its accuracy on the evaluation points.

Reference defaults (disentanglement_lib; Locatello et al. 2019): 64 pairs per point, 10,000 training
and 5,000 evaluation points.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from pyrodisent.metrics.utils import (
    ObservationFetcher,
    as_representation,
    check_random_state,
)
from pyrodisent.validation import check_int

BATCH_SIZE = 64
NUM_TRAIN = 10_000
NUM_EVAL = 5_000
_POINTS_PER_CALL = 32  # points whose observations are encoded in one call (no effect on numbers)


def beta_vae_points(representation, dataset, batch_size: int, num_points: int, random_state):
    """(features [n, D], labels [n]) — the reference's ``_generate_training_batch``."""
    rs = check_random_state(random_state)
    rep = as_representation(representation)
    features, labels = [], []
    fetcher = ObservationFetcher(dataset, rs)
    done = 0
    while done < num_points:
        chunk = min(_POINTS_PER_CALL, num_points - done)
        for _ in range(chunk):
            k = rs.randint(low=0, high=dataset.num_factors)
            factors1 = dataset.sample_factors(batch_size, rs)
            factors2 = dataset.sample_factors(batch_size, rs)
            factors2[:, k] = factors1[:, k]
            fetcher.add(factors1)
            fetcher.add(factors2)
            labels.append(k)
        codes = rep(fetcher.fetch()).reshape(chunk, 2, batch_size, -1)
        features.append(np.mean(np.abs(codes[:, 0] - codes[:, 1]), axis=1))
        done += chunk
    return np.concatenate(features), np.asarray(labels, dtype=np.int64)


def beta_vae_score(
    representation,
    dataset,
    random_state,
    batch_size: int = BATCH_SIZE,
    num_train: int = NUM_TRAIN,
    num_eval: int = NUM_EVAL,
) -> dict[str, float]:
    """BetaVAE score; returns ``beta_vae/train_accuracy`` and ``beta_vae/eval_accuracy`` (the score)."""
    rs = check_random_state(random_state)
    batch_size = check_int("batch_size", batch_size, 1)
    num_train = check_int("num_train", num_train, 2)
    num_eval = check_int("num_eval", num_eval, 1)
    x_train, y_train = beta_vae_points(representation, dataset, batch_size, num_train, rs)
    if len(np.unique(y_train)) < 2:
        raise ValueError("beta_vae: the training points hold a single factor; increase num_train")
    model = LogisticRegression(random_state=rs)
    with warnings.catch_warnings():
        # The reference fits with sklearn's defaults (lbfgs, max_iter=100) and gets the same
        # warning on unscaled codes; raising max_iter would change its scores.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    train_acc = float(np.mean(model.predict(x_train) == y_train))
    x_eval, y_eval = beta_vae_points(representation, dataset, batch_size, num_eval, rs)
    eval_acc = float(np.mean(model.predict(x_eval) == y_eval))
    return {"beta_vae/train_accuracy": train_acc, "beta_vae/eval_accuracy": eval_acc}
