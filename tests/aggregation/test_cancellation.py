"""Inputs sharing an offset far larger than their spread (models trained from one initialisation and
aggregated one-shot): rounding in ``|x|^2 + |y|^2 - 2 x . y`` must not decide what a rule selects.

The oracle is the same rule on the inputs with the offset taken off exactly, in float64, and added
back: every rule here is translation-equivariant (centered clipping with its centre moved too).
"""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import multisource.aggregation as agg

N_BAD = 2

# (name, options): the translation-equivariant rules that form distances or Gram matrices.
RULES = [
    ("krum", {"n_bad": N_BAD}),
    ("multi_krum", {"n_bad": N_BAD}),
    ("bulyan", {"n_bad": N_BAD}),
    ("mda", {"n_bad": N_BAD}),
    ("monna", {"n_bad": N_BAD}),
    ("nnm", {"n_bad": N_BAD}),
    ("smea", {"n_bad": N_BAD}),
    ("caf", {"n_bad": N_BAD}),
    ("geometric_median", {"tol": 0.0, "max_iter": 30}),  # a fixed number of steps: tol scales with |z|
    ("centered_clipping", {"tau": 5.0, "n_iter": 3}),
]


def _rule(name):
    return getattr(agg, name)


def _offset_inputs(n, d, dtype, scale, seed=0):
    """(V, offset): V = honest N(0, I) rows and N_BAD outliers 3 units off, plus an offset of entries in
    [scale, 2 scale), as ``dtype``; the offset is exactly representable in it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[:N_BAD] += 3.0
    offset = (scale * (1.0 + rng.random(d))).astype(dtype)
    return (X + offset).astype(dtype), offset


def _call(name, V, options, offset):
    if name == "centered_clipping":  # the centre moves with the inputs
        options = {**options, "center": offset}
    return _rule(name)(V, **options)


@pytest.mark.parametrize(("name", "options"), RULES)
@pytest.mark.parametrize(
    ("dtype", "scale", "atol"),
    [
        # float32: an offset of 1e3 spread-widths; atol is the float32 rounding of outputs near 2e3
        (np.float32, 1e3, 2e-3),
        # float64: an offset of 1e8; ulp(2e8) is 3e-8
        (np.float64, 1e8, 1e-6),
    ],
)
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_a_large_common_offset_does_not_change_what_the_rule_selects(name, options, dtype, scale, atol, kind):
    V, offset = _offset_inputs(11, 300, dtype, scale)
    exact = V.astype(np.float64) - offset.astype(np.float64)  # exact: a difference of two floats of dtype
    oracle = _call(name, exact, options, np.zeros_like(exact[0])) + offset.astype(np.float64)
    inputs = torch.from_numpy(V) if kind == "torch" else V
    ours = _call(name, inputs, options, torch.from_numpy(offset) if kind == "torch" else offset)
    ours = ours.numpy() if kind == "torch" else ours
    np.testing.assert_allclose(ours.astype(np.float64), oracle, rtol=0, atol=atol)


@pytest.mark.parametrize("init", ["mean", "zeros"])
def test_the_geometric_median_of_many_offset_inputs_on_the_vector_path(init):
    """n = 300 > 256 rows: Weiszfeld iterates on z itself and moves X to z once rounding would decide."""
    V, _ = _offset_inputs(300, 50, np.float32, 1e3)
    options = {"tol": 0.0, "max_iter": 20, "init": init}
    oracle = agg.geometric_median(V.astype(np.float64), **options)  # float64 has room for this offset
    ours = agg.geometric_median(torch.from_numpy(V), **options).numpy()
    np.testing.assert_allclose(ours.astype(np.float64), oracle, rtol=0, atol=2e-3)


def test_squared_distances_of_offset_float32_inputs_match_their_float64_differences():
    V, _ = _offset_inputs(11, 300, np.float32, 1e3)
    exact = V.astype(np.float64)
    expected = ((exact[:, None, :] - exact[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(agg.squared_distances(torch.from_numpy(V)).numpy(), expected, rtol=1e-4)


def test_the_move_is_decided_by_a_majority_within_rounding_not_by_duplicated_minorities():
    from multisource.aggregation.distances import _clamp_and_check, _unclamped, rounding_noise

    def moves(V):
        X = torch.from_numpy(V)
        G = V.astype(np.float64) @ V.T.astype(np.float64) if V.dtype == np.float64 else (X @ X.T).double().numpy()
        return _clamp_and_check(_unclamped(G), G, rounding_noise(X), float(G.trace()))

    rng = np.random.default_rng(3)
    plain = rng.normal(size=(11, 300)).astype(np.float32)
    assert not moves(plain)
    colluding = plain.copy()
    colluding[:5] = colluding[0]  # 5 identical Byzantine rows of 11: 20 ordered pairs at distance 0
    assert not moves(colluding)
    offset, _ = _offset_inputs(11, 300, np.float32, 1e3)
    assert moves(offset)
    assert not moves(offset.astype(np.float64))  # float64 keeps these distances to 1e-9
    majority = plain.copy()
    majority[:6] = colluding[0]  # 6 of 11 identical: a majority, worth the move (a cheap one)
    assert moves(majority)


def test_squared_distances_between_two_offset_float32_sets_match_their_float64_differences():
    V, _ = _offset_inputs(11, 300, np.float32, 1e3)
    X, Y = V[:7], V[7:]
    exact = ((X.astype(np.float64)[:, None, :] - Y.astype(np.float64)[None, :, :]) ** 2).sum(axis=2)
    D = agg.squared_distances(torch.from_numpy(X), torch.from_numpy(Y)).numpy()
    np.testing.assert_allclose(D, exact, rtol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "d"), [(20, 100), (20, 10_000), (100, 1_000), (100, 30_000)])
def test_the_rounding_estimate_bounds_the_error_of_the_products_on_offset_inputs(dtype, n, d):
    """The move's trigger assumes Gram rounding of at most u (sqrt(d) + 16) (|x_i|^2 + |x_j|^2):
    torch's product (n <= 64 rows) and numpy's (above), against float64 differences (scipy)."""
    from multisource.aggregation.arrays import float64_gram
    from multisource.aggregation.distances import _DISTANCE_ACCURACY, _noisy_below, _unclamped

    rng = np.random.default_rng(d)
    V = (1e-3 * rng.normal(size=(n, d)) + rng.normal(size=d)).astype(dtype)
    G = float64_gram(torch.from_numpy(V))
    sq = np.diag(G)
    error = np.abs(_unclamped(G) - cdist(V.astype(np.float64), V.astype(np.float64), "sqeuclidean"))
    estimate = _noisy_below(torch.from_numpy(V).dtype, d) * _DISTANCE_ACCURACY  # u (sqrt(d) + 16)
    assert (error / (sq[:, None] + sq[None, :])).max() <= estimate
