"""Aggregators against closed forms (1-D medians), scipy's optimiser and scipy.stats.trim_mean."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import trim_mean

from multisource.filtering import (
    PARAMETER_AGGREGATORS,
    PREDICTION_AGGREGATORS,
    coordinate_median,
    geometric_median,
    median_proba,
    trimmed_mean,
)


def _sum_of_distances(points, y, weights=None):
    w = np.ones(len(points)) if weights is None else weights
    return float(w @ np.linalg.norm(points - y, axis=1))


@pytest.mark.parametrize("seed", range(5))
def test_geometric_median_minimises_the_sum_of_distances(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(9, 4)) * rng.uniform(0.5, 3, 4)
    weights = rng.uniform(0.2, 2.0, 9)
    y = geometric_median(points, weights)
    reference = minimize(
        lambda v: _sum_of_distances(points, v, weights),
        points.mean(0),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000, "maxfev": 40000},
    )
    assert _sum_of_distances(points, y, weights) <= reference.fun + 1e-9


def test_geometric_median_of_collinear_points_is_the_one_dimensional_weighted_median():
    # On a line the objective is sum_i w_i |t_i - t|, minimised at the weighted median t = 2 here
    # (weight left of 2 is 3, right of 2 is 3.5, and 2 itself carries 1.5 > |3 - 3.5|).
    t = np.array([-5.0, 0.0, 2.0, 7.0, 40.0])
    w = np.array([1.0, 2.0, 1.5, 3.0, 0.5])
    direction = np.array([1.0, -2.0, 0.5])
    points = t[:, None] * direction
    np.testing.assert_allclose(geometric_median(points, w), 2.0 * direction, atol=1e-9)


def test_geometric_median_resists_a_minority_of_far_outliers():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(7, 3)) * 0.1
    points = np.vstack([clean, np.full((3, 3), 1e6)])
    assert np.linalg.norm(geometric_median(points)) < 1.0
    np.testing.assert_allclose(geometric_median(np.ones((4, 2))), np.ones(2))


def test_geometric_median_warns_when_the_iteration_cap_is_hit():
    points = np.random.default_rng(1).normal(size=(6, 3))
    with pytest.warns(RuntimeWarning, match="did not converge"):
        geometric_median(points, max_iter=1)


def test_coordinate_median_and_trimmed_mean_match_hand_values_and_scipy():
    points = np.array([[1.0, 10.0], [2.0, -5.0], [100.0, 0.0], [3.0, 1.0], [4.0, 2.0]])
    np.testing.assert_allclose(coordinate_median(points), [3.0, 1.0])
    # beta = 0.2 with N = 5 drops one value from each tail: (2 + 3 + 4) / 3 and (0 + 1 + 2) / 3.
    np.testing.assert_allclose(trimmed_mean(points, beta=0.2), [3.0, 1.0])
    rng = np.random.default_rng(2)
    many = rng.standard_cauchy(size=(23, 6))
    for beta in (0.0, 0.1, 0.3, 0.45):
        np.testing.assert_allclose(trimmed_mean(many, beta=beta), trim_mean(many, beta, axis=0))


def test_median_proba_takes_the_per_class_median_and_renormalises():
    probas = np.array(
        [
            [[0.9, 0.1, 0.0]],
            [[0.6, 0.2, 0.2]],
            [[0.0, 0.0, 1.0]],
        ]
    )
    # Per-class medians 0.6, 0.1, 0.2 sum to 0.9.
    np.testing.assert_allclose(median_proba(probas), [[0.6 / 0.9, 0.1 / 0.9, 0.2 / 0.9]])


def test_aggregators_are_registered_and_reject_bad_input():
    assert PARAMETER_AGGREGATORS.names() == ["coordinate_median", "geometric_median", "trimmed_mean"]
    assert PREDICTION_AGGREGATORS.names() == ["median_proba"]
    with pytest.raises(ValueError, match="beta must lie in"):
        trimmed_mean(np.ones((4, 2)), beta=0.5)
    with pytest.raises(ValueError, match="points must be 2-dimensional"):
        coordinate_median(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        geometric_median(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="weights must be"):
        geometric_median(np.ones((3, 2)), weights=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="probas must be"):
        median_proba(-np.ones((2, 1, 2)))
