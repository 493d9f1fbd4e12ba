"""Modularity and explicitness (Ridgeway & Mozer 2018).

Modularity, from the [D, K] plug-in mutual information m (codes in 20 equal-width bins):

    δ_d = Σ_{k ≠ k*} m_dk² / (m_dk*² (K − 1)),   k* = argmax_k m_dk
    modularity = mean_d (1 − δ_d),   with 1 − δ_d := 0 where m_dk* = 0

Explicitness: per factor, a logistic regression (sklearn defaults) on the standardized codes
(train mean and standard deviation); its one-vs-rest ROC-AUC, macro-averaged over classes;
the score is the mean over factors (train and test).

Reference defaults (disentanglement_lib; Locatello et al. 2019): 10,000 train / 5,000 test points.
"""

from __future__ import annotations

import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from pyrodisent.metrics.utils import (
    NUM_BINS,
    check_codes,
    check_factors,
    default_jobs,
    discrete_mutual_information,
    generate_train_test,
    histogram_discretize,
)

NUM_TRAIN = 10_000
NUM_TEST = 5_000


def modularity_from_mi(mutual_information) -> float:
    """Ridgeway & Mozer's modularity of a [D, K] mutual-information matrix."""
    mi = np.asarray(mutual_information, dtype=np.float64)
    if mi.ndim != 2 or mi.shape[1] < 2:
        raise ValueError(f"mutual_information must be [D, K >= 2], got shape {mi.shape}")
    squared = mi**2
    top = squared.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (squared.sum(axis=1) - top) / (top * (squared.shape[1] - 1.0))
        per_code = 1.0 - delta
    per_code[top == 0.0] = 0.0
    return float(np.mean(per_code))


def _one_hot(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return (labels[:, None] == classes[None, :]).astype(np.int64)


def _explicitness_factor(x_train, y_train, x_test, y_test) -> tuple[float, float]:
    clf = LogisticRegression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, y_train)
    classes = clf.classes_
    auc_train = roc_auc_score(_one_hot(y_train, classes), clf.predict_proba(x_train))
    present = [c in set(np.unique(y_test)) for c in classes]
    if all(present):
        auc_test = roc_auc_score(_one_hot(y_test, classes), clf.predict_proba(x_test))
    else:  # a class absent from the test points has no ROC curve: average over the others
        cols = np.flatnonzero(present)
        auc_test = roc_auc_score(
            _one_hot(y_test, classes)[:, cols], clf.predict_proba(x_test)[:, cols]
        )
    return float(auc_train), float(auc_test)


def modularity_explicitness(
    codes, factors, codes_test, factors_test, num_bins: int = NUM_BINS
) -> dict[str, float]:
    """Modularity (train points) and explicitness (train / test ROC-AUC) of precomputed arrays."""
    codes = check_codes(codes)
    factors = check_factors(factors, len(codes))
    codes_test = check_codes(codes_test, "codes_test")
    factors_test = check_factors(factors_test, len(codes_test), "factors_test")
    mi = discrete_mutual_information(histogram_discretize(codes, num_bins), factors)
    scores = {"modularity": modularity_from_mi(mi)}
    mean, std = codes.mean(axis=0), codes.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # the reference divides by 0 here; a constant dim stays 0
    x_train, x_test = (codes - mean) / std, (codes_test - mean) / std
    for k in range(factors.shape[1]):
        if len(np.unique(factors[:, k])) < 2:
            raise ValueError(
                f"factor {k} has a single class in the training points; explicitness needs >= 2"
            )
    aucs = np.asarray(
        Parallel(n_jobs=min(default_jobs(), factors.shape[1]), prefer="threads")(
            delayed(_explicitness_factor)(x_train, factors[:, k], x_test, factors_test[:, k])
            for k in range(factors.shape[1])
        )
    )
    scores["explicitness_train"] = float(aucs[:, 0].mean())
    scores["explicitness_test"] = float(aucs[:, 1].mean())
    return scores


def modularity_explicitness_score(
    representation,
    dataset,
    random_state,
    num_train: int = NUM_TRAIN,
    num_test: int = NUM_TEST,
    num_bins: int = NUM_BINS,
) -> dict[str, float]:
    """Modularity and explicitness of a representation (10,000 train / 5,000 test points)."""
    codes, factors, codes_test, factors_test = generate_train_test(
        representation, dataset, num_train, num_test, random_state
    )
    return modularity_explicitness(codes, factors, codes_test, factors_test, num_bins)
