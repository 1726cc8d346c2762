"""Baseline layer pruners with SparseGPT's interface: magnitude and Wanda (no weight update).

* Magnitude: remove the weights of smallest ``|W_ij|``, with one threshold for the whole matrix
  (the ``--gmp`` baseline of the SparseGPT paper).
* Wanda (Sun et al., 2024): score ``S_ij = |W_ij| * ||X_j||_2`` and remove the lowest scores within
  each output row. ``||X_j||^2 = n * H_jj / 2``, so the scores are taken from ``diag(H)`` (the
  constant factor does not change a per-row ranking).

Both round the kept weights to the nearest point of the dense weights' min-max grid when ``bits`` is
given (round-to-nearest, no error compensation).
"""

from __future__ import annotations

import time

import torch

from multisource.compress.layer import LayerResult, Pattern, PruneTarget, check_layer_inputs, check_target, reconstruction_error
from multisource.compress.masks import nm_mask, unstructured_mask
from multisource.compress.quant import minmax_grid, quantize


def _apply_scores(W: torch.Tensor, H: torch.Tensor | None, scores: torch.Tensor, target: PruneTarget, *, per_row: bool, start: float) -> LayerResult:
    if target.nm is not None:
        mask = nm_mask(scores, *target.nm)
    else:
        mask = unstructured_mask(scores, target.sparsity, per_row=per_row)
    W_new = W.masked_fill(mask, 0.0)
    if target.bits is not None:
        W_new = quantize(W_new, minmax_grid(W, target.bits))
    W_ref = W if H is None else W.to(H.dtype)
    return LayerResult(
        weight=W_new,
        mask=mask,
        error=reconstruction_error(W_ref, W_new.to(W_ref.dtype), H),
        damping_used=0.0,
        seconds=time.perf_counter() - start,
    )


def magnitude_prune_layer(
    W: torch.Tensor,
    H: torch.Tensor | None = None,
    *,
    sparsity: float = 0.0,
    pattern: Pattern = None,
    bits: int | None = None,
    **_solver_options: object,
) -> LayerResult:
    """Remove the smallest ``|W_ij|`` (one threshold per matrix, or per N:M group).

    ``H`` is only used to report the reconstruction error; solver options of SparseGPT
    (``blocksize``, ``percdamp``) are accepted and ignored so the methods are interchangeable.
    """
    start = time.perf_counter()
    check_layer_inputs(W, H)
    target = check_target(sparsity, pattern, bits)
    W = W.contiguous()
    return _apply_scores(W, H, W.abs(), target, per_row=False, start=start)


def wanda_prune_layer(
    W: torch.Tensor,
    H: torch.Tensor,
    *,
    sparsity: float = 0.0,
    pattern: Pattern = None,
    bits: int | None = None,
    **_solver_options: object,
) -> LayerResult:
    """Remove the lowest ``|W_ij| * ||X_j||`` within each output row (Wanda, eq. 1 of Sun et al.)."""
    start = time.perf_counter()
    if H is None:
        raise ValueError("wanda needs the input Hessian H (for the input norms ||X_j||)")
    check_layer_inputs(W, H)
    target = check_target(sparsity, pattern, bits)
    W = W.contiguous()
    norms = torch.sqrt(torch.diag(H).clamp(min=0)).to(device=W.device, dtype=W.dtype)
    return _apply_scores(W, H, W.abs() * norms, target, per_row=True, start=start)
