"""Dynamic M-FAC window: every push keeps F^-1 equal to a fresh build on the last min(t, m) gradients."""

from __future__ import annotations

import pytest
import torch
from mfac_oracles import dense_fisher, random_gradients, relative_error

from multisource.optim import DynamicInverseFisher, StaticInverseFisher, cholesky_rank_one_update

TOL = 1e-10


def test_cholesky_rank_one_update_matches_refactorization():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(40, 40, generator=gen, dtype=torch.float64)
    factor = torch.linalg.cholesky(a @ a.T + 0.1 * torch.eye(40, dtype=torch.float64))
    x = 10 * torch.randn(40, generator=gen, dtype=torch.float64)
    updated = cholesky_rank_one_update(factor, x)
    expected = torch.linalg.cholesky(factor @ factor.T + torch.outer(x, x))
    assert torch.equal(updated, updated.tril())
    assert relative_error(updated, expected) < 1e-12


@pytest.mark.parametrize("d, m, damp", [(30, 1, 1e-2), (50, 4, 1e-3), (200, 16, 1e-3), (2000, 64, 1e-4)])
@pytest.mark.parametrize("correlated", [False, True])
def test_sliding_window_equals_dense_solve_on_the_last_gradients(d, m, damp, correlated):
    stream = random_gradients(3 * m + 5, d, seed=m, correlated=correlated)
    fisher = DynamicInverseFisher.empty(m, d, damp, dtype=torch.float64)
    x = torch.randn(d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    check_every = max(1, m // 4) if d < 1000 else m // 2
    for t, g in enumerate(stream, start=1):
        step = fisher.push_mul(g)
        if t % check_every and t != len(stream):
            continue
        window = stream[max(0, t - m) : t]  # F uses 1/k with k = min(t, m)
        expected = torch.linalg.solve(dense_fisher(window, damp), torch.stack([g, x], dim=1))
        assert relative_error(step, expected[:, 0]) < TOL
        assert relative_error(fisher.mul(x), expected[:, 1]) < TOL


def test_window_after_many_updates_equals_a_static_build_on_the_last_m():
    d, m, damp = 300, 8, 1e-5  # tiny damping: compare the two implementations, not a dense solve
    stream = random_gradients(10 * m + 3, d, seed=4, correlated=True)
    fisher = DynamicInverseFisher.empty(m, d, damp, dtype=torch.float64)
    for g in stream:
        fisher.push(g)
    x = torch.randn(d, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert relative_error(fisher.mul(x), StaticInverseFisher(stream[-m:], damp).mul(x)) < TOL
    # the float64 factor is still the Cholesky factor of m*damp*I + G G^T in age order
    window = stream[-m:]
    expected = torch.linalg.cholesky(m * damp * torch.eye(m, dtype=torch.float64) + window @ window.T)
    assert relative_error(fisher.state["factor"], expected) < 1e-9


def test_warm_up_normalises_by_the_number_of_gradients_seen():
    d, m, damp = 20, 5, 1e-2
    g = random_gradients(1, d, seed=6)[0]
    fisher = DynamicInverseFisher.empty(m, d, damp, dtype=torch.float64)
    # one gradient in a window of five: F = damp I + g g^T (1/k, k = 1), not damp I + g g^T / 5
    assert relative_error(fisher.push_mul(g), g / (damp + g @ g)) < TOL
    empty = DynamicInverseFisher.empty(m, d, damp, dtype=torch.float64)
    assert relative_error(empty.mul(g), g / damp) < TOL


def test_descent_direction_is_positive():
    stream = random_gradients(20, 100, seed=8, correlated=True)
    fisher = DynamicInverseFisher.empty(8, 100, 1e-4, dtype=torch.float64)
    for g in stream:
        assert float(g @ fisher.push_mul(g)) > 0


def test_changing_damp_rebuilds_the_factor():
    d, m = 60, 6
    stream = random_gradients(9, d, seed=9)
    fisher = DynamicInverseFisher.empty(m, d, 1e-2, dtype=torch.float64)
    for g in stream:
        fisher.push(g)
    fisher.set_damp(1e-3)
    x = stream[0]
    assert relative_error(fisher.mul(x), torch.linalg.solve(dense_fisher(stream[-m:], 1e-3), x)) < TOL


def test_float32_window_keeps_float64_factor():
    stream = random_gradients(12, 400, seed=10, correlated=True)
    exact = DynamicInverseFisher.empty(8, 400, 1e-3, dtype=torch.float64)
    single = DynamicInverseFisher.empty(8, 400, 1e-3, dtype=torch.float32)
    for g in stream:
        u64, u32 = exact.push_mul(g), single.push_mul(g.float())
    assert single.state["grads"].dtype == torch.float32
    assert single.state["factor"].dtype == torch.float64
    assert u32.dtype == torch.float32
    assert relative_error(u32.double(), u64) < 1e-3


def test_non_finite_gradient_is_rejected_and_not_pushed():
    d, m = 10, 3
    fisher = DynamicInverseFisher.empty(m, d, 1e-2, dtype=torch.float64)
    fisher.push(random_gradients(1, d, seed=0)[0])
    before = {key: value.clone() for key, value in fisher.state.items()}
    for bad in (float("nan"), float("inf")):
        g = random_gradients(1, d, seed=1)[0]
        g[4] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            fisher.push(g)
    assert all(torch.equal(fisher.state[key], value) for key, value in before.items())


def test_non_finite_gradient_into_a_full_window_evicts_nothing():
    # the eviction path, and a float64 value that is finite but overflows the float32 window
    d, m = 12, 3
    fisher = DynamicInverseFisher.empty(m, d, 1e-2, dtype=torch.float32)
    for g in random_gradients(m + 1, d, seed=2):
        fisher.push(g.float())
    before = {key: value.clone() for key, value in fisher.state.items()}
    for bad in (float("nan"), float("-inf"), 1e300):
        g = random_gradients(1, d, seed=3)[0]
        g[d - 1] = bad
        with pytest.raises(ValueError, match="NaN or infinite"):
            fisher.push_mul(g)
    assert all(torch.equal(fisher.state[key], value) for key, value in before.items())


@pytest.mark.parametrize(
    "ngrads, damp, match",
    [
        (0, 1e-3, "Invalid ngrads: 0"),
        (2.5, 1e-3, "Invalid ngrads"),
        (4, 0.0, "Invalid damp: 0.0"),
        (4, -1e-3, "Invalid damp"),
    ],
)
def test_bad_window_hyper_parameters_are_rejected(ngrads, damp, match):
    with pytest.raises(ValueError, match=match):
        DynamicInverseFisher.empty(ngrads, 10, damp)


def test_memory_is_m_times_d_plus_m_squared():
    fisher = DynamicInverseFisher.empty(16, 1000, 1e-3, dtype=torch.float32)
    assert fisher.memory_bytes() == 16 * 1000 * 4 + 2 * 16 * 16 * 8 + 2 * 8 + 8


def test_window_built_from_gradients_continues_like_one_filled_by_pushes():
    d, m, damp = 80, 5, 1e-3
    stream = random_gradients(m + 4, d, seed=12)
    pushed = DynamicInverseFisher.empty(m, d, damp, dtype=torch.float64)
    for g in stream[:m]:
        pushed.push(g)
    built = DynamicInverseFisher.from_gradients(stream[:m], damp)
    x = stream[0]
    assert relative_error(built.mul(x), pushed.mul(x)) < TOL
    for g in stream[m:]:
        assert relative_error(built.push_mul(g), pushed.push_mul(g)) < TOL


def test_push_falls_back_to_an_exact_rebuild_when_the_pivot_is_not_positive(monkeypatch):
    import multisource.optim.dynamic_fisher as module

    d, m, damp = 40, 4, 1e-3
    stream = random_gradients(m + 1, d, seed=13)
    fisher = DynamicInverseFisher.empty(m, d, damp, dtype=torch.float64)
    for g in stream[:m]:
        fisher.push(g)
    # a broken trailing factor makes the new pivot negative, as heavy rounding would
    monkeypatch.setattr(module, "cholesky_rank_one_update", lambda factor, x: 1e-8 * torch.eye(len(x), dtype=x.dtype))
    step = fisher.push_mul(stream[m])
    assert relative_error(step, torch.linalg.solve(dense_fisher(stream[1:], damp), stream[m])) < TOL
