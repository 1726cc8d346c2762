"""Squared Euclidean distances by one matrix product: the kernel of every pairwise-distance rule."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import torch
from scipy.spatial.distance import cdist

from multisource.aggregation.arrays import (
    Array,
    Restore,
    Vectors,
    as_matrix,
    checked_gram,
    float64_gram,
    host,
    matmul,
    squares_floor,
)
from multisource.aggregation.registry import MAJORITY, NBadCondition

Distances: TypeAlias = Array
"""A matrix of squared distances (:func:`checked_distances`, :func:`distance_matrix`): numpy on the CPU,
a tensor on other devices."""

Gram: TypeAlias = Callable[[torch.Tensor], tuple[Array, float]]
"""A Gram product returning its trace too (:func:`~multisource.aggregation.arrays.checked_gram`)."""


def squared_distances(X: torch.Tensor, Y: torch.Tensor | None = None) -> torch.Tensor:
    """The (n, m) matrix ``||x_i - y_j||^2 = |x_i|^2 + |y_j|^2 - 2 x_i . y_j`` in float64, clamped at 0.

    One GEMM ``X Y^T`` (:func:`matmul`; :func:`~multisource.aggregation.arrays.float64_gram` for
    ``X X^T``) in the input dtype (float64 inputs accumulate in float64) instead of a loop over pairs;
    the norms and the cancelling sum are formed in float64. With ``Y = None`` the norms are the Gram
    diagonal, so ``D_ii = 0`` exactly and ``D`` is exactly symmetric.

    Parameters
    ----------
    X : (n, d) tensor.
    Y : (m, d) tensor on the same device and of the same dtype, or None for ``Y = X``.

    Notes
    -----
    The identity loses relative precision when the points share a large common offset compared
    with their spread (``|x|^2 >> ||x - y||^2``): the product keeps about ``u sqrt(d) |x|^2`` absolute
    error for unit roundoff u (1e-16 in float64, 6e-8 in float32). With ``Y = None`` that is handled
    (:func:`stable_gram`: X is moved to its medoid when rounding would swamp the distances among a
    majority of its rows); with a Y, both are moved to the row of X of least summed distance to Y
    when rounding would swamp any distance.
    """
    if Y is None:
        D = distance_matrix(X)
        return torch.from_numpy(D) if isinstance(D, np.ndarray) else D
    D, S = _by_identity(X, Y)
    if float(S.sum()) < squares_floor(X):  # float32 squares underflowed: formed again in float64
        return squared_distances(X.to(torch.float64), Y.to(torch.float64))
    # As in stable_gram: both sets moved to the row of X nearest to Y overall.
    if lost_to_rounding(D, S, rounding_noise(X), 1):
        c = X[int(D.sum(1).argmin())]
        D = _by_identity(X - c, Y - c)[0]
    return D


def _by_identity(X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`squared_distances` ``(X, Y)`` by the identity, and the ``|x_i|^2 + |y_j|^2`` it cancels."""
    G = matmul(X, Y.T).to(torch.float64)
    sq_x = torch.linalg.vector_norm(X, dim=1).to(torch.float64) ** 2
    sq_y = torch.linalg.vector_norm(Y, dim=1).to(torch.float64) ** 2
    S = sq_x[:, None] + sq_y[None, :]
    return (S - 2.0 * G).clamp_min_(0.0), S


def distance_matrix(X: torch.Tensor) -> Distances:
    """:func:`squared_distances` ``(X)``, as a numpy array when X is on the CPU (a tensor on X's device
    otherwise): the selection rules work on it in numpy.

    Right after the GEMM has streamed X through the cache, each small library call costs 5-20 us
    (a torch call the most), as much as the (n, n) arithmetic itself at n = 20 and d = 1e4; so on
    the CPU the Gram matrix leaves torch at once (docs/aggregation.md, Speed).
    """
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are the caller's to report
        return _stable(X, _traced_gram)[1]


def _traced_gram(X: torch.Tensor) -> tuple[Array, float]:
    """:func:`float64_gram` (unchecked) and its trace, as :func:`checked_gram` returns them."""
    G = float64_gram(X)
    return G, float(G.trace())


def checked_distances(
    vectors: Vectors, rule: str, n_bad: int, condition: NBadCondition = MAJORITY
) -> tuple[Array, Restore, int, Distances]:
    """:func:`checked_inputs`, then :func:`host_distances`: for a rule with no option of its own to check."""
    X, restore, n_bad = checked_inputs(vectors, rule, n_bad, condition)
    V, D = host_distances(X, rule)
    return V, restore, n_bad, D


