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
from dataclasses import dataclass

import torch

from multisource.compress.layer import (
    NON_FINITE_H,
    LayerResult,
    Pattern,
    PruneTarget,
    check_layer_inputs,
    check_target,
)
from multisource.compress.masks import lowest_mask
from multisource.compress.methods import layer_pruner
from multisource.compress.quant import QuantGrid, minmax_grid, quantize
from multisource.utils.threads import limit_threads
from multisource.utils.validation import check_int, check_real

MAX_PERCDAMP = 1.0


@dataclass(frozen=True)
class SparseGPTOptions:
    """Solver options of SparseGPT (Algorithm 1).

    Attributes
    ----------
    blocksize : int
        Columns per block: the lazy batch size B and the mask selection size B_s of Algorithm 1.
        With an N:M pattern it must be a multiple of M.
    percdamp : float
        Damping ``lambda = percdamp * mean(diag H)``, >= 0; raised automatically if Cholesky fails.
    """

    blocksize: int = 128
    percdamp: float = 0.01

    def __post_init__(self) -> None:
        check_int("blocksize", self.blocksize, minimum=1)
        check_real("percdamp", self.percdamp, low=0.0)


def _select_nm_group(W1: torch.Tensor, d_sq: torch.Tensor, mask1: torch.Tensor, i: int, nm: tuple[int, int]) -> None:
    """Mark the N lowest ``w^2 / U_jj^2`` of every row among the M columns from ``i`` (fewer at the matrix end).

    The scores are taken on the weights as the block's earlier columns have already updated them,
    so each group is chosen when the solver reaches it (as in the official code).
    """
    n, m = nm
    scores = W1[:, i : i + m] ** 2 / d_sq[i : i + m]
    k = n if scores.shape[1] == m else (n * scores.shape[1]) // m
    if k:
        mask1[:, i : i + m].scatter_(1, torch.topk(scores, k, dim=1, largest=False, sorted=False).indices, True)


