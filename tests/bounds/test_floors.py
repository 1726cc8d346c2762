"""Single-source floors and the derived multi-source lower bound."""

import math

import numpy as np
import pytest
from scipy.stats import binom

from multisource.bounds import (
    adaptive_set_bound,
    fixed_set_bound,
    malicious_noise_floor,
    multisource_lower_bound,
    nasty_noise_floor,
)


def test_single_source_floors_match_kearns_li_and_bshouty():
    assert malicious_noise_floor(0.2) == pytest.approx(0.25)
    assert malicious_noise_floor(0.0) == 0.0
    assert nasty_noise_floor(0.1) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("fn", "bad"), [(malicious_noise_floor, 1.0), (malicious_noise_floor, -0.1), (nasty_noise_floor, 0.6)]
)
def test_floors_reject_rates_outside_their_range(fn, bad):
    with pytest.raises(ValueError, match="noise rate"):
        fn(bad)


def exact_tv(gamma, m):
    """TV between m Bernoulli(1/2 +- gamma) samples, computed exactly on the sufficient statistic."""
    k = np.arange(m + 1)
    return 0.5 * np.abs(binom.pmf(k, m, 0.5 + gamma) - binom.pmf(k, m, 0.5 - gamma)).sum()


@pytest.mark.parametrize(("N", "m", "alpha"), [(20, 1000, 0.2), (100, 400, 0.1), (7, 50, 0.3)])
def test_lower_bound_gamma_is_the_largest_where_the_adversary_hides_the_shift(N, m, alpha):
    lb = multisource_lower_bound(N, m, alpha, 0.05)
    n_bad = math.floor(alpha * N + 1e-9)
    # The Pinsker step is a valid upper bound on the true total variation.
    assert exact_tv(lb.gamma, m) <= lb.tv + 1e-12
    # At gamma the adversary succeeds often enough; slightly above it no longer (largest gamma).
    assert binom.sf(n_bad, N, lb.tv) < 1 - 2 * 0.05
    tv_above = math.sqrt(m * 1.001 * lb.gamma * math.log((1 + 2.002 * lb.gamma) / (1 - 2.002 * lb.gamma)))
    assert binom.sf(n_bad, N, tv_above) >= 1 - 2 * 0.05
    assert lb.excess == pytest.approx(2 * lb.gamma)


def test_lower_bound_has_rate_alpha_over_sqrt_m_with_constant_one_for_many_sources():
    for m in (100, 10_000):
        lb = multisource_lower_bound(10**6, m, 0.1, 0.05)
        assert lb.rate_constant == pytest.approx(1.0, abs=0.03)


def test_lower_bound_lies_below_the_upper_bounds_and_grows_with_alpha():
    previous = 0.0
    for alpha in (0.05, 0.2, 0.4):
        lb = multisource_lower_bound(50, 1000, alpha, 0.05).excess
        assert previous < lb < fixed_set_bound(50, 1000, alpha, 0.05, 1).total
        assert lb < adaptive_set_bound(50, 1000, alpha, 0.05, 1).total
        previous = lb


def test_lower_bound_refuses_delta_of_one_half_or_more():
    with pytest.raises(ValueError, match="delta"):
        multisource_lower_bound(20, 100, 0.2, 0.5)
