"""Per-channel asymmetric min-max quantization grid (the GPTQ / SparseGPT ``Quantizer``).

For output row ``r`` with ``b`` bits, ``maxq = 2**b - 1``, the grid is

    x_min = min(0, min_j W_rj),  x_max = max(0, max_j W_rj),
    scale_r = (x_max - x_min) / maxq,  zero_r = round(-x_min / scale_r),
    q(w) = scale_r * (clamp(round(w / scale_r) + zero_r, 0, maxq) - zero_r).

The zero point is an integer inside the grid, so ``q(0) == 0`` exactly: pruned weights stay zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from multisource.utils.validation import check_int


def check_bits(bits: int) -> int:
    """A quantization bit width in 2..16."""
    return check_int("bits", bits, minimum=2, maximum=16)


@dataclass(frozen=True)
class QuantGrid:
    """Per-row grid: ``scale`` and integer ``zero`` of shape (rows,), ``maxq = 2**bits - 1``."""

    scale: torch.Tensor
    zero: torch.Tensor
    maxq: int


def minmax_grid(W: torch.Tensor, bits: int) -> QuantGrid:
    """The per-row min-max grid of ``W`` (rows x columns), computed once on the dense weights."""
    bits = check_bits(bits)
    maxq = 2**bits - 1
    x_min = W.min(dim=1).values.clamp(max=0)
    x_max = W.max(dim=1).values.clamp(min=0)
    flat = x_min == x_max
    # An all-zero row has no range; any grid represents it exactly, use [-1, 1] like GPTQ.
    x_min = torch.where(flat, -torch.ones_like(x_min), x_min)
    x_max = torch.where(flat, torch.ones_like(x_max), x_max)
    scale = (x_max - x_min) / maxq
    zero = torch.round(-x_min / scale)
    return QuantGrid(scale=scale, zero=zero, maxq=maxq)


def quantize(x: torch.Tensor, grid: QuantGrid) -> torch.Tensor:
    """Round ``x`` (shape (rows,) or (rows, k)) onto its rows' grid points."""
    shape = (-1,) + (1,) * (x.ndim - 1)
    scale, zero = grid.scale.reshape(shape), grid.zero.reshape(shape)
    q = torch.clamp(torch.round(x / scale) + zero, 0, grid.maxq)
    return scale * (q - zero)
