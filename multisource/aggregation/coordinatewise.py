"""Coordinate-wise aggregators: mean, median, trimmed mean, mean around the median (MeaMed)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from multisource.aggregation.arrays import (
    Array,
    Vectors,
    as_matrix,
    column_blocks,
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
    return restore(sorted_column_statistic(X, "coordinate_median", column_median))


@register(AGGREGATORS, "trimmed_mean", condition=MAJORITY, paper="Yin, Chen, Kannan, Bartlett, ICML 2018")
def trimmed_mean(vectors: Vectors, *, n_bad: int) -> Vectors:
    """Coordinate-wise trimmed mean (Yin et al., ICML 2018, Definition 2, with beta n = n_bad).

    Per coordinate, the mean of the values left after removing the ``n_bad`` smallest and the
    ``n_bad`` largest. Needs n > 2 n_bad. NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    n = X.shape[0]
    n_bad = MAJORITY.check("trimmed_mean", n, n_bad)
    k = n - 2 * n_bad
    return restore(sorted_column_statistic(X, "trimmed_mean", lambda S: weighted_sum(1.0 / k, S[n_bad : n - n_bad])))


@register(AGGREGATORS, "meamed", condition=MAJORITY, paper="Xie, Koyejo, Gupta, arXiv:1802.10116, 2018")
def meamed(vectors: Vectors, *, n_bad: int) -> Vectors:
    """Mean around the median (Xie, Koyejo, Gupta, "Generalized Byzantine-tolerant SGD", 2018, Definition 4).

    Per coordinate, the mean of the ``n - n_bad`` values closest to the coordinate's median. Needs
    n > 2 n_bad. Ties (two values equally far from the median on either side) take the smaller
    value; ByzFL's ``argpartition`` leaves them unspecified. NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    k = X.shape[0] - MAJORITY.check("meamed", X.shape[0], n_bad)
    return restore(sorted_column_statistic(X, "meamed", lambda S: mean_around_median(S, k)))


def sorted_column_statistic(X: torch.Tensor, rule: str, statistic: Callable[[Array], Array]) -> Array:
    """``statistic(S)`` of S, X sorted along its rows column by column, with the NaN policy applied for
    free: a statistic of each sorted column (median, trimmed mean, MeaMed's window), vectorised over
    the columns of S, a numpy array or a tensor.

    Sorting puts -inf first and +inf and NaN last, so the first and last sorted rows show whether X
    holds a non-finite value. On the CPU, by numpy (several times faster than torch's sort), one
    block of columns at a time (:func:`~multisource.aggregation.arrays.column_blocks`): each block is
    copied into a Fortran-ordered buffer that stays in cache, sorted in place there (each column a
    contiguous run) and reduced at once, so no sorted (n, d) copy is made. Against sorting all of X
    (a Fortran-ordered copy up to 2^22 entries, else along the strided axis 0, as ByzFL does), the
    median and the trimmed mean took 1.6-2x less time at d = 1e6 and 0-7 % less at d = 1e4, MeaMed
    1.35-2.4x less (n = 20-100, one thread; docs/aggregation.md, Speed). Elsewhere, torch's sort of
    the whole X.
    """
    if not X.is_cpu:
        S = torch.sort(X, dim=0).values
        reject_if_nonfinite(S[0] + S[-1], X, rule)
        return statistic(S)
    x = X.numpy()
    blocks = column_blocks(x)
    values, ends = np.empty(x.shape[1], dtype=x.dtype), np.empty(x.shape[1], dtype=x.dtype)
    buffer = np.empty((x.shape[0], blocks[0].stop), dtype=x.dtype, order="F")
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are the NaN policy's to report
        for columns in blocks:
            block = buffer[:, : columns.stop - columns.start]
            block[...] = x[:, columns]
            block.sort(axis=0)
            np.add(block[0], block[-1], out=ends[columns])
            values[columns] = statistic(block)
    reject_if_nonfinite(torch.from_numpy(ends), X, rule)  # finite iff both ends of every column are
    return values


def column_median(S: Array) -> Array:
    """Median of each column of the column-sorted S; the average of the two middle values for even n."""
    n = S.shape[0]
    return (S[(n - 1) // 2] + S[n // 2]) / 2


def mean_around_median(S: Array, k: int) -> Array:
    """Per column of the column-sorted S (numpy array or tensor), the mean of the k values closest to
    its median (MeaMed, Bulyan).

    The k closest values of a sorted column ``v`` are a window ``v[s : s + k]``; moving it from s to
    s + 1 trades ``v[s]`` for ``v[s + k]`` and pays off iff ``v[s + k] - m < m - v[s]``. That test is
    monotone in s, so the window starts at the number of s with ``v[s] + v[s + k] < 2 m``; a tie
    keeps the smaller value. The (n - k, d) test and the (k, d) window are temporaries: on the CPU S
    is a Fortran-ordered block of columns that fits in cache (:func:`sorted_column_statistic`). There
    the window starts are counted row by row (a sum along the block's short contiguous axis took 1-4x
    longer) and the windows are read by one index into the flat buffer, where each column is a
    contiguous run (1.3-1.6x faster than ``take_along_axis`` or a loop over rows; n = 12-100).
    """
    n = S.shape[0]
    if k == n:
        return weighted_sum(1.0 / n, S)
    twice_median = S[(n - 1) // 2] + S[n // 2]
    if isinstance(S, np.ndarray):
        start = np.zeros(S.shape[1], dtype=np.intp)
        for s in range(n - k):
            start += S[s] + S[s + k] < twice_median
        first = start + n * np.arange(S.shape[1])  # where each column's window starts in the flat buffer
        return weighted_sum(1.0 / k, S.ravel(order="F")[first + np.arange(k)[:, None]])
    starts = (S[: n - k] + S[k:] < twice_median).sum(0)
    window = starts[None, :] + torch.arange(k, device=S.device)[:, None]
    return weighted_sum(1.0 / k, torch.gather(S, 0, window))
