"""Rule defaults that do something: trimmed_mean trims n_bad values (or warns that its default trims nothing),
Multi-Krum warns outside its guarantee's condition N >= 2 n_bad + 3."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from multisource.filtering import multi_krum, trimmed_mean

POINTS = np.array([[1.0], [2.0], [3.0], [100.0], [-50.0]])


def test_trimmed_mean_with_n_bad_drops_that_many_values_at_each_end():
    np.testing.assert_allclose(trimmed_mean(POINTS, n_bad=1), [2.0])  # mean of 1, 2, 3
    np.testing.assert_allclose(trimmed_mean(POINTS, n_bad=2), [2.0])  # the median
    np.testing.assert_allclose(trimmed_mean(POINTS, n_bad=0), [11.2])  # (1 + 2 + 3 + 100 - 50) / 5


def test_trimmed_mean_default_warns_that_it_trims_nothing_at_five_points():
    with pytest.warns(RuntimeWarning, match=r"trims nothing at N=5 .*pass n_bad"):
        np.testing.assert_allclose(trimmed_mean(POINTS), [11.2])


def test_trimmed_mean_default_trims_silently_once_it_trims_something():
    ten = np.arange(10.0)[:, None] ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(trimmed_mean(ten), [np.mean(np.arange(1.0, 9.0) ** 2)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_bad": 3}, r"n_bad must be <= 2"), ({"beta": 0.1, "n_bad": 1}, r"takes beta or n_bad, not both")],
)
def test_trimmed_mean_refuses_too_many_or_both_trims(kwargs, message):
    with pytest.raises(ValueError, match=message):
        trimmed_mean(POINTS, **kwargs)


def test_multi_krum_warns_below_two_n_bad_plus_three_sources_and_not_at_it():
    disc = np.abs(np.subtract.outer(np.arange(7.0), np.arange(7.0)))
    with pytest.warns(RuntimeWarning, match=r"needs N >= 2 n_bad \+ 3 = 7 sources .*got N=5"):
        multi_krum(disc[:5, :5], np.ones(5, dtype=int), n_bad=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = multi_krum(disc, np.ones(7, dtype=int), n_bad=2).kept
    np.testing.assert_array_equal(kept, [False, True, True, True, True, True, False])
