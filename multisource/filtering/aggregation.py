"""Robust aggregation of per-source models: the one-shot baselines of KL2019 and the Byzantine literature.

Two registries, by what is aggregated:

* ``PARAMETER_AGGREGATORS``: ``(N, p)`` parameter vectors, one per source -> ``(p,)``:
  geometric median (Feng et al. 2014), coordinate-wise median (Yin et al. 2018), trimmed mean.
* ``PREDICTION_AGGREGATORS``: ``(N, n, K)`` predicted class probabilities -> ``(n, K)``:
  median of the per-source probabilities (KL2019's "median of probs").
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from multisource.utils.registry import Registry
from multisource.utils.validation import check_finite_array, check_int, check_real

PARAMETER_AGGREGATORS: Registry = Registry("parameter aggregator")
PREDICTION_AGGREGATORS: Registry = Registry("prediction aggregator")


def _check_points(points: object) -> np.ndarray:
    points = check_finite_array("points", points, ndim=2)
    if points.shape[0] < 1:
        raise ValueError("points must hold at least one (N >= 1) parameter vector")
    return points


@PARAMETER_AGGREGATORS.register("geometric_median")
def geometric_median(
    points: np.ndarray, weights: np.ndarray | None = None, *, tol: float = 1e-10, max_iter: int = 1000
) -> np.ndarray:
    """Weighted geometric median ``argmin_y sum_i w_i ||x_i - y||_2`` by Weiszfeld's iteration, in float64.

    Each step is ``T(y) = sum_i (w_i / d_i) x_i / sum_i (w_i / d_i)`` with ``d_i = ||x_i - y||``. When
    ``y`` coincides with data points (weight ``eta``) the Vardi-Zhang (2000) step is used:
    ``y <- (1 - eta/r) T(y) + (eta/r) y`` with ``r = ||sum_{d_i > 0} w_i (x_i - y) / d_i||``, and ``y``
    is optimal once ``r <= eta``. Stops when a step moves less than ``tol * max(1, ||y||)``; warns
    (RuntimeWarning) if ``max_iter`` steps did not get there.
    """
    points = _check_points(points)
    n = points.shape[0]
    w = np.ones(n) if weights is None else check_finite_array("weights", weights, ndim=1)
    if w.shape != (n,) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be (N,) = ({n},) non-negative with a positive sum")
    tol = check_real("tol", tol, low=0.0, low_open=True)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    y = np.median(points, axis=0)
    scale = max(1.0, float(np.abs(points).max()))
    for _ in range(max_iter):
        dist = np.linalg.norm(points - y, axis=1)
        at_y = dist <= 1e-14 * scale
        inv = np.where(at_y, 0.0, w / np.where(at_y, 1.0, dist))
        eta = w[at_y].sum()
        if eta > 0:
            r = np.linalg.norm(inv @ (points - y))
            if r <= eta:
                return y
        t = inv @ points / inv.sum()
        y_new = t if eta == 0 else (1 - eta / r) * t + (eta / r) * y
        step = np.linalg.norm(y_new - y)
        y = y_new
        if step <= tol * max(1.0, float(np.linalg.norm(y))):
            return y
    warnings.warn(f"geometric_median did not converge in max_iter={max_iter} iterations", RuntimeWarning, stacklevel=2)
    return y


@PARAMETER_AGGREGATORS.register("coordinate_median")
def coordinate_median(points: np.ndarray) -> np.ndarray:
    """Coordinate-wise median of the (N, p) parameter vectors (Yin et al. 2018)."""
    return np.median(_check_points(points), axis=0)


@PARAMETER_AGGREGATORS.register("trimmed_mean")
def trimmed_mean(points: np.ndarray, *, beta: float | None = None, n_bad: int | None = None) -> np.ndarray:
    """Coordinate-wise mean after dropping the ``t`` smallest and largest values of each coordinate (Yin et al. 2018).

    ``t = n_bad`` (the number of bad sources to guard against, ``2 n_bad < N``) or ``t = floor(beta N)``
    with ``beta`` in [0, 1/2), default 0.1; give at most one of them. The default trims nothing when
    ``N < 10`` and then warns (RuntimeWarning): it is the plain mean there, so pass ``n_bad``.
    """
    points = _check_points(points)
    n = points.shape[0]
    if beta is not None and n_bad is not None:
        raise ValueError(f"trimmed_mean takes beta or n_bad, not both; got beta={beta}, n_bad={n_bad}")
    if n_bad is not None:
        cut = check_int("n_bad", n_bad, minimum=0, maximum=(n - 1) // 2)
    else:
        fraction = check_real("beta", 0.1 if beta is None else beta, low=0.0, high=0.5, high_open=True)
        cut = math.floor(fraction * n + 1e-9)
        if 2 * cut >= n:
            raise ValueError(f"beta={beta} trims every one of the N={n} values; use a smaller beta")
        if beta is None and cut == 0:
            warnings.warn(
                f"trimmed_mean's default beta=0.1 trims nothing at N={n} (floor(beta N) = 0): it is the plain "
                "mean; pass n_bad (values trimmed at each end) or a larger beta",
                RuntimeWarning,
                stacklevel=2,
            )
    return np.sort(points, axis=0)[cut : n - cut].mean(axis=0)


@PREDICTION_AGGREGATORS.register("median_proba")
def median_proba(probas: np.ndarray) -> np.ndarray:
    """Median over sources of the predicted class probabilities, renormalised to sum to 1 per sample (KL2019).

    Parameters
    ----------
    probas : (N, n, K) probabilities of each source's model on n samples.
    """
    probas = check_finite_array("probas", probas, ndim=3)
    if probas.shape[0] < 1 or np.any(probas < 0):
        raise ValueError("probas must be (N, n, K) with N >= 1 and non-negative probabilities")
    med = np.median(probas, axis=0)
    total = med.sum(axis=1, keepdims=True)
    # A median of probability vectors can be all zeros only if no class got a majority of support.
    uniform = np.full_like(med, 1.0 / med.shape[1])
    return np.where(total > 0, med / np.where(total > 0, total, 1.0), uniform)
