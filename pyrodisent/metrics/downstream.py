"""Downstream accuracy (Locatello et al. 2019, §5 "Are these disentangled representations
useful for downstream tasks?"): how well each factor can be predicted from the mean
representation with few labelled points.

For each training size n in (10, 100, 1000, 10000): n training points, then 5,000 test
points, from one random stream (the reference's order); one classifier per factor fitted on
the codes of the n points; its accuracy on the training and test points. Predictors, as the
reference's: ``"logistic_regression"`` = ``LogisticRegressionCV(Cs=10, cv=KFold(5))`` and
``"gradient_boosting"`` = ``GradientBoostingClassifier()`` (fitted by the presorted
implementation of :mod:`pyrodisent.metrics._gbt`, seeded: ties between splits are broken at
random, as sklearn's feature order does).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import KFold

from pyrodisent.metrics._gbt import FastGradientBoostingClassifier
from pyrodisent.metrics.utils import (
    check_codes,
    check_factors,
    check_random_state,
    generate_codes_and_factors,
)
from pyrodisent.validation import check_int

NUM_TRAIN = (10, 100, 1000, 10_000)
NUM_TEST = 5_000
PREDICTORS = ("logistic_regression", "gradient_boosting")


def _fit_predict(predictor: str, x, y, x_test, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if len(np.unique(y)) < 2:  # one class seen: the only sensible prediction
        return np.full(len(x), y[0]), np.full(len(x_test), y[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # classes missing from a CV fold (n = 10)
        warnings.simplefilter("ignore", FutureWarning)
        if predictor == "logistic_regression":
            model = LogisticRegressionCV(Cs=10, cv=KFold(n_splits=min(5, len(x)))).fit(x, y)
        else:
            model = FastGradientBoostingClassifier(random_state=seed).fit(x, y)  # ties broken at random
    return model.predict(x), model.predict(x_test)


def downstream_accuracy(codes, factors, codes_test, factors_test, predictor: str = "logistic_regression",
                        random_state=0) -> dict[str, float]:
    """Per-factor train and test accuracy of ``predictor`` on precomputed arrays; returns
    ``mean_train_accuracy``, ``mean_test_accuracy``, ``min_test_accuracy`` and
    ``test_accuracy_factor_k``."""
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {', '.join(PREDICTORS)}, got {predictor!r}")
    codes, codes_test = check_codes(codes), check_codes(codes_test, "codes_test")
    factors = check_factors(factors, len(codes))
    factors_test = check_factors(factors_test, len(codes_test), "factors_test")
    rs = check_random_state(random_state)
    train, test = [], []
    for k in range(factors.shape[1]):
        fit, pred = _fit_predict(predictor, codes, factors[:, k], codes_test, int(rs.randint(2**31 - 1)))
        train.append(float(np.mean(fit == factors[:, k])))
        test.append(float(np.mean(pred == factors_test[:, k])))
    out = {"mean_train_accuracy": float(np.mean(train)), "mean_test_accuracy": float(np.mean(test)),
           "min_test_accuracy": float(np.min(test))}
    out.update({f"test_accuracy_factor_{k}": value for k, value in enumerate(test)})
    return out


def downstream_score(
    representation,
    dataset,
    random_state,
    num_train: Sequence[int] = NUM_TRAIN,
    num_test: int = NUM_TEST,
    predictor: str = "logistic_regression",
) -> dict[str, float]:
    """Downstream accuracy for each training size: ``downstream/<n>/<score>``."""
    rs = check_random_state(random_state)
    num_test = check_int("num_test", num_test, 1)
    sizes = [check_int("num_train", n, 1) for n in (num_train if isinstance(num_train, (list, tuple)) else [num_train])]
    scores: dict[str, float] = {}
    for n in sizes:
        codes, factors = generate_codes_and_factors(representation, dataset, n, rs)
        codes_test, factors_test = generate_codes_and_factors(representation, dataset, num_test, rs)
        result = downstream_accuracy(codes, factors, codes_test, factors_test, predictor, rs)
        scores.update({f"downstream/{n}/{key}": value for key, value in result.items()})
    return scores
