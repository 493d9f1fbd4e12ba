"""DCI: disentanglement, completeness and informativeness (Eastwood & Williams 2018).

One predictor per factor k gives importances R[d, k] ≥ 0 of each code dimension d
(reference: sklearn ``GradientBoostingClassifier()`` with default parameters, R = |feature
importances|). With P_dk = R[d, k] / Σ_k R[d, k] and entropy H_K in base K (1e-11 added to
every entry, as the reference does):

    disentanglement  D = Σ_d ρ_d (1 − H_K(P_d·)),  ρ_d = Σ_k R[d, k] / Σ R
    completeness     C = Σ_k ρ_k (1 − H_D(P̃_·k)),  P̃_dk = R[d, k] / Σ_d R[d, k],  ρ_k = Σ_d R[d, k] / Σ R
    informativeness    = mean over factors of the predictor's accuracy (train and test)

Reference defaults (disentanglement_lib; Locatello et al. 2019): 10,000 train / 5,000 test points of
the mean representation. The boosted trees dominate the cost: the default fits the reference's
estimator with features presorted once per fit (:mod:`pyrodisent.metrics._gbt`, same trees as
sklearn up to its random tie-breaking between features); ``estimator="sklearn"`` runs
sklearn itself. Factors are fitted in parallel threads (``n_jobs``), which changes nothing.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.stats
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier

from pyrodisent.metrics._gbt import FastGradientBoostingClassifier
from pyrodisent.metrics.utils import (
    check_codes,
    check_factors,
    check_random_state,
    default_jobs,
    generate_train_test,
)
from pyrodisent.validation import check_int

NUM_TRAIN = 10_000
NUM_TEST = 5_000


ESTIMATORS = ("presorted", "sklearn")


def _fit_factor(x_train, y_train, x_test, y_test, seed, estimator):
    if estimator == "presorted":
        model = FastGradientBoostingClassifier(random_state=seed).fit(x_train, y_train)
    else:
        model = GradientBoostingClassifier(random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # sklearn's own criterion deprecation
            model.fit(x_train, y_train)
    importance = np.abs(model.feature_importances_)
    train_acc = np.mean(model.predict(x_train) == y_train)
    test_acc = np.mean(model.predict(x_test) == y_test)
    return importance, train_acc, test_acc


def gbt_importance_matrix(
    codes,
    factors,
    codes_test,
    factors_test,
    random_state,
    n_jobs: int | None = None,
    estimator: str = "presorted",
):
    """(R [D, K], mean train accuracy, mean test accuracy) with one boosted-tree classifier
    per factor (the reference's ``compute_importance_gbt``).

    ``estimator="sklearn"`` fits sklearn's ``GradientBoostingClassifier(random_state=...)``;
    ``"presorted"`` (default) the same algorithm from :mod:`pyrodisent.metrics._gbt`, 3-10×
    faster. Both give the same trees except where two features give the same best
    partition of a node: sklearn then picks by its random feature order (the reference runs it
    with ``random_state=None``, so the reference itself varies there), the presorted fit
    takes the lowest feature index.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    rs = check_random_state(random_state)
    seeds = rs.randint(np.iinfo(np.int32).max, size=factors.shape[1])
    for k in range(factors.shape[1]):
        if len(np.unique(factors[:, k])) < 2:
            raise ValueError(
                f"factor {k} has a single class in the training points; DCI needs >= 2"
            )
    jobs = default_jobs() if n_jobs is None else check_int("n_jobs", n_jobs, 1)
    results = Parallel(n_jobs=min(jobs, factors.shape[1]), prefer="threads")(
        delayed(_fit_factor)(
            codes, factors[:, k], codes_test, factors_test[:, k], int(seeds[k]), estimator
        )
        for k in range(factors.shape[1])
    )
    importance = np.stack([r[0] for r in results], axis=1)
    return (
        importance,
        float(np.mean([r[1] for r in results])),
        float(np.mean([r[2] for r in results])),
    )


def disentanglement_per_code(importance: np.ndarray) -> np.ndarray:
    """1 − H_K(P_d·) for each code dimension d (base K = number of factors)."""
    return 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])


