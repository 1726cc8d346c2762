"""Pair subsampling (``pair_sample``): the band design, the sampled matrix against the full one, and the
row-quantile / Krum estimates of the filters against a brute-force loop over the rows."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from multisource.data import MultiSourceDataset
from multisource.discrepancy import pairwise
from multisource.discrepancy.sampling import band_half_width, sampled_pair_tiles
from multisource.filtering import FILTERING_RULES, krum_scores, multi_krum, quantile, threshold_majority
from multisource.filtering.flea_quantile import row_quantile


def _breast_cancer_sources(n_sources: int, m: int, n_flipped: int, seed: int) -> MultiSourceDataset:
    """N sources of m breast_cancer rows; the first ``n_flipped`` have all their labels flipped."""
    data = load_breast_cancer()
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(len(data.target), m, replace=False) for _ in range(n_sources)])
    y = data.target[rows].copy()
    y[: n_flipped * m] = 1 - y[: n_flipped * m]
    return MultiSourceDataset(
        X=data.data[rows],
        y=y,
        source=np.repeat(np.arange(n_sources), m),
        X_test=data.data[:3],
        y_test=data.target[:3],
        n_classes=2,
        n_sources=n_sources,
    )


@pytest.mark.parametrize(("n_sources", "half", "chunk_size"), [(9, 1, 4), (12, 3, 5), (31, 7, 1000), (40, 19, 30)])
def test_the_band_gives_every_source_exactly_2h_distinct_others(n_sources, half, chunk_size):
    order = np.random.default_rng(0).permutation(n_sources)
    tiles = list(sampled_pair_tiles(order, half, chunk_size))
    assert all(0 < len(a) <= chunk_size and np.all(a < b) for a, b in tiles)
    a, b = np.concatenate([t[0] for t in tiles]), np.concatenate([t[1] for t in tiles])
    assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == len(a) == n_sources * half
    np.testing.assert_array_equal(np.bincount(np.concatenate([a, b]), minlength=n_sources), 2 * half)
    # Brute force: the band's pairs are the sources at most h apart in the cyclic order.
    position = np.argsort(order)
    gap = np.abs(position[a] - position[b])
    assert np.all(np.minimum(gap, n_sources - gap) <= half)


def test_the_sampled_others_of_a_source_are_uniform_over_the_rest():
    n_sources, half, draws = 11, 2, 4000
    rng = np.random.default_rng(1)
    counts = np.zeros(n_sources)
    for _ in range(draws):
        for a, b in sampled_pair_tiles(rng.permutation(n_sources), half, 100):
            counts[b[a == 0]] += 1
            counts[a[b == 0]] += 1
    # Each of the 10 others is among source 0's 4 with probability 4/10 (binomial sd ~ 31 of 1600).
    np.testing.assert_allclose(counts[1:], draws * 2 * half / (n_sources - 1), rtol=0.08)


def test_a_sample_as_large_as_the_rest_is_the_full_matrix():
    assert band_half_width(10, 9) is None and band_half_width(10, 8) == band_half_width(10, 7) == 4
    with pytest.raises(ValueError, match="pair_sample must be >= 1, got 0"):
        band_half_width(10, 0)


@pytest.fixture(scope="module")
def sources_and_full_matrix():
    ds = _breast_cancer_sources(24, 40, n_flipped=5, seed=0)
    return ds, pairwise(ds, l2=1.0, scaling="pair")


def test_sampled_entries_equal_the_full_matrix_and_the_rest_is_nan(sources_and_full_matrix):
    ds, full = sources_and_full_matrix
    sampled = pairwise(ds, l2=1.0, scaling="pair", pair_sample=6, seed=3, chunk_size=7)
    evaluated = ~np.isnan(sampled)
    np.testing.assert_array_equal(evaluated.sum(axis=1), 7)  # 6 others and the zero diagonal
    np.testing.assert_array_equal(evaluated, evaluated.T)
    np.testing.assert_array_equal(sampled[evaluated], full[evaluated])
    np.testing.assert_array_equal(pairwise(ds, l2=1.0, scaling="pair", pair_sample=6, seed=3), sampled)
    np.testing.assert_array_equal(pairwise(ds, l2=1.0, scaling="pair", pair_sample=23, seed=3), full)


def _brute_force_estimates(disc: np.ndarray, n_bad: int) -> tuple[np.ndarray, np.ndarray]:
    """Row by row: the quantile level (N - n_bad)/N and the Krum fraction of each row's evaluated entries."""
    n = len(disc)
    q, krum = np.empty(n), np.empty(n)
    for i in range(n):
        row = disc[i][~np.isnan(disc[i])]  # self included
        q[i] = np.sort(row)[int(np.ceil((n - n_bad) * len(row) / n)) - 1]
        others = np.sort(np.delete(disc[i], i)[~np.isnan(np.delete(disc[i], i))])
        used = int(np.ceil((n - n_bad - 2) * len(others) / (n - 1)))
        krum[i] = others[:used].sum() * (n - n_bad - 2) / used
    return q, krum


def test_row_quantile_and_krum_estimates_match_a_loop_over_the_rows(sources_and_full_matrix):
    ds, full = sources_and_full_matrix
    for pair_sample, n_bad in [(4, 5), (9, 3), (16, 0)]:
        sampled = pairwise(ds, l2=1.0, scaling="pair", pair_sample=pair_sample, seed=pair_sample)
        q, krum = _brute_force_estimates(sampled, n_bad)
        np.testing.assert_array_equal(row_quantile(sampled, len(full) - n_bad), q)
        np.testing.assert_allclose(krum_scores(sampled, n_bad), krum, rtol=1e-12)
    # On the complete matrix the loop's estimates are the rules' exact scores.
    q, krum = _brute_force_estimates(full, 5)
    np.testing.assert_array_equal(quantile(full, ds.sizes, n_bad=5).info["scores"], q)
    np.testing.assert_allclose(multi_krum(full, ds.sizes, n_bad=5).info["scores"], krum, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multi_krum_on_a_sampled_matrix_drops_the_label_flipped_sources(sources_and_full_matrix, seed):
    ds, full = sources_and_full_matrix
    np.testing.assert_array_equal(FILTERING_RULES.get("multi_krum")(full, ds.sizes, n_bad=5).kept, np.arange(24) >= 5)
    sampled = pairwise(ds, l2=1.0, scaling="pair", pair_sample=8, seed=seed)
    kept = FILTERING_RULES.get("multi_krum")(sampled, ds.sizes, n_bad=5).kept
    np.testing.assert_array_equal(kept, np.arange(24) >= 5)


def test_a_sampled_matrix_is_refused_where_its_holes_are_not_understood(sources_and_full_matrix):
    ds, full = sources_and_full_matrix
    sampled = pairwise(ds, l2=1.0, scaling="pair", pair_sample=4, seed=0)
    with pytest.raises(ValueError, match="disc must hold every pair, got NaN"):
        threshold_majority(sampled, ds.sizes, threshold=0.2)
    lopsided = full.copy()
    lopsided[0, 1] = np.nan
    with pytest.raises(ValueError, match="symmetric pattern of NaN"):
        quantile(lopsided, ds.sizes, n_bad=2)
    alone = full.copy()
    alone[0, 1:] = alone[1:, 0] = np.nan
    with pytest.raises(ValueError, match=r"an evaluated pair in every row, got none in rows \[0\]"):
        quantile(alone, ds.sizes, n_bad=2)
