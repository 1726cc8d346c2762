import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from multisource.discrepancy.bound_hessian import (
    SourceDesigns,
    bound_hessian_inverse,
    fit_pairs_bound_hessian,
    pair_scores,
    pair_slots,
)
from multisource.discrepancy.linear import pair_tiles


def _designs(sizes, d, seed, n_problems=1, shift=0.0):
    """Random padded sources: Gaussian features (source i shifted by ``shift * i``), random binary targets."""
    rng = np.random.default_rng(seed)
    N, M = len(sizes), max(sizes)
    X = np.zeros((N, M, d + 1))
    weights = np.zeros((N, M))
    for i, m in enumerate(sizes):
        X[i, :m, :d] = rng.standard_normal((m, d)) * rng.uniform(0.5, 2.0, d) + shift * i
        X[i, :m, d] = 1.0
        weights[i, :m] = 1.0 / m
    first = (rng.random((N, M, n_problems)) < 0.5).astype(float)
    second = (rng.random((N, M, n_problems)) < 0.5).astype(float)
    return SourceDesigns.build(*(torch.tensor(v) for v in (X, weights, first, second)))


def _pair_objective(designs, a, b, w, ridge, k=0):
    """The pooled weighted logistic objective of pair (a, b), problem k, written out independently."""
    X = torch.cat([designs.X[a], designs.X[b]])
    s = torch.cat([designs.weights[a], designs.weights[b]])
    z = torch.cat([designs.targets_first[a, :, k], designs.targets_second[b, :, k]])
    u = X @ w
    return (s * (torch.nn.functional.softplus(u) - z * u)).sum() + 0.5 * (ridge * w**2).sum()


def test_the_bound_majorises_the_hessian_everywhere_and_is_tight_where_every_p_is_one_half():
    designs = _designs([30, 45, 20], d=4, seed=0)
    a, b = np.array([0, 0, 1]), np.array([1, 2, 2])
    ridge = torch.tensor([[0.3, 0.1, 0.0, 2.0, 0.0]] * 3, dtype=torch.float64)
    inverse = bound_hessian_inverse(designs.gram, a, b, ridge)
    rng = np.random.default_rng(1)
    for k in range(3):
        for scale in (0.0, 0.3, 3.0):
            w = torch.tensor(rng.standard_normal(5) * scale)
            H = torch.autograd.functional.hessian(lambda v, k=k: _pair_objective(designs, a[k], b[k], v, ridge[k]), w)
            ratio = torch.linalg.eigvals(inverse[k] @ H).real
            assert ratio.max() <= 1.0 + 1e-8
            if scale == 0.0:  # p = 1/2 on every sample: the Hessian is the bound itself
                assert ratio.min() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("gemm_dtype, tol, tolerance", [(torch.float64, 1e-20, 1e-9), (torch.float32, 1e-12, 1e-5)])
def test_mm_ends_at_the_stationary_point_of_every_pairs_objective(gemm_dtype, tol, tolerance):
    designs = _designs([25, 40, 33, 18], d=3, seed=2, n_problems=2, shift=0.5)
    a, b = np.triu_indices(4, 1)
    ridge = torch.tensor(np.abs(np.random.default_rng(3).standard_normal((6, 4)))) * torch.tensor([1.0, 1, 1, 0])
    W = fit_pairs_bound_hessian(designs, a, b, ridge, max_iter=2000, tol=tol, gemm_dtype=gemm_dtype)
    for pair in range(6):
        for k in range(2):
            w = W[pair, k].clone().requires_grad_(True)
            _pair_objective(designs, a[pair], b[pair], w, ridge[pair], k).backward()
            assert w.grad.abs().max() < tolerance


@pytest.mark.parametrize("C", [0.1, 1.0, 10.0])
def test_l2_equal_one_over_c_gives_sklearns_coefficients(C):
    # sklearn minimises C sum_n s_n loss_n + |w|^2 / 2; ours sum_n s_n loss_n + (l2/2) |w|^2.
    designs = _designs([40, 60], d=3, seed=4)
    ridge = torch.tensor([[1.0 / C] * 3 + [0.0]], dtype=torch.float64)
    W = fit_pairs_bound_hessian(
        designs, np.array([0]), np.array([1]), ridge, max_iter=5000, tol=1e-22, gemm_dtype=torch.float64
    )[0, 0].numpy()
    X = np.concatenate([designs.X[0, :40, :3], designs.X[1, :60, :3]])
    z = np.concatenate([designs.targets_first[0, :40, 0], designs.targets_second[1, :60, 0]])
    s = np.concatenate([designs.weights[0, :40], designs.weights[1, :60]])
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, z, sample_weight=s)
    np.testing.assert_allclose(W[:3], reference.coef_[0], atol=1e-6)
    assert W[3] == pytest.approx(reference.intercept_[0], abs=1e-6)


def test_pair_scores_are_the_linear_scores_on_each_side_of_the_pair():
    designs = _designs([5, 7, 3], d=2, seed=5, n_problems=3)
    a, b = np.array([2, 0, 1]), np.array([0, 1, 2])
    W = torch.tensor(np.random.default_rng(6).standard_normal((3, 3, 3)))
    first, second = pair_scores(designs, a, b, W)
    for k in range(3):
        torch.testing.assert_close(first[k], designs.X[a[k]] @ W[k].T)
        torch.testing.assert_close(second[k], designs.X[b[k]] @ W[k].T)


def test_pair_slots_put_each_pair_once_in_the_stack_of_each_of_its_sources():
    rng = np.random.default_rng(7)
    a = rng.integers(0, 6, 40)
    b = (a + rng.integers(1, 6, 40)) % 6
    slots = pair_slots(a, b)
    C = slots.pair.shape[1]
    for k in range(40):
        for side, (src, flat) in enumerate([(a[k], slots.first_slot[k]), (b[k], slots.second_slot[k])]):
            s, c = divmod(int(flat), C)
            assert slots.sources[s] == src and slots.pair[s, c] == k and slots.second[s, c] == bool(side)
    real = slots.pair < 40
    assert real.sum() == 80  # no slot is used twice, padding holds the dummy index
    counts = np.bincount(np.concatenate([a, b]), minlength=6)
    assert counts.max() == C


@pytest.mark.parametrize("n_sources", [1, 2, 7, 10])
@pytest.mark.parametrize("chunk_size", [1, 3, 4, 50])
def test_pair_tiles_cover_every_pair_once_and_respect_the_chunk_size(n_sources, chunk_size):
    tiles = list(pair_tiles(n_sources, chunk_size))
    assert all(0 < len(a) <= chunk_size and np.all(a < b) for a, b in tiles)
    pairs = [(int(i), int(j)) for a, b in tiles for i, j in zip(a, b, strict=True)]
    assert sorted(pairs) == [(i, j) for i in range(n_sources) for j in range(i + 1, n_sources)]


def test_tiles_of_full_blocks_need_no_padding_slots():
    # 12 sources in blocks of 4: in every tile each source is in as many pairs, so no stack is padded.
    for a, b in pair_tiles(12, 16):
        assert pair_slots(a, b).pair.size == 2 * len(a)
