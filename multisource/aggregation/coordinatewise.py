"""Coordinate-wise aggregators: mean, median, trimmed mean, mean around the median (MeaMed)."""

from __future__ import annotations

import numpy as np
import torch

from multisource.aggregation.arrays import (
    Vectors,
    as_matrix,
    float_array,
    reject_if_nonfinite,
    reject_if_sum_nonfinite,
    uniform_weights,
    weighted_sum,
)
from multisource.aggregation.registry import AGGREGATORS, MAJORITY, register


@register(AGGREGATORS, "mean", condition=None, paper="the average: no robustness (breakdown point 0)")
def mean(vectors: Vectors) -> Vectors:
    """The average ``(1/n) sum_i x_i`` of the n input vectors, as one BLAS matrix-vector product.

    NaN/inf: rejected, found from the output (a non-finite mean means a non-finite input), so the
    check costs no extra pass over the inputs. The product is numpy's for numpy inputs and for CPU
    tensors of d >= 1e5 (OpenBLAS's GEMV streams long rows 5-7 % faster than MKL's at n = 20), torch's
    ``mv`` otherwise (docs/aggregation.md, Speed).
    """
    x = float_array(vectors)
    if x is not None:  # a numpy input in numpy alone (arrays.float_array)
        return _numpy_mean(x)
    X, restore = as_matrix(vectors)
    if X.is_cpu and X.shape[1] >= _NUMPY_GEMV_COLUMNS:
        return restore(torch.from_numpy(_numpy_mean(X.numpy())))
    result = torch.mv(X.T, uniform_weights(X.shape[0], X.dtype, X.device))
    reject_if_sum_nonfinite(float(torch.dot(result, result)), X, "mean")
    return restore(result)


# Rows at least this long are averaged by numpy's GEMV on the CPU (see mean).
_NUMPY_GEMV_COLUMNS = 100_000


def _numpy_mean(x: np.ndarray) -> np.ndarray:
    """:func:`mean` of a numpy matrix, in numpy. The NaN policy reads ``z . z`` (one BLAS call, 2-3 us
    less than a sum at d = 1e4), which is finite when z is, unless it overflows: then the rows
    are searched and, all finite, the mean is returned."""
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are the NaN policy's to report
        result = np.full(x.shape[0], 1.0 / x.shape[0], dtype=x.dtype) @ x
        reject_if_sum_nonfinite(float(result @ result), x, "mean")
    return result


@register(AGGREGATORS, "coordinate_median", condition=None, paper="Yin, Chen, Kannan, Bartlett, ICML 2018")
def coordinate_median(vectors: Vectors) -> Vectors:
    """Coordinate-wise median (Yin, Chen, Kannan, Bartlett, ICML 2018, Definition 1).

    For even n the median of a coordinate is the average of its two middle values (as numpy and
    ByzFL's ``Median``). NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    return restore(column_median(sorted_columns(X, "coordinate_median")))


@register(AGGREGATORS, "trimmed_mean", condition=MAJORITY, paper="Yin, Chen, Kannan, Bartlett, ICML 2018")
def trimmed_mean(vectors: Vectors, *, n_bad: int) -> Vectors:
    """Coordinate-wise trimmed mean (Yin et al., ICML 2018, Definition 2, with beta n = n_bad).

    Per coordinate, the mean of the values left after removing the ``n_bad`` smallest and the
    ``n_bad`` largest. Needs n > 2 n_bad. NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    n = X.shape[0]
    n_bad = MAJORITY.check("trimmed_mean", n, n_bad)
    kept = sorted_columns(X, "trimmed_mean")[n_bad : n - n_bad]
    return restore(weighted_sum(1.0 / kept.shape[0], kept))