def checked_inputs(
    vectors: Vectors, rule: str, n_bad: int, condition: NBadCondition = MAJORITY
) -> tuple[torch.Tensor, Restore, int]:
    """The inputs of a rule built on all pairwise distances as a tensor
    (:func:`~multisource.aggregation.arrays.as_matrix`), their restore map and n_bad, checked against
    ``condition``: the rule checks its own options next, before :func:`host_distances` does any work."""
    X, restore = as_matrix(vectors)
    return X, restore, condition.check(rule, X.shape[0], n_bad)


def host_distances(X: torch.Tensor, rule: str) -> tuple[Array, Distances]:
    """X as :func:`~multisource.aggregation.arrays.host` gives it and its squared-distance matrix
    (:func:`stable_gram`, after the NaN, overflow and underflow policy of
    :func:`~multisource.aggregation.arrays.checked_gram`); on the CPU both in numpy, as
    :func:`distance_matrix`.

    Past the policy the squared norms sum to at most ``SQUARES_LIMIT``, so every distance is finite
    and is formed without numpy's error-state context (5 us after the GEMM at n = 20).
    """
    V = host(X)  # before the GEMM, as every torch call
    return V, stable_gram(X, rule)[1]


def stable_gram(X: torch.Tensor, rule: str) -> tuple[Array, Distances]:
    """The float64 Gram matrix of X and its squared distances, free of cancellation, after the NaN,
    overflow and underflow policy (:func:`~multisource.aggregation.arrays.checked_gram`).

    ``||x_i - x_j||^2 = |x_i|^2 + |x_j|^2 - 2 x_i . x_j`` keeps the rounding error of the product,
    about ``u sqrt(d) (|x_i|^2 + |x_j|^2)`` in X's dtype. When the inputs share an offset large
    against their spread (models trained from one initialisation, aggregated one-shot), that error
    swamps the distances: in float32 an offset of 1e3 spread-widths changed Krum's pick. When
    rounding may exceed 1e-3 of the distances between a majority of the inputs
    (:func:`_clamp_and_check`), X is moved to its medoid (the row of least summed distance) and the
    product formed again. The move costs nothing in accuracy: where the offset dominates, the
    difference of two floats within a factor 2 of each other is exact (Sterbenz's lemma). Every
    rule built on distances is translation-invariant, so it reads either matrix alike.
    """
    return _stable(X, lambda Y: checked_gram(Y, rule))


def gram_and_moved(X: torch.Tensor, rule: str) -> tuple[Array, Array | None]:
    """The float64 Gram matrix ``X X^T`` after the NaN, overflow and underflow policy
    (:func:`~multisource.aggregation.arrays.checked_gram`), and that of X moved to its medoid when
    rounding swamps its distances (:func:`stable_gram`), else None: for a rule that also needs
    ``X X^T`` itself (norms, from the origin)."""
    G, _, moved = _with_moved(X, lambda Y: checked_gram(Y, rule))
    return G, moved


def _stable(X: torch.Tensor, gram: Gram) -> tuple[Array, Distances]:
    """:func:`stable_gram` with the product ``gram`` (checked or not)."""
    G, D, moved = _with_moved(X, gram)
    return (G, D) if moved is None else (moved, _from_gram(moved))


def _with_moved(X: torch.Tensor, gram: Gram) -> tuple[Array, Distances, Array | None]:
    """``gram`` of X, its distances (clamped at 0), and ``gram`` of X moved to its medoid (least
    summed distance) when :func:`_clamp_and_check` says rounding swamps those distances, else None."""
    noise = rounding_noise(X)  # before the GEMM, as every torch call (:func:`~multisource.aggregation.arrays.host`)
    G, trace = gram(X)
    D = _unclamped(G)
    if not _clamp_and_check(D, G, noise, trace):
        return G, D, None
    return G, D, gram(X - X[int(D.sum(1).argmin())])[0]


