"""Rules ByzFL lacks, or where we deliberately differ, against oracles that share no code with ours.

Hand-computed examples (Krum, FLTrust), scipy's optimiser (geometric median), brute force over
subsets with scipy distances and dense d x d covariances (MDA, SMEA, CAF), and a literal transcription
of Bulyan's Algorithm 1 with per-pair distances.
"""

import itertools

import numpy as np
import pytest
import torch
from scipy.linalg import eigh as scipy_eigh
from scipy.optimize import minimize
from scipy.spatial.distance import cdist, pdist

import multisource.aggregation as agg

SQRT_HALF = np.sqrt(0.5)


def test_krum_picks_the_input_closest_to_its_neighbours_on_five_hand_scored_points():
    # n = 5, n_bad = 1: each score sums the n - n_bad - 2 = 2 smallest squared distances.
    # 0: 1 + 4 = 5; 1: 1 + 1 = 2; 2: 1 + 1 = 2; 3: 1 + 4 = 5; 10: 49 + 64 = 113. Tie 1/2 -> lowest index.
    X = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
    assert agg.krum(X, n_bad=1).tolist() == [1.0]
    # Multi-Krum with m = 3 averages the three best scores: inputs 1, 2 and then 0 (ties by index).
    assert agg.multi_krum(X, n_bad=1, m=3).tolist() == [1.0]
    # Default m = n - n_bad = 4 adds input 3 (score 5, after 0): mean of 0, 1, 2, 3.
    assert agg.multi_krum(X, n_bad=1).tolist() == [1.5]


def test_fltrust_weights_inputs_by_their_relu_cosine_to_the_reference_after_rescaling():
    # g0 = (1, 0). (2, 0): cos 1, rescaled to (1, 0). (0, 3): cos 0. (-1, 0): cos -1 -> 0.
    # (1, 1): cos 1/sqrt 2, rescaled to (1, 1)/sqrt 2. Result: ((1, 0) + (1/2, 1/2)) / (1 + 1/sqrt 2).
    X = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [1.0, 1.0]])
    expected = np.array([1.5, 0.5]) / (1 + SQRT_HALF)
    np.testing.assert_allclose(agg.fltrust(X, reference=np.array([1.0, 0.0])), expected, rtol=1e-14)


def test_fltrust_gives_the_zero_update_when_no_input_points_along_the_reference():
    X = np.array([[-1.0, 0.0], [0.0, 2.0]])
    assert agg.fltrust(X, reference=np.array([1.0, 0.0])).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("seed", range(4))
def test_geometric_median_minimises_the_sum_of_distances_as_scipy_does(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(9, 3)) * rng.uniform(0.5, 3.0, 3)
    X[:2] += 30.0

    def objective(y):
        return float(np.linalg.norm(X - y, axis=1).sum())

    reference = minimize(
        objective,
        np.median(X, axis=0),
        method="Nelder-Mead",
        options={"xatol": 1e-11, "fatol": 1e-13, "maxiter": 40000, "maxfev": 80000},
    )
    z = agg.geometric_median(X, tol=1e-12, max_iter=10000)
    assert objective(z) <= reference.fun + 1e-9
    np.testing.assert_allclose(z, reference.x, atol=1e-5)


def test_geometric_median_reaches_an_input_that_is_the_median_despite_the_division_by_its_distance():
    # The centre of a symmetric cross is an input and the geometric median: Weiszfeld's step
    # divides by ||z - x_0|| -> 0 there, the smoothing nu keeps it finite.
    X = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0], [0.1, 0.1]])
    X[-1] = 0.0
    z = agg.geometric_median(X, tol=1e-12, max_iter=5000)
    assert np.all(np.isfinite(z)) and np.linalg.norm(z) < 1e-8


def test_geometric_median_warns_when_the_tolerance_is_not_reached():
    X = np.random.default_rng(0).normal(size=(7, 4))
    with pytest.warns(RuntimeWarning, match="not reached"):
        agg.geometric_median(X, tol=1e-15, max_iter=2)


def _brute_force_mda(X, n_bad):
    best, best_subset = np.inf, None
    for subset in itertools.combinations(range(len(X)), len(X) - n_bad):
        diameter = pdist(X[list(subset)]).max(initial=0.0)
        if diameter < best:
            best, best_subset = diameter, subset
    return X[list(best_subset)].mean(axis=0)


