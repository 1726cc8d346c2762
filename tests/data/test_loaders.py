import random
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import norm

from multisource.data import DATASETS, LabeledData, load_dataset, make_gaussian_classes
from multisource.data.loaders import simplex_means


@pytest.mark.parametrize(
    "name, shape, n_classes, image_shape",
    [
        ("breast_cancer", (569, 30), 2, None),
        ("digits", (1797, 64), 10, (8, 8)),
        ("wine", (178, 13), 3, None),
        ("iris", (150, 4), 3, None),
    ],
)
def test_bundled_sets_have_their_published_sizes(name, shape, n_classes, image_shape):
    data = load_dataset(name)
    assert data.X.shape == shape and data.n_classes == n_classes and data.image_shape == image_shape
    assert data.X.dtype == np.float64 and data.y.dtype == np.int64
    assert set(np.unique(data.y)) == set(range(n_classes))


def test_registry_lists_every_contract_data_set():
    assert set(DATASETS.names()) >= {"breast_cancer", "digits", "wine", "iris", "synthetic", "mnist1d"}


@pytest.mark.parametrize("n_classes, n_features", [(2, 1), (3, 2), (4, 7), (10, 12)])
def test_simplex_means_are_pairwise_margin_apart(n_classes, n_features):
    means = simplex_means(n_classes, n_features, margin=2.5)
    for a, b in combinations(range(n_classes), 2):
        assert np.linalg.norm(means[a] - means[b]) == pytest.approx(2.5)


def test_two_gaussian_classes_have_bayes_error_phi_of_minus_half_margin():
    margin = 2.0
    data = make_gaussian_classes(n_samples=200_000, n_features=3, n_classes=2, margin=margin, seed=0)
    means = simplex_means(2, 3, margin)
    # The Bayes rule assigns each point to the nearest mean.
    nearest = np.argmin(((data.X[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest != data.y) == pytest.approx(norm.cdf(-margin / 2), abs=0.005)
    assert np.bincount(data.y).tolist() == [100_000, 100_000]


def test_synthetic_data_repeats_with_a_seed_and_changes_without():
    a, b = load_dataset("synthetic", seed=3), load_dataset("synthetic", seed=3)
    c = load_dataset("synthetic", seed=4)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_mnist1d_is_generated_locally_and_leaves_global_random_state_alone():
    random.seed(11)
    np.random.seed(11)
    expected_py, expected_np = random.random(), np.random.rand()
    random.seed(11)
    np.random.seed(11)
    data = load_dataset("mnist1d", n_samples=200, seed=0)
    assert data.X.shape == (200, 40) and data.n_classes == 10
    assert random.random() == expected_py and np.random.rand() == expected_np


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_features": 1, "n_classes": 3}, "n_features"),
        ({"margin": -1.0}, "margin"),
        ({"n_classes": 1}, "n_classes"),
        ({"n_samples": 0}, "n_samples"),
    ],
)
def test_synthetic_refuses_bad_parameters_naming_them(params, match):
    with pytest.raises(ValueError, match=match):
        load_dataset("synthetic", **params)


def test_unknown_data_set_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'.*digits"):
        load_dataset("mnist")


@pytest.mark.parametrize(
    "X, y, n_classes, match",
    [
        (np.zeros(3), np.zeros(3), 2, "2-dimensional"),
        (np.zeros((3, 2)), np.zeros(2), 2, "entries"),
        (np.full((2, 2), np.nan), np.zeros(2), 2, "NaN"),
        (np.zeros((2, 2)), np.array([0, 2]), 2, r"\[0, 1\]"),
        (np.zeros((2, 2)), np.array([0.0, 0.5]), 2, "integer"),
        (np.zeros((2, 2)), np.zeros(2), 1, "n_classes"),
    ],
)
def test_labeled_data_refuses_malformed_arrays(X, y, n_classes, match):
    with pytest.raises(ValueError, match=match):
        LabeledData(X=X, y=y, n_classes=n_classes)


def test_labeled_data_refuses_image_shape_that_does_not_match():
    with pytest.raises(ValueError, match="image_shape"):
        LabeledData(X=np.zeros((2, 6)), y=np.zeros(2), n_classes=2, image_shape=(2, 2))
