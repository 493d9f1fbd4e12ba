"""Separated attribute predictability (SAP, Kumar et al. 2018; RTC-VAE, Cheng et al. 2020, §6.4).

    S[d, k] = predictability of factor k from code dimension d alone
    SAP     = 1/K Σ_k (S_(1)k − S_(2)k)          (top score minus second score per factor)

Reference defaults (disentanglement_lib; Locatello et al. 2019): 10,000 train / 5,000 test points;
for discrete factors S[d, k] is the test accuracy of ``LinearSVC(C=0.01,
class_weight="balanced")`` fitted on the single dimension d; for continuous factors it is
the squared correlation (the R² of a one-dimensional linear fit) on the training points,
and 0 for a dimension of variance ≤ 1e-12.
"""

from __future__ import annotations

import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from pyrodisent.metrics.utils import (
    check_codes,
    check_factors,
    check_random_state,
    default_jobs,
    generate_train_test,
    top_two_gap,
)
from pyrodisent.validation import check_int

NUM_TRAIN = 10_000
NUM_TEST = 5_000
SVC_C = 0.01


def _r2_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """cov(z_d, v_k)² / (var z_d · var v_k), ddof = 1, 0 where var z_d ≤ 1e-12."""
    z = codes - codes.mean(0)
    v = factors - factors.mean(0)
    n = len(codes) - 1
    cov = z.T @ v / n
    var_z = (z * z).sum(0) / n
    var_v = (v * v).sum(0) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov**2 / (var_z[:, None] * var_v[None, :])
    out[var_z <= 1e-12, :] = 0.0
    return np.nan_to_num(out)


def _accuracy(z, y, z_test, y_test) -> float:
    # dual=True is the liblinear solver the reference used (sklearn's old default).
    clf = LinearSVC(C=SVC_C, class_weight="balanced", dual=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(z[:, None], y)
    return float(np.mean(clf.predict(z_test[:, None]) == y_test))


def _accuracy_matrix(
    codes, factors, codes_test, factors_test, n_jobs: int | None = None
) -> np.ndarray:
    for k in range(factors.shape[1]):
        if len(np.unique(factors[:, k])) < 2:
            raise ValueError(
                f"factor {k} has a single class in the training points; SAP needs >= 2"
            )
    pairs = [(d, k) for d in range(codes.shape[1]) for k in range(factors.shape[1])]
    jobs = default_jobs() if n_jobs is None else check_int("n_jobs", n_jobs, 1)
    values = Parallel(n_jobs=jobs, prefer="threads")(
        delayed(_accuracy)(codes[:, d], factors[:, k], codes_test[:, d], factors_test[:, k])
        for d, k in pairs
    )
    return np.array(values).reshape(codes.shape[1], factors.shape[1])


def sap_matrix(
    codes, factors, codes_test=None, factors_test=None, continuous_factors: bool = False
) -> np.ndarray:
    """[D, K] predictability matrix S of :func:`sap`."""
    codes = check_codes(codes)
    if continuous_factors:
        factors = np.asarray(factors, dtype=np.float64)
        if factors.ndim == 1:
            factors = factors[:, None]
        return _r2_matrix(codes, factors)
    factors = check_factors(factors, len(codes))
    if codes_test is None or factors_test is None:
        raise ValueError(
            "discrete SAP needs codes_test and factors_test (or call sap with test_size)"
        )
    codes_test = check_codes(codes_test, "codes_test")
    factors_test = check_factors(factors_test, len(codes_test), "factors_test")
    return _accuracy_matrix(codes, factors, codes_test, factors_test)


def sap(
    codes,
    factors,
    codes_test=None,
    factors_test=None,
    continuous_factors: bool = False,
    test_size: float | None = None,
    random_state=None,
) -> dict[str, float]:
    """SAP of precomputed codes [n, D] and factors [n, K].

    Pass the reference's separate test arrays, or ``test_size`` (a fraction) and
    ``random_state`` to split ``codes``/``factors`` at random. Returns ``{"sap": ...,
    "sap/factor_k": gap}``.
    """
    codes = check_codes(codes)
    if not continuous_factors and codes_test is None:
        if test_size is None:
            raise ValueError(
                "sap: pass codes_test and factors_test, or test_size with random_state"
            )
        if not 0 < test_size < 1:
            raise ValueError(f"sap: test_size must be in (0, 1), got {test_size}")
        rs = check_random_state(random_state)
        perm = rs.permutation(len(codes))
        n_test = round(test_size * len(codes))
        factors = np.asarray(factors)
        codes_test, factors_test = codes[perm[:n_test]], factors[perm[:n_test]]
        codes, factors = codes[perm[n_test:]], factors[perm[n_test:]]
    if codes.shape[1] < 2:
        raise ValueError(f"SAP needs at least 2 code dimensions, got {codes.shape[1]}")
    matrix = sap_matrix(codes, factors, codes_test, factors_test, continuous_factors)
    gaps = top_two_gap(matrix)
    scores = {"sap": float(np.mean(gaps))}
    scores.update({f"sap/factor_{k}": float(g) for k, g in enumerate(gaps)})
    return scores


def sap_score(
    representation,
    dataset,
    random_state,
    num_train: int = NUM_TRAIN,
    num_test: int = NUM_TEST,
    continuous_factors: bool = False,
) -> dict[str, float]:
    """SAP of a representation: 10,000 train then 5,000 test points from one random stream."""
    codes, factors, codes_test, factors_test = generate_train_test(
        representation, dataset, num_train, num_test, random_state
    )
    return sap(codes, factors, codes_test, factors_test, continuous_factors=continuous_factors)
