"""Exact empirical discrepancy for the finite class of decision stumps (an oracle for the others).

H = { x -> k1 if x_f > theta else k2 : feature f, threshold theta, classes k1, k2 } (k1 = k2 gives the
constants). With the 0-1 loss the empirical discrepancy (KL2019 eq. 5; ``docs/discrepancy.md``),

    disc(S_a, S_b) = max_{h in H} | err_a(h) - err_b(h) | = max_{h in H} | acc_a(h) - acc_b(h) |,

is found exactly by sorting each feature once and sweeping all thresholds with a cumulative sum.
For two classes this is the usual class of thresholds with both orientations.
"""

from __future__ import annotations

import numpy as np

from multisource.utils.validation import check_labeled_pair


def stump_discrepancy(X_a: np.ndarray, y_a: np.ndarray, X_b: np.ndarray, y_b: np.ndarray, *, n_classes: int) -> float:
    """Exact stump discrepancy between samples ``S_a`` and ``S_b``.

    With signed weights ``w = +1/m_a`` on S_a and ``-1/m_b`` on S_b, the accuracy gap of the stump
    ``(f, theta, k1, k2)`` splits into a part above and a part below the threshold,

        G = U_f(theta, k1) + L_f(theta, k2),   L_f(theta, k) = sum_{x_f <= theta} w 1{y = k},
                                               U_f(theta, k) = sum_n w 1{y = k} - L_f(theta, k),

    so ``max |G| = max_theta max( max_k1 U + max_k2 L, -(min_k1 U + min_k2 L) )``: one sort and one
    cumulative sum cover all features, thresholds and class pairs. Thresholds inside a run of tied
    values are skipped.
    """
    X_a, y_a, X_b, y_b = check_labeled_pair(X_a, y_a, X_b, y_b, n_classes)
    X = np.concatenate([X_a, X_b])
    y = np.concatenate([y_a, y_b])
    w = np.concatenate([np.full(len(y_a), 1.0 / len(y_a)), np.full(len(y_b), -1.0 / len(y_b))])
    shares = w[:, None] * (y[:, None] == np.arange(n_classes))  # (n, K) signed class shares
    totals = shares.sum(axis=0)  # (K,): the constant classifiers' gaps
    order = np.argsort(X, axis=0, kind="stable")  # (n, d)
    below = np.cumsum(shares[order], axis=0)  # (n, d, K): L after the r smallest values, r = 1..n
    above = totals - below
    best = np.maximum(above.max(-1) + below.max(-1), -(above.min(-1) + below.min(-1)))  # (n, d)
    sorted_X = np.take_along_axis(X, order, axis=0)
    # A cut after position r is a real threshold only where the next value differs (r = n always is).
    real_cut = np.ones_like(sorted_X, dtype=bool)
    real_cut[:-1] = sorted_X[1:] > sorted_X[:-1]
    return float(max(np.abs(totals).max(), best[real_cut].max()))
