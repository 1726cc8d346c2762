"""SparseGPT layer solver against independent oracles (dense inverses, least squares, closed forms)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from multisource.compress.baselines import magnitude_prune_layer, wanda_prune_layer
from multisource.compress.hessian import HessianAccumulator
from multisource.compress.masks import is_nm_sparse, unstructured_mask
from multisource.compress.sparsegpt import sparsegpt_prune_layer


def _layer(rows=24, columns=40, tokens=300, seed=0):
    """W and calibration inputs X whose features have very different scales, like LLM activations."""
    g = torch.Generator().manual_seed(seed)
    mixing = (
        torch.eye(columns, dtype=torch.float64)
        + 0.3 * torch.randn(columns, columns, generator=g, dtype=torch.float64) / columns**0.5
    )
    X = torch.randn(tokens, columns, generator=g, dtype=torch.float64) @ mixing  # correlated features
    X = X * torch.exp(torch.randn(columns, generator=g, dtype=torch.float64))
    W = torch.randn(rows, columns, generator=g, dtype=torch.float64)
    return W, X, 2 * X.T @ X / tokens


def _damped(H, percdamp):
    return H + percdamp * torch.mean(torch.diag(H)) * torch.eye(H.shape[0], dtype=H.dtype)


def _obs_column_oracle(W, H, mask):
    """Column-by-column OBS with inv(H[j:, j:]) recomputed densely for every column j."""
    W = W.clone()
    for j in range(W.shape[1]):
        Hinv = torch.linalg.inv(H[j:, j:])
        q = torch.where(mask[:, j], torch.zeros_like(W[:, j]), W[:, j])
        err = (W[:, j] - q) / Hinv[0, 0]
        W[:, j:] -= torch.outer(err, Hinv[0])
        W[:, j] = q
    return W


def _obs_column_oracle_nm(W, H, n, m):
    """Column-by-column OBS with dense inverses, where each aligned group of m columns gets its n zeros per row
    when the pass reaches the group's first column, by the lowest w^2 / [inv(H[c:, c:])]_00 on the current weights."""
    W = W.clone()
    rows, columns = W.shape
    mask = torch.zeros(rows, columns, dtype=torch.bool)
    for j in range(columns):
        if j % m == 0:
            group = list(range(j, min(j + m, columns)))
            diag = torch.stack([torch.linalg.inv(H[c:, c:])[0, 0] for c in group])
            k = n if len(group) == m else (n * len(group)) // m
            if k:
                lowest = torch.topk(W[:, group] ** 2 / diag, k, dim=1, largest=False).indices
                mask[:, group] = torch.zeros(rows, len(group), dtype=torch.bool).scatter_(1, lowest, True)
        Hinv = torch.linalg.inv(H[j:, j:])
        q = torch.where(mask[:, j], torch.zeros_like(W[:, j]), W[:, j])
        err = (W[:, j] - q) / Hinv[0, 0]
        W[:, j:] -= torch.outer(err, Hinv[0])
        W[:, j] = q
    return W, mask


def _least_squares_optimum(W, H, mask):
    """argmin_{W'} tr((W - W') H (W - W')^T) with W'[mask] = 0, row by row (explicit dense solve)."""
    out = torch.zeros_like(W)
    for r in range(W.shape[0]):
        P, K = mask[r], ~mask[r]
        # dW_K H_KK = -dW_P H_PK, dW_P = -W_P
        delta_K = torch.linalg.solve(H[K][:, K], (W[r, P] @ H[P][:, K]))
        out[r, K] = W[r, K] + delta_K
    return out


def test_streaming_hessian_equals_one_shot_mean_over_tokens():
    X = torch.randn(5, 7, 6, dtype=torch.float64)  # batch x sequence x features
    acc = HessianAccumulator(6, dtype=torch.float64)
    acc.add_batch(X[:2])
    acc.add_batch(X[2:3].reshape(-1, 6))
    acc.add_batch(X[3:])
    tokens = X.reshape(-1, 6)
    torch.testing.assert_close(acc.hessian(), 2 * tokens.T @ tokens / 35, rtol=1e-13, atol=1e-13)
    assert acc.nsamples == 35


