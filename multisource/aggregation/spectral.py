"""Aggregators that bound the spread of the kept inputs by a covariance eigenvalue: SMEA and CAF.

Both work on the (n, n) Gram matrix ``G = X X^T`` (float64, one GEMM): the non-zero eigenvalues of
a (weighted) covariance of the inputs are those of a small matrix built from G, so the d x d
covariance is never formed and the top eigenvalue is exact (ByzFL runs one power-iteration step
from a random start instead).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import lapack

from multisource.aggregation.arrays import Array, Restore, Vectors, host, symmetrised, to_numpy, weighted_sum
from multisource.aggregation.distances import checked_inputs, stable_gram
from multisource.aggregation.registry import AGGREGATORS, MAJORITY, check_subset_budget, register
from multisource.aggregation.subsets import MAX_SUBSETS, best_kept_set, mean_of


def _gram(
    vectors: Vectors, rule: str, n_bad: int, max_subsets: int | None = None
) -> tuple[Array, Restore, int, np.ndarray]:
    """Validated inputs (shape, honest majority, the subset budget when ``max_subsets`` is given, then
    the NaN, overflow and underflow policy of :func:`~multisource.aggregation.arrays.checked_gram`)
    and their symmetrised float64 Gram matrix, free of cancellation
    (:func:`~multisource.aggregation.distances.stable_gram`: both rules read covariances, which do
    not depend on the origin), in numpy on the host: both rules' searches work on n x n matrices,
    where numpy's calls cost a third of torch's. The inputs come as
    :func:`~multisource.aggregation.arrays.host` gives them."""
    X, restore, n_bad = checked_inputs(vectors, rule, n_bad)
    if max_subsets is not None:
        check_subset_budget(rule, X.shape[0], n_bad, max_subsets)
    V = host(X)
    return V, restore, n_bad, to_numpy(symmetrised(stable_gram(X, rule)[0]))


@register(
    AGGREGATORS,
    "smea",
    condition=MAJORITY,
    options=("max_subsets",),
    paper="Allouah, Guerraoui, Gupta, Pinot, Stephan, ICML 2023",
)
def smea(vectors: Vectors, *, n_bad: int, max_subsets: int = MAX_SUBSETS) -> Vectors:
    """Smallest maximum eigenvalue averaging, SMEA (Allouah, Guerraoui, Gupta, Pinot, Stephan, ICML 2023).

    Paper: "On the privacy-robustness-utility trilemma in distributed learning".

    The mean of the subset S of ``n - n_bad`` inputs whose empirical covariance
    ``(1/|S|) sum_{i in S} (x_i - mu_S)(x_i - mu_S)^T`` has the smallest top eigenvalue, searched
    exactly over all C(n, n_bad) subsets (more than ``max_subsets`` is an error). The eigenvalue is
    that of the centred Gram block ``(1/k) H G_SS H``, computed by a batched ``eigvalsh``. Ties go to
    the lexicographically first subset. Needs n > 2 n_bad. NaN/inf: rejected.
    """
    X, restore, n_bad, G = _gram(vectors, "smea", n_bad, max_subsets)
    n = X.shape[0]
    k = n - n_bad

    def top_eigenvalue(removed: np.ndarray) -> np.ndarray:
        kept = np.nonzero(~removed)[1].reshape(-1, k)
        blocks = G[kept[:, :, None], kept[:, None, :]]
        centred = (
            blocks
            - blocks.mean(axis=1, keepdims=True)
            - blocks.mean(axis=2, keepdims=True)
            + blocks.mean(axis=(1, 2), keepdims=True)
        )
        return np.linalg.eigvalsh(centred)[:, -1] / k

    kept = best_kept_set(n, n_bad, max(1, 2_000_000 // (k * k)), top_eigenvalue)
    return restore(mean_of(X, np.flatnonzero(kept)))


@register(
    AGGREGATORS,
    "caf",
    condition=MAJORITY,
    paper="Allouah, Guerraoui, Stephan, ICML 2025",
)
def caf(vectors: Vectors, *, n_bad: int) -> Vectors:
    """Covariance-bound agnostic filter, CAF (Allouah, Guerraoui, Stephan, ICML 2025).

    Paper: "Towards trustworthy federated learning with untrusted participants".

    Weights ``c = 1``; while ``sum c > n - 2 n_bad``: with ``mu_c`` the c-weighted mean and
    ``Sigma_c`` the c-weighted covariance, take its top eigenpair ``(lambda, v)``, set
    ``tau_i = ((x_i - mu_c) . v)^2`` and ``c_i <- c_i (1 - tau_i / max_{j: c_j > 0} tau_j)``. Returns
    the ``mu_c`` of smallest ``lambda`` seen. The eigenpair is exact, from the n x n matrix
    ``diag(sqrt w) C diag(sqrt w)`` with ``w = c / sum c`` and C the Gram matrix centred at ``mu_c``.

    Differences from ByzFL's ``CAF``: its eigenpair is one power step from a random vector; its
    ``max_j tau_j`` runs over all inputs, so an input already at weight 0 stays the maximum and the
    loop crawls (hundreds of steps) while ours, like the soft filter of Diakonikolas and Kane
    ("Recent advances in algorithmic high-dimensional robust statistics", 2019, Section 2.4),
    zeros one more weight per step and ends within n steps; with ``n_bad = 0`` the loop never runs
    and ours returns the mean (ByzFL returns None). The loop also stops when the weighted inputs
    coincide (``lambda = 0``). Needs n > 2 n_bad. NaN/inf: rejected.
    """
    X, restore, n_bad, G = _gram(vectors, "caf", n_bad)
    n = X.shape[0]
    c = np.ones(n)
    best_w, best_lambda = c / n, np.inf
    negligible = 1e-14 * max(float(np.abs(np.diagonal(G)).max()), 1e-300)
    while c.sum() > n - 2 * n_bad:
        w = c / c.sum()
        Gw = G @ w
        C = G - Gw[:, None] - Gw[None, :] + w @ Gw
        root_w = np.sqrt(w)
        lam, eigenvector = _top_eigenpair(root_w[:, None] * C * root_w[None, :])
        if lam < best_lambda:
            best_w, best_lambda = w, lam
        if lam <= negligible:
            break
        tau = (C @ (root_w * eigenvector) / math.sqrt(lam)) ** 2  # squares of |x|-sized values
        c = c * (1.0 - tau / tau[c > 0].max())
    return restore(weighted_sum(best_w, X))


def _top_eigenpair(M: np.ndarray) -> tuple[float, np.ndarray]:
    """The largest eigenvalue of the symmetric matrix M and a unit eigenvector for it.

    LAPACK's ``dsyevr`` (MRRR) for the one top eigenpair, called directly: ``scipy.linalg.eigh``'s
    argument checks cost 20-40 us per call at n = 20-100, as much as the solve at n = 20.
    """
    n = M.shape[0]
    values, vectors, _found, _support, info = lapack.dsyevr(M, compute_v=1, range="I", il=n, iu=n)
    if info != 0:
        raise np.linalg.LinAlgError(f"LAPACK dsyevr did not converge on the {n} x {n} CAF matrix (info = {info})")
    return float(values[0]), vectors[:, 0]
