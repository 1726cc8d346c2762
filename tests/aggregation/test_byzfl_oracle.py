"""Every aggregator and pre-aggregator we share with ByzFL agrees with it to 1e-6.

Inputs: honest Gaussians plus n_bad outliers, with duplicated rows (ties in distances) or integer
values (ties in coordinates), at the edge n = 2 n_bad + 3 and beyond; numpy float64, torch float64
(against ByzFL on numpy float64) and torch float32 (against ByzFL on torch, which computes in float32,
to a few float32 ulps of the data scale). Where our rule is parametrised differently, the mapping
is stated next to the pair: Krum scores over n - n_bad - 2 neighbours (Blanchard et al. 2017), ByzFL
over n - f - 1, so ours with n_bad is ByzFL's with f = n_bad + 1.
"""

import numpy as np
import pytest
import torch

import multisource.aggregation as agg

# name -> (ours(X, n_bad), ByzFL's callable from (aggregators, preaggregators, n_bad), kinds of input)
ALL_KINDS = ("outliers", "duplicates", "integers")
NO_INTEGER_TIES = ("outliers", "duplicates")
SHARED = {
    "mean": (lambda X, f: agg.mean(X), lambda B, P, f: B.Average(), ALL_KINDS),
    "coordinate_median": (lambda X, f: agg.coordinate_median(X), lambda B, P, f: B.Median(), ALL_KINDS),
    "trimmed_mean": (lambda X, f: agg.trimmed_mean(X, n_bad=f), lambda B, P, f: B.TrMean(f), ALL_KINDS),
    # Ties at equal distance on both sides of the median are unspecified in ByzFL: see the tie test.
    "meamed": (lambda X, f: agg.meamed(X, n_bad=f), lambda B, P, f: B.Meamed(f), NO_INTEGER_TIES),
    # ByzFL's GeometricMedian() is our smoothed Weiszfeld from zeros, nu = 0.1, three steps.
    "geometric_median": (
        lambda X, f: agg.geometric_median(X, init="zeros", nu=0.1, max_iter=3, tol=0.0),
        lambda B, P, f: B.GeometricMedian(),
        ALL_KINDS,
    ),
    "krum": (lambda X, f: agg.krum(X, n_bad=f), lambda B, P, f: B.Krum(f + 1), NO_INTEGER_TIES),
    "multi_krum": (
        lambda X, f: agg.multi_krum(X, n_bad=f, m=X.shape[0] - f - 1),
        lambda B, P, f: B.MultiKrum(f + 1),
        NO_INTEGER_TIES,
    ),
    "centered_clipping": (
        lambda X, f: agg.centered_clipping(X, tau=2.0, n_iter=3),
        lambda B, P, f: B.CenteredClipping(L=3, tau=2.0),
        ALL_KINDS,
    ),
    "mda": (lambda X, f: agg.mda(X, n_bad=f), lambda B, P, f: B.MDA(f), ALL_KINDS),
    "monna": (lambda X, f: agg.monna(X, n_bad=f, idx=1), lambda B, P, f: B.MoNNA(f, idx=1), NO_INTEGER_TIES),
    "nnm": (lambda X, f: agg.nnm(X, n_bad=f), lambda B, P, f: P.NNM(f), NO_INTEGER_TIES),
    "static_clipping": (lambda X, f: agg.static_clipping(X, c=3.0), lambda B, P, f: P.Clipping(3.0), ALL_KINDS),
    "arc": (lambda X, f: agg.arc(X, n_bad=f), lambda B, P, f: P.ARC(f), ALL_KINDS),
}
# (n, n_bad): the edge n = 2 n_bad + 3 for n_bad = 1..4, then a comfortable honest majority.
SIZES = [(5, 1), (7, 2), (9, 3), (11, 4), (12, 2), (16, 3)]
CASES = [
    (name, kind, n, n_bad, seed)
    for name, (_, _, kinds) in SHARED.items()
    for kind in kinds
    for n, n_bad in SIZES
    for seed in range(2)
]


def _byzfl_input(X):
    # ByzFL's Clipping and ARC write into their input: give it a copy.
    return X.clone() if isinstance(X, torch.Tensor) else X.copy()


@pytest.mark.parametrize(("name", "kind", "n", "n_bad", "seed"), CASES)
@pytest.mark.parametrize("backend", ["numpy", "torch64", "torch32"])
def test_shared_rule_agrees_with_byzfl(byzfl, honest_and_outliers, name, kind, n, n_bad, seed, backend):
    ours, theirs, _ = SHARED[name]
    X = honest_and_outliers(n, n_bad, d=6, seed=seed, kind=kind)
    oracle = theirs(*byzfl, n_bad)
    if backend == "numpy":
        result, expected, atol = ours(X, n_bad), oracle(_byzfl_input(X)), 1e-6
        assert isinstance(result, np.ndarray)
    elif backend == "torch64":
        result, expected, atol = ours(torch.from_numpy(X), n_bad), oracle(_byzfl_input(X)), 1e-6
        assert isinstance(result, torch.Tensor) and result.dtype == torch.float64
        result = result.numpy()
    else:
        T = torch.tensor(X, dtype=torch.float32)
        result, expected = ours(T, n_bad), oracle(_byzfl_input(T))
        assert isinstance(result, torch.Tensor) and result.dtype == torch.float32
        result, expected, atol = result.numpy(), expected.numpy(), 8 * 2.0**-23 * max(1.0, float(np.abs(X).max()))
    np.testing.assert_allclose(result, np.asarray(expected, dtype=np.float64), rtol=0, atol=atol)


