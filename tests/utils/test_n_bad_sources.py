"""n_bad_sources: floor(alpha N), exact for decimal fractions, with the argument checks of utils.validation."""

import pytest

from multisource.utils.validation import n_bad_sources


@pytest.mark.parametrize(
    ("alpha", "n_sources", "expected"),
    [(0.0, 7, 0), (0.2, 10, 2), (0.29, 100, 29), (0.49, 100, 49), (0.3, 7, 2), (0.1, 9, 0), (0.4999, 3, 1)],
)
def test_n_bad_sources_is_the_floor_of_alpha_n(alpha, n_sources, expected):
    # 0.29 * 100 == 28.999999999999996 in floating point: the count must still be 29.
    assert n_bad_sources(alpha, n_sources) == expected


@pytest.mark.parametrize(
    ("alpha", "n_sources", "error", "message"),
    [
        (0.5, 10, ValueError, r"alpha must lie in \[0.0, 0.5\), got 0.5"),
        (-0.1, 10, ValueError, "alpha must lie in"),
        (0.2, 0, ValueError, "n_sources must be >= 1, got 0"),
        (0.2, 2.0, TypeError, "n_sources must be an integer"),
    ],
)
def test_n_bad_sources_rejects_bad_input(alpha, n_sources, error, message):
    with pytest.raises(error, match=message):
        n_bad_sources(alpha, n_sources)
