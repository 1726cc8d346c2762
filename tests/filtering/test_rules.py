"""Filtering rules: claims checked against hand-computed cases and brute-force loop implementations."""

from contextlib import nullcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multisource.filtering import (
    FILTERING_RULES,
    derived_threshold,
    known_alpha,
    krum_scores,
    multi_krum,
    quantile,
    threshold_majority,
)

DISCREPANCY_RULES = {
    "threshold_majority": {},
    "known_alpha": {},
    "known_alpha_flea": {"variant": "flea"},
    "quantile": {},
    "multi_krum": {},
}


# Sources 0-2 are mutually within 0.1; 3 is within 0.25 of 0 and 1 only; 4 is far from all.
HAND_DISC = np.array(
    [
        [0.0, 0.1, 0.1, 0.2, 0.9],
        [0.1, 0.0, 0.1, 0.2, 0.9],
        [0.1, 0.1, 0.0, 0.5, 0.9],
        [0.2, 0.2, 0.5, 0.0, 0.3],
        [0.9, 0.9, 0.9, 0.3, 0.0],
    ]
)


def _apply(label, disc, sizes, alpha):
    name = "known_alpha" if label.startswith("known_alpha") else label
    return FILTERING_RULES.get(name)(disc, sizes, alpha, **DISCREPANCY_RULES[label])


def _far_corruption_case(rng, n, n_bad, eps=0.05):
    """Clean pairs within [eps/2, eps]; every bad-clean pair in [0.8, 1]; bad-bad pairs anywhere in [0, 1]."""
    disc = rng.uniform(eps / 2, eps, (n, n))
    bad = np.zeros(n, dtype=bool)
    bad[rng.choice(n, n_bad, replace=False)] = True
    disc[np.ix_(bad, ~bad)] = rng.uniform(0.8, 1.0, (n_bad, n - n_bad))
    disc[np.ix_(~bad, bad)] = disc[np.ix_(bad, ~bad)].T
    disc[np.ix_(bad, bad)] = rng.uniform(0.0, 1.0, (n_bad, n_bad))
    disc = np.triu(disc, 1)
    return disc + disc.T, bad


def _metric_matrix(rng, n):
    points = rng.normal(size=(n, 3))
    return np.linalg.norm(points[:, None] - points[None], axis=2)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 15),
    frac=st.floats(0.0, 0.49),
    seed=st.integers(0, 2**31 - 1),
    label=st.sampled_from(sorted(DISCREPANCY_RULES)),
)
def test_every_rule_keeps_every_clean_source_and_drops_far_corrupted_ones(n, frac, seed, label):
    n_bad = int(frac * n)
    if label == "multi_krum" and n < 2 * n_bad + 3:
        n_bad = max(0, (n - 3) // 2)  # Krum separates only when the clean sources outnumber f + 2
    rng = np.random.default_rng(seed)
    disc, bad = _far_corruption_case(rng, n, n_bad)
    selection = _apply(label, disc, np.full(n, 30), n_bad / n)
    np.testing.assert_array_equal(selection.kept, ~bad)
    assert not selection.info["fell_back"]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 12), seed=st.integers(0, 2**31 - 1), label=st.sampled_from(sorted(DISCREPANCY_RULES)))