def test_bucketing_averages_the_buckets_of_its_seeded_permutation_as_byzfl(byzfl, honest_and_outliers, monkeypatch):
    # ByzFL shuffles with numpy's global generator; we take a seed. Given our permutation, the
    # bucket means must be ByzFL's.
    X = honest_and_outliers(11, 2, d=5, seed=3)
    perm = np.random.default_rng(7).permutation(11)
    monkeypatch.setattr(np.random, "permutation", lambda v: v[perm])
    for s in (1, 2, 3, 4, 11):
        np.testing.assert_allclose(agg.bucketing(X, s=s, seed=7), byzfl[1].Bucketing(s)(X), rtol=0, atol=1e-12)


def test_bucketing_of_a_tensor_matches_byzfl_on_the_same_permutation(byzfl, honest_and_outliers, monkeypatch):
    from byzfl.utils import torch_tools

    X = torch.from_numpy(honest_and_outliers(10, 2, d=5, seed=4))
    perm = torch.from_numpy(np.random.default_rng(1).permutation(10))
    monkeypatch.setattr(torch_tools, "permutation", lambda v: v[perm])
    result = agg.bucketing(X, s=3, seed=1)
    assert isinstance(result, torch.Tensor) and result.shape == (4, 5)
    np.testing.assert_allclose(result.numpy(), byzfl[1].Bucketing(3)(X.float()).numpy(), rtol=0, atol=1e-5)


def test_meamed_breaks_ties_at_equal_distance_from_the_median_towards_the_smaller_value(byzfl):
    # Column [0, 1, 2, 3], k = n - n_bad = 3: the median is 1.5 and 0 and 3 are equally far from it.
    # We keep {0, 1, 2} (mean 1); ByzFL's argpartition may keep either, so it gives 1 or 2.
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert agg.meamed(X, n_bad=1)[0] == 1.0
    assert byzfl[0].Meamed(1)(X)[0] in (1.0, 2.0)


def test_arc_clips_the_exact_integer_count_where_byzfl_rounds_one_below():
    # k = floor(2 n_bad (n - n_bad) / n) = floor(2 * 33 * 209 / 242) = 57 exactly, but ByzFL's
    # int(2 * 33 / 242 * 209) evaluates 56.999... and clips 56: we clip the 57 largest.
    X = np.diag(np.arange(1.0, 243.0))
    clipped = agg.arc(X, n_bad=33)
    norms = np.linalg.norm(clipped, axis=1)
    assert int(2 * 33 / 242 * 209) == 56
    assert np.count_nonzero(norms < np.arange(1.0, 243.0)) == 57
    assert np.allclose(norms[-57:], 242 - 57)


@pytest.mark.parametrize("name", ["static_clipping", "arc"])
@pytest.mark.parametrize("backend", ["numpy", "torch32"])
def test_clipping_in_place_writes_byzfls_result_into_the_callers_array(byzfl, honest_and_outliers, name, backend):
    # ByzFL's Clipping and ARC always write into their input; ours do so only with copy=False.
    X = honest_and_outliers(11, 3, d=6, seed=5)
    ours = {"static_clipping": lambda V: agg.static_clipping(V, c=3.0, copy=False),
            "arc": lambda V: agg.arc(V, n_bad=3, copy=False)}[name]  # fmt: skip
    theirs = {"static_clipping": byzfl[1].Clipping(3.0), "arc": byzfl[1].ARC(3)}[name]
    V = X.copy() if backend == "numpy" else torch.tensor(X, dtype=torch.float32)
    expected = np.asarray(theirs(_byzfl_input(V)), dtype=np.float64)
    result = ours(V)
    if backend == "numpy":
        assert np.shares_memory(result, V)
    else:
        assert result.data_ptr() == V.data_ptr()
    atol = 1e-6 if backend == "numpy" else 8 * 2.0**-23 * float(np.abs(X).max())
    np.testing.assert_allclose(np.asarray(V, dtype=np.float64), expected, rtol=0, atol=atol)


def _values(V):
    """float64 numpy copy of an array, a tensor (requiring grad or not) or a list of rows."""
    if isinstance(V, torch.Tensor):
        return V.detach().to(torch.float64).numpy().copy()
    return np.array(np.stack(V) if isinstance(V, list) else V, dtype=np.float64)


@pytest.mark.parametrize("name", ["static_clipping", "arc"])
def test_clipping_with_copy_false_leaves_what_it_cannot_write_unchanged(honest_and_outliers, name):
    # A read-only array, a list of rows, a leaf that requires grad and a float16 tensor (computed in
    # float32) cannot be clipped in place: each gets a new array, equal to the copy=True result.
    rule = {"static_clipping": lambda V, copy: agg.static_clipping(V, c=3.0, copy=copy),
            "arc": lambda V, copy: agg.arc(V, n_bad=3, copy=copy)}[name]  # fmt: skip
    X = honest_and_outliers(11, 3, d=6, seed=6)
    frozen = X.copy()
    frozen.setflags(write=False)
    for V in (frozen, list(X), torch.tensor(X, requires_grad=True), torch.tensor(X, dtype=torch.float16)):
        before = _values(V)
        np.testing.assert_array_equal(_values(rule(V, False)), _values(rule(V, True)))
        np.testing.assert_array_equal(_values(V), before)
