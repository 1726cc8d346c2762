"""Aggregators built on pairwise distances: Krum, Multi-Krum, Bulyan, MoNNA, MDA.

All of them start from one (n, n) matrix of squared distances (:func:`checked_distances`, one
GEMM; MoNNA needs only one row of it); the selection logic then works on that small matrix only.
"""

from __future__ import annotations

import numpy as np
import torch

from multisource.aggregation.arrays import Vectors, as_matrix, as_tensor, overflow_fallback, row_copy, to_numpy
from multisource.aggregation.coordinatewise import mean_around_median, sorted_column_statistic
from multisource.aggregation.distances import (
    Distances,
    checked_distances,
    checked_inputs,
    host_distances,
    squared_distances_to,
)
from multisource.aggregation.registry import (
    AGGREGATORS,
    BULYAN,
    KRUM,
    MAJORITY,
    check_subset_budget,
    register,
)
from multisource.aggregation.subsets import MAX_SUBSETS, best_kept_set, mean_of
from multisource.utils.validation import check_int


def krum_scores(D: Distances, n_neighbours: int) -> Distances:
    """Krum's score of each input: the sum of its ``n_neighbours`` smallest squared distances to the others.

    ``D`` (numpy or tensor) has a zero diagonal and non-negative entries, so dropping the first value
    of each sorted row drops the input itself (or an equal zero of a duplicate).
    """
    if isinstance(D, np.ndarray):
        return np.sort(D, axis=1)[:, 1 : n_neighbours + 1].sum(axis=1)
    return torch.sort(D, dim=1).values[:, 1 : n_neighbours + 1].sum(dim=1)


@register(AGGREGATORS, "krum", condition=KRUM, paper="Blanchard, El Mhamdi, Guerraoui, Stainer, NeurIPS 2017")
def krum(vectors: Vectors, *, n_bad: int) -> Vectors:
    """Krum (Blanchard, El Mhamdi, Guerraoui, Stainer, NeurIPS 2017, Section 4).

    Returns the input whose ``n - n_bad - 2`` nearest neighbours are closest in summed squared
    distance; needs n > 2 n_bad + 2. Ties go to the lowest index. ByzFL's ``Krum(f)`` sums over
    ``n - f - 1`` neighbours, so ours with ``n_bad`` equals ByzFL's with ``f = n_bad + 1``.
    NaN/inf: rejected.
    """
    X, restore, n_bad, D = checked_distances(vectors, "krum", n_bad, KRUM)
    best = int(krum_scores(D, X.shape[0] - n_bad - 2).argmin())
    return restore(row_copy(X, best))


@register(
    AGGREGATORS,
    "multi_krum",
    condition=KRUM,
    options=("m",),
    paper="Blanchard, El Mhamdi, Guerraoui, Stainer, NeurIPS 2017",
)
def multi_krum(vectors: Vectors, *, n_bad: int, m: int | None = None) -> Vectors:
    """Multi-Krum (Blanchard et al., NeurIPS 2017, Section 4): the mean of the m inputs of lowest Krum score.

    Scores as in :func:`krum`; ``m`` defaults to ``n - n_bad`` and lies in [1, n]; ties in score go
    to the lowest index. Needs n > 2 n_bad + 2. ByzFL's ``MultiKrum(f)`` (``n - f - 1`` neighbours,
    ``m = n - f``) is ours with ``n_bad = f - 1, m = n - f``. NaN/inf: rejected.
    """
    X, restore, n_bad = checked_inputs(vectors, "multi_krum", n_bad, KRUM)
    n = X.shape[0]
    m = n - n_bad if m is None else check_int("m", m, minimum=1, maximum=n)
    V, D = host_distances(X, "multi_krum")
    order = np.argsort(to_numpy(krum_scores(D, n - n_bad - 2)), kind="stable")
    return restore(mean_of(V, order[:m]))


