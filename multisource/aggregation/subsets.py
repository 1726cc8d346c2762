"""Exhaustive search over the subsets of size n - n_bad, shared by MDA and SMEA.

A kept subset is described by the n_bad inputs it removes; the C(n, n_bad) removal sets are
enumerated in lexicographic order and scored in vectorized chunks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np

from multisource.aggregation.arrays import Array, weighted_sum

MAX_SUBSETS = 1_000_000
"""Default bound on C(n, n_bad), the number of subsets MDA and SMEA search (``docs/aggregation.md``)."""


def removal_sets(n: int, n_bad: int, chunk: int) -> Iterator[np.ndarray]:
    """The C(n, n_bad) sets of n_bad removed indices, in lexicographic order, as (<= chunk, n_bad) arrays."""
    combos = itertools.combinations(range(n), n_bad)
    while True:
        flat = np.fromiter(itertools.chain.from_iterable(itertools.islice(combos, chunk)), dtype=np.int64)
        if flat.size == 0 and n_bad > 0:
            return
        yield flat.reshape(-1, n_bad) if n_bad > 0 else np.zeros((1, 0), dtype=np.int64)
        if n_bad == 0:
            return


def removed_masks(removed: np.ndarray, n: int) -> np.ndarray:
    """(c, n) boolean masks of the removed indices."""
    mask = np.zeros((removed.shape[0], n), dtype=bool)
    np.put_along_axis(mask, removed, True, axis=1)
    return mask


def best_kept_set(n: int, n_bad: int, chunk: int, score: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The kept subset (an (n,) bool mask) whose ``score`` is smallest over all C(n, n_bad) subsets.

    ``score`` maps a (c, n) mask of removed indices to c scores. Ties go to the kept subset that
    comes first in lexicographic order, as ``itertools.combinations(range(n), n - n_bad)`` lists
    them (ByzFL's MDA and SMEA keep the first strict minimum in that order).
    """
    best = np.inf
    winners: list[np.ndarray] = []
    for removed in removal_sets(n, n_bad, chunk):
        masks = removed_masks(removed, n)
        scores = score(masks)
        low = scores.min()
        if low < best:
            best, winners = low, [masks[scores == low]]
        elif low == best:
            winners.append(masks[scores == low])
    kept = ~np.concatenate(winners)
    # Lexicographically first kept subset = the kept mask that is largest read as a binary word.
    order = np.lexsort((~kept).T[::-1])
    return kept[order[0]]


def mean_of(X: Array, rows: np.ndarray) -> Array:
    """Mean of the rows of X (numpy array or tensor) at the indices ``rows``, of X's kind, as one
    vector-matrix product (:func:`weighted_sum`).

    The weights are made in numpy (in a numpy X's dtype): right after a GEMM each torch call costs
    several microseconds (Multi-Krum at n = 20, d = 1e4; docs/aggregation.md, Speed).
    """
    w = np.zeros(X.shape[0], dtype=X.dtype if isinstance(X, np.ndarray) else np.float64)
    w[rows] = 1.0 / len(rows)
    return weighted_sum(w, X)
