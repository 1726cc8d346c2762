"""ByzFL as the oracle, and the inputs every comparison runs on."""

import numpy as np
import pytest

from multisource.aggregation.byzfl import import_byzfl_aggregators


@pytest.fixture(scope="session")
def byzfl():
    """ByzFL's aggregator and pre-aggregator modules (``make install`` pins byzfl; skip without it)."""
    try:
        return import_byzfl_aggregators()
    except ImportError as err:
        pytest.skip(str(err))


def _honest_and_outliers(n, n_bad, d, seed, kind="outliers"):
    """(n, d) float64: n - n_bad honest N(0, I) vectors and n_bad outliers 20 units away (seeded).

    ``kind="duplicates"`` also copies row 0 onto row 2 and row 1 onto the last row (ties in
    distances and scores, between equal vectors only);
    ``kind="integers"`` rounds everything to integers (ties in every coordinate and distance).
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[rng.permutation(n)[:n_bad]] += 20.0 * rng.normal(size=d) / np.sqrt(d) + rng.normal(size=(n_bad, d))
    if kind == "duplicates":
        X[2], X[-1] = X[0], X[1]
    if kind == "integers":
        X = np.round(2 * X)
    return X


@pytest.fixture(scope="session")
def honest_and_outliers():
    """The input generator above, as a fixture."""
    return _honest_and_outliers


@pytest.fixture(autouse=True)
def single_thread(one_torch_thread):
    """Every test here on one torch thread (tests/conftest.py)."""