def _prune_block_columns(
    W1: torch.Tensor, Hinv1: torch.Tensor, mask1: torch.Tensor, nm: tuple[int, int] | None, grid: QuantGrid | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Visit the columns of one block: pick N:M groups, prune/quantize, apply the OBS update (eq. 3-4).

    ``W1`` (updated in place) holds the block's current weights and ``mask1`` (in/out) the removed
    ones. Returns the final columns ``Q1`` and the scaled errors ``Err1 = (w - q) / U_jj`` that
    update the later blocks lazily.
    """
    d = torch.diag(Hinv1)
    d_sq = d**2
    Q1 = torch.zeros_like(W1)
    Err1 = torch.zeros_like(W1)
    for i in range(W1.shape[1]):
        if nm is not None and i % nm[1] == 0:
            _select_nm_group(W1, d_sq, mask1, i, nm)
        w = W1[:, i]
        q = w.masked_fill(mask1[:, i], 0.0)
        if grid is not None:
            q = quantize(q, grid)  # q(0) == 0: pruned weights stay exactly zero
        Q1[:, i] = q
        err = (w - q) / d[i]
        W1[:, i:].addmm_(err.unsqueeze(1), Hinv1[i, i:].unsqueeze(0), alpha=-1)  # in place: no outer product buffer
        Err1[:, i] = err
    return Q1, Err1


def damped_inverse_cholesky(H: torch.Tensor, percdamp: float) -> tuple[torch.Tensor, float]:
    """Upper Cholesky factor ``U`` of ``(H + lambda I)^-1`` with ``lambda = percdamp * mean(diag H)``.

    A zero diagonal entry (an input no calibration token activates) counts as 1, so H stays
    invertible. When ``H + lambda I`` is not numerically positive definite, ``percdamp`` is raised to
    ``max(10 * percdamp, 0.01)`` and the factorization retried, up to ``percdamp = 1``. LAPACK's
    Cholesky stops at the first non-positive or NaN pivot, and a NaN or inf anywhere in the factor
    reaches a later pivot, so a successful factor is finite; only its diagonal is checked again.

    Returns
    -------
    (U, percdamp_used)
    """
    percdamp = check_real("percdamp", percdamp, low=0.0)
    dead = (torch.diag(H) == 0).to(H.dtype)
    mean_diag = torch.mean(torch.diag(H) + dead)
    while True:
        damped = H.clone()
        damped.diagonal().add_(dead + percdamp * mean_diag)
        L, info = torch.linalg.cholesky_ex(damped)
        if info.item() == 0:
            U, info = torch.linalg.cholesky_ex(torch.cholesky_inverse(L), upper=True)
            if info.item() == 0 and bool(torch.isfinite(torch.diag(U)).all()):
                return U, percdamp
        if not bool(torch.isfinite(H).all()):
            raise ValueError(NON_FINITE_H)
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
    """Prune (and optionally quantize) one layer with SparseGPT (Algorithm 1).

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
    blocksize, percdamp
        See ``SparseGPTOptions``.
    mask : torch.Tensor, optional
        A fixed boolean mask (True = remove) to use instead of selecting one; excludes ``pattern``
        and ``sparsity``.

    Returns
    -------
    LayerResult
        ``error`` is ``tr(dW H dW^T) / 2`` with the undamped H.
    """
    target = check_target(sparsity, pattern, bits, mask)
    return sparsegpt_pruner(W, H, target, SparseGPTOptions(blocksize=blocksize, percdamp=percdamp))


def check_blocksize(target: PruneTarget, options: SparseGPTOptions) -> None:
    """With an N:M pattern, every block must hold whole groups of M columns."""
    if target.nm is not None and options.blocksize % target.nm[1]:
        raise ValueError(f"blocksize={options.blocksize} must be a multiple of M={target.nm[1]} for an N:M pattern")


@layer_pruner("sparsegpt", options=SparseGPTOptions, check=check_blocksize)
def sparsegpt_pruner(
    W: torch.Tensor, H: torch.Tensor | None, target: PruneTarget, options: SparseGPTOptions
) -> LayerResult:
    """The registered SparseGPT layer pruner: ``sparsegpt_prune_layer`` on a validated target and options."""
    if H is None:
        raise ValueError("sparsegpt needs the input Hessian H")
    check_layer_inputs(W, H, target, full_h=False)
    if H.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"H must be float32 or float64, got {H.dtype}")
    check_blocksize(target, options)
    start = time.perf_counter()
    # The column loop's many tiny ops are far too small to split: on CPU, one thread (limit_threads).
    threads = limit_threads(1, blas=False) if H.device.type == "cpu" else contextlib.nullcontext()
    with threads:
        weight, mask, error, percdamp_used, grid = _sparsegpt(W, H, target, options)
    return LayerResult(
        weight=weight,
        mask=mask,
        error=error,
        damping_used=percdamp_used,
        seconds=time.perf_counter() - start,
        grid=grid,
    )


def _sparsegpt(
    W: torch.Tensor, H: torch.Tensor, target: PruneTarget, options: SparseGPTOptions
) -> tuple[torch.Tensor, torch.Tensor, float, float, QuantGrid | None]:
    """The solve behind ``sparsegpt_pruner``: (weight, mask, error, percdamp used, quantization grid).

    The error needs no pass over H: the solve's total change is ``dW = Err U`` (every column's
    update is ``err_j U[j, :]``) and ``U (H + lambda I) U^T = I``, so ``tr(dW (H + lambda I) dW^T) =
    ||Err||_F^2`` (the official code's summed ``Losses``); the undamped error subtracts ``lambda ||dW||^2``.
    """
    out_dtype, out_device = W.dtype, W.device
    rows, columns = W.shape
    W_start = W.to(device=H.device, dtype=H.dtype)  # no copy when dtype and device match; never written
    W = W_start.clone(memory_format=torch.contiguous_format)
    grid = minmax_grid(W, target.bits) if target.bits is not None else None
    # A column no calibration token ever activates has no effect on the output: drop it (its H
    # diagonal counts as 1 in the factorization, see damped_inverse_cholesky).
    dead = torch.diag(H) == 0
    if bool(dead.any()):
        W[:, dead] = 0
        W_start = W.clone()
    U, percdamp_used = damped_inverse_cholesky(H, options.percdamp)
    mask = torch.zeros(rows, columns, dtype=torch.bool, device=H.device)
    if target.mask is not None:
        mask |= target.mask.to(H.device)
    select = target.mask is None and target.nm is None and target.sparsity > 0
    err_sq = torch.zeros((), dtype=H.dtype, device=H.device)
    delta_sq = torch.zeros((), dtype=H.dtype, device=H.device)
    for i1 in range(0, columns, options.blocksize):
        i2 = min(i1 + options.blocksize, columns)
        W1 = W[:, i1:i2].clone()
        Hinv1 = U[i1:i2, i1:i2]
        mask1 = mask[:, i1:i2]
        if select:
            mask1 |= lowest_mask(W1**2 / torch.diag(Hinv1) ** 2, target.sparsity)
        Q1, Err1 = _prune_block_columns(W1, Hinv1, mask1, target.nm, grid)
        W[:, i1:i2] = Q1
        W[:, i2:].addmm_(Err1, U[i1:i2, i2:], alpha=-1)
        err_sq += Err1.square().sum()
        delta_sq += (W_start[:, i1:i2] - Q1).square().sum()
    damp = percdamp_used * torch.mean(torch.diag(H) + dead.to(H.dtype))
    error = (err_sq - damp * delta_sq) / 2
    mask |= dead.unsqueeze(0)
    return W.to(dtype=out_dtype, device=out_device), mask.to(out_device), float(error), percdamp_used, grid
