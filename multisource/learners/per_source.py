"""One model per source, for the aggregation baselines: fit, predict aligned probabilities, read linear logits.

Parameters of linear models are compared in one space across sources: the ``(K, d + 1)`` matrix of
softmax logits ``[W | b]``, centred over classes (softmax is invariant to a common shift). A binary
logistic model with logit ``z = w.x + b`` becomes the rows ``(-z/2, z/2)``; a class a source never
saw gets the logit ``log(1e-6)`` (probability about 1e-6 before normalisation).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.dummy import DummyClassifier

from multisource.data.dataset import MultiSourceDataset
from multisource.utils.threads import single_threaded_blas
from multisource.utils.validation import check_finite_array, check_sklearn_estimator

ABSENT_CLASS_LOGIT = float(np.log(1e-6))


@single_threaded_blas
def fit_per_source(learner: BaseEstimator, dataset: MultiSourceDataset) -> list[BaseEstimator]:
    """A clone of ``learner`` fitted on each source; a single-class source gets a constant (prior) classifier."""
    check_sklearn_estimator("learner", learner)
    if not isinstance(dataset, MultiSourceDataset):
        raise TypeError(f"dataset must be a MultiSourceDataset, got {type(dataset).__name__}")
    models = []
    for i in range(dataset.n_sources):
        X, y = dataset.source_data(i)
        if len(X) == 0:
            raise ValueError(f"source {i} is empty; per-source models need at least one sample per source")
        model = DummyClassifier(strategy="prior") if np.unique(y).size < 2 else clone(learner)
        models.append(model.fit(X, y))
    return models


def _check_fitted(model: BaseEstimator) -> None:
    """A fitted classifier has ``classes_``; an unfitted one is refused before any attribute is read."""
    if not hasattr(model, "classes_"):
        raise ValueError(f"model must be a fitted classifier, got an unfitted {type(model).__name__} (call fit first)")


def aligned_proba(model: BaseEstimator, X: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, K) class probabilities of ``model`` with columns for all K classes (0 for classes it never saw)."""
    if not hasattr(model, "predict_proba"):
        raise TypeError(f"{type(model).__name__} has no predict_proba; probability aggregation needs one")
    _check_fitted(model)
    proba = np.zeros((len(X), n_classes))
    proba[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(X)
    return proba


def linear_logits(model: BaseEstimator, n_classes: int, n_features: int) -> np.ndarray:
    """(K, d + 1) centred softmax logits ``[W | b]`` of a fitted linear classifier (see the module docstring)."""
    _check_fitted(model)
    classes = np.asarray(model.classes_, dtype=np.int64)
    theta = np.zeros((n_classes, n_features + 1))
    theta[:, -1] = ABSENT_CLASS_LOGIT
    if isinstance(model, DummyClassifier):
        theta[classes, -1] = 0.0
    elif hasattr(model, "coef_") and hasattr(model, "intercept_"):
        rows = np.column_stack([np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)])
        if len(classes) == 2 and rows.shape[0] == 1:
            rows = np.vstack([-rows[0] / 2, rows[0] / 2])
        theta[classes] = rows
    else:
        raise TypeError(
            f"{type(model).__name__} is not linear (no coef_/intercept_); parameter aggregation needs a linear "
            "learner such as 'logreg' or a torch network (use a prediction aggregator 'proba:<name>' for others)"
        )
    return theta - theta.mean(axis=0)


def softmax_proba(theta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """(n, K) softmax probabilities of the linear model ``theta = [W | b]`` of shape (K, d + 1)."""
    theta = check_finite_array("theta", theta, ndim=2)
    X = check_finite_array("X", X, ndim=2)
    if theta.shape[1] != X.shape[1] + 1:
        raise ValueError(
            f"theta must have shape (K, d + 1) = (K, {X.shape[1] + 1}) for X of shape {X.shape}, got {theta.shape}"
        )
    logits = X @ theta[:, :-1].T + theta[:, -1]
    logits -= logits.max(axis=1, keepdims=True)
    expd = np.exp(logits)
    return expd / expd.sum(axis=1, keepdims=True)
