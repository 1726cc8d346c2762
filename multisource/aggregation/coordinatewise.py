"""Coordinate-wise aggregators: mean, median, trimmed mean, mean around the median (MeaMed)."""

from __future__ import annotations

import numpy as np
import torch

from multisource.aggregation.arrays import Vectors, as_matrix, nonfinite_error, nonfinite_rows, reject_nonfinite
from multisource.aggregation.registry import AGGREGATORS, MAJORITY, register


@register(AGGREGATORS, "mean", condition=None, paper="the average: no robustness (breakdown point 0)")
def mean(vectors: Vectors) -> Vectors:
    """The average ``(1/n) sum_i x_i`` of the n input vectors.

    NaN/inf: rejected, found from the output (a non-finite mean means a non-finite input), so the
    check costs no extra pass over the inputs.
    """
    X, restore = as_matrix(vectors)
    result = X.mean(dim=0)
    if not bool(torch.isfinite(result).all()):
        rows = nonfinite_rows(X)
        if rows:
            raise nonfinite_error("mean", rows)
    return restore(result)


@register(AGGREGATORS, "coordinate_median", condition=None, paper="Yin, Chen, Kannan, Bartlett, ICML 2018")
def coordinate_median(vectors: Vectors) -> Vectors:
    """Coordinate-wise median (Yin, Chen, Kannan, Bartlett, ICML 2018, Definition 1).

    For even n the median of a coordinate is the average of its two middle values (as numpy and
    ByzFL's ``Median``). NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    reject_nonfinite(X, "coordinate_median")
    return restore(column_median(X))


@register(AGGREGATORS, "trimmed_mean", condition=MAJORITY, paper="Yin, Chen, Kannan, Bartlett, ICML 2018")
def trimmed_mean(vectors: Vectors, *, n_bad: int) -> Vectors:
    """Coordinate-wise trimmed mean (Yin et al., ICML 2018, Definition 2, with beta n = n_bad).

    Per coordinate, the mean of the values left after removing the ``n_bad`` smallest and the
    ``n_bad`` largest. Needs n > 2 n_bad. NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    n = X.shape[0]
    n_bad = MAJORITY.check("trimmed_mean", n, n_bad)
    reject_nonfinite(X, "trimmed_mean")
    if n_bad == 0:
        return restore(X.mean(dim=0))
    if X.device.type == "cpu":
        middle = np.partition(X.numpy(), (n_bad, n - n_bad - 1), axis=0)[n_bad : n - n_bad]
        return restore(torch.from_numpy(middle.mean(axis=0)))
    return restore(torch.sort(X, dim=0).values[n_bad : n - n_bad].mean(dim=0))


@register(AGGREGATORS, "meamed", condition=MAJORITY, paper="Xie, Koyejo, Gupta, arXiv:1802.10116, 2018")
def meamed(vectors: Vectors, *, n_bad: int) -> Vectors:
    """Mean around the median (Xie, Koyejo, Gupta, "Generalized Byzantine-tolerant SGD", 2018, Definition 4).

    Per coordinate, the mean of the ``n - n_bad`` values closest to the coordinate's median. Needs
    n > 2 n_bad. Ties (two values equally far from the median on either side) take the smaller
    value; ByzFL's ``argpartition`` leaves them unspecified. NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    n_bad = MAJORITY.check("meamed", X.shape[0], n_bad)
    reject_nonfinite(X, "meamed")
    return restore(mean_around_median(X, X.shape[0] - n_bad))


def column_median(X: torch.Tensor) -> torch.Tensor:
    """Median of each column of X; the average of the two middle values for even n."""
    n = X.shape[0]
    if X.device.type == "cpu":
        return torch.from_numpy(np.asarray(np.median(X.numpy(), axis=0)))
    lower = torch.kthvalue(X, (n + 1) // 2, dim=0).values
    if n % 2:
        return lower
    return (lower + torch.kthvalue(X, n // 2 + 1, dim=0).values) / 2


def mean_around_median(X: torch.Tensor, k: int) -> torch.Tensor:
    """Per column, the mean of the k values closest to the column median (shared by MeaMed and Bulyan).

    The k closest values of a sorted column ``v`` are a window ``v[s : s + k]``; moving it from s to
    s + 1 trades ``v[s]`` for ``v[s + k]`` and pays off iff ``v[s + k] - m < m - v[s]``. That test is
    monotone in s, so the window starts at the number of s with ``v[s] + v[s + k] < 2 m``; a tie
    keeps the smaller value.
    """
    n = X.shape[0]
    if k == n:
        return X.mean(dim=0)
    S = _sorted_columns(X)
    twice_median = S[(n - 1) // 2] + S[n // 2]
    start = (S[: n - k] + S[k:] < twice_median).sum(dim=0)
    window = start[None, :] + torch.arange(k, device=X.device)[:, None]
    return torch.gather(S, 0, window).mean(dim=0)


def _sorted_columns(X: torch.Tensor) -> torch.Tensor:
    if X.device.type == "cpu":
        return torch.from_numpy(np.sort(X.numpy(), axis=0))
    return torch.sort(X, dim=0).values
