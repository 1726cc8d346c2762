"""Pruning masks from saliency scores: unstructured (per row or per tensor) and N:M.

A mask is a boolean tensor of the weight's shape, ``True`` where a weight is *removed*.
Magnitude pruning uses scores |W|, Wanda |W_ij| * ||X_j||, SparseGPT w^2 / [H^-1]_jj.
"""

from __future__ import annotations

import torch

from multisource.utils.validation import check_int, check_real


def check_sparsity(sparsity: float, name: str = "sparsity") -> float:
    """A sparsity (fraction of weights removed) in [0, 1)."""
    return check_real(name, sparsity, low=0.0, high=1.0, high_open=True)


def check_nm(n: int, m: int) -> tuple[int, int]:
    """An N:M pattern (N of every M consecutive weights along the input dimension are zero), 0 < N < M."""
    m = check_int("M (N:M group size)", m, minimum=2)
    n = check_int("N (zeros per N:M group)", n, minimum=1, maximum=m - 1)
    return n, m


def parse_nm(pattern: str) -> tuple[int, int]:
    """``"2:4"`` -> (2, 4), validated."""
    try:
        n_text, m_text = pattern.split(":")
        n, m = int(n_text), int(m_text)
    except (AttributeError, ValueError):
        raise ValueError(f"pattern must look like 'N:M' (e.g. '2:4'), got {pattern!r}") from None
    if n >= m:
        raise ValueError(f"pattern {pattern!r}: N must be smaller than M")
    return check_nm(n, m)


def unstructured_mask(scores: torch.Tensor, sparsity: float, *, per_row: bool = False) -> torch.Tensor:
    """Remove the ``round(sparsity * count)`` lowest scores, over the whole tensor or within each row.

    Exactly ``round(sparsity * numel)`` entries (or that many per row) are removed; ties are broken
    by position, so the count is exact even when scores repeat.
    """
    sparsity = check_sparsity(sparsity)
    _check_scores(scores)
    return lowest_mask(scores, sparsity, per_row=per_row)


def lowest_mask(scores: torch.Tensor, sparsity: float, *, per_row: bool = False) -> torch.Tensor:
    """``unstructured_mask`` for arguments already validated (the pruners' inner loops call this)."""
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if per_row:
        k = round(sparsity * scores.shape[1])
        if k:
            idx = torch.topk(scores, k, dim=1, largest=False, sorted=False).indices
            mask.scatter_(1, idx, True)
    else:
        k = round(sparsity * scores.numel())
        if k:
            idx = torch.topk(scores.flatten(), k, largest=False, sorted=False).indices
            mask.view(-1)[idx] = True
    return mask


def _check_scores(scores: torch.Tensor) -> None:
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-D (rows x columns) tensor, got shape {tuple(scores.shape)}")


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """In every row, remove the ``n`` lowest scores of each aligned group of ``m`` columns.

    A trailing group shorter than ``m`` removes ``floor(n * len / m)`` weights.
    """
    n, m = check_nm(n, m)
    _check_scores(scores)
    return lowest_in_groups(scores, n, m)


def lowest_in_groups(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """``nm_mask`` for arguments already validated (the pruners' inner loops call this)."""
    rows, cols = scores.shape
    full = (cols // m) * m
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if full:
        groups = scores[:, :full].reshape(rows, full // m, m)
        idx = torch.topk(groups, n, dim=2, largest=False, sorted=False).indices
        mask[:, :full] = torch.zeros_like(groups, dtype=torch.bool).scatter_(2, idx, True).reshape(rows, full)
    tail = cols - full
    k_tail = (n * tail) // m
    if k_tail:
        idx = torch.topk(scores[:, full:], k_tail, dim=1, largest=False, sorted=False).indices
        mask[:, full:] = torch.zeros_like(scores[:, full:], dtype=torch.bool).scatter_(1, idx, True)
    return mask


def is_nm_sparse(weight: torch.Tensor, n: int, m: int) -> bool:
    """True when every aligned group of ``m`` columns in every row has at least ``n`` zeros."""
    n, m = check_nm(n, m)
    rows, cols = weight.shape
    full = (cols // m) * m
    zeros = (weight[:, :full] == 0).reshape(rows, full // m, m).sum(dim=2)
    return bool((zeros >= n).all())