@register(AGGREGATORS, "bulyan", condition=BULYAN, paper="El Mhamdi, Guerraoui, Rouault, ICML 2018 (Algorithm 1)")
def bulyan(vectors: Vectors, *, n_bad: int) -> Vectors:
    """Bulyan over Krum (El Mhamdi, Guerraoui, Rouault, "The hidden vulnerability...", ICML 2018, Algorithm 1).

    Selection: ``theta = n - 2 n_bad`` times, Krum picks one of the inputs not yet picked (scores
    over ``r - n_bad - 2`` neighbours among the r left, at least 1 and at most r - 1; ties to the
    lowest index). Aggregation: per coordinate, the mean of the ``beta = theta - 2 n_bad`` selected
    values closest to their median. Needs n >= 4 n_bad + 3. NaN/inf: rejected.
    """
    V, restore, n_bad, D = checked_distances(vectors, "bulyan", n_bad, BULYAN)
    n = V.shape[0]
    theta = n - 2 * n_bad
    left = list(range(n))
    selected: list[int] = []
    for _ in range(theta):
        r = len(left)
        scores = krum_scores(D[left][:, left], min(max(r - n_bad - 2, 1), r - 1))
        selected.append(left.pop(int(scores.argmin())))
    beta = theta - 2 * n_bad
    chosen = as_tensor(V[sorted(selected)])
    return restore(sorted_column_statistic(chosen, "bulyan", lambda S: mean_around_median(S, beta)))


@register(
    AGGREGATORS,
    "monna",
    condition=MAJORITY,
    options=("idx",),
    paper="Farhadkhani, Guerraoui, Gupta, Hoang, Pinot, Stephan, ICML 2023",
)
def monna(vectors: Vectors, *, n_bad: int, idx: int = 0) -> Vectors:
    """MoNNA (Farhadkhani et al., "Robust collaborative learning with linear gradient overhead", ICML 2023).

    The mean of the ``n - n_bad`` inputs nearest to the trusted input ``idx`` (itself included);
    needs n > 2 n_bad. Ties in distance go to the lowest index. NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    n = X.shape[0]
    n_bad = MAJORITY.check("monna", n, n_bad)
    idx = check_int("idx", idx, minimum=0, maximum=n - 1)
    dist = squared_distances_to(X, idx)
    if not bool(torch.isfinite(dist).all()):  # the NaN and overflow policy
        dist = squared_distances_to(overflow_fallback(X, "monna"), idx)
    dist = dist.cpu().numpy().copy()  # n values: selected in numpy, which sorts them for a third of torch's cost
    dist[idx] = 0.0
    return restore(mean_of(X, np.argsort(dist, kind="stable")[: n - n_bad]))


@register(
    AGGREGATORS,
    "mda",
    condition=MAJORITY,
    options=("max_subsets",),
    paper="El Mhamdi, Guerraoui, Guirguis, Hoang, Rouault, PODC 2020; Rousseeuw 1985",
)
def mda(vectors: Vectors, *, n_bad: int, max_subsets: int = MAX_SUBSETS) -> Vectors:
    """Minimum-diameter averaging (El Mhamdi et al., "Genuinely distributed Byzantine machine learning", PODC 2020).

    The mean of the subset of ``n - n_bad`` inputs of smallest diameter ``max_{i,j in S} ||x_i - x_j||``,
    found exactly over all C(n, n_bad) subsets; more than ``max_subsets`` of them is an error. Each
    subset's diameter is read off the pairs sorted by decreasing distance: it is the first pair the
    subset keeps, always among the ``n_bad (n - n_bad) + C(n_bad, 2) + 1`` largest. Ties go to the
    lexicographically first subset (as ByzFL). Needs n > 2 n_bad. NaN/inf: rejected.
    """
    X, restore, n_bad = checked_inputs(vectors, "mda", n_bad)
    n = X.shape[0]
    check_subset_budget("mda", n, n_bad, max_subsets)
    V, D = host_distances(X, "mda")
    if n - n_bad == 1:
        return restore(row_copy(V, 0))
    i, j = np.triu_indices(n, 1)
    dist = to_numpy(D)[i, j]
    top = np.argsort(-dist, kind="stable")[: n_bad * (n - n_bad) + n_bad * (n_bad - 1) // 2 + 1]
    a, b, diameters = i[top], j[top], dist[top]

    def diameter(removed: np.ndarray) -> np.ndarray:
        first_kept_pair = np.argmin(removed[:, a] | removed[:, b], axis=1)
        return diameters[first_kept_pair]

    kept = best_kept_set(n, n_bad, max(1, 4_000_000 // len(top)), diameter)
    return restore(mean_of(V, np.flatnonzero(kept)))
