"""The multi-source bounds: the worked values of docs/bounds.md, hand arithmetic, and how bounds must behave."""

import math

import bound_oracles
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multisource.bounds import (
    adaptive_set_bound,
    filter_threshold,
    fixed_set_bound,
    multisource_bound,
    oracle_bound,
    pooled_erm_bound,
    single_source_bound,
    theory_threshold,
)
from multisource.filtering import FILTERING_RULES

D, DELTA = 10, 0.05


def hand_rad(n):
    return bound_oracles.hand_rad(n, D)


def hand_values(N, m, alpha):
    return bound_oracles.hand_values(N, m, alpha, D, DELTA)


# The worked example of docs/bounds.md, to 4 decimals (d = 10, delta = 0.05).
WORKED = [
    ((20, 1000, 0.2), dict(delta_m=0.3956, s=0.7911, fixed=0.7027, adaptive=0.9305, single=0.7555)),
    ((20, 10000, 0.2), dict(delta_m=0.1450, fixed=0.2544, adaptive=0.3373, single=0.2787)),
    ((100, 1000, 0.1), dict(fixed=0.3458, adaptive=0.4412, single=0.7555)),
]


def computed(N, m, alpha):
    thr = filter_threshold(N, m, DELTA, D)
    return dict(
        delta_m=thr.delta_m,
        s=thr.s,
        fixed=fixed_set_bound(N, m, alpha, DELTA, D).total,
        adaptive=adaptive_set_bound(N, m, alpha, DELTA, D).total,
        single=single_source_bound(m, DELTA, D).total,
        oracle=oracle_bound(N, m, alpha, DELTA, D).total,
    )


@pytest.mark.parametrize(("setting", "expected"), WORKED)
def test_worked_values_are_reproduced_to_four_decimals(setting, expected):
    got = computed(*setting)
    for key, value in expected.items():
        assert round(got[key], 4) == pytest.approx(value, abs=1e-12), key


@pytest.mark.parametrize(("setting", "_"), WORKED)
def test_bounds_equal_independent_hand_arithmetic(setting, _):
    got, hand = computed(*setting), hand_values(*setting)
    for key in hand:
        assert got[key] == pytest.approx(hand[key], rel=1e-12), key


def test_fixed_set_terms_split_into_complexity_confidence_and_corruption_by_hand():
    b = fixed_set_bound(20, 1000, 0.2, DELTA, D)
    assert b.confidence == pytest.approx(2 * math.sqrt(math.log(4 / DELTA) / (2 * 16000)))
    assert b.complexity == pytest.approx(4 * hand_rad(16000))
    assert b.corruption == pytest.approx(6 * 0.2 * hand_values(20, 1000, 0.2)["delta_m"])
    assert b.details["|G|"] == 16
    assert oracle_bound(20, 1000, 0.2, DELTA, D).total == pytest.approx(b.total - b.corruption)
    text = str(b)
    for word in ("complexity", "confidence", "corruption", "total", "0.7027", "N=20"):
        assert word in text


def test_pooled_erm_bound_keeps_its_two_alpha_floor_as_m_grows():
    for m in (10**3, 10**6, 10**12):
        b = pooled_erm_bound(20, m, 0.2, DELTA, D)
        assert b.corruption == pytest.approx(0.4)
        assert b.total > 0.4
    assert pooled_erm_bound(20, 10**12, 0.2, DELTA, D).total == pytest.approx(0.4, abs=1e-4)
    assert fixed_set_bound(20, 10**12, 0.2, DELTA, D).total < 1e-3


def test_clean_count_uses_floor_of_alpha_n_despite_float_rounding():
    # 0.29 * 100 == 28.999999999999996 in floating point; 29 sources are corrupted, 71 stay clean.
    assert oracle_bound(100, 10, 0.29, DELTA, D).details["|G|"] == 71


