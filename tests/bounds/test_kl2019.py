"""KL2019: the cvxpy weight program against brute force, its limits in lambda, the rule, the bound, lambda CV."""

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from multisource.bounds import RademacherValue, bound_lambda, kl2019_bound
from multisource.bounds.kl2019 import kl2019_objective, kl2019_weights
from multisource.data.dataset import MultiSourceDataset
from multisource.filtering import FILTERING_RULES, Selection, central_source
from multisource.learners.kl2019_cv import select_lambda

CASES = [
    (np.array([0.0, 0.01, 0.02]), np.array([50, 200, 400]), 0.5),  # interior optimum
    (np.array([0.1, 0.12, 0.15]), np.array([100, 100, 100]), 2.0),  # interior optimum
    (np.array([0.3, 0.05, 0.06]), np.array([30, 10, 500]), 0.3),  # on an edge of the simplex
    (np.array([0.0, 0.2, 0.5]), np.array([50, 200, 400]), 0.5),  # at a vertex
]


def grid_minimum(d, sizes, lam, steps=400):
    """Brute force over a fine grid of the 3-simplex."""
    t = np.linspace(0.0, 1.0, steps + 1)
    a1, a2 = np.meshgrid(t, t, indexing="ij")
    keep = a1 + a2 <= 1.0 + 1e-12
    A = np.stack([a1[keep], a2[keep], np.clip(1.0 - a1[keep] - a2[keep], 0.0, None)], axis=1)
    values = A @ d + lam * np.sqrt((A**2 / sizes).sum(axis=1))
    return values.min()


def slsqp_minimiser(d, sizes, lam, starts=20):
    """Best of many SLSQP runs from random points of the simplex."""
    rng = np.random.default_rng(0)
    best = None
    for x0 in rng.dirichlet(np.ones(d.size), size=starts):
        res = minimize(
            lambda a: a @ d + lam * np.sqrt(np.sum(a**2 / sizes)),
            x0,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * d.size,
            constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1.0}],
            options={"ftol": 1e-14, "maxiter": 500},
        )
        if best is None or res.fun < best.fun:
            best = res
    return best.x


@pytest.mark.parametrize(("d", "sizes", "lam"), CASES)
def test_cvxpy_weights_match_grid_and_slsqp_brute_force(d, sizes, lam):
    w = kl2019_weights(d, sizes, lam)
    value = kl2019_objective(w, d, sizes, lam)
    assert value <= grid_minimum(d, sizes, lam) + 1e-9
    np.testing.assert_allclose(w, slsqp_minimiser(d, sizes, lam), atol=2e-3)


def test_lambda_to_infinity_gives_weights_proportional_to_sizes():
    d, sizes = np.array([0.0, 0.3, 0.9, 0.1]), np.array([10, 20, 30, 40])
    np.testing.assert_allclose(kl2019_weights(d, sizes, math.inf), sizes / 100)
    np.testing.assert_allclose(kl2019_weights(d, sizes, 1e6), sizes / 100, atol=1e-4)


def test_lambda_zero_puts_all_weight_on_the_closest_sources():
    d, sizes = np.array([0.2, 0.05, 0.3, 0.05]), np.array([10, 20, 30, 60])
    np.testing.assert_allclose(kl2019_weights(d, sizes, 0.0), [0.0, 0.25, 0.0, 0.75])
    # It is the limit lambda -> 0+ of the cone program.
    np.testing.assert_allclose(kl2019_weights(d, sizes, 1e-5), [0.0, 0.25, 0.0, 0.75], atol=1e-3)


def test_weights_rejects_bad_input():
    with pytest.raises(ValueError, match="lam"):
        kl2019_weights([0.1, 0.2], [10, 10], -1.0)
    with pytest.raises(ValueError, match="sizes"):
        kl2019_weights([0.1, 0.2], [10, 0], 1.0)
    with pytest.raises(ValueError, match="disc_to_reference"):
        kl2019_weights([0.1, -0.2], [10, 10], 1.0)