def squared_distances_to(X: torch.Tensor, i: int) -> torch.Tensor:
    """The (n,) float64 squared distances ``||x_j - x_i||^2`` from every row of X to its row i.

    float64 rows on CPU go through scipy's ``cdist``, which takes the differences directly in one
    pass over X (no cancellation; 1.3-1.6x faster than the norms-plus-product identity at d = 1e4);
    other inputs through the identity, whose product is faster in float32, unless rounding may swamp
    the distances of a majority (:func:`lost_to_rounding`, as in :func:`stable_gram`): then the
    differences are taken.
    """
    if X.is_cpu and X.dtype == torch.float64:
        x = X.numpy()
        return torch.from_numpy(cdist(x, x[i : i + 1], "sqeuclidean")[:, 0])
    dist, scale = _by_identity(X, X[i : i + 1])
    if float(scale.sum()) < squares_floor(X):  # float32 squares underflowed (NaN/inf: the caller's policy)
        return squared_distances_to(X.to(torch.float64), i)
    if lost_to_rounding(dist, scale, rounding_noise(X), X.shape[0] // 2 + 1):  # as in stable_gram: differences
        return torch.linalg.vector_norm(X - X[i], dim=1).to(torch.float64) ** 2
    return dist[:, 0]


def _unclamped(G: Array) -> Array:
    """Squared distances from a float64 Gram matrix (numpy array or tensor), before clamping at 0.

    ``D = s 1^T + 1 s^T - (G + G^T)`` with ``s = diag(G)``: both terms are exactly symmetric, so ``D`` is,
    and ``D_ii = 2 G_ii - 2 G_ii`` is exactly 0 (NaN when row i holds NaN or inf). Written as three
    whole-matrix operations: right after the GEMM has filled the cache, each small call costs several
    microseconds, as much as the arithmetic at n = 20 (docs/aggregation.md, Speed).
    """
    sq = G.diagonal()
    D = sq[:, None] + sq[None, :]
    D -= G + G.T
    return D


def _from_gram(G: Array) -> Array:
    """Squared distances from a float64 Gram matrix, clamped at 0 (:func:`_unclamped`, :func:`_clamped`)."""
    return _clamped(_unclamped(G))


def _clamped(D: Array) -> Array:
    """D with its negative entries (rounding) set to 0, in place."""
    return np.maximum(D, 0.0, out=D) if isinstance(D, np.ndarray) else D.clamp_min_(0.0)


# The largest relative rounding error tolerated in a squared distance formed from a Gram matrix.
_DISTANCE_ACCURACY = 1e-3


@functools.lru_cache(maxsize=64)
def _noisy_below(dtype: torch.dtype, d: int) -> float:
    """r such that ``D_ij <= r (|x_i|^2 + |x_j|^2)`` may be off by more than ``_DISTANCE_ACCURACY``.

    The rounding error of a Gram entry relative to ``|x_i|^2 + |x_j|^2`` is taken as ``u (sqrt(d) +
    16)`` for unit roundoff u of X's dtype: 2 to 21 times the largest error that torch's (MKL, n =
    20) and numpy's (OpenBLAS, n = 100) products showed on offset inputs (7 to 58 u for d = 1e2 to
    1e6, float32 and float64). Rounding k times the estimate would let errors reach k 1e-3 unmoved.
    """
    return _UNIT_ROUNDOFF[dtype] * (math.sqrt(d) + 16) / _DISTANCE_ACCURACY


# The unit roundoffs of the dtypes rules compute in (as_matrix gives float32 or float64).
_UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float64: 2.0**-53}


def _clamp_and_check(D: Distances, G: Array, noise: float, trace: float) -> bool:
    """Clamp the distances D (:func:`_unclamped` from G) at 0, and say whether rounding may swamp
    those among a majority of the rows of X (:func:`stable_gram`); ``noise`` is the
    :func:`rounding_noise` r of X, ``trace`` that of G.

    Swamped: at least ``h (h - 1)`` ordered pairs, ``h = n // 2 + 1`` the smallest majority, are
    :func:`lost_to_rounding`. Every majority has that many pairs, and duplicated inputs of a minority
    (colluding Byzantine ones) have fewer. A first count against ``2 r trace(G)``, which bounds every
    ``r (G_ii + G_jj)``, finds every entry that rounding could have made negative: when only the
    diagonal's n zeros are there, nothing needs clamping and no majority is close (two numpy calls,
    one more than the clamp they spare, at 5 us each after a GEMM).
    """
    n = D.shape[0]
    near = _count_at_most(D, 2.0 * noise * trace)
    if near <= n:
        return False
    _clamped(D)
    h = n // 2 + 1
    enough = n + max(1, h * (h - 1))  # the diagonal's n zeros count too
    if near < enough:
        return False
    sq = G.diagonal()
    return lost_to_rounding(D, sq[:, None] + sq[None, :], noise, enough)


def _count_at_most(values: Array, bound: Array | float) -> int:
    """How many entries of ``values`` (numpy or tensor) are at most ``bound``."""
    below = values <= bound
    return int(np.count_nonzero(below)) if isinstance(below, np.ndarray) else int(below.sum())


def rounding_noise(X: torch.Tensor) -> float:
    """The :func:`_noisy_below` ratio r of X's dtype and dimension: ``D_ij <= r (|x_i|^2 + |x_j|^2)``
    may be off by more than 1e-3 of itself."""
    return _noisy_below(X.dtype, X.shape[1])


def lost_to_rounding(dist: Array, scale: Array | float, noise: float, enough: int) -> bool:
    """Whether at least ``enough`` squared distances ``dist``, each formed as ``scale - 2 x . y`` from
    rows of an X of :func:`rounding_noise` ``noise``, may be off by more than 1e-3 of themselves."""
    return _count_at_most(dist, noise * scale) >= enough
