"""Batched L2-regularised weighted logistic regression by damped Newton steps, in torch.

Solves B x K independent problems at once (B data sets, K targets each) so that all pairs of sources
and all one-vs-rest problems of a discrepancy matrix train in one optimisation, on CPU or CUDA.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Step sizes tried by the backtracking line search, largest first.
_STEPS = 0.5 ** torch.arange(10, dtype=torch.float64)
_ARMIJO = 1e-4
# Ridge on the (unpenalised) intercept only to keep the Newton system positive definite.
_INTERCEPT_JITTER = 1e-10


def weighted_logistic_objective(
    logits: torch.Tensor, Z: torch.Tensor, weights: torch.Tensor, W: torch.Tensor, l2: float
) -> torch.Tensor:
    """(B, K) values of ``sum_n s_n [softplus(u_n) - z_n u_n] + (l2/2) ||w_{1:d}||^2`` (intercept unpenalised)."""
    data_term = torch.einsum("bn,bnk->bk", weights, F.softplus(logits) - Z * logits)
    return data_term + 0.5 * l2 * (W[..., :-1] ** 2).sum(-1)


def fit_weighted_logistic(
    X: torch.Tensor,
    Z: torch.Tensor,
    weights: torch.Tensor,
    *,
    l2: float,
    max_iter: int = 50,
    tol: float = 1e-8,
) -> torch.Tensor:
    """Minimise :func:`weighted_logistic_objective` for every (b, k) by Newton's method with line search.

    Parameters
    ----------
    X : (B, n, d+1) design matrices whose last column is the constant 1 (the intercept).
    Z : (B, n, K) binary targets in {0, 1}.
    weights : (B, n) non-negative sample weights s_n (0 marks padding).
    l2 : ridge strength on the coefficients, > 0; with ``weights = 1/m`` this is scikit-learn's
        ``LogisticRegression(C=1/l2)`` fitted with ``sample_weight = weights``.
    max_iter : maximum number of Newton steps.
    tol : stop when every problem's Newton decrement ``g^T H^{-1} g`` is below ``tol``.

    Returns
    -------
    W : (B, K, d+1) coefficients with the intercept last.

    Notes
    -----
    Step: ``H_bk = X_b^T diag(s p (1-p)) X_b + l2 I``, ``Delta = -H^{-1} g``; the step size is the
    largest of 1, 1/2, ..., 1/512 that satisfies Armijo's condition, chosen per problem (the smallest
    if none does), which keeps Newton globally convergent on this strictly convex objective.
    """
    B, n, D = X.shape
    K = Z.shape[-1]
    W = torch.zeros(B, K, D, dtype=X.dtype, device=X.device)
    ridge = torch.full((D,), l2, dtype=X.dtype, device=X.device)
    ridge[-1] = _INTERCEPT_JITTER
    penalty_mask = torch.ones(D, dtype=X.dtype, device=X.device)
    penalty_mask[-1] = 0.0
    steps = _STEPS.to(device=X.device, dtype=X.dtype)
    logits = torch.zeros(B, n, K, dtype=X.dtype, device=X.device)
    for _ in range(max_iter):
        p = torch.sigmoid(logits)
        residual = weights[..., None] * (p - Z)  # (B, n, K)
        grad = torch.einsum("bnd,bnk->bkd", X, residual) + l2 * W * penalty_mask
        curvature = weights[..., None] * p * (1.0 - p)  # (B, n, K)
        hessian = torch.einsum("bnd,bnk,bne->bkde", X, curvature, X) + torch.diag(ridge)
        factor, _ = torch.linalg.cholesky_ex(hessian)
        direction = -torch.cholesky_solve(grad[..., None], factor)[..., 0]  # (B, K, D)
        decrement = -(grad * direction).sum(-1)  # (B, K), >= 0
        if decrement.max() < tol:
            break
        current = weighted_logistic_objective(logits, Z, weights, W, l2)
        move = torch.einsum("bnd,bkd->bnk", X, direction)
        # Backtracking, batched: every problem takes the largest step that satisfies Armijo's
        # condition; the full Newton step usually does, so most iterations evaluate one trial only.
        # Converged problems take the (negligible) full step; rounding must not make them backtrack.
        pending = decrement >= tol
        step = torch.where(pending, steps[-1], steps[0])
        for s in steps:
            trial = weighted_logistic_objective(logits + s * move, Z, weights, W + s * direction, l2)
            accepted = pending & (trial <= current - _ARMIJO * s * decrement)
            step = torch.where(accepted, s, step)
            pending &= ~accepted
            if not pending.any():
                break
        W = W + step[..., None] * direction
        logits = logits + step[:, None, :] * move
    return W
