"""Pre-aggregators: (n, d) vectors -> (n', d) vectors, composed with any aggregator (``robust_aggregate``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from multisource.aggregation.arrays import (
    Vectors,
    aliases_writeable_input,
    as_matrix,
    as_tensor,
    host,
    matmul,
    numpy_row_norms_squared,
    own_float_array,
    reject_if_nonfinite,
    row_norms_squared,
    to_numpy,
)
from multisource.aggregation.distances import checked_distances
from multisource.aggregation.registry import AT_MOST_N, FEWER_THAN_N, PRE_AGGREGATORS, register
from multisource.utils.validation import SeedLike, check_bool, check_int, check_random_state, check_real


def _averaging(rows: np.ndarray, groups: np.ndarray, n: int, X: torch.Tensor) -> torch.Tensor:
    """The (n_groups, n) matrix that averages, for each group g, the inputs ``rows[groups == g]``."""
    n_groups = int(groups.max()) + 1
    W = np.zeros((n_groups, n))
    np.add.at(W, (groups, rows), 1.0)
    W /= W.sum(axis=1, keepdims=True)
    return torch.from_numpy(W).to(device=X.device, dtype=X.dtype)


@register(
    PRE_AGGREGATORS,
    "nnm",
    condition=FEWER_THAN_N,
    paper="Allouah, Farhadkhani, Guerraoui, Gupta, Pinot, Stephan, AISTATS 2023 (Algorithm 1)",
)
def nnm(vectors: Vectors, *, n_bad: int) -> Vectors:
    """Nearest-neighbour mixing (Allouah et al., "Fixing by mixing", AISTATS 2023, Algorithm 1).

    Each input is replaced by the mean of its ``n - n_bad`` nearest inputs (itself included); ties
    in distance go to the lowest index. Needs n > n_bad. NaN/inf: rejected.
    """
    V, restore, n_bad, D = checked_distances(vectors, "nnm", n_bad, FEWER_THAN_N)
    X = as_tensor(V)
    n, k = X.shape[0], X.shape[0] - n_bad
    nearest = np.argsort(to_numpy(D), axis=1, kind="stable")[:, :k]
    W = _averaging(nearest.ravel(), np.repeat(np.arange(n), k), n, X)
    return restore(matmul(W, X))


def _bucket_count(n: int, kwargs: Mapping[str, Any]) -> int:
    return -(-n // check_int("s", kwargs.get("s", 1), minimum=1))


@register(
    PRE_AGGREGATORS,
    "bucketing",
    condition=None,
    options=("s", "seed"),
    paper="Karimireddy, He, Jaggi, ICLR 2022 (Algorithm 1)",
    rows_out=_bucket_count,
)
def bucketing(vectors: Vectors, *, s: int = 1, seed: SeedLike = None) -> Vectors:
    """Bucketing (Karimireddy, He, Jaggi, ICLR 2022, Algorithm 1).

    Paper: "Byzantine-robust learning on heterogeneous datasets via bucketing".

    The inputs are shuffled by ``seed`` (an int, a numpy Generator or None) and cut into buckets of
    ``s`` consecutive inputs (the last one smaller when s does not divide n); returns the
    ``ceil(n / s)`` bucket means. NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    s = check_int("s", s, minimum=1)
    rng = check_random_state(seed)
    n = X.shape[0]
    perm = rng.permutation(n)
    means = matmul(_averaging(perm, np.arange(n) // s, n, X), X)
    reject_if_nonfinite(means, X, "bucketing")
    return restore(means)


def _scale_rows(rows: np.ndarray | torch.Tensor, length: np.ndarray, threshold: float) -> None:
    """Scale, in place, the rows of ``rows`` whose norm ``length[i]`` exceeds ``threshold`` down to it.

    The factor is a Python float: numpy 2 takes it as weakly typed, so a float32 row is scaled in
    float32; a numpy float64 factor made it a float64 operation with a cast back (NEP 50), 2-3x slower.
    """
    for i in np.flatnonzero(length > threshold):
        rows[i] *= float(threshold / length[i])


def _clip_to(vectors: Vectors, X: torch.Tensor, norms: torch.Tensor, threshold: float, copy: bool) -> torch.Tensor:
    """X with its rows of norm above ``threshold`` scaled down to it.

    ``copy=False`` scales those rows of the caller's own array in place when X is that array's memory
    and it is writeable (as scikit-learn's ``copy=False``: no copy is made where one can be avoided);
    otherwise a new array is returned.
    """
    if not copy and aliases_writeable_input(vectors, X):
        # numpy's per-row call costs a third of torch's
        _scale_rows(host(X), norms.cpu().numpy(), threshold)
        return X
    factor = torch.where(norms > threshold, threshold / torch.where(norms > 0, norms, 1.0), 1.0).to(X.dtype)
    if X.is_cpu:  # numpy writes a fresh (n, d) array several times faster than torch
        return torch.from_numpy(X.numpy() * factor.numpy()[:, None])
    return X * factor[:, None]


@register(
    PRE_AGGREGATORS,
    "static_clipping",
    condition=None,
    options=("c", "copy"),
    paper="fixed-threshold baseline of Allouah et al., arXiv:2405.14432, 2024",
)
def static_clipping(vectors: Vectors, *, c: float = 2.0, copy: bool = True) -> Vectors:
    """Static clipping: each input ``x_i <- x_i min(1, c / ||x_i||)``.

    The fixed-threshold baseline that ARC adapts (Allouah et al. 2024, Section 3). ``c >= 0``.
    By default the input is left intact; ``copy=False`` clips the rows of a writeable float32/float64
    input in place and returns it, as ByzFL's ``Clipping`` always does. NaN/inf: rejected.
    """
    c = check_real("c", c, low=0.0)
    copy = check_bool("copy", copy)
    x = None if copy else own_float_array(vectors)
    if x is not None:
        _scale_rows(x, np.sqrt(numpy_row_norms_squared(x, "static_clipping")), c)
        return x
    X, restore = as_matrix(vectors)
    norms = row_norms_squared(X, "static_clipping").sqrt()
    return restore(_clip_to(vectors, X, norms, c, copy))


def _arc_threshold(norms: np.ndarray, n_bad: int) -> float | None:
    """ARC's clipping threshold: the norm of the largest input left unclipped; None when none is clipped.

    ``k = floor(2 (n_bad / n) (n - n_bad))`` inputs are clipped, in exact integer arithmetic (ByzFL's
    float expression can round one below it).
    """
    n = len(norms)
    k = 2 * n_bad * (n - n_bad) // n
    return None if k == 0 or k >= n else float(np.sort(norms)[n - k - 1])


@register(
    PRE_AGGREGATORS,
    "arc",
    condition=AT_MOST_N,
    options=("copy",),
    paper="Allouah, Guerraoui, Gupta, Jellouli, Rizk, Stephan, arXiv:2405.14432, 2024 (Algorithm 1)",
)
def arc(vectors: Vectors, *, n_bad: int, copy: bool = True) -> Vectors:
    """Adaptive robust clipping, ARC (Allouah et al., arXiv:2405.14432, 2024, Algorithm 1).

    Paper: "The vital role of gradient clipping in Byzantine-resilient distributed learning".

    The ``k = floor(2 (n_bad / n) (n - n_bad))`` inputs of largest norm are clipped to the norm of
    the largest one left; k is computed in exact integer arithmetic (ByzFL's float expression can
    round one below it). Needs n >= n_bad. ``copy=False`` clips in place where it can, as in
    :func:`static_clipping`. NaN/inf: rejected.
    """
    copy = check_bool("copy", copy)
    x = None if copy else own_float_array(vectors)
    if x is not None:
        n_bad = AT_MOST_N.check("arc", x.shape[0], n_bad)
        norms = np.sqrt(numpy_row_norms_squared(x, "arc"))
        threshold = _arc_threshold(norms, n_bad)
        if threshold is not None:
            _scale_rows(x, norms, threshold)
        return x
    X, restore = as_matrix(vectors)
    n_bad = AT_MOST_N.check("arc", X.shape[0], n_bad)
    row_norms = row_norms_squared(X, "arc").sqrt()
    threshold = _arc_threshold(row_norms.cpu().numpy(), n_bad)
    if threshold is None:
        return restore(X.clone() if copy else X)
    return restore(_clip_to(vectors, X, row_norms, threshold, copy))