@register(AGGREGATORS, "meamed", condition=MAJORITY, paper="Xie, Koyejo, Gupta, arXiv:1802.10116, 2018")
def meamed(vectors: Vectors, *, n_bad: int) -> Vectors:
    """Mean around the median (Xie, Koyejo, Gupta, "Generalized Byzantine-tolerant SGD", 2018, Definition 4).

    Per coordinate, the mean of the ``n - n_bad`` values closest to the coordinate's median. Needs
    n > 2 n_bad. Ties (two values equally far from the median on either side) take the smaller
    value; ByzFL's ``argpartition`` leaves them unspecified. NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    n_bad = MAJORITY.check("meamed", X.shape[0], n_bad)
    return restore(mean_around_median(sorted_columns(X, "meamed"), X.shape[0] - n_bad))


# sorted_columns sorts Fortran-ordered copies of inputs of at most this many entries.
_FORTRAN_SORT_ENTRIES = 1 << 22


def sorted_columns(X: torch.Tensor, rule: str) -> torch.Tensor:
    """X sorted along its rows, column by column, with the NaN policy applied for free.

    Sorting puts -inf first and +inf and NaN last, so the first and last sorted rows show whether X
    holds a non-finite value. numpy's sort on CPU is several times faster than torch's. Inputs of
    up to 2^22 entries are copied into a Fortran-ordered array and sorted in place there, each
    column a contiguous run: 1.2x faster at n = 20 and 1.5x at n = 50-100 (d = 1e4) than sorting
    along the strided axis 0. Larger ones are sorted along axis 0: their transposing copy writes
    across every page at once, which cost more than the sort saves at d = 1e6.
    """
    if X.is_cpu:
        x = X.numpy()
        if x.size <= _FORTRAN_SORT_ENTRIES:
            s = np.array(x, order="F")  # always a copy: the sort runs in place
            s.sort(axis=0)
        else:
            s = np.sort(x, axis=0)
        reject_if_nonfinite(torch.from_numpy(s[0] + s[-1]), X, rule)  # finite iff both ends are
        return torch.from_numpy(s)
    S = torch.sort(X, dim=0).values
    reject_if_nonfinite(S[0] + S[-1], X, rule)
    return S


def column_median(S: torch.Tensor) -> torch.Tensor:
    """Median of each column of the column-sorted S; the average of the two middle values for even n."""
    n = S.shape[0]
    return (S[(n - 1) // 2] + S[n // 2]) / 2


def mean_around_median(S: torch.Tensor, k: int) -> torch.Tensor:
    """Per column of the column-sorted S, the mean of the k values closest to its median (MeaMed, Bulyan).

    The k closest values of a sorted column ``v`` are a window ``v[s : s + k]``; moving it from s to
    s + 1 trades ``v[s]`` for ``v[s + k]`` and pays off iff ``v[s + k] - m < m - v[s]``. That test is
    monotone in s, so the window starts at the number of s with ``v[s] + v[s + k] < 2 m``; a tie
    keeps the smaller value.
    """
    n = S.shape[0]
    if k == n:
        return weighted_sum(1.0 / n, S)
    if S.is_cpu:
        # Row by row, on C order: the rows of the Fortran-ordered sorted_columns are strided.
        return torch.from_numpy(_window_mean(np.ascontiguousarray(S.numpy()), k))
    twice_median = S[(n - 1) // 2] + S[n // 2]
    start = (S[: n - k] + S[k:] < twice_median).sum(dim=0)
    window = start[None, :] + torch.arange(k, device=S.device)[:, None]
    return weighted_sum(1.0 / k, torch.gather(S, 0, window))


def _window_mean(S: np.ndarray, k: int) -> np.ndarray:
    """:func:`mean_around_median` on CPU: the same window, found and summed one row of S at a time.

    Each step is vectorised over the d columns; no (n, d) temporary is allocated, which on large d
    costs more than the arithmetic (fresh pages).
    """
    n, d = S.shape
    twice_median = S[(n - 1) // 2] + S[n // 2]
    start = np.zeros(d, dtype=np.intp)
    for s in range(n - k):
        start += S[s] + S[s + k] < twice_median
    columns = np.arange(d)
    total = np.zeros(d, dtype=S.dtype)
    for j in range(k):
        total += S[start + j, columns]
    return total / k
