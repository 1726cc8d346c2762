"""Squared Euclidean distances by one matrix product: the kernel of every pairwise-distance rule."""

from __future__ import annotations

import torch

from multisource.aggregation.arrays import gram, matmul


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
        G = (G + G.T) / 2
        sq = torch.diagonal(G)
        D = sq[:, None] + sq[None, :] - 2.0 * G
        D.fill_diagonal_(0.0)
    else:
        G = matmul(X, Y.T).to(torch.float64)
        sq_x = torch.linalg.vector_norm(X, dim=1).to(torch.float64) ** 2
        sq_y = torch.linalg.vector_norm(Y, dim=1).to(torch.float64) ** 2
        D = sq_x[:, None] + sq_y[None, :] - 2.0 * G
    return D.clamp_min_(0.0)
