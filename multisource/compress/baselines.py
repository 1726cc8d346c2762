"""Baseline layer pruners behind the same contract as SparseGPT: magnitude and Wanda (no weight update).

* Magnitude: remove the weights of smallest ``|W_ij|``, with one threshold for the whole matrix
  (the ``--gmp`` baseline of the SparseGPT paper) or, with ``MagnitudeOptions(scope="row")``, within
  each output row.
* Wanda (Sun et al., 2024, eq. 1): score ``S_ij = |W_ij| * ||X_j||_2`` and remove the lowest scores
  within each output row. ``||X_j||^2 = n * H_jj / 2``, so the scores are taken from ``diag(H)`` (the
  constant factor does not change a per-row ranking).

Both round the kept weights to the nearest point of the dense weights' min-max grid when ``bits`` is
given (round-to-nearest, no error compensation), and apply a fixed ``mask`` as given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from multisource.compress.layer import (
    LayerResult,
    Pattern,
    PruneTarget,
    check_layer_inputs,
    check_target,
    reconstruction_error,
)
from multisource.compress.masks import lowest_in_groups, lowest_mask
from multisource.compress.methods import layer_pruner
from multisource.compress.quant import minmax_grid, quantize

MAGNITUDE_SCOPES = ("matrix", "row")


@dataclass(frozen=True)
class MagnitudeOptions:
    """``scope``: compare ``|W_ij|`` over the whole matrix ("matrix", default) or within each output row ("row")."""

    scope: str = "matrix"

    def __post_init__(self) -> None:
        if self.scope not in MAGNITUDE_SCOPES:
            raise ValueError(f"scope must be one of {list(MAGNITUDE_SCOPES)}, got {self.scope!r}")


@dataclass(frozen=True)
class WandaOptions:
    """Wanda has no options: its per-row comparison is part of the method."""


def _apply_scores(
    W: torch.Tensor, H: torch.Tensor | None, scores: torch.Tensor, target: PruneTarget, *, per_row: bool, start: float
) -> LayerResult:
    if target.mask is not None:
        mask = target.mask.to(W.device)
    elif target.nm is not None:
        mask = lowest_in_groups(scores, *target.nm)
    else:
        mask = lowest_mask(scores, target.sparsity, per_row=per_row)
    W_new = W.masked_fill(mask, 0.0)
    grid = None if target.bits is None else minmax_grid(W, target.bits)
    if grid is not None:
        W_new = quantize(W_new, grid)
    W_ref = W if H is None else W.to(H.dtype)
    return LayerResult(
        weight=W_new,
        mask=mask,
        error=reconstruction_error(W_ref, W_new.to(W_ref.dtype), H),
        damping_used=0.0,
        seconds=time.perf_counter() - start,
        grid=grid,
    )


@layer_pruner("magnitude", options=MagnitudeOptions, needs_hessian=False)
def magnitude_pruner(
    W: torch.Tensor, H: torch.Tensor | None, target: PruneTarget, options: MagnitudeOptions
) -> LayerResult:
    """The registered magnitude pruner; ``H`` (optional) is only used to report the reconstruction error."""
    start = time.perf_counter()
    check_layer_inputs(W, H, target)
    W = W.contiguous()
    return _apply_scores(W, H, W.abs(), target, per_row=options.scope == "row", start=start)


@layer_pruner("wanda", options=WandaOptions)
def wanda_pruner(W: torch.Tensor, H: torch.Tensor | None, target: PruneTarget, options: WandaOptions) -> LayerResult:
    """The registered Wanda pruner: remove the lowest ``|W_ij| * ||X_j||`` within each output row."""
    start = time.perf_counter()
    if H is None:
        raise ValueError("wanda needs the input Hessian H (for the input norms ||X_j||)")
    check_layer_inputs(W, H, target)
    W = W.contiguous()
    norms = torch.sqrt(torch.diag(H).clamp(min=0)).to(device=W.device, dtype=W.dtype)
    return _apply_scores(W, H, W.abs() * norms, target, per_row=True, start=start)


def magnitude_prune_layer(
    W: torch.Tensor,
    H: torch.Tensor | None = None,
    *,
    sparsity: float = 0.0,
    pattern: Pattern = None,
    bits: int | None = None,
    mask: torch.Tensor | None = None,
    scope: str = "matrix",
) -> LayerResult:
    """Remove the smallest ``|W_ij|`` (one threshold per matrix or per row, or per N:M group).

    ``H`` is only used to report the reconstruction error. The target arguments are those of
    ``check_target``; ``scope`` is ``MagnitudeOptions.scope``.
    """
    return magnitude_pruner(W, H, check_target(sparsity, pattern, bits, mask), MagnitudeOptions(scope=scope))


def wanda_prune_layer(
    W: torch.Tensor,
    H: torch.Tensor,
    *,
    sparsity: float = 0.0,
    pattern: Pattern = None,
    bits: int | None = None,
    mask: torch.Tensor | None = None,
) -> LayerResult:
    """Remove the lowest ``|W_ij| * ||X_j||`` within each output row (Wanda, eq. 1 of Sun et al.)."""
    return wanda_pruner(W, H, check_target(sparsity, pattern, bits, mask), WandaOptions())