def test_every_rule_is_permutation_equivariant(n, seed, label):
    rng = np.random.default_rng(seed)
    disc = _metric_matrix(rng, n)
    sizes = rng.integers(5, 50, n)
    perm = rng.permutation(n)
    alpha = ((n - 3) // 2) / n
    original = _apply(label, disc, sizes, alpha)
    permuted = _apply(label, disc[np.ix_(perm, perm)], sizes[perm], alpha)
    np.testing.assert_array_equal(permuted.kept, original.kept[perm])
    np.testing.assert_allclose(permuted.weights, original.weights[perm])


def test_threshold_majority_matches_hand_counts():
    disc = HAND_DISC
    sizes = np.array([10, 20, 30, 40, 50])
    # s = 0.25: counts (self included) are 4, 4, 3, 3, 1 and a strict majority of 5 is 3.
    sel = threshold_majority(disc, sizes, threshold=0.25)
    np.testing.assert_array_equal(sel.info["counts"], [4, 4, 3, 3, 1])
    np.testing.assert_array_equal(sel.kept, [True, True, True, True, False])
    np.testing.assert_allclose(sel.weights, np.array([10, 20, 30, 40, 0]) / 100)
    # s = 0.15: counts 3, 3, 3, 1, 1.
    np.testing.assert_array_equal(threshold_majority(disc, sizes, threshold=0.15).kept, [1, 1, 1, 0, 0])
    # known alpha = 0.2: n_bad = 1, the paper variant needs count >= 4, FLEA's needs count > 1.
    np.testing.assert_array_equal(known_alpha(disc, sizes, 0.2, threshold=0.25).kept, [1, 1, 0, 0, 0])
    np.testing.assert_array_equal(known_alpha(disc, sizes, 0.2, threshold=0.25, variant="flea").kept, [1, 1, 1, 1, 0])
    # The callable receives (N, sizes).
    seen = []
    threshold_majority(disc, sizes, threshold=lambda n, m: seen.append((n, m.tolist())) or 0.25)
    assert seen == [(5, [10, 20, 30, 40, 50])]


def test_derived_threshold_is_twice_the_kth_smallest_kth_neighbour_radius():
    disc = HAND_DISC
    # k = 3: third smallest of each row (self included) = 0.1, 0.1, 0.1, 0.2, 0.9; the third smallest is 0.1.
    assert derived_threshold(disc, 3) == pytest.approx(0.2)
    sel = threshold_majority(disc, np.full(5, 10))
    assert sel.info["threshold"] == pytest.approx(0.2) and sel.info["threshold_source"] == "derived"
    np.testing.assert_array_equal(sel.kept, [1, 1, 1, 1, 0])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 14), seed=st.integers(0, 2**31 - 1))
def test_derived_threshold_never_leaves_the_majority_filter_empty_on_a_metric(n, seed):
    disc = _metric_matrix(np.random.default_rng(seed), n)
    sel = threshold_majority(disc, np.full(n, 3))
    assert not sel.info["fell_back"] and sel.kept.sum() >= n // 2 + 1


def _keep_smallest_by_loops(scores, n_keep):
    """Keep the n_keep smallest scores and every score tied with the last of them (to 1e-12)."""
    cut = sorted(scores)[n_keep - 1]
    return np.array([score <= cut + 1e-12 for score in scores])


def _quantile_by_loops(disc, n_bad):
    n = len(disc)
    q = [sorted(disc[i])[n - n_bad - 1] for i in range(n)]
    return _keep_smallest_by_loops(q, n - n_bad)