def _disc_matrix():
    # Sources 0-3 are close to each other; 4 and 5 are far (corrupted).
    pts = np.array([0.0, 0.05, 0.1, 0.08, 0.9, 1.0])
    return np.abs(pts[:, None] - pts[None, :])


def test_rule_is_registered_and_weighs_against_the_reference_row():
    disc, sizes = _disc_matrix(), np.full(6, 100)
    rule = FILTERING_RULES.get("kl2019")
    sel = rule(disc, sizes, reference=2, lam=0.0)
    assert isinstance(sel, Selection)
    assert sel.kept.tolist() == [False, False, True, False, False, False]
    sel = rule(disc, sizes, reference=2, lam=1.0)
    np.testing.assert_allclose(sel.weights, slsqp_minimiser(disc[2], sizes, 1.0), atol=2e-3)
    assert sel.weights[4] == sel.weights[5] == 0.0 and sel.info["reference"] == 2


def test_default_reference_is_the_source_with_smallest_median_discrepancy():
    disc = _disc_matrix()
    # Row medians (mean of the 3rd and 4th of 6 sorted entries): 0.09, 0.05, 0.075, 0.055, 0.8, 0.9.
    assert central_source(disc) == 1
    assert FILTERING_RULES.get("kl2019")(disc, np.full(6, 100), lam=1.0).info["reference"] == 1


def test_kl2019_bound_terms_are_theorem_one_by_hand():
    a, d, m = np.array([0.5, 0.3, 0.2]), np.array([0.0, 0.1, 0.4]), np.array([100, 200, 400])
    r = np.array([0.05, 0.04, 0.03])
    b = kl2019_bound(a, d, m, 0.05, r, loss_bound=2.0)
    assert b.complexity == pytest.approx(4 * (0.5 * 0.05 + 0.3 * 0.04 + 0.2 * 0.03))
    assert b.corruption == pytest.approx(2 * (0.3 * 0.1 + 0.2 * 0.4))
    conf = 6 * math.sqrt(math.log(4 / 0.05) * 4 / 2) * math.sqrt(0.25 / 100 + 0.09 / 200 + 0.04 / 400)
    assert b.confidence == pytest.approx(conf)
    assert b.total == pytest.approx(4 * 0.043 + 2 * 0.11 + conf)


def test_bound_lambda_weights_minimise_the_kl2019_bound():
    d, sizes = np.array([0.0, 0.05, 0.3]), np.array([50, 300, 300])
    r = RademacherValue(0.02)  # the same complexity everywhere: only disc and confidence move with a
    best = kl2019_bound(kl2019_weights(d, sizes, bound_lambda(0.05)), d, sizes, 0.05, r).total
    for a1, a2 in itertools.product(np.linspace(0, 1, 101), repeat=2):
        if a1 + a2 <= 1:
            assert best <= kl2019_bound([a1, a2, max(0.0, 1 - a1 - a2)], d, sizes, 0.05, r).total + 1e-9


def test_kl2019_bound_rejects_weights_off_the_simplex():
    with pytest.raises(ValueError, match="weights"):
        kl2019_bound([0.5, 0.6], [0.0, 0.1], [10, 10], 0.05, 0.1)


def test_cross_validation_avoids_all_data_when_some_sources_are_label_flipped():
    rng = np.random.default_rng(0)
    n, N = 60, 6
    X = rng.normal(size=(n * N, 2))
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    source = np.repeat(np.arange(N), n)
    y = np.where(source >= 3, 1 - y, y)  # sources 3, 4, 5 flip every label
    data = MultiSourceDataset(X=X, y=y, source=source, X_test=X[:5], y_test=y[:5], n_classes=2, n_sources=N)
    d = np.array([0.0, 0.05, 0.05, 0.9, 0.9, 0.9])
    from sklearn.linear_model import LogisticRegression

    search = select_lambda(data, d, 0, LogisticRegression(), lambdas=(0.0, 0.5, 1e4), seed=0)
    assert search.errors.shape == (3,)
    assert search.best in (0.0, 0.5)
    assert search.errors[2] > 0.3 > search.errors.min()
