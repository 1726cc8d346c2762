"""Static (and blocked) M-FAC inverse-Fisher products against dense and closed-form oracles."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mfac_oracles import (
    RecursionInverseFisher,
    closed_form_product,
    dense_fisher,
    random_gradients,
    relative_error,
)

from multisource.optim import StaticInverseFisher, inverse_fisher_product

TOL = 1e-10


@pytest.mark.parametrize("d, m", [(10, 1), (50, 4), (200, 16), (2000, 64), (40, 64)])
@pytest.mark.parametrize("damp", [1e-1, 1e-3, 1e-4])
def test_static_product_equals_dense_solve_and_closed_form(d, m, damp):
    grads = random_gradients(m, d, seed=d + m)
    x = torch.randn(d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    product = StaticInverseFisher(grads, damp).mul(x)
    assert relative_error(product, torch.linalg.solve(dense_fisher(grads, damp), x)) < TOL
    assert relative_error(product, closed_form_product(grads, damp, x)) < TOL


@pytest.mark.parametrize("d, m", [(50, 4), (200, 32)])
@pytest.mark.parametrize("correlated", [False, True])
def test_static_product_and_diagonal_equal_the_paper_recursion(d, m, correlated):
    grads = random_gradients(m, d, seed=3, correlated=correlated)
    damp = 1e-4
    x = torch.randn(d, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    finv, recursion = StaticInverseFisher(grads, damp), RecursionInverseFisher(grads, damp)
    assert relative_error(finv.mul(x), recursion.mul(x)) < TOL
    assert relative_error(finv.diag(), recursion.diag()) < TOL


@pytest.mark.parametrize("d, m, damp", [(200, 16, 1e-2), (2000, 64, 1e-3)])
def test_static_diagonal_and_single_elements_equal_dense_inverse(d, m, damp):
    grads = random_gradients(m, d, seed=5)
    finv = StaticInverseFisher(grads, damp)
    inverse = torch.linalg.inv(dense_fisher(grads, damp))
    assert relative_error(finv.diag(), inverse.diagonal()) < TOL
    for j, k in [(0, 0), (3, 17), (d - 1, 1), (d // 2, d // 2)]:
        assert float(finv.element(j, k)) == pytest.approx(float(inverse[j, k]), rel=TOL, abs=TOL * float(inverse[j, j]))


def test_inverse_fisher_product_keeps_the_gradient_dtype():
    grads = random_gradients(6, 40, seed=21)
    x = torch.randn(40, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    expected = torch.linalg.solve(dense_fisher(grads, 1e-2, 8), x)
    assert relative_error(inverse_fisher_product(grads, x, 1e-2, blocksize=8), expected) < TOL
    single = inverse_fisher_product(grads.float(), x, 1e-2)
    assert single.dtype == torch.float32


def test_one_gradient_window_has_the_rank_one_closed_form():
    g = random_gradients(1, 30, seed=7)[0]
    for damp in (1e-1, 1e-4):
        expected = g / (damp + g @ g)  # F = damp I + g g^T: g is an eigenvector
        assert relative_error(StaticInverseFisher(g[None], damp).mul(g), expected) < TOL


@pytest.mark.parametrize(
    "d, m, blocksize", [(300, 16, 1), (300, 16, 7), (300, 16, 64), (300, 16, 128), (2000, 64, 256)]
)
def test_blocked_product_equals_block_diagonal_dense_solve(d, m, blocksize):
    damp = 1e-3
    grads = random_gradients(m, d, seed=11, correlated=True)
    x = torch.randn(d, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    finv = StaticInverseFisher(grads, damp, blocksize=blocksize)
    dense = dense_fisher(grads, damp, blocksize)
    assert relative_error(finv.mul(x), torch.linalg.solve(dense, x)) < TOL
    inverse = torch.linalg.inv(dense)
    assert relative_error(finv.diag(), inverse.diagonal()) < TOL
    for j, k in [(5, 5), (5, 6), (5, blocksize + 5)]:  # same block (or not), and across blocks
        assert float(finv.element(j, k)) == pytest.approx(float(inverse[j, k]), abs=1e-9)


def test_blocked_with_one_block_covering_d_is_the_full_fisher():
    grads = random_gradients(8, 100, seed=13)
    x = torch.randn(100, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    full = StaticInverseFisher(grads, 1e-2).mul(x)
    assert torch.allclose(StaticInverseFisher(grads, 1e-2, blocksize=100).mul(x), full, rtol=1e-13)
    assert torch.allclose(StaticInverseFisher(grads, 1e-2, blocksize=10_000).mul(x), full, rtol=1e-13)


@settings(max_examples=15, deadline=None)
@given(
    d=st.integers(1, 60),
    m=st.integers(1, 12),
    blocksize=st.one_of(st.none(), st.integers(1, 70)),
    log_damp=st.floats(-4, 0),
    seed=st.integers(0, 1000),
)
def test_static_product_inverts_the_fisher_for_any_shape(d, m, blocksize, log_damp, seed):
    grads = random_gradients(m, d, seed=seed)
    damp = 10.0**log_damp
    x = torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    product = StaticInverseFisher(grads, damp, blocksize=blocksize).mul(x)
    assert relative_error(dense_fisher(grads, damp, blocksize) @ product, x) < TOL


def test_float32_products_stay_close_at_moderate_damping():
    grads = random_gradients(32, 500, seed=17, correlated=True)
    x = torch.randn(500, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    exact = StaticInverseFisher(grads, 1e-3).mul(x)
    single = StaticInverseFisher(grads.float(), 1e-3, dtype=torch.float32).mul(x.float())
    assert single.dtype == torch.float32
    assert relative_error(single.double(), exact) < 1e-3


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(damp=0.0), ValueError, "Invalid damp: 0.0"),
        (dict(damp=-1.0), ValueError, "Invalid damp"),
        (dict(damp=float("nan")), ValueError, "Invalid damp"),
        (dict(damp=1e-3, blocksize=0), ValueError, "blocksize must be >= 1"),
    ],
)
def test_static_rejects_bad_hyper_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        StaticInverseFisher(random_gradients(4, 10, seed=0), **kwargs)


def test_static_rejects_non_finite_gradients_and_bad_shapes():
    grads = random_gradients(4, 10, seed=0)
    grads[2, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        StaticInverseFisher(grads, 1e-3)
    with pytest.raises(ValueError, match="2-D"):
        StaticInverseFisher(torch.ones(10, dtype=torch.float64), 1e-3)
    with pytest.raises(ValueError, match="m >= 1"):
        StaticInverseFisher(torch.ones(0, 10, dtype=torch.float64), 1e-3)
    with pytest.raises(ValueError, match="length d=10"):
        StaticInverseFisher(random_gradients(4, 10, seed=0), 1e-3).mul(torch.ones(9, dtype=torch.float64))