@pytest.mark.parametrize(("n", "n_bad"), [(3, 1), (5, 2), (7, 3), (8, 2), (9, 4), (10, 1)])
@pytest.mark.parametrize("integers", [False, True])
def test_mda_averages_the_subset_of_smallest_diameter_found_by_brute_force(n, n_bad, integers):
    rng = np.random.default_rng(n * 10 + n_bad)
    X = rng.normal(size=(n, 3))
    X[:n_bad] += 5.0
    if integers:  # many subsets tie on their diameter: the lexicographically first one wins
        X = np.round(X)
    np.testing.assert_allclose(agg.mda(X, n_bad=n_bad), _brute_force_mda(X, n_bad), rtol=0, atol=1e-12)


def _covariance_top_eigenvalue(S, weights=None):
    w = np.full(len(S), 1 / len(S)) if weights is None else weights / weights.sum()
    mu = w @ S
    cov = (S - mu).T @ ((S - mu) * w[:, None])
    return np.linalg.eigh(cov)


@pytest.mark.parametrize(("n", "n_bad"), [(5, 2), (7, 3), (8, 1), (9, 2)])
def test_smea_averages_the_subset_whose_covariance_has_the_smallest_top_eigenvalue(n, n_bad):
    rng = np.random.default_rng(n + 100 * n_bad)
    X = rng.normal(size=(n, 4))
    X[:n_bad] += rng.normal(scale=4.0, size=(n_bad, 4))
    subsets = list(itertools.combinations(range(n), n - n_bad))
    top = [_covariance_top_eigenvalue(X[list(s)])[0][-1] for s in subsets]
    expected = X[list(subsets[int(np.argmin(top))])].mean(axis=0)
    np.testing.assert_allclose(agg.smea(X, n_bad=n_bad), expected, rtol=0, atol=1e-12)


def _dense_caf(X, n_bad):
    # Allouah, Guerraoui, Stephan (ICML 2025), CAF with the d x d covariance and an exact eigh, and
    # the down-weighting normalised over the inputs still weighted (as documented).
    n = len(X)
    c = np.ones(n)
    best, best_mu = np.inf, X.mean(axis=0)
    while c.sum() > n - 2 * n_bad:
        mu = c @ X / c.sum()
        eigenvalues, eigenvectors = _covariance_top_eigenvalue(X, c)
        if eigenvalues[-1] < best:
            best, best_mu = eigenvalues[-1], mu
        tau = ((X - mu) @ eigenvectors[:, -1]) ** 2
        c = c * (1 - tau / tau[c > 0].max())
    return best_mu


@pytest.mark.parametrize(("n", "n_bad", "seed"), [(5, 1, 0), (7, 2, 1), (10, 3, 2), (12, 5, 3), (9, 4, 4), (20, 6, 5)])
def test_caf_filters_as_its_dense_covariance_transcription(n, n_bad, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:n_bad] += rng.normal(scale=6.0, size=(n_bad, 5))
    np.testing.assert_allclose(agg.caf(X, n_bad=n_bad), _dense_caf(X, n_bad), rtol=0, atol=1e-9)


def test_caf_zeros_one_more_weight_per_step_so_it_ends_within_n_steps(monkeypatch):
    # 30 inputs, 14 bad: the loop must bring the total weight from 30 to 2; it cannot stall on
    # inputs already at weight 0 (ByzFL's normalisation would). One eigenpair per step.
    from multisource.aggregation import spectral

    calls = []
    top_eigenpair = spectral._top_eigenpair
    monkeypatch.setattr(spectral, "_top_eigenpair", lambda M: calls.append(1) or top_eigenpair(M))
    rng = np.random.default_rng(8)
    X = rng.normal(size=(30, 4))
    X[:14] += 50.0 * rng.normal(size=(14, 4))
    np.testing.assert_allclose(agg.caf(X, n_bad=14), _dense_caf(X, 14), rtol=0, atol=1e-9)
    assert 0 < len(calls) <= 30


