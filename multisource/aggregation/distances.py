"""Squared Euclidean distances by one matrix product: the kernel of every pairwise-distance rule."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import torch
from scipy.spatial.distance import cdist

from multisource.aggregation.arrays import Array, Restore, Vectors, as_matrix, checked_gram, float64_gram, matmul
from multisource.aggregation.registry import MAJORITY, NBadCondition

Distances: TypeAlias = Array
"""A matrix of squared distances (:func:`checked_distances`, :func:`distance_matrix`): numpy on the CPU,
a tensor on other devices."""


def squared_distances(X: torch.Tensor, Y: torch.Tensor | None = None) -> torch.Tensor:
    """The (n, m) matrix ``||x_i - y_j||^2 = |x_i|^2 + |y_j|^2 - 2 x_i . y_j`` in float64, clamped at 0.

    One GEMM ``X Y^T`` (:func:`matmul`; :func:`gram` for ``X X^T``) in the input dtype (float64 inputs
    accumulate in float64) instead of a loop over pairs; the norms and the cancelling sum are formed in
    float64. With ``Y = None`` the norms are the Gram diagonal, so ``D_ii = 0`` exactly and ``D`` is
    exactly symmetric.

    Parameters
    ----------
    X : (n, d) tensor.
    Y : (m, d) tensor on the same device and of the same dtype, or None for ``Y = X``.

    Notes
    -----
    The identity loses relative precision when the points share a large common offset compared
    with their spread (``|x|^2 >> ||x - y||^2``): float64 keeps about ``1e-16 |x|^2`` absolute error,
    float32 Gram products about ``1e-7 |x|^2``. Pass float64 vectors when that matters.
    """
    if Y is None:
        D = distance_matrix(X)
        return torch.from_numpy(D) if isinstance(D, np.ndarray) else D
    G = matmul(X, Y.T).to(torch.float64)
    sq_x = torch.linalg.vector_norm(X, dim=1).to(torch.float64) ** 2
    sq_y = torch.linalg.vector_norm(Y, dim=1).to(torch.float64) ** 2
    return (sq_x[:, None] + sq_y[None, :] - 2.0 * G).clamp_min_(0.0)


def distance_matrix(X: torch.Tensor) -> Distances:
    """:func:`squared_distances` ``(X)``, as a numpy array when X is on the CPU (a tensor on X's device
    otherwise): the selection rules work on it in numpy.

    Right after the GEMM has streamed X through the cache, each small library call costs 5-20 us
    (a torch call the most), as much as the (n, n) arithmetic itself at n = 20 and d = 1e4; so on
    the CPU the Gram matrix leaves torch at once (docs/aggregation.md, Speed).
    """
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are the caller's to report
        return _from_gram(float64_gram(X))


def checked_distances(
    vectors: Vectors, rule: str, n_bad: int, condition: NBadCondition = MAJORITY
) -> tuple[torch.Tensor, Restore, int, Distances]:
    """Validated inputs (shape, condition on n_bad, then the NaN and overflow policy of
    :func:`~multisource.aggregation.arrays.checked_gram`) and their squared-distance matrix (numpy for
    inputs on the CPU, as :func:`distance_matrix`), for every rule built on all pairwise distances.

    Past the policy the squared norms sum to at most ``SQUARES_LIMIT``, so every distance is finite
    and is formed without numpy's error-state context (5 us after the GEMM at n = 20).
    """
    X, restore = as_matrix(vectors)
    n_bad = condition.check(rule, X.shape[0], n_bad)
    return X, restore, n_bad, _from_gram(checked_gram(X, rule))


def squared_distances_to(X: torch.Tensor, i: int) -> torch.Tensor:
    """The (n,) float64 squared distances ``||x_j - x_i||^2`` from every row of X to its row i.

    float64 rows on CPU go through scipy's ``cdist``, which takes the differences directly in one
    pass over X (no cancellation; 1.3-1.6x faster than the norms-plus-product identity at d = 1e4);
    other inputs through :func:`squared_distances`, whose product is faster in float32.
    """
    if X.device.type == "cpu" and X.dtype == torch.float64:
        x = X.numpy()
        return torch.from_numpy(cdist(x, x[i : i + 1], "sqeuclidean")[:, 0])
    return squared_distances(X, X[i : i + 1])[:, 0]


def _from_gram(G: Array) -> Array:
    """Squared distances from a float64 Gram matrix (numpy array or tensor), clamped at 0.

    ``D = s 1^T + 1 s^T - (G + G^T)`` with ``s = diag(G)``: both terms are exactly symmetric, so ``D`` is,
    and ``D_ii = 2 G_ii - 2 G_ii`` is exactly 0 (NaN when row i holds NaN or inf). Written as three
    whole-matrix operations and a clamp: right after the GEMM has filled the cache, each small call costs several
    microseconds, as much as the arithmetic at n = 20 (docs/aggregation.md, Speed).
    """
    sq = G.diagonal()
    D = sq[:, None] + sq[None, :]
    D -= G + G.T
    return np.maximum(D, 0.0, out=D) if isinstance(D, np.ndarray) else D.clamp_min_(0.0)
