"""Batched L2-regularised weighted logistic regression by damped Newton steps, in torch.

Solves B x K independent problems at once (B data sets, K targets each) so that all pairs of sources
and all one-vs-rest problems of a discrepancy matrix train in one optimisation, on CPU or CUDA.
"""

from __future__ import annotations

import torch
from torch.nn.functional import softplus

from multisource.utils.validation import check_int, check_real

# Step sizes tried by the backtracking line search, largest first.
_STEPS = 0.5 ** torch.arange(10, dtype=torch.float64)
_ARMIJO = 1e-4
# Ridge on unpenalised coordinates (the intercept; all of them when l2 = 0), in the Newton system only.
_INTERCEPT_JITTER = 1e-10


def weighted_logistic_objective(
    logits: torch.Tensor, Z: torch.Tensor, weights: torch.Tensor, W: torch.Tensor, penalty: torch.Tensor
) -> torch.Tensor:
    """(B, K) values of ``sum_n s_n [softplus(u_n) - z_n u_n] + (1/2) sum_j r_j w_j^2``.

    ``penalty`` holds the ridge ``r`` broadcastable to ``W``: (B, 1, D) with 0 on the intercept.
    """
    data_term = torch.einsum("bn,bnk->bk", weights, softplus(logits) - Z * logits)
    return data_term + 0.5 * (penalty * W**2).sum(-1)


def coefficient_penalty(l2: float | torch.Tensor, B: int, D: int, like: torch.Tensor) -> torch.Tensor:
    """(B, 1, D) ridge: ``l2`` (a float, or a (B, D-1) tensor per problem) on the coefficients, 0 on the intercept."""
    penalty = torch.zeros(B, 1, D, dtype=like.dtype, device=like.device)
    penalty[:, 0, :-1] = torch.as_tensor(l2, dtype=like.dtype, device=like.device)
    return penalty


def _check_problems(X: object, Z: object, weights: object) -> tuple[int, int, int, int]:
    """(B, n, D, K) of the batched problems, after checking their shapes, dtypes and values."""
    for name, value in (("X", X), ("Z", Z), ("weights", weights)):
        if not isinstance(value, torch.Tensor) or not value.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating torch tensor, got {type(value).__name__}")
    assert isinstance(X, torch.Tensor) and isinstance(Z, torch.Tensor) and isinstance(weights, torch.Tensor)
    if X.ndim != 3 or X.shape[1] < 1 or X.shape[2] < 1:
        raise ValueError(f"X must be a (B, n, d+1) batch of design matrices, got shape {tuple(X.shape)}")
    B, n, D = X.shape
    if Z.ndim != 3 or Z.shape[:2] != (B, n):
        raise ValueError(f"Z must have shape ({B}, {n}, K) for X of shape {tuple(X.shape)}, got {tuple(Z.shape)}")
    if weights.shape != (B, n):
        raise ValueError(
            f"weights must have shape ({B}, {n}) for X of shape {tuple(X.shape)}, got {tuple(weights.shape)}"
        )
    if not bool(torch.isfinite(X).all()) or not bool(torch.isfinite(Z).all()):
        raise ValueError("X and Z must hold finite values, got NaN or inf")
    if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
        raise ValueError("weights must be finite and non-negative")
    return B, n, D, Z.shape[-1]


def fit_weighted_logistic(
    X: torch.Tensor,
    Z: torch.Tensor,
    weights: torch.Tensor,
    *,
    l2: float | torch.Tensor,
    max_iter: int = 50,
    tol: float = 1e-8,
) -> torch.Tensor:
    """Minimise :func:`weighted_logistic_objective` for every (b, k) by Newton's method with line search.

    Parameters
    ----------
    X : (B, n, d+1) design matrices whose last column is the constant 1 (the intercept).
    Z : (B, n, K) binary targets in {0, 1}.
    weights : (B, n) non-negative sample weights s_n (0 marks padding).
    l2 : ridge strength on the coefficients, >= 0: a float, or a (B, d) tensor with one strength per
        coefficient and data set. With ``weights = 1/m`` a float ``l2 > 0`` is scikit-learn's
        ``LogisticRegression(C=1/l2)`` fitted with ``sample_weight = weights``; 0 is unregularised.
    max_iter : maximum number of Newton steps.
    tol : stop when every problem's Newton decrement ``g^T H^{-1} g`` is below ``tol``.

    Returns
    -------
    W : (B, K, d+1) coefficients with the intercept last.

    Notes
    -----
    Step: ``H_bk = X_b^T diag(s p (1-p)) X_b + diag(r)``, ``Delta = -H^{-1} g`` (an unpenalised coordinate,
    the intercept always, gets a 1e-10 ridge in the system only, so that H stays invertible); the step size is the
    largest of 1, 1/2, ..., 1/512 that satisfies Armijo's condition, chosen per problem (the smallest
    if none does), which keeps Newton globally convergent on this strictly convex objective.
    """
    B, n, D, K = _check_problems(X, Z, weights)
    check_int("max_iter", max_iter, minimum=1)
    check_real("tol", tol, low=0.0)
    if not isinstance(l2, torch.Tensor):
        check_real("l2", l2, low=0.0)
    W = torch.zeros(B, K, D, dtype=X.dtype, device=X.device)
    penalty = coefficient_penalty(l2, B, D, X)
    ridge = torch.diag_embed(torch.where(penalty > 0, penalty, _INTERCEPT_JITTER))  # (B, 1, D, D)
    steps = _STEPS.to(device=X.device, dtype=X.dtype)
    logits = torch.zeros(B, n, K, dtype=X.dtype, device=X.device)
    for _ in range(max_iter):
        p = torch.sigmoid(logits)
        residual = weights[..., None] * (p - Z)  # (B, n, K)
        grad = torch.einsum("bnd,bnk->bkd", X, residual) + penalty * W
        curvature = weights[..., None] * p * (1.0 - p)  # (B, n, K)
        hessian = torch.einsum("bnd,bnk,bne->bkde", X, curvature, X) + ridge
        factor, _ = torch.linalg.cholesky_ex(hessian)
        direction = -torch.cholesky_solve(grad[..., None], factor)[..., 0]  # (B, K, D)
        decrement = -(grad * direction).sum(-1)  # (B, K), >= 0
        if decrement.max() < tol:
            break
        current = weighted_logistic_objective(logits, Z, weights, W, penalty)
        move = torch.einsum("bnd,bkd->bnk", X, direction)
        # Backtracking, batched: every problem takes the largest step that satisfies Armijo's
        # condition; the full Newton step usually does, so most iterations evaluate one trial only.
        # Converged problems take the (negligible) full step; rounding must not make them backtrack.
        pending = decrement >= tol
        step = torch.where(pending, steps[-1], steps[0])
        for s in steps:
            trial = weighted_logistic_objective(logits + s * move, Z, weights, W + s * direction, penalty)
            accepted = pending & (trial <= current - _ARMIJO * s * decrement)
            step = torch.where(accepted, s, step)
            pending &= ~accepted
            if not pending.any():
                break
        W = W + step[..., None] * direction
        logits = logits + step[:, None, :] * move
    return W