def test_theory_threshold_plugs_into_threshold_majority_rule():
    disc = np.array([[0.0, 0.1, 0.9], [0.1, 0.0, 0.95], [0.9, 0.95, 0.0]])
    sizes = np.array([1000, 1000, 1200])
    selection = FILTERING_RULES.get("threshold_majority")(disc, sizes, threshold=theory_threshold(DELTA, D))
    # The smallest source (m = 1000) sets s: s = 2 (2 Rad_1000 + sqrt(ln(4 * 3 / delta) / 2000)).
    s = 2 * (2 * hand_rad(1000) + math.sqrt(math.log(4 * 3 / DELTA) / 2000))
    assert selection.info["threshold"] == pytest.approx(s, rel=1e-12)
    assert selection.kept.tolist() == [True, True, False]


BOUNDS = {
    "fixed": fixed_set_bound,
    "adaptive": adaptive_set_bound,
    "oracle": oracle_bound,
    "pooled": pooled_erm_bound,
}
settings_ = settings(max_examples=40, deadline=None)
Ns = st.integers(1, 500)
ms = st.integers(1, 10**7)
alphas = st.floats(0.0, 0.499)
deltas = st.floats(1e-6, 0.99)
complexities = st.one_of(st.integers(1, 50), st.floats(0.0, 1.0))


@settings_
@given(name=st.sampled_from(sorted(BOUNDS)), N=Ns, m1=ms, m2=ms, alpha=alphas, delta=deltas, c=complexities)
def test_every_bound_is_non_increasing_in_m(name, N, m1, m2, alpha, delta, c):
    lo, hi = sorted((m1, m2))
    f = BOUNDS[name]
    assert f(N, lo, alpha, delta, c).total >= f(N, hi, alpha, delta, c).total - 1e-12
    assert single_source_bound(lo, delta, c).total >= single_source_bound(hi, delta, c).total - 1e-12


@settings_
@given(name=st.sampled_from(sorted(BOUNDS)), N=Ns, m=ms, a1=alphas, a2=alphas, delta=deltas, c=complexities)
def test_every_bound_is_non_decreasing_in_alpha(name, N, m, a1, a2, delta, c):
    lo, hi = sorted((a1, a2))
    f = BOUNDS[name]
    assert f(N, m, lo, delta, c).total <= f(N, m, hi, delta, c).total + 1e-12


@settings_
@given(name=st.sampled_from(sorted(BOUNDS)), N=Ns, m=ms, alpha=alphas, d1=deltas, d2=deltas, c=complexities)
def test_every_bound_grows_as_delta_shrinks_and_stays_finite(name, N, m, alpha, d1, d2, c):
    lo, hi = sorted((d1, d2))
    f = BOUNDS[name]
    small_delta, large_delta = f(N, m, alpha, lo, c).total, f(N, m, alpha, hi, c).total
    assert math.isfinite(small_delta) and small_delta >= large_delta - 1e-12
    assert single_source_bound(m, lo, c).total >= single_source_bound(m, hi, c).total - 1e-12


@pytest.mark.parametrize("name", sorted(BOUNDS))
@pytest.mark.parametrize("alpha", [0.5, 0.7, 1.0, -0.1])
def test_alpha_outside_zero_to_half_is_refused(name, alpha):
    with pytest.raises(ValueError, match="alpha"):
        BOUNDS[name](20, 1000, alpha, DELTA, D)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(m=0), "m"),
        (dict(m=-5), "m"),
        (dict(n_sources=0), "n_sources"),
        (dict(delta=0.0), "delta"),
        (dict(delta=1.0), "delta"),
        (dict(delta=1.5), "delta"),
        (dict(complexity=0), "VC dimension"),
        (dict(complexity=lambda n: -0.1), "complexity callable"),
        (dict(complexity=lambda n: float("nan")), "complexity callable"),
        (dict(complexity=10.0), r"Rademacher"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, match):
    args = dict(n_sources=20, m=1000, alpha=0.2, delta=DELTA, complexity=D) | kwargs
    with pytest.raises(ValueError, match=match):
        fixed_set_bound(**args)


def test_multisource_bound_dispatches_by_adversary_and_rejects_unknown_names():
    assert multisource_bound(20, 1000, 0.2, DELTA, D, adversary="adaptive").total == pytest.approx(0.9305, abs=5e-5)
    with pytest.raises(ValueError, match="adversary"):
        multisource_bound(20, 1000, 0.2, DELTA, D, adversary="omniscient")
