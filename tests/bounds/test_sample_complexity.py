"""Inverting the bounds for m and N: round trips, agreement with a linear scan, clear errors."""

import pytest
from bound_oracles import hand_values
from hypothesis import given, settings
from hypothesis import strategies as st

from multisource.bounds import (
    adaptive_set_bound,
    fixed_set_bound,
    oracle_bound,
    pooled_erm_bound,
    required_m,
    required_n_sources,
    single_source_bound,
)

MULTI = {"fixed": fixed_set_bound, "adaptive": adaptive_set_bound, "oracle": oracle_bound, "pooled": pooled_erm_bound}


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(sorted(MULTI)),
    N=st.integers(1, 200),
    alpha=st.floats(0.0, 0.45),
    delta=st.floats(1e-4, 0.5),
    d=st.integers(1, 30),
    epsilon=st.floats(0.05, 2.0),
)
def test_required_m_round_trips(name, N, alpha, delta, d, epsilon):
    bound = MULTI[name]
    kw = dict(n_sources=N, alpha=alpha, delta=delta, complexity=d)
    if name == "pooled" and epsilon <= 2 * alpha + 1e-9:
        with pytest.raises(ValueError, match="unreachable"):
            required_m(bound, epsilon, **kw)
        return
    m = required_m(bound, epsilon, **kw)
    assert bound(m=m, **kw).total <= epsilon
    assert m == 1 or bound(m=m - 1, **kw).total > epsilon


def test_required_m_for_single_source_and_worked_example():
    m = required_m(single_source_bound, 0.1, delta=0.05, complexity=10)
    assert single_source_bound(m, 0.05, 10).total <= 0.1 < single_source_bound(m - 1, 0.05, 10).total
    # The worked example's fixed bound is 0.7027 at m = 1000: the target 0.7027 needs m <= 1000 and > 999.
    assert required_m(fixed_set_bound, 0.70275, n_sources=20, alpha=0.2, delta=0.05, complexity=10) == 1000


@pytest.mark.parametrize(("name", "expected"), [("fixed", 78_208), ("adaptive", 144_644), ("oracle", 6_215)])
def test_required_m_of_the_worked_example_is_the_first_m_where_the_hand_written_bound_meets_the_target(name, expected):
    m = required_m(MULTI[name], 0.1, n_sources=20, alpha=0.2, delta=0.05, complexity=10)
    assert m == expected  # the values docs/bounds.md quotes
    assert hand_values(20, m, 0.2, 10, 0.05)[name] <= 0.1 < hand_values(20, m - 1, 0.2, 10, 0.05)[name]


def scan_for_n(bound, epsilon, n_max, **kw):
    """The oracle: the first N in 1..n_max with bound <= epsilon, by brute force."""
    return next((n for n in range(1, n_max + 1) if bound(n_sources=n, **kw).total <= epsilon), None)


@pytest.mark.parametrize("name", ["fixed", "adaptive", "oracle", "pooled"])
@pytest.mark.parametrize(
    ("m", "alpha", "epsilon"), [(20000, 0.2, 0.25), (10**6, 0.05, 0.02), (2000, 0.0, 0.1), (5000, 0.1, 0.5)]
)
def test_required_n_sources_equals_a_brute_force_scan(name, m, alpha, epsilon):
    bound = MULTI[name]
    kw = dict(m=m, alpha=alpha, delta=0.05, complexity=10)
    expected = scan_for_n(bound, epsilon, 3000, **kw)
    if expected is None:
        with pytest.raises(ValueError, match="unreachable"):
            required_n_sources(bound, epsilon, n_max=3000, **kw)
    else:
        assert required_n_sources(bound, epsilon, **kw) == expected


def test_n_inversion_refuses_a_target_below_the_corruption_floor():
    # At m = 1000 the fixed-set corruption term 6 alpha Delta_m is ~0.47 already for N = 1.
    with pytest.raises(ValueError, match="corruption term"):
        required_n_sources(fixed_set_bound, 0.3, m=1000, alpha=0.2, delta=0.05, complexity=10)


def test_m_inversion_refuses_pooled_targets_below_two_alpha_and_bad_alpha():
    with pytest.raises(ValueError, match="unreachable"):
        required_m(pooled_erm_bound, 0.39, n_sources=20, alpha=0.2, delta=0.05, complexity=10)
    with pytest.raises(ValueError, match="alpha"):
        required_m(fixed_set_bound, 0.1, n_sources=20, alpha=0.5, delta=0.05, complexity=10)
    with pytest.raises(ValueError, match="epsilon"):
        required_m(fixed_set_bound, 0.0, n_sources=20, alpha=0.2, delta=0.05, complexity=10)
