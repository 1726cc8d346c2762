import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multisource.data import MultiSourceDataset
from multisource.discrepancy import pairwise, stump_discrepancy


def brute_force_stump_discrepancy(X_a, y_a, X_b, y_b, n_classes):
    """max over every stump h = (k1 if x_f > theta else k2) of |err_a(h) - err_b(h)|, by enumeration."""
    X = np.concatenate([X_a, X_b])
    best = 0.0
    for f in range(X.shape[1]):
        values = np.unique(X[:, f])
        for theta in np.concatenate([[-np.inf], (values[:-1] + values[1:]) / 2]):
            for k1 in range(n_classes):
                for k2 in range(n_classes):
                    h_a = np.where(X_a[:, f] > theta, k1, k2)
                    h_b = np.where(X_b[:, f] > theta, k1, k2)
                    best = max(best, abs(np.mean(h_a != y_a) - np.mean(h_b != y_b)))
    return best


@settings(max_examples=40, deadline=None)
@given(
    m_a=st.integers(1, 12),
    m_b=st.integers(1, 12),
    d=st.integers(1, 3),
    n_classes=st.integers(2, 4),
    seed=st.integers(0, 10**6),
)
def test_exact_stump_discrepancy_equals_brute_force(m_a, m_b, d, n_classes, seed):
    rng = np.random.default_rng(seed)
    # Few distinct values, so ties across and within samples are common.
    X_a, X_b = rng.integers(0, 4, (m_a, d)).astype(float), rng.integers(0, 4, (m_b, d)).astype(float)
    y_a, y_b = rng.integers(0, n_classes, m_a), rng.integers(0, n_classes, m_b)
    exact = stump_discrepancy(X_a, y_a, X_b, y_b, n_classes=n_classes)
    assert exact == pytest.approx(brute_force_stump_discrepancy(X_a, y_a, X_b, y_b, n_classes), abs=1e-12)


def test_hand_computed_stump_discrepancies():
    X = np.array([[0.0], [1.0]])
    y = np.array([0, 1])
    # The threshold at 0.5 is right on S_a and wrong on its label-flipped copy.
    assert stump_discrepancy(X, y, X, 1 - y, n_classes=2) == 1.0
    assert stump_discrepancy(X, y, X, y, n_classes=2) == 0.0
    # S_a = {(0,0),(1,1)}, S_b = {(0,0),(1,0)}: h = 1{x > 0.5} errs 0 on S_a and 1/2 on S_b.
    assert stump_discrepancy(X, y, X, np.array([0, 0]), n_classes=2) == 0.5
    # Three classes: S_a = {(0,0),(1,1)} against S_b = {(0,2),(1,2)}; h = 0 if x <= 0.5 else 1 is
    # right on all of S_a and wrong on all of S_b.
    assert stump_discrepancy(X, y, X, np.array([2, 2]), n_classes=3) == 1.0
    # Only the constant "2" separates S_a = {(0,2),(1,0)} from S_b = {(0,1),(1,0)} ... by 1/2.
    assert stump_discrepancy(X, np.array([2, 0]), X, np.array([1, 0]), n_classes=3) == 0.5


def test_stump_pairwise_matrix_matches_the_per_pair_oracle():
    rng = np.random.default_rng(0)
    sizes = [5, 9, 7, 4]
    source = np.repeat(np.arange(4), sizes)
    X, y = rng.integers(0, 5, (len(source), 2)).astype(float), rng.integers(0, 3, len(source))
    ds = MultiSourceDataset(X=X, y=y, source=source, X_test=X[:2], y_test=y[:2], n_classes=3, n_sources=4)
    disc = pairwise(ds, estimator="stumps")
    for a in range(4):
        for b in range(4):
            expected = 0.0 if a == b else brute_force_stump_discrepancy(*ds.source_data(a), *ds.source_data(b), 3)
            assert disc[a, b] == pytest.approx(expected, abs=1e-12)
