"""Squared Euclidean distances by one matrix product: the kernel of every pairwise-distance rule."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from scipy.spatial.distance import cdist

from multisource.aggregation.arrays import gram, matmul

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


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
        G = gram(X).to(torch.float64)
        if G.device.type == "cpu":  # numpy's calls on an (n, n) matrix cost a third of torch's
            with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are the NaN policy's to report
                return torch.from_numpy(_from_gram(G.numpy()))
        return _from_gram(G)
    G = matmul(X, Y.T).to(torch.float64)
    sq_x = torch.linalg.vector_norm(X, dim=1).to(torch.float64) ** 2
    sq_y = torch.linalg.vector_norm(Y, dim=1).to(torch.float64) ** 2
    return (sq_x[:, None] + sq_y[None, :] - 2.0 * G).clamp_min_(0.0)


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


def _from_gram(G: ArrayT) -> ArrayT:
    """Squared distances from a float64 Gram matrix (numpy array or tensor).

    Symmetrised first, so ``D`` is exactly symmetric; ``D_ii = 2 G_ii - 2 G_ii`` is exactly 0.
    """
    G = (G + G.T) / 2
    sq = G.diagonal()
    D = sq[:, None] + sq[None, :] - 2.0 * G
    D[D < 0] = 0.0
    return D