@pytest.mark.parametrize("blocksize", [1, 7, 128])
def test_fixed_mask_result_equals_column_by_column_obs_oracle(blocksize):
    W, _, H = _layer()
    mask = unstructured_mask(torch.rand(W.shape, generator=torch.Generator().manual_seed(1)), 0.5)
    result = sparsegpt_prune_layer(W, H, mask=mask, blocksize=blocksize, percdamp=0.01)
    expected = _obs_column_oracle(W, _damped(H, 0.01), mask)
    torch.testing.assert_close(result.weight, expected, rtol=1e-9, atol=1e-9)
    assert torch.equal(result.mask, mask)


def test_adaptive_mask_weights_equal_oracle_on_the_mask_they_chose():
    W, _, H = _layer(seed=3)
    result = sparsegpt_prune_layer(W, H, sparsity=0.6, blocksize=8)
    expected = _obs_column_oracle(W, _damped(H, 0.01), result.mask)
    torch.testing.assert_close(result.weight, expected, rtol=1e-9, atol=1e-9)


def test_equals_least_squares_optimum_when_pruned_columns_precede_kept_ones():
    """The precise sense of 'SparseGPT is the exact OBS optimum for a fixed mask and 1-column blocks'."""
    W, _, H = _layer(rows=10, columns=30)
    g = torch.Generator().manual_seed(2)
    prefix = torch.randint(1, 29, (W.shape[0], 1), generator=g)
    mask = torch.arange(W.shape[1]).unsqueeze(0) < prefix  # each row prunes its first prefix_r columns
    result = sparsegpt_prune_layer(W, H, mask=mask, blocksize=1, percdamp=0.0)
    torch.testing.assert_close(result.weight, _least_squares_optimum(W, H, mask), rtol=1e-8, atol=1e-8)


def test_general_fixed_mask_is_not_better_than_least_squares_and_usually_worse():
    """Kept weights left of a pruned column are frozen, so the optimum can be strictly better."""
    W, _, H = _layer(rows=10, columns=30, seed=5)
    mask = unstructured_mask(torch.rand(W.shape, generator=torch.Generator().manual_seed(4)), 0.5, per_row=True)
    result = sparsegpt_prune_layer(W, H, mask=mask, blocksize=1, percdamp=0.0)
    optimum = _least_squares_optimum(W, H, mask)
    optimum_error = float(((W - optimum) @ H * (W - optimum)).sum() / 2)
    assert result.error > optimum_error * (1 + 1e-6)


def test_error_is_the_reconstruction_error_on_the_calibration_inputs():
    W, X, H = _layer()
    result = sparsegpt_prune_layer(W, H, sparsity=0.5)
    direct = float(((W - result.weight) @ X.T).pow(2).sum() / X.shape[0])
    assert result.error == pytest.approx(direct, rel=1e-10)


