from itertools import pairwise

import numpy as np
import pytest

from multisource.data import SPLITS, LabeledData, make_multisource


def _identified(n: int = 600, n_classes: int = 3, d: int = 3, seed: int = 0) -> LabeledData:
    """Data whose first feature is the row id, so every sample can be traced."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.arange(n), rng.standard_normal((n, d - 1))])
    return LabeledData(X=X, y=np.arange(n) % n_classes, n_classes=n_classes, name="ids")


@pytest.mark.parametrize("split", ["iid", "dirichlet", "covariate_shift"])
def test_sources_have_m_distinct_samples_disjoint_from_the_test_set(split):
    data = _identified()
    ds = make_multisource(data, n_sources=7, m=40, split=split, n_test=100, standardize=False, seed=1)
    train_ids, test_ids = ds.X[:, 0].astype(int), ds.X_test[:, 0].astype(int)
    assert ds.sizes.tolist() == [40] * 7 and len(test_ids) == 100
    assert len(np.unique(train_ids)) == 280 and not np.intersect1d(train_ids, test_ids).size
    assert np.array_equal(ds.y, data.y[train_ids]) and np.array_equal(ds.y_test, data.y[test_ids])


def test_standardisation_uses_training_statistics_for_train_and_test():
    data = _identified()
    raw = make_multisource(data, n_sources=5, m=50, standardize=False, seed=2)
    scaled = make_multisource(data, n_sources=5, m=50, standardize=True, seed=2)
    mean, std = raw.X.mean(axis=0), raw.X.std(axis=0)
    np.testing.assert_allclose(scaled.X, (raw.X - mean) / std)
    np.testing.assert_allclose(scaled.X_test, (raw.X_test - mean) / std)


def test_constant_feature_keeps_scale_one():
    data = LabeledData(X=np.column_stack([np.ones(100), np.arange(100.0)]), y=np.arange(100) % 2, n_classes=2)
    ds = make_multisource(data, n_sources=2, m=30, seed=0)
    assert np.all(ds.X[:, 0] == 0.0) and np.all(np.isfinite(ds.X_test))


def test_same_seed_gives_the_same_dataset():
    a = make_multisource("wine", n_sources=4, m=20, split="dirichlet", seed=5)
    b = make_multisource("wine", n_sources=4, m=20, split="dirichlet", seed=5)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y) and np.array_equal(a.X_test, b.X_test)


def test_dataset_carries_image_shape_and_name():
    ds = make_multisource("digits", n_sources=3, m=10, seed=0)
    assert ds.image_shape == (8, 8) and ds.name == "digits" and ds.n_classes == 10


def _max_class_share(ds) -> float:
    return float(np.mean([np.bincount(ds.source_data(i)[1], minlength=ds.n_classes).max() / 60 for i in range(10)]))


def test_dirichlet_concentration_controls_label_skew():
    data = _identified(n=3000, n_classes=5)
    skewed = make_multisource(data, n_sources=10, m=60, split="dirichlet", concentration=0.05, seed=0)
    balanced = make_multisource(data, n_sources=10, m=60, split="dirichlet", concentration=1000.0, seed=0)
    assert _max_class_share(skewed) > 0.8 and _max_class_share(balanced) < 0.35


def test_dirichlet_split_fills_every_source_when_classes_run_out():
    data = _identified(n=400, n_classes=4)
    ds = make_multisource(
        data, n_sources=10, m=30, split="dirichlet", concentration=0.01, n_test=100, standardize=False, seed=3
    )
    assert ds.sizes.tolist() == [30] * 10 and len(np.unique(ds.X[:, 0])) == 300


def test_full_covariate_shift_gives_sources_disjoint_ranges_of_the_leading_direction():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 2)) * np.array([5.0, 0.5])  # leading direction = first axis
    data = LabeledData(X=X, y=np.arange(1000) % 2, n_classes=2)
    ds = make_multisource(data, n_sources=4, m=100, split="covariate_shift", strength=1.0, standardize=False, seed=0)
    ranges = sorted((ds.source_data(i)[0][:, 0].min(), ds.source_data(i)[0][:, 0].max()) for i in range(4))
    assert all(hi < lo_next for (_, hi), (lo_next, _) in pairwise(ranges))
    iid = make_multisource(data, n_sources=4, m=100, split="covariate_shift", strength=0.0, standardize=False, seed=0)
    source_means = [iid.source_data(i)[0][:, 0].mean() for i in range(4)]
    assert np.ptp(source_means) < 2.0  # four iid means of sd 5/sqrt(100) = 0.5


def test_too_many_samples_requested_is_a_clear_error():
    with pytest.raises(ValueError, match=r"n_sources \* m = 10 \* 20 = 200 exceeds the 112 samples of 'iris'"):
        make_multisource("iris", n_sources=10, m=20, seed=0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_sources": 0, "m": 5}, ValueError, "n_sources"),
        ({"n_sources": 2, "m": 0}, ValueError, "m must be"),
        ({"n_sources": 2, "m": 2.5}, TypeError, "m must be an integer"),
        ({"n_sources": 2, "m": 5, "n_test": 1.5}, ValueError, "n_test"),
        ({"n_sources": 2, "m": 5, "n_test": 0}, ValueError, "n_test"),
        ({"n_sources": 2, "m": 5, "split": "nope"}, ValueError, "unknown split 'nope'"),
        ({"n_sources": 2, "m": 5, "split": "dirichlet", "concentration": 0.0}, ValueError, "concentration"),
        ({"n_sources": 2, "m": 5, "split": "covariate_shift", "strength": 2.0}, ValueError, "strength"),
        ({"n_sources": 2, "m": 5, "split": "iid", "strength": 2.0}, TypeError, "strength"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_multisource("iris", seed=0, **kwargs)


def test_data_must_be_labeled_data_or_a_name():
    with pytest.raises(TypeError, match="LabeledData"):
        make_multisource(np.zeros((10, 2)), n_sources=2, m=2)


def test_split_registry_lists_the_three_splits():
    assert set(SPLITS.names()) >= {"iid", "dirichlet", "covariate_shift"}
