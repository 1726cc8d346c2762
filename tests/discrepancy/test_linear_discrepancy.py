import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from multisource.corruption import Adversary
from multisource.data import MultiSourceDataset, load_dataset, make_multisource
from multisource.discrepancy import DISCREPANCY_ESTIMATORS, pairwise, sklearn_discrepancy, stump_discrepancy


def _dataset(X, y, sizes, n_classes) -> MultiSourceDataset:
    source = np.repeat(np.arange(len(sizes)), sizes)
    return MultiSourceDataset(
        X=X, y=y, source=source, X_test=X[:1], y_test=y[:1], n_classes=n_classes, n_sources=len(sizes)
    )


def _gaussian_sources(n_sources, m, seed, margin=2.0, n_features=2, n_classes=2):
    data = load_dataset(
        "synthetic", n_samples=2 * n_sources * m, n_features=n_features, n_classes=n_classes, margin=margin, seed=seed
    )
    return make_multisource(data, n_sources=n_sources, m=m, n_test=0.5, seed=seed)


def test_registry_offers_linear_sklearn_and_stumps():
    assert set(DISCREPANCY_ESTIMATORS.names()) >= {"linear", "sklearn", "stumps"}


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10**6), n_classes=st.integers(2, 4))
def test_linear_matrix_is_symmetric_with_zero_diagonal_and_entries_in_unit_interval(seed, n_classes):
    ds = _gaussian_sources(5, 20, seed, n_features=3, n_classes=n_classes)
    disc = pairwise(ds)
    assert disc.shape == (5, 5) and disc.dtype == np.float64
    assert np.array_equal(disc, disc.T) and np.all(np.diag(disc) == 0)
    assert np.all((disc >= 0) & (disc <= 1))


@pytest.mark.parametrize("name, n_sources, m", [("breast_cancer", 5, 30), ("wine", 4, 25), ("iris", 4, 20)])
def test_batched_linear_agrees_with_the_sklearn_reference(name, n_sources, m):
    ds = make_multisource(name, n_sources=n_sources, m=m, seed=0)
    batched = pairwise(ds, estimator="linear", l2=1e-2)
    reference = pairwise(ds, estimator="sklearn", l2=1e-2)
    # Both minimise the same strictly convex objective; only points on the decision boundary may differ.
    np.testing.assert_allclose(batched, reference, atol=1.0 / m + 1e-9)
    assert np.mean(np.abs(batched - reference) < 1e-9) > 0.8


def test_unequal_source_sizes_are_weighted_by_one_over_m_i():
    rng = np.random.default_rng(3)
    sizes = [6, 15, 30]
    X = rng.standard_normal((51, 2))
    y = (X[:, 0] + 0.5 * rng.standard_normal(51) > 0).astype(int)
    ds = _dataset(X, y, sizes, 2)
    disc = pairwise(ds, l2=1e-2)
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        expected = sklearn_discrepancy(*ds.source_data(a), *ds.source_data(b), n_classes=2, l2=1e-2)
        assert disc[a, b] == pytest.approx(expected, abs=1e-9)


def test_one_dimensional_linear_disc_is_a_lower_bound_of_the_exact_threshold_disc():
    # In one dimension linear classifiers with intercept are exactly the stumps, so the surrogate
    # ERM can only reach the exact supremum from below.
    for seed in range(5):
        ds = _gaussian_sources(4, 30, seed, margin=1.0, n_features=1)
        linear = pairwise(ds)
        for a in range(4):
            for b in range(a + 1, 4):
                exact = stump_discrepancy(*ds.source_data(a), *ds.source_data(b), n_classes=2)
                assert linear[a, b] <= exact + 1e-12


def test_disc_of_iid_sources_is_small_and_shrinks_as_m_grows():
    means = {
        m: np.mean([pairwise(_gaussian_sources(3, m, seed))[np.triu_indices(3, 1)] for seed in range(3)])
        for m in (25, 400)
    }
    assert means[400] < 0.1 and means[400] < means[25] / 2


@pytest.mark.parametrize("n_classes", [2, 4])
def test_disc_of_a_source_against_its_label_flipped_copy_is_near_one(n_classes):
    ds = _gaussian_sources(1, 200, 0, margin=8.0, n_features=3, n_classes=n_classes)
    X, y = ds.source_data(0)
    flipped = (y + 1) % n_classes
    pair = _dataset(np.vstack([X, X]), np.concatenate([y, flipped]), [200, 200], n_classes)
    assert pairwise(pair)[0, 1] >= 0.95


