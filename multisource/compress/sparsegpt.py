"""SparseGPT layer solver (Frantar & Alistarh, ICML 2023, Algorithm 1).

Prune one layer ``W`` (rows x columns) given the Hessian ``H = 2 X X^T / n`` of its inputs, so that
``||W X - W' X||^2`` stays small. Columns are visited left to right; when column ``j`` is pruned
(and/or quantized) to ``q``, the optimal brain surgeon update of the not-yet-visited columns is

    W[:, j:] -= ((w_j - q_j) / [H_j^-1]_jj) * [H_j^-1]_{j, j:},    H_j = H[j:, j:]      (paper eq. 3-4)

and all the ``H_j^-1`` rows needed are the rows of the upper Cholesky factor ``U`` of ``H^-1``
(``U_jj^2 = [H_j^-1]_jj``), which replaces the paper's sequential Gaussian elimination. Masks are
chosen per block of ``blocksize`` columns by the OBS saliency ``w^2 / U_jj^2`` ("adaptive mask
selection"), on the weights as already updated by earlier blocks; updates inside a block are
applied column by column and propagated to the rest of the matrix once per block (lazy batching).

Exactness, stated precisely. With a *fixed* mask the result does not depend on ``blocksize`` and
equals the column-by-column OBS sequence that recomputes ``inv(H[j:, j:])`` densely for every
``j`` (the reference oracle). It is *not* in general the least-squares optimum over all kept
weights of a row: kept weights left of a pruned column are frozen when that column is reached.
It equals that optimum exactly when, in every row, all pruned columns precede all kept columns
(e.g. a mask that prunes a prefix of the columns); in all cases its error is >= the optimum.
"""

from __future__ import annotations

import contextlib
import time

import torch

from multisource.compress.layer import (
    LayerResult,
    Pattern,
    check_layer_inputs,
    check_target,
    reconstruction_error,
)
from multisource.compress.masks import nm_mask, unstructured_mask
from multisource.compress.quant import QuantGrid, minmax_grid, quantize
from multisource.utils.validation import check_int, check_real

MAX_PERCDAMP = 1.0


