"""Outliers whose squares overflow: a float32 attack is aggregated like any other outlier, and a
float64 input too large to square is a clear error (docs/aggregation.md, "Non-finite inputs").

Oracles: the same rule on the float64 copy of the inputs (float32 squares of finite values never
overflow float64), and exact scaling by a power of two for the rules that square nothing.
"""

import warnings

import numpy as np
import pytest
import torch

from multisource.aggregation import AGGREGATORS, PRE_AGGREGATORS

N, D, N_BAD = 11, 6, 2  # n >= 4 n_bad + 3: every rule's condition holds
ALL_RULES = [(AGGREGATORS, name) for name in AGGREGATORS] + [(PRE_AGGREGATORS, name) for name in PRE_AGGREGATORS]


def _call(registry, name, X):
    record = registry.get(name)
    kwargs = {"n_bad": N_BAD} if record.uses_n_bad else {}
    if record.needs_reference:
        kwargs["reference"] = X[0] * 0 + 0.5  # in X's kind and dtype
    if "seed" in record.options:
        kwargs["seed"] = 0
    return record.function(X, **kwargs)


def _with_outlier(scale, dtype):
    X = np.random.default_rng(0).normal(size=(N, D)).astype(dtype)
    X[3] = scale * np.arange(1, D + 1)
    return X


@pytest.mark.parametrize(("registry", "name"), ALL_RULES)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_a_float32_outlier_whose_square_overflows_float32_is_aggregated_as_in_float64(registry, name, kind):
    X32 = _with_outlier(1e30, np.float32)  # |x|^2 ~ 1e62: beyond float32's 3.4e38
    X64 = X32.astype(np.float64)
    wrap = torch.from_numpy if kind == "torch" else np.asarray
    got = np.asarray(_call(registry, name, wrap(X32)))
    expected = np.asarray(_call(registry, name, X64))
    assert got.dtype == np.float32
    assert np.isfinite(got).all(), f"{name} returned non-finite values for a finite float32 input"
    row_scale = np.abs(expected).max(axis=-1, keepdims=True)  # per output vector
    assert (np.abs(got - expected) <= 1e-4 * row_scale).all(), f"{name}: {got} against {expected}"


@pytest.mark.parametrize(("registry", "name"), ALL_RULES)
def test_float32_inputs_at_the_top_of_their_range_are_aggregated_as_in_float64(registry, name):
    X32 = _with_outlier(1.0, np.float32)
    X32[3] = 3e38  # every coordinate near float32's largest: projections and sums pass its range
    got = np.asarray(_call(registry, name, torch.from_numpy(X32)))
    expected = np.asarray(_call(registry, name, X32.astype(np.float64)))
    assert np.isfinite(got).all(), f"{name} returned non-finite values for a finite float32 input"
    row_scale = np.abs(expected).max(axis=-1, keepdims=True)
    assert (np.abs(got - expected) <= 1e-4 * row_scale).all(), f"{name}: {got} against {expected}"


@pytest.mark.parametrize(("registry", "name"), ALL_RULES)
def test_float64_inputs_whose_squares_fit_but_fourth_powers_do_not_give_finite_results(registry, name):
    X = _with_outlier(1e150, np.float64)  # |x|^2 ~ 1e301 fits float64, |x|^4 does not
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way either
        got = np.asarray(_call(registry, name, X))
    assert np.isfinite(got).all(), f"{name} returned non-finite values"


@pytest.mark.parametrize(("registry", "name"), ALL_RULES)
def test_a_float64_input_too_large_to_square_is_a_clear_error_or_is_exact(registry, name):
    X = _with_outlier(1e200, np.float64)  # |x|^2 ~ 1e400: beyond float64
    try:
        got = _call(registry, name, X)
    except ValueError as error:
        assert str(error).startswith(f"{name}: vectors rows [3] are too large"), str(error)
        assert "power of two" in str(error)
        return
    # Rules that square nothing: exact up to a power of two, as on inputs in range.
    small = np.asarray(_call(registry, name, X * 2.0**-700)) * 2.0**700
    np.testing.assert_array_equal(got, small)


@pytest.mark.parametrize(("registry", "name"), ALL_RULES)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("exponent", [-64, -80, -100])
def test_float32_inputs_whose_squares_underflow_float32_are_aggregated_as_in_float64(registry, name, kind, exponent):
    # Entries near 2^exponent square to about 2^(2 exponent): at -64 below float32's normal range
    # (2^-126), at -80 and -100 below its smallest subnormal (2^-149), so norms and products vanish.
    X32 = (_with_outlier(10.0, np.float32) * np.float32(2.0**exponent)).astype(np.float32)
    wrap = torch.from_numpy if kind == "torch" else np.asarray
    got = np.asarray(_call(registry, name, wrap(X32)))
    expected = np.asarray(_call(registry, name, X32.astype(np.float64)))
    assert got.dtype == np.float32
    row_scale = np.abs(expected).max(axis=-1, keepdims=True)
    assert (np.abs(got - expected) <= 1e-4 * row_scale).all(), f"{name}: {got} against {expected}"
