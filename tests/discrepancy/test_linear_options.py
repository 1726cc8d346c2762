"""The options of the linear estimator against independent references: scikit-learn fits, StandardScaler."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.preprocessing import StandardScaler

from multisource.data import MultiSourceDataset
from multisource.discrepancy import pairwise
from multisource.discrepancy.linear import SourceMoments, source_rows


def _raw_sources(loader, sizes, seed) -> MultiSourceDataset:
    """Sources of unscaled features (breast_cancer spans 1e-3 to 4e3), each drawn without replacement."""
    data = loader()
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(len(data.target), m, replace=False) for m in sizes])
    return MultiSourceDataset(
        X=data.data[rows],
        y=data.target[rows],
        source=np.repeat(np.arange(len(sizes)), sizes),
        X_test=data.data[:3],
        y_test=data.target[:3],
        n_classes=len(np.unique(data.target)),
        n_sources=len(sizes),
    )


@pytest.fixture(scope="module")
def breast_cancer_sources():
    return _raw_sources(load_breast_cancer, [40, 55, 30, 60, 45], seed=0)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # C = inf: lbfgs may hit its cap
@pytest.mark.parametrize("l2", [1.0, 0.01, 0.0])
def test_per_pair_scaled_discrepancies_equal_a_loop_of_standard_scaler_and_sklearn_fits(breast_cancer_sources, l2):
    # FLEA's estimate: StandardScaler refitted on each pooled pair, then LogisticRegression(C = 1 / l2).
    reference = pairwise(breast_cancer_sources, estimator="sklearn", l2=l2, scaling="pair")
    np.testing.assert_array_equal(pairwise(breast_cancer_sources, l2=l2, scaling="pair"), reference)


@pytest.mark.parametrize("scaling", ["none", "pair"])
@pytest.mark.parametrize("loader, sizes", [(load_breast_cancer, [40, 55, 30, 60, 45]), (load_wine, [30, 25, 35, 28])])
def test_mm_with_float32_gemms_gives_the_discrepancies_of_float64_newton(loader, sizes, scaling):
    ds = _raw_sources(loader, sizes, seed=1)
    for l2 in (1.0, 0.01):
        newton = pairwise(ds, l2=l2, scaling=scaling, solver="newton", dtype=torch.float64)
        np.testing.assert_array_equal(pairwise(ds, l2=l2, scaling=scaling, solver="mm", dtype=torch.float32), newton)


def test_wine_multiclass_discrepancies_equal_the_sklearn_loop_with_per_pair_scaling():
    ds = _raw_sources(load_wine, [30, 25, 35, 28], seed=2)
    reference = pairwise(ds, estimator="sklearn", l2=1.0, scaling="pair")
    np.testing.assert_array_equal(pairwise(ds, l2=1.0, scaling="pair"), reference)


def test_scaling_changes_the_estimate_when_features_have_unequal_scales(breast_cancer_sources):
    # Unscaled, l2 penalises the small-scale features (means 1e-2) far more than the large ones (1e3).
    unscaled = pairwise(breast_cancer_sources, l2=1.0, scaling="none")
    scaled = pairwise(breast_cancer_sources, l2=1.0, scaling="pair")
    assert np.abs(unscaled - scaled).max() > 0.05


def test_per_pair_ridge_is_l2_times_the_standard_scaler_variance_in_solver_coordinates():
    rng = np.random.default_rng(3)
    sizes = [6, 9, 4]
    source = np.repeat(np.arange(3), sizes)
    X = rng.standard_normal((19, 4)) * [1.0, 10.0, 0.1, 1.0] + [0.0, 5.0, 0.0, 3.0]
    X[:15, 2] = 7.0  # constant on sources 0 and 1 only
    X[:, 3] = 3.0  # constant everywhere
    center, scale = X.mean(0), X.std(0)
    scale[scale == 0] = 1.0
    rows, real = source_rows(source, 3)
    moments = SourceMoments.of_sources((X - center) / scale, rows, real, center, scale)
    a, b = np.array([0, 0, 1]), np.array([1, 2, 2])
    ridge = moments.penalty(a, b, 0.5, "pair")
    for k in range(3):
        pooled = X[(source == a[k]) | (source == b[k])]
        expected = 0.5 * (StandardScaler().fit(pooled).scale_ / scale) ** 2
        np.testing.assert_allclose(ridge[k], expected, rtol=1e-12)
    np.testing.assert_allclose(moments.penalty(a, b, 0.5, "none"), np.broadcast_to(0.5 / scale**2, (3, 4)))


@pytest.mark.parametrize("solver", ["mm", "newton"])
def test_unregularised_disc_of_a_separable_pair_is_one(solver):
    # A source against its label-flipped copy: the pooled label-flip problem is the source's own
    # (separable) problem, whose unregularised optimum is at infinity; the fit still separates it.
    rng = np.random.default_rng(4)
    X = rng.standard_normal((50, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    ds = MultiSourceDataset(
        X=np.vstack([X, X]),
        y=np.concatenate([y, 1 - y]),
        source=np.repeat([0, 1], 50),
        X_test=X[:2],
        y_test=y[:2],
        n_classes=2,
        n_sources=2,
    )
    assert pairwise(ds, l2=0.0, solver=solver)[0, 1] == 1.0


def test_the_matrix_is_the_same_whatever_the_chunk_size_and_the_number_of_threads():
    ds = _raw_sources(load_breast_cancer, [20] * 9 + [35], seed=5)
    reference = pairwise(ds, l2=0.1, scaling="pair")
    threads = torch.get_num_threads()
    try:
        for n_threads in (1, 2):
            torch.set_num_threads(n_threads)
            for chunk_size in (4, 16):
                np.testing.assert_array_equal(pairwise(ds, l2=0.1, scaling="pair", chunk_size=chunk_size), reference)
    finally:
        torch.set_num_threads(threads)
