"""Fitting a learner on weighted sources: ``min_h sum_i w_i R_{S_i}(h)`` as per-sample weights."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import has_fit_parameter

from multisource.data.dataset import MultiSourceDataset
from multisource.data.selection import Selection
from multisource.utils.validation import check_finite_array, check_sklearn_estimator, check_source_ids


def sample_weights(weights: np.ndarray, source: np.ndarray, sizes: np.ndarray) -> np.ndarray | None:
    """Per-sample weights ``w_i / m_i`` of the kept samples, scaled to mean 1; None when they are all equal.

    ``sum_i w_i R_{S_i}(h) = sum_i (w_i / m_i) sum_{(x, y) in S_i} l(h(x), y)`` (KL2019 eq. 6's
    weighted ERM). Scaling to mean 1 keeps a regulariser's strength as for an unweighted fit; equal
    weights (a hard filter with ``w_i`` proportional to ``m_i``) give None, so learners without
    ``sample_weight`` still work.
    """
    sizes = check_finite_array("sizes", sizes, ndim=1)
    weights = check_finite_array("weights", weights, ndim=1)
    if weights.shape != sizes.shape or np.any(weights < 0) or np.any(sizes <= 0):
        raise ValueError(
            f"weights and sizes must hold one non-negative weight and one positive count per source, "
            f"got {weights.tolist()} and {sizes.tolist()}"
        )
    source = check_source_ids(source, sizes.size, np.size(source))
    per_sample = weights[source] / np.asarray(sizes, dtype=np.float64)[source]
    per_sample = per_sample[per_sample > 0]
    if np.allclose(per_sample, per_sample[0], rtol=1e-12, atol=0.0):
        return None
    return per_sample / per_sample.mean()


def fit_weighted(
    estimator: BaseEstimator, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None
) -> BaseEstimator:
    """``estimator.fit(X, y, sample_weight=...)``, with a clear error if the estimator cannot take weights."""
    check_sklearn_estimator("estimator", estimator)
    if len(X) != len(y):
        raise ValueError(f"X and y must hold the same number of samples, got {len(X)} and {len(y)}")
    if sample_weight is None:
        return estimator.fit(X, y)
    if not has_fit_parameter(estimator, "sample_weight"):
        raise TypeError(f"{type(estimator).__name__}.fit does not accept sample_weight, needed by a weighting rule")
    sample_weight = check_finite_array("sample_weight", sample_weight, ndim=1)
    if sample_weight.shape != (len(y),) or np.any(sample_weight < 0):
        raise ValueError(
            f"sample_weight must hold {len(y)} non-negative weights, one per sample, got shape {sample_weight.shape}"
        )
    return estimator.fit(X, y, sample_weight=sample_weight)


def fit_on_selection(estimator: BaseEstimator, dataset: MultiSourceDataset, selection: Selection) -> BaseEstimator:
    """Fit ``estimator`` (in place) on the sources a rule kept, weighted as the rule says.

    Minimises ``sum_i w_i R_{S_i}(h)`` over the kept sources ``{i : w_i > 0}`` (pooled ERM on the
    kept union for a hard filter, KL2019's weighted ERM for a weighting rule).
    """
    if selection.kept.shape != (dataset.n_sources,):
        raise ValueError(
            f"selection must cover the dataset's {dataset.n_sources} sources, got one of {selection.kept.shape[0]}"
        )
    keep = selection.kept[dataset.source]
    weights = sample_weights(selection.weights, dataset.source, dataset.sizes)
    return fit_weighted(estimator, dataset.X[keep], dataset.y[keep], weights)