def disentanglement(importance: np.ndarray) -> float:
    """D = Σ_d ρ_d (1 − H_K(P_d·)) with ρ_d the share of dimension d in the total importance."""
    importance = np.asarray(importance, dtype=np.float64)
    per_code = disentanglement_per_code(importance)
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    weight = importance.sum(axis=1) / importance.sum()
    return float(np.sum(per_code * weight))


def completeness_per_factor(importance: np.ndarray) -> np.ndarray:
    """1 − H_D(P̃_·k) for each factor k (base D = number of code dimensions): the
    disentanglement of the transposed importance matrix."""
    return disentanglement_per_code(np.asarray(importance).T)


def completeness(importance: np.ndarray) -> float:
    """C = Σ_k ρ_k (1 − H_D(P̃_·k)) with ρ_k the share of factor k in the total importance:
    D of the transposed importance matrix (factors and code dimensions swap roles)."""
    return disentanglement(np.asarray(importance, dtype=np.float64).T)


def dci_from_importance(importance) -> dict[str, float]:
    """Disentanglement and completeness of a given importance matrix R [D, K]."""
    importance = np.asarray(importance, dtype=np.float64)
    if importance.ndim != 2 or importance.shape[0] < 2 or importance.shape[1] < 2:
        raise ValueError(f"importance must be [D >= 2, K >= 2], got shape {importance.shape}")
    if np.any(importance < 0):
        raise ValueError("importance must be non-negative")
    return {
        "dci/disentanglement": disentanglement(importance),
        "dci/completeness": completeness(importance),
    }


def dci(
    codes,
    factors,
    codes_test=None,
    factors_test=None,
    random_state=0,
    test_size: float | None = None,
    n_jobs: int | None = None,
    estimator: str = "presorted",
) -> dict[str, float]:
    """DCI of precomputed codes [n, D] and factors [n, K] (train and test arrays, or
    ``test_size`` to split at random). Returns ``dci/disentanglement``,
    ``dci/completeness``, ``dci/informativeness_train``, ``dci/informativeness_test``.
    """
    rs = check_random_state(random_state)
    codes = check_codes(codes)
    factors = check_factors(factors, len(codes))
    if codes_test is None or factors_test is None:
        if test_size is None:
            raise ValueError("dci: pass codes_test and factors_test, or test_size")
        if not 0 < test_size < 1:
            raise ValueError(f"dci: test_size must be in (0, 1), got {test_size}")
        perm = rs.permutation(len(codes))
        n_test = round(test_size * len(codes))
        codes_test, factors_test = codes[perm[:n_test]], factors[perm[:n_test]]
        codes, factors = codes[perm[n_test:]], factors[perm[n_test:]]
    codes_test = check_codes(codes_test, "codes_test")
    factors_test = check_factors(factors_test, len(codes_test), "factors_test")
    if codes.shape[1] < 2 or factors.shape[1] < 2:
        raise ValueError(
            f"DCI needs >= 2 code dims and >= 2 factors, got {codes.shape[1]} and {factors.shape[1]}"
        )
    importance, train_acc, test_acc = gbt_importance_matrix(
        codes, factors, codes_test, factors_test, rs, n_jobs, estimator
    )
    scores = dci_from_importance(importance)
    scores["dci/informativeness_train"] = train_acc
    scores["dci/informativeness_test"] = test_acc
    return scores


def dci_score(
    representation,
    dataset,
    random_state,
    num_train: int = NUM_TRAIN,
    num_test: int = NUM_TEST,
    n_jobs: int | None = None,
    estimator: str = "presorted",
) -> dict[str, float]:
    """DCI of a representation: 10,000 train then 5,000 test points from one random stream,
    which then seeds the trees."""
    rs = check_random_state(random_state)
    codes, factors, codes_test, factors_test = generate_train_test(
        representation, dataset, num_train, num_test, rs
    )
    return dci(
        codes,
        factors,
        codes_test,
        factors_test,
        random_state=rs,
        n_jobs=n_jobs,
        estimator=estimator,
    )