@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_the_top_eigenpair_matches_a_dense_eigendecomposition(n):
    # CAF's matrices are PSD and, centred, rank-deficient: both kinds, against scipy's full eigh.
    from multisource.aggregation import spectral

    A = np.random.default_rng(n).normal(size=(n, max(n - 1, 1)))
    for M in (A @ A.T, A @ A.T - 3.0 * np.eye(n)):
        values = scipy_eigh(M, eigvals_only=True)
        lam, v = spectral._top_eigenpair(M)
        assert lam == pytest.approx(values[-1], rel=1e-12, abs=1e-12 * np.abs(values).max())
        np.testing.assert_allclose(M @ v, lam * v, atol=1e-10 * max(np.abs(values).max(), 1.0))
        assert np.linalg.norm(v) == pytest.approx(1.0, rel=1e-12)


def test_caf_without_byzantine_inputs_is_the_mean():
    X = np.random.default_rng(5).normal(size=(6, 3))
    np.testing.assert_allclose(agg.caf(X, n_bad=0), X.mean(axis=0), rtol=0, atol=1e-14)


def _literal_bulyan(X, n_bad):
    # El Mhamdi, Guerraoui, Rouault (ICML 2018), Algorithm 1, with Krum on what is left and our
    # documented neighbour count max(1, r - n_bad - 2) (at most r - 1), per-pair distances.
    left, selected = list(range(len(X))), []
    while len(selected) < len(X) - 2 * n_bad:
        r = len(left)
        k = min(max(r - n_bad - 2, 1), r - 1)
        D = cdist(X[left], X[left], "sqeuclidean")
        scores = [sorted(D[a][b] for b in range(r) if b != a)[:k] for a in range(r)]
        selected.append(left.pop(int(np.argmin([sum(s) for s in scores]))))
    S = X[sorted(selected)]
    beta = len(S) - 2 * n_bad
    med = np.median(S, axis=0)
    out = np.empty(X.shape[1])
    for j in range(X.shape[1]):
        closest = sorted(S[:, j], key=lambda v, m=med[j]: (abs(v - m), v))[:beta]
        out[j] = np.mean(closest)
    return out


@pytest.mark.parametrize(("n", "n_bad"), [(3, 0), (7, 1), (11, 2), (12, 2), (15, 3)])
@pytest.mark.parametrize("seed", range(3))
def test_bulyan_follows_algorithm_1_step_by_step(n, n_bad, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:n_bad] += rng.normal(scale=10.0, size=(n_bad, 4))
    np.testing.assert_allclose(agg.bulyan(X, n_bad=n_bad), _literal_bulyan(X, n_bad), rtol=0, atol=1e-12)


def test_centered_clipping_with_an_unreachable_radius_moves_the_centre_to_the_mean_in_one_step():
    X = np.random.default_rng(2).normal(size=(8, 3))
    center = np.array([5.0, -5.0, 1.0])
    np.testing.assert_allclose(agg.centered_clipping(X, tau=1e9, center=center), X.mean(axis=0), atol=1e-12)


def test_centered_clipping_moves_at_most_tau_per_step():
    X = np.full((4, 2), 100.0)
    np.testing.assert_allclose(agg.centered_clipping(X, tau=1.0, n_iter=3), np.full(2, 3 * SQRT_HALF))


def test_geometric_median_of_float32_tensors_matches_float64_to_float32_precision():
    X = np.random.default_rng(1).normal(size=(15, 20))
    z64 = agg.geometric_median(X)
    z32 = agg.geometric_median(torch.tensor(X, dtype=torch.float32))
    assert z32.dtype == torch.float32
    np.testing.assert_allclose(z32.numpy(), z64, atol=1e-5)