def test_disc_is_at_least_the_gap_of_class_proportions():
    # Constant classifiers belong to H: all-class-0 vs all-class-1 sources give disc 1 even on noise.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    ds = _dataset(X, np.repeat([0, 1], 20), [20, 20], 2)
    assert pairwise(ds)[0, 1] == 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_cuda_gives_the_cpu_matrix():
    ds = make_multisource("digits", n_sources=6, m=40, seed=0)
    np.testing.assert_allclose(pairwise(ds, device="cuda"), pairwise(ds, device="cpu"), atol=1.0 / 40 + 1e-9)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"estimator": "mmd"}, ValueError, r"unknown discrepancy estimator 'mmd'.*linear"),
        ({"l2": -1.0}, ValueError, r"l2 must lie in \[0.0, inf[\])], got -1.0"),
        ({"max_iter": 0}, ValueError, "max_iter must be >= 1, got 0"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be >= 1, got 0"),
        ({"tol": 0.0}, ValueError, r"tol must lie in \(0.0, inf[\])]"),
        ({"scaling": "flea"}, ValueError, r"scaling must be one of \['none', 'pair'\], got 'flea'"),
        ({"solver": "lbfgs"}, ValueError, r"solver must be one of \['mm', 'newton'\], got 'lbfgs'"),
        ({"dtype": torch.float16}, ValueError, "dtype must be torch.float32 or torch.float64"),
        ({"l2s": 1.0}, TypeError, "l2s"),
        ({"estimator": "stumps", "l2": 1.0}, TypeError, "l2"),
    ],
)
def test_bad_pairwise_arguments_are_refused_by_name(kwargs, error, match):
    ds = make_multisource("iris", n_sources=3, m=10, seed=0)
    with pytest.raises(error, match=match):
        pairwise(ds, **kwargs)


def test_pairwise_refuses_plain_arrays_and_empty_sources():
    with pytest.raises(TypeError, match="MultiSourceDataset"):
        pairwise(np.zeros((3, 3)))
    X = np.random.default_rng(0).standard_normal((6, 2))
    ds = MultiSourceDataset(
        X=X,
        y=np.arange(6) % 2,
        source=np.array([0, 0, 0, 2, 2, 2]),
        X_test=X,
        y_test=np.zeros(6),
        n_classes=2,
        n_sources=3,
    )
    with pytest.raises(ValueError, match=r"empty sources: \[1\]"):
        pairwise(ds)


@pytest.mark.parametrize(
    "attack, params", [("label_flip", {"p": 0.5}), ("label_shuffle", {}), ("feature_permutation", {})]
)
def test_corrupted_sources_are_farther_from_clean_sources_than_clean_ones_from_each_other(attack, params):
    ds = _gaussian_sources(8, 150, 0, margin=3.0, n_features=3, n_classes=3)
    result = Adversary(0.25, attack, params=params, seed=0).corrupt(ds)
    disc, bad = pairwise(result.dataset), result.bad
    clean_to_clean = disc[np.ix_(~bad, ~bad)][np.triu_indices((~bad).sum(), 1)]
    bad_to_clean = disc[np.ix_(bad, ~bad)]
    assert bad_to_clean.min() > clean_to_clean.max()


@pytest.mark.parametrize("n_classes", [2, 3])
def test_relabelling_the_sources_permutes_the_matrix(n_classes):
    # Symmetry is not just the mirrored upper triangle: each pair's estimate ignores which side is first.
    ds = _gaussian_sources(5, 30, 1, n_features=2, n_classes=n_classes)
    perm = np.array([3, 0, 4, 1, 2])
    relabelled = _dataset(*_concatenated_sources(ds, perm), [30] * 5, n_classes)
    np.testing.assert_allclose(pairwise(relabelled), pairwise(ds)[np.ix_(perm, perm)], atol=1e-12)


def _concatenated_sources(ds, order):
    parts = [ds.source_data(i) for i in order]
    return np.vstack([X for X, _ in parts]), np.concatenate([y for _, y in parts])


@pytest.mark.parametrize("estimator", ["linear", "sklearn", "stumps"])
def test_deterministic_estimators_give_the_same_matrix_for_every_seed(estimator):
    ds = make_multisource("iris", n_sources=4, m=12, seed=0)
    reference = pairwise(ds, estimator=estimator, seed=0)
    for seed in (1, np.random.default_rng(5), None):
        np.testing.assert_array_equal(pairwise(ds, estimator=estimator, seed=seed), reference)


def test_a_seed_of_the_wrong_type_is_refused_before_any_work():
    ds = make_multisource("iris", n_sources=3, m=10, seed=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        pairwise(ds, estimator="stumps", seed="zero")
