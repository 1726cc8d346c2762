"""Complexity measures and the empirical Rademacher estimators, checked against closed forms and enumeration."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, load_wine

from multisource.bounds import (
    DecisionStumps,
    Estimate,
    FiniteClass,
    LinearClass,
    RademacherCallable,
    RademacherValue,
    VCComplexity,
    as_complexity,
    exact_rademacher,
    monte_carlo_rademacher,
)


def test_vc_plugin_is_massart_plus_sauer_for_n_above_d():
    d, n = 10, 1000
    assert VCComplexity(d).rademacher(n) == pytest.approx(math.sqrt(d * math.log(math.e * n / d) / (2 * n)))


def test_vc_plugin_is_capped_at_one_half_for_small_n():
    # n <= d: the growth function is 2^n, Massart gives sqrt(ln 2 / 2) > 1/2, the trivial cap is 1/2.
    assert VCComplexity(10).rademacher(5) == 0.5


@settings(max_examples=50, deadline=None)
@given(d=st.integers(1, 100), n1=st.integers(1, 10**8), n2=st.integers(1, 10**8))
def test_vc_plugin_is_non_increasing_in_n(d, n1, n2):
    lo, hi = sorted((n1, n2))
    assert VCComplexity(d).rademacher(lo) >= VCComplexity(d).rademacher(hi) - 1e-15


def test_as_complexity_dispatches_on_the_kind_of_input():
    assert as_complexity(10) == VCComplexity(10)
    assert as_complexity(np.int64(3)) == VCComplexity(3)
    assert as_complexity(0.1) == RademacherValue(0.1)
    assert as_complexity(Estimate(value=0.3, stderr=0.01, n_draws=10, n_samples=50)) == RademacherValue(0.15)
    assert as_complexity(VCComplexity(4)) == VCComplexity(4)
    fn = as_complexity(lambda n: 1 / math.sqrt(n))
    assert isinstance(fn, RademacherCallable) and fn.rademacher(4) == 0.5


@pytest.mark.parametrize(
    ("bad", "error"),
    [(True, TypeError), ("10", TypeError), (0, ValueError), (-3, ValueError), (1.5, ValueError), (-0.1, ValueError)],
)
def test_as_complexity_rejects_bad_values(bad, error):
    with pytest.raises(error):
        as_complexity(bad)


@pytest.mark.parametrize("value", [-0.01, float("nan"), float("inf"), 2.0])
def test_complexity_callable_values_are_checked(value):
    with pytest.raises(ValueError, match="complexity callable"):
        RademacherCallable(lambda n: value).rademacher(10)


def test_complexity_rejects_non_positive_n():
    with pytest.raises(ValueError, match="n must be >= 1"):
        VCComplexity(3).rademacher(0)


def _explicit_stumps(X):
    """Every stump on X as a (K, n) prediction matrix, built by brute force over midpoints (the oracle)."""
    rows = [np.ones(len(X)), -np.ones(len(X))]
    for j in range(X.shape[1]):
        values = np.unique(X[:, j])
        for t in (values[:-1] + values[1:]) / 2:
            h = np.where(X[:, j] > t, 1.0, -1.0)
            rows += [h, -h]
    return np.array(rows)


def test_decision_stumps_supremum_equals_brute_force_over_all_stumps():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(30, 3)).astype(float)  # many ties
    sigma = rng.choice([-1.0, 1.0], size=(200, 30))
    oracle = FiniteClass(lambda Z: _explicit_stumps(Z))
    np.testing.assert_allclose(DecisionStumps().max_correlation(X, sigma), oracle.max_correlation(X, sigma))


def test_exact_rademacher_matches_closed_forms():
    X = np.zeros((2, 1))
    # {h, -h} on two points: E|sigma_1 + sigma_2| / 2 = 1/2.
    assert exact_rademacher(X, FiniteClass(lambda Z: np.array([[1.0, 1.0], [-1.0, -1.0]]))) == pytest.approx(0.5)
    # A single hypothesis: E sigma . h = 0.
    assert exact_rademacher(np.zeros((6, 1)), FiniteClass(lambda Z: np.ones((1, 6)))) == pytest.approx(0.0)
    # Every labelling of n points: the supremum is always 1.
    n = 5
    everything = np.array(list(itertools.product([-1.0, 1.0], repeat=n)))
    assert exact_rademacher(np.zeros((n, 1)), FiniteClass(lambda Z: everything)) == pytest.approx(1.0)


def test_monte_carlo_agrees_with_exact_enumeration_within_three_standard_errors():
    X = np.random.default_rng(1).normal(size=12)
    exact = exact_rademacher(X, DecisionStumps())
    est = monte_carlo_rademacher(X, DecisionStumps(), n_draws=4000, seed=2)
    assert abs(est.value - exact) <= 3 * est.stderr
    assert 0 < est.stderr < 0.01


def test_monte_carlo_is_reproducible_with_a_seed():
    X = np.random.default_rng(3).normal(size=(40, 2))
    a = monte_carlo_rademacher(X, DecisionStumps(), n_draws=100, seed=7, batch_size=16)
    b = monte_carlo_rademacher(X, DecisionStumps(), n_draws=100, seed=7)
    assert a == b


@pytest.mark.parametrize("surrogate", ["hinge", "logistic"])
def test_linear_surrogate_never_beats_the_exact_supremum_on_one_dimensional_data(surrogate):
    # In 1-D, sign(w x + b) is exactly the class of thresholds with both orientations (= stumps),
    # so the surrogate's correlation is a lower bound of the stumps' exact supremum, draw by draw.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(25, 1))
    sigma = rng.choice([-1.0, 1.0], size=(30, 25))
    assert np.all(
        LinearClass(surrogate, C=100.0).max_correlation(X, sigma) <= DecisionStumps().max_correlation(X, sigma) + 1e-12
    )


@pytest.mark.parametrize("loader", [load_wine, load_breast_cancer])
def test_vc_plugin_upper_bounds_monte_carlo_for_linear_classes_on_real_data(loader):
    X = loader().data
    est = monte_carlo_rademacher(X, LinearClass(), n_draws=30, seed=0)
    d = X.shape[1] + 1  # linear classifiers with a bias in p features
    plugin_H = 2 * VCComplexity(d).rademacher(len(X))  # Rad(H) = 2 Rad(l o H)
    assert 0.0 < est.value < plugin_H
    assert est.value + 3 * est.stderr < plugin_H


def test_monte_carlo_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        monte_carlo_rademacher(np.array([1.0, np.nan]), DecisionStumps(), n_draws=10)
    with pytest.raises(ValueError, match="n_draws"):
        monte_carlo_rademacher(np.zeros(5), DecisionStumps(), n_draws=1)
    with pytest.raises(ValueError, match="n <= 20"):
        exact_rademacher(np.zeros(21), DecisionStumps())
    with pytest.raises(ValueError, match="surrogate"):
        LinearClass(surrogate="ridge").max_correlation(np.zeros((4, 1)), np.array([[1.0, -1.0, 1.0, -1.0]]))