def test_scaling_h_does_not_change_the_result():
    W, _, H = _layer()
    a = sparsegpt_prune_layer(W, H, sparsity=0.5, blocksize=16)
    b = sparsegpt_prune_layer(W, 37.0 * H, sparsity=0.5, blocksize=16)
    torch.testing.assert_close(a.weight, b.weight, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_error_ordering_magnitude_above_wanda_above_sparsegpt(seed):
    W, _, H = _layer(rows=64, columns=96, tokens=500, seed=seed)
    errors = [f(W, H, sparsity=0.5).error for f in (magnitude_prune_layer, wanda_prune_layer, sparsegpt_prune_layer)]
    assert errors[0] > errors[1] > errors[2]


def test_identity_hessian_with_one_block_is_magnitude_pruning():
    W, _, _ = _layer(rows=16, columns=24)
    H = torch.eye(24, dtype=torch.float64)
    result = sparsegpt_prune_layer(W, H, sparsity=0.5, blocksize=128)
    assert torch.equal(result.weight, magnitude_prune_layer(W, sparsity=0.5).weight)


@pytest.mark.parametrize(("n", "m", "columns", "blocksize"), [(2, 4, 40, 8), (4, 8, 37, 16), (1, 3, 31, 6)])
def test_nm_masks_are_exactly_nm(n, m, columns, blocksize):
    W, _, H = _layer(columns=columns)
    result = sparsegpt_prune_layer(W, H, pattern=(n, m), blocksize=blocksize)
    full = (columns // m) * m
    per_group = result.mask[:, :full].reshape(W.shape[0], -1, m).sum(dim=2)
    assert torch.all(per_group == n)
    assert result.mask[:, full:].sum(dim=1).eq((n * (columns - full)) // m).all()
    assert is_nm_sparse(result.weight, n, m)
    assert torch.all(result.weight[result.mask] == 0)


@pytest.mark.parametrize(
    ("n", "m", "columns", "blocksize"), [(2, 4, 40, 4), (2, 4, 40, 8), (2, 4, 40, 128), (1, 3, 31, 6)]
)
def test_nm_weights_and_masks_equal_the_column_by_column_oracle_that_picks_each_group_on_arrival(
    n, m, columns, blocksize
):
    """The group-by-group N:M selection inside the solver's blocks is exactly the sequential OBS rule, for every
    blocksize: same masks, same weights."""
    W, _, H = _layer(rows=12, columns=columns, seed=7)
    result = sparsegpt_prune_layer(W, H, pattern=(n, m), blocksize=blocksize, percdamp=0.01)
    expected_weight, expected_mask = _obs_column_oracle_nm(W, _damped(H, 0.01), n, m)
    assert torch.equal(result.mask, expected_mask)
    torch.testing.assert_close(result.weight, expected_weight, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "target",
    [dict(sparsity=0.5), dict(pattern="2:4"), dict(sparsity=0.5, bits=3), dict(pattern="1:4", bits=4), dict(bits=2)],
)
@pytest.mark.parametrize("dead_column", [False, True])
def test_reported_error_is_the_undamped_reconstruction_error_for_every_target(target, dead_column):
    W, X, _ = _layer(rows=16, columns=32, seed=2)
    if dead_column:
        X[:, 3] = 0
    H = 2 * X.T @ X / X.shape[0]
    result = sparsegpt_prune_layer(W, H, blocksize=8, **target)
    direct = float(((W - result.weight) @ X.T).pow(2).sum() / X.shape[0])
    assert result.error == pytest.approx(direct, rel=1e-9)


def test_reported_error_after_raised_damping_and_in_float32_is_the_reconstruction_error():
    W = torch.randn(8, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    X = torch.randn(10, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))  # H singular
    raised = sparsegpt_prune_layer(W, 2 * X.T @ X / 10, sparsity=0.5, percdamp=0.0)
    assert raised.damping_used > 0
    assert raised.error == pytest.approx(float(((W - raised.weight) @ X.T).pow(2).sum() / 10), rel=1e-9)
    W32, X32, H32 = (t.float() for t in _layer(rows=64, columns=96, tokens=500, seed=4))
    single = sparsegpt_prune_layer(W32, H32, pattern="2:4")
    direct = float(((W32 - single.weight).double() @ X32.double().T).pow(2).sum() / X32.shape[0])
    assert single.error == pytest.approx(direct, rel=1e-4)


def test_unstructured_count_is_exact_per_block():
    W, _, H = _layer(rows=16, columns=40)
    result = sparsegpt_prune_layer(W, H, sparsity=0.3, blocksize=16)
    counts = [int(result.mask[:, i : i + 16].sum()) for i in range(0, 40, 16)]
    assert counts == [round(0.3 * 16 * 16), round(0.3 * 16 * 16), round(0.3 * 16 * 8)]


def _on_minmax_grid(weight, W_dense, bits):
    """Independent numpy check: every entry is scale * (k - zero) for an integer k in [0, 2^b - 1]."""
    W_dense, weight = W_dense.numpy(), weight.numpy()
    lo = np.minimum(W_dense.min(axis=1), 0)
    hi = np.maximum(W_dense.max(axis=1), 0)
    scale = (hi - lo) / (2**bits - 1)
    zero = np.round(-lo / scale)
    k = weight / scale[:, None] + zero[:, None]
    return np.allclose(k, np.round(k), atol=1e-6) and k.min() >= -1e-6 and k.max() <= 2**bits - 1 + 1e-6


@pytest.mark.parametrize(("sparsity", "pattern"), [(0.0, None), (0.5, None), (0.0, "2:4")])
def test_quantized_weights_lie_on_the_dense_grid_and_pruned_stay_zero(sparsity, pattern):
    W, _, H = _layer()
    result = sparsegpt_prune_layer(W, H, sparsity=sparsity, pattern=pattern, bits=3, blocksize=8)
    assert _on_minmax_grid(result.weight, W, 3)
    assert torch.all(result.weight[result.mask] == 0)


def test_quantization_with_compensation_beats_round_to_nearest():
    W, _, H = _layer(rows=32, columns=64)
    gptq = sparsegpt_prune_layer(W, H, bits=3)
    rtn = magnitude_prune_layer(W, H, bits=3)
    assert gptq.error < rtn.error


def test_dead_input_column_is_zeroed_without_nan():
    W, X, _ = _layer()
    X[:, 5] = 0
    H = 2 * X.T @ X / X.shape[0]
    result = sparsegpt_prune_layer(W, H, sparsity=0.5, percdamp=0.0)
    assert torch.isfinite(result.weight).all()
    assert torch.all(result.weight[:, 5] == 0)


def test_rank_deficient_hessian_raises_damping_automatically():
    W = torch.randn(8, 32, dtype=torch.float64)
    X = torch.randn(10, 32, dtype=torch.float64)  # 10 tokens < 32 columns: H is singular
    result = sparsegpt_prune_layer(W, 2 * X.T @ X / 10, sparsity=0.5, percdamp=0.0)
    assert result.damping_used > 0
    assert torch.isfinite(result.weight).all()


@settings(max_examples=15, deadline=None)
@given(
    rows=st.integers(1, 12),
    columns=st.integers(2, 30),
    sparsity=st.floats(0.0, 0.95),
    blocksize=st.integers(1, 40),
)
def test_any_shape_and_sparsity_prunes_to_the_requested_fraction(rows, columns, sparsity, blocksize):
    W, _, H = _layer(rows=rows, columns=columns, tokens=60)
    result = sparsegpt_prune_layer(W.float(), H.float(), sparsity=sparsity, blocksize=blocksize)
    # round(sparsity * count) of each block's entry count, multiplied in that order as the mask does:
    # (0.55 * 10) * 19 = 104.5 rounds to 104, 0.55 * (10 * 19) = 104.50000000000001 to 105.
    expected = sum(round(sparsity * (rows * min(blocksize, columns - i))) for i in range(0, columns, blocksize))
    assert int(result.mask.sum()) == expected
    assert torch.all(result.weight[result.mask] == 0)
    assert result.weight.dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(sparsity=1.0), "sparsity"),
        (dict(sparsity=-0.1), "sparsity"),
        (dict(pattern="4:4"), "N must be smaller"),
        (dict(pattern=(3, 2)), "N \\(zeros per N:M group\\)"),
        (dict(bits=1), "bits"),
        (dict(bits=17), "bits"),
        (dict(pattern="2:4", blocksize=6), "multiple of M"),
        (dict(sparsity=0.3, pattern="2:4"), "contradicts"),
    ],
)
def test_bad_targets_get_a_clear_error(kwargs, message):
    W, _, H = _layer(rows=4, columns=8, tokens=40)
    with pytest.raises(ValueError, match=message):
        sparsegpt_prune_layer(W, H, **kwargs)


def test_hessian_of_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match="H must have shape"):
        sparsegpt_prune_layer(torch.randn(4, 8), torch.eye(7))
