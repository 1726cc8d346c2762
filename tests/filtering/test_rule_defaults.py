"""Rule defaults that do something: Multi-Krum warns outside its guarantee's condition N >= 2 n_bad + 3."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from multisource.filtering import multi_krum


def test_multi_krum_warns_below_two_n_bad_plus_three_sources_and_not_at_it():
    disc = np.abs(np.subtract.outer(np.arange(7.0), np.arange(7.0)))
    with pytest.warns(RuntimeWarning, match=r"needs N >= 2 n_bad \+ 3 = 7 sources .*got N=5"):
        multi_krum(disc[:5, :5], np.ones(5, dtype=int), n_bad=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kept = multi_krum(disc, np.ones(7, dtype=int), n_bad=2).kept
    np.testing.assert_array_equal(kept, [False, True, True, True, True, True, False])