def _krum_by_loops(disc, f):
    n = len(disc)
    scores = [sum(sorted(disc[i][j] for j in range(n) if j != i)[: n - f - 2]) for i in range(n)]
    return np.array(scores), _keep_smallest_by_loops(scores, n - f)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 14), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_quantile_and_multi_krum_match_loop_implementations(n, seed, data):
    disc = _metric_matrix(np.random.default_rng(seed), n)
    sizes = np.full(n, 7)
    n_bad = data.draw(st.integers(0, (n - 1) // 2))
    np.testing.assert_array_equal(quantile(disc, sizes, n_bad=n_bad).kept, _quantile_by_loops(disc, n_bad))
    f = data.draw(st.integers(0, min((n - 1) // 2, n - 3)))
    scores, kept = _krum_by_loops(disc, f)
    np.testing.assert_allclose(krum_scores(disc, f), scores)
    outside_the_guarantee = n < 2 * f + 3  # multi_krum warns there (Blanchard et al., Proposition 1)
    with pytest.warns(RuntimeWarning, match="needs N >= 2 n_bad") if outside_the_guarantee else nullcontext():
        np.testing.assert_array_equal(multi_krum(disc, sizes, n_bad=f).kept, kept)


def test_quantile_keeps_all_sources_tied_at_the_cut():
    disc = np.ones((4, 4)) - np.eye(4)
    assert quantile(disc, np.ones(4, dtype=int), n_bad=1).kept.all()


def test_threshold_majority_falls_back_to_all_sources_and_records_it():
    disc = np.ones((4, 4)) - np.eye(4)
    sel = threshold_majority(disc, np.full(4, 5), threshold=0.5)
    assert sel.kept.all() and sel.info["fell_back"]


def test_baselines_keep_all_the_clean_or_one_trusted_source():
    disc = np.zeros((4, 4))
    sizes = np.array([1, 2, 3, 4])
    bad = np.array([True, False, True, False])
    assert FILTERING_RULES.get("all_data")(disc, sizes).kept.all()
    np.testing.assert_array_equal(FILTERING_RULES.get("clean_only")(disc, sizes, bad=bad).kept, ~bad)
    np.testing.assert_allclose(FILTERING_RULES.get("clean_only")(disc, sizes, bad=bad).weights, [0, 2 / 6, 0, 4 / 6])
    np.testing.assert_array_equal(FILTERING_RULES.get("single_trusted")(disc, sizes, bad=bad).kept, [0, 1, 0, 0])
    np.testing.assert_array_equal(FILTERING_RULES.get("single_trusted")(disc, sizes, trusted=3).kept, [0, 0, 0, 1])


GOOD = np.array([[0.0, 0.2, 0.3], [0.2, 0.0, 0.1], [0.3, 0.1, 0.0]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: quantile(GOOD, [5, 5, 5], 0.5), "alpha must lie in"),
        (lambda: quantile(GOOD, [5, 5, 5], -0.1), "alpha must lie in"),
        (lambda: quantile(GOOD, [5, 5, 5]), "exactly one of alpha"),
        (lambda: quantile(GOOD, [5, 5, 5], 0.2, n_bad=1), "exactly one of alpha"),
        (lambda: quantile(GOOD, [5, 5, 5], n_bad=2), "n_bad must be < N/2"),
        (lambda: multi_krum(GOOD, [5, 5, 5], n_bad=1), "n_bad must be <= N - 3"),
        (lambda: threshold_majority(GOOD[:2], [5, 5]), "square"),
        (lambda: threshold_majority(GOOD + np.triu(GOOD), [5, 5, 5]), "symmetric"),
        (lambda: threshold_majority(GOOD + np.eye(3), [5, 5, 5]), "zero diagonal"),
        (lambda: threshold_majority(-GOOD, [5, 5, 5]), "non-negative"),
        (lambda: threshold_majority(np.where(GOOD > 0.25, np.nan, GOOD), [5, 5, 5]), "NaN"),
        (lambda: threshold_majority(GOOD, [5, 5]), "sizes must have shape"),
        (lambda: threshold_majority(GOOD, [5, 0, 5]), "sizes must be >= 1"),
        (lambda: threshold_majority(GOOD, [5, 5, 5], threshold=-0.1), "threshold must lie in"),
        (lambda: known_alpha(GOOD, [5, 5, 5], 0.2, variant="nope"), "variant must be"),
        (lambda: FILTERING_RULES.get("clean_only")(GOOD, [5, 5, 5]), "oracle"),
        (lambda: FILTERING_RULES.get("clean_only")(GOOD, [5, 5, 5], bad=np.ones(3, bool)), "at least one clean source"),
        (lambda: FILTERING_RULES.get("single_trusted")(GOOD, [5, 5, 5], trusted=3), "trusted must be <= 2"),
        (lambda: FILTERING_RULES.get("krum"), "unknown filtering rule 'krum'.*multi_krum"),
    ],
)
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