@contextlib.contextmanager
def _one_cpu_thread():
    """Run the column loop's many tiny ops on one CPU thread.

    Each op is far too small to split; with several threads OpenMP spends its time in barriers,
    which on a shared machine made the loop up to 30x slower (2 threads vs 1, measured).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _prune_block_columns(
    W1: torch.Tensor,
    Q1: torch.Tensor,
    Err1: torch.Tensor,
    Hinv1: torch.Tensor,
    mask1: torch.Tensor,
    nm: tuple[int, int] | None,
    grid: QuantGrid | None,
) -> None:
    """Visit the columns of one block: pick N:M groups, prune/quantize, apply the OBS update.

    ``W1`` (updated in place) holds the block's current weights, ``Q1``/``Err1`` receive the final
    columns and the scaled errors ``(w - q) / U_jj`` for the lazy update of later blocks, ``mask1``
    (in/out) the removed weights.
    """
    d = torch.diag(Hinv1)
    for i in range(W1.shape[1]):
        if nm is not None and i % nm[1] == 0:
            group = slice(i, i + nm[1])
            mask1[:, group] |= nm_mask(W1[:, group] ** 2 / d[group] ** 2, *nm)
        w = W1[:, i]
        q = w.masked_fill(mask1[:, i], 0.0)
        if grid is not None:
            q = quantize(q, grid)  # q(0) == 0: pruned weights stay exactly zero
        Q1[:, i] = q
        err = (w - q) / d[i]
        W1[:, i:] -= torch.outer(err, Hinv1[i, i:])
        Err1[:, i] = err


def damped_inverse_cholesky(H: torch.Tensor, percdamp: float) -> tuple[torch.Tensor, float]:
    """Upper Cholesky factor ``U`` of ``(H + lambda I)^-1`` with ``lambda = percdamp * mean(diag H)``.

    When ``H + lambda I`` is not numerically positive definite, ``percdamp`` is raised to
    ``max(10 * percdamp, 0.01)`` and the factorization retried, up to ``percdamp = 1``.

    Returns
    -------
    (U, percdamp_used)
    """
    percdamp = check_real("percdamp", percdamp, low=0.0)
    mean_diag = torch.mean(torch.diag(H))
    eye = torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
    while True:
        L, info = torch.linalg.cholesky_ex(H + percdamp * mean_diag * eye)
        if info.item() == 0:
            Hinv = torch.cholesky_inverse(L)
            U, info = torch.linalg.cholesky_ex(Hinv, upper=True)
            if info.item() == 0 and torch.isfinite(U).all():
                return U, percdamp
        if percdamp >= MAX_PERCDAMP:
            raise ValueError(
                f"the Hessian is not positive definite even with damping percdamp={percdamp} "
                "(check the calibration inputs for NaN/inf)"
            )
        percdamp = min(max(10 * percdamp, 0.01), MAX_PERCDAMP)


def sparsegpt_prune_layer(
    W: torch.Tensor,
    H: torch.Tensor,
    *,
    sparsity: float = 0.0,
    pattern: Pattern = None,
    bits: int | None = None,
    blocksize: int = 128,
    percdamp: float = 0.01,
    mask: torch.Tensor | None = None,
) -> LayerResult:
    """Prune (and optionally quantize) one layer with SparseGPT.

    Parameters
    ----------
    W : torch.Tensor
        Weight, rows (outputs) x columns (inputs). Not modified.
    H : torch.Tensor
        ``2 X X^T / n`` (columns x columns), float32 or float64; the solve runs in H's dtype.
    sparsity : float
        Fraction in [0, 1) removed in every block of ``blocksize`` columns (exact count
        ``round(sparsity * rows * block_columns)`` per block; rows get uneven sparsity).
    pattern : "N:M" or (N, M), optional
        N zeros in each aligned group of M columns of every row; the group's zeros are chosen when
        the solver reaches its first column. ``blocksize`` must be a multiple of M.
    bits : int, optional
        Quantize the kept weights onto a per-row asymmetric min-max grid of ``bits`` bits computed
        on the dense W (GPTQ-style, with the same error compensation). Pruned weights stay 0.
    blocksize : int
        Columns per block (lazy batch size B and mask selection size B_s of Algorithm 1).
    percdamp : float
        Damping ``lambda = percdamp * mean(diag H)``; raised automatically if Cholesky fails.
    mask : torch.Tensor, optional
        A fixed boolean mask (True = remove) to use instead of selecting one.

    Returns
    -------
    LayerResult
        ``error`` is ``tr(dW H dW^T) / 2`` with the undamped H.
    """
    check_layer_inputs(W, H)
    target = check_target(sparsity, pattern, bits)
    blocksize = check_int("blocksize", blocksize, minimum=1)
    if target.nm is not None and blocksize % target.nm[1]:
        raise ValueError(f"blocksize={blocksize} must be a multiple of M={target.nm[1]} for an N:M pattern")
    if mask is not None and (mask.shape != W.shape or mask.dtype != torch.bool):
        raise ValueError(f"mask must be a boolean tensor of shape {tuple(W.shape)}")
    if not H.is_floating_point() or H.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"H must be float32 or float64, got {H.dtype}")
    start = time.perf_counter()
    threads = _one_cpu_thread() if H.device.type == "cpu" else contextlib.nullcontext()
    with threads:
        weight, full_mask, percdamp_used = _sparsegpt(W, H, mask, target.nm, target.sparsity if mask is None else 0.0, target.bits, blocksize, percdamp)
        error = reconstruction_error(W.to(device=H.device, dtype=H.dtype), weight.to(device=H.device, dtype=H.dtype), H)
    return LayerResult(weight=weight, mask=full_mask, error=error, damping_used=percdamp_used, seconds=time.perf_counter() - start)


def _sparsegpt(
    W: torch.Tensor,
    H: torch.Tensor,
    mask: torch.Tensor | None,
    nm: tuple[int, int] | None,
    sparsity: float,
    bits: int | None,
    blocksize: int,
    percdamp: float,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The solve behind ``sparsegpt_prune_layer`` (arguments validated): (weight, mask, percdamp)."""
    out_dtype, out_device = W.dtype, W.device
    rows, columns = W.shape
    W = W.to(device=H.device, dtype=H.dtype).contiguous().clone()
    H = H.clone()
    grid = minmax_grid(W, bits) if bits is not None else None
    # A column no calibration token ever activates has no effect on the output: drop it and give
    # H a unit diagonal there so it stays invertible.
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    U, percdamp_used = damped_inverse_cholesky(H, percdamp)
    full_mask = torch.zeros(rows, columns, dtype=torch.bool, device=H.device)
    if mask is not None:
        full_mask |= mask.to(H.device)
        nm = None

    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = U[i1:i2, i1:i2]
        mask1 = full_mask[:, i1:i2]
        if nm is None and sparsity > 0:
            mask1 |= unstructured_mask(W1**2 / torch.diag(Hinv1) ** 2, sparsity)
        _prune_block_columns(W1, Q1, Err1, Hinv1, mask1, nm, grid)
        W[:, i1:i2] = Q1
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]

    full_mask |= dead.unsqueeze(0)
    return W.to(dtype=out_dtype, device=out_device), full_mask.to(out_device), percdamp_used