@pytest.mark.parametrize(
    ("n", "max_iter", "init", "tol"), [(9, 3, "zeros", 0.0), (40, 500, "mean", 1e-12), (200, 20, "mean", 1e-10)]
)
def test_geometric_median_in_gram_space_equals_the_iteration_on_the_vector(
    honest_and_outliers, monkeypatch, n, max_iter, init, tol
):
    # For n <= min(16 (max_iter - 1), 256) the Weiszfeld steps run on the weights through X X^T; the
    # same steps on z are forced by allowing the Gram space no rows at all.
    from multisource.aggregation import geometric

    X = honest_and_outliers(n, n // 4, d=30, seed=n)
    options = {"max_iter": max_iter, "init": init, "tol": tol, "nu": 0.1}
    in_gram = agg.geometric_median(X, **options)
    monkeypatch.setattr(geometric, "_GRAM_MAX_ROWS", 0)
    on_vector = agg.geometric_median(X, **options)
    np.testing.assert_allclose(in_gram, on_vector, rtol=0, atol=1e-9 * np.abs(X).max())


def test_geometric_median_beyond_the_gram_rows_agrees_with_byzfl(byzfl, honest_and_outliers):
    # n = 80 > 16 * 2: ByzFL's three steps from zero run on the vector (the first on the norms
    # alone, the others over three column blocks, the last one short), and still equal ByzFL's.
    X = honest_and_outliers(80, 19, d=2600, seed=3)
    z = agg.geometric_median(X, init="zeros", nu=0.1, max_iter=3, tol=0.0)
    np.testing.assert_allclose(z, byzfl[0].GeometricMedian()(X), rtol=0, atol=1e-6)


_COORDINATEWISE = {
    "coordinate_median": lambda V: agg.coordinate_median(V),
    "trimmed_mean": lambda V: agg.trimmed_mean(V, n_bad=5),
    "meamed": lambda V: agg.meamed(V, n_bad=5),
}


def _small_column_blocks(monkeypatch, columns):
    from multisource.aggregation import arrays

    monkeypatch.setattr(arrays, "_BLOCK_BYTES", 0)
    monkeypatch.setattr(arrays, "_MIN_BLOCK_COLUMNS", columns)


@pytest.mark.parametrize("rule", sorted(_COORDINATEWISE))
@pytest.mark.parametrize("columns", [1, 7, 300, 1000])  # one column a block, a ragged last block, one block
def test_the_blocked_column_sort_equals_a_whole_sort_whatever_the_blocks(
    honest_and_outliers, monkeypatch, rule, columns
):
    # The CPU sorts X one block of columns at a time (coordinatewise.sorted_column_statistic); the
    # oracle sorts all of X at once and, for MeaMed, ranks each column's values by distance to its
    # median (a stable sort: of two values equally far, the smaller comes first, as the rule's ties).
    X = honest_and_outliers(21, 5, d=300, seed=11)
    _small_column_blocks(monkeypatch, columns)
    S = np.sort(X, axis=0)
    nearest = np.argsort(np.abs(S - S[10]), axis=0, kind="stable")[:16]
    expected = {
        "coordinate_median": S[10],
        "trimmed_mean": S[5:16].mean(axis=0),
        "meamed": np.take_along_axis(S, nearest, axis=0).mean(axis=0),
    }[rule]
    np.testing.assert_allclose(_COORDINATEWISE[rule](X), expected, rtol=0, atol=1e-12 * np.abs(X).max())


@pytest.mark.parametrize("rule", sorted(_COORDINATEWISE))
@pytest.mark.parametrize(
    ("bad", "rows"),
    [
        ({(12, 299): np.nan}, "12"),  # in the ragged last block only
        ({(3, 150): np.inf}, "3"),  # in a middle block only
        ({(3, 0): np.inf, (8, 0): -np.inf, (12, 299): np.nan}, "3, 8, 12"),  # +inf and -inf in one column
    ],
)
def test_a_non_finite_value_in_any_column_block_is_rejected_by_row(honest_and_outliers, monkeypatch, rule, bad, rows):
    # Blocks of 7 columns; +inf and -inf meeting in a column sum to NaN without a floating-point warning.
    X = honest_and_outliers(21, 5, d=300, seed=11)
    _small_column_blocks(monkeypatch, 7)
    for (i, j), value in bad.items():
        X[i, j] = value
    with pytest.raises(ValueError, match=rf"vectors rows \[{rows}\] contain NaN or infinite values"):
        _COORDINATEWISE[rule](X)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_mean_keeps_kind_and_dtype_on_each_of_its_paths(honest_and_outliers, dtype):
    # Contiguous and strided tensors are averaged by cached uniform weights (arrays.uniform_weights,
    # twice with the same key here), tensors of long rows in numpy, a read-only array in numpy; all
    # equal numpy's mean.
    from multisource.aggregation import coordinatewise

    X = honest_and_outliers(12, 3, d=50, seed=5)
    T = torch.tensor(X, dtype=dtype)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    long_rows = torch.tensor(honest_and_outliers(4, 1, d=coordinatewise._NUMPY_GEMV_COLUMNS, seed=6), dtype=dtype)
    for tensor in (T, T.T.contiguous().T, long_rows):
        result = agg.mean(tensor)
        assert isinstance(result, torch.Tensor) and result.dtype == dtype
        reference = tensor.double().numpy().mean(axis=0)
        np.testing.assert_allclose(result.numpy(), reference, rtol=0, atol=tol * np.abs(tensor.numpy()).max())
    with pytest.raises(ValueError, match=r"mean: vectors rows \[2\] contain NaN"):
        agg.mean(torch.where(torch.arange(4)[:, None] == 2, torch.nan, long_rows))
    frozen = X.copy()
    frozen.flags.writeable = False
    np.testing.assert_allclose(agg.mean(frozen), X.mean(axis=0), rtol=0, atol=1e-12 * np.abs(X).max())


def test_the_mean_of_finite_inputs_whose_norm_overflows_is_returned():
    # The NaN policy reads z . z; for float32 means of 1e20 it overflows, the rows are searched,
    # and, all finite, the mean is returned (torch and numpy paths).
    X = np.full((3, 8), 1e20, dtype=np.float32)
    X[1] *= -0.5
    for vectors in (X, torch.from_numpy(X)):
        np.testing.assert_allclose(np.asarray(agg.mean(vectors)), np.full(8, 1.5e20 / 3, np.float32), rtol=1e-6)


def test_the_distance_matrix_and_krum_scores_are_the_same_in_numpy_and_in_torch(honest_and_outliers):
    # On the CPU the (n, n) arithmetic runs in numpy; on other devices the same functions run on
    # tensors: both give scipy's distances, with an exactly zero diagonal and exact symmetry.
    from multisource.aggregation import distances, neighbours

    X = honest_and_outliers(13, 4, d=70, seed=2)
    G = X @ X.T
    D = distances._from_gram(G.copy())
    D_torch = distances._from_gram(torch.from_numpy(G.copy()))
    np.testing.assert_array_equal(D_torch.numpy(), D)
    assert np.all(np.diag(D) == 0.0) and np.array_equal(D, D.T)
    np.testing.assert_allclose(D, cdist(X, X, "sqeuclidean"), rtol=1e-10, atol=1e-10 * np.abs(G).max())
    scores = neighbours.krum_scores(D, 7)
    np.testing.assert_allclose(neighbours.krum_scores(torch.from_numpy(D), 7).numpy(), scores, rtol=1e-14)
    brute = [sorted(np.delete(cdist(X, X, "sqeuclidean")[i], i))[:7] for i in range(13)]
    np.testing.assert_allclose(scores, np.sum(brute, axis=1), rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [100, 2600])
def test_the_weighted_sum_and_its_product_by_column_blocks_equal_two_dense_products(dtype, d):
    # At n = 80 the blocks have 1250 columns: d = 2600 gives two full ones and a short one.
    from multisource.aggregation.arrays import weighted_sum_and_product

    rng = np.random.default_rng(4)
    X = rng.standard_normal((80, d)).astype(dtype)
    w = rng.random(80)
    w /= w.sum()
    z, Xz = weighted_sum_and_product(w, X)
    z_alone, none = weighted_sum_and_product(w, X, product=False)
    assert z.dtype == Xz.dtype == z_alone.dtype == dtype and none is None
    expected = w @ X.astype(np.float64)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(z, expected, rtol=0, atol=tol)
    np.testing.assert_allclose(z_alone, z, rtol=0, atol=tol)
    np.testing.assert_allclose(Xz, X.astype(np.float64) @ expected, rtol=0, atol=tol * d**0.5 * 10)
    z_mean, _ = weighted_sum_and_product(1.0 / 80, X)
    np.testing.assert_allclose(z_mean, X.astype(np.float64).mean(axis=0), rtol=0, atol=tol)
