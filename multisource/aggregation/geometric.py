"""Aggregators built on distances to a moving centre: geometric median, centered clipping, FLTrust."""

from __future__ import annotations

import warnings

import torch

from multisource.aggregation.arrays import Vectors, as_matrix, check_like, row_norms_squared
from multisource.aggregation.registry import AGGREGATORS, register
from multisource.utils.validation import check_int, check_real

_GM_INITS = ("mean", "zeros")


def _distances_to(X: torch.Tensor, sq: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``||x_i - z||`` from the precomputed ``|x_i|^2``: one matrix-vector product, float64, clamped at 0."""
    sq_z = float(torch.linalg.vector_norm(z.to(torch.float64)) ** 2)
    return (sq + sq_z - 2.0 * (X @ z).to(torch.float64)).clamp_min_(0.0).sqrt_()


@register(
    AGGREGATORS,
    "geometric_median",
    condition=None,
    options=("tol", "max_iter", "nu", "init"),
    paper="Weiszfeld 1937; Pillutla, Kakade, Harchaoui, IEEE TSP 2022 (RFA, Algorithm 2)",
)
def geometric_median(
    vectors: Vectors, *, tol: float = 1e-8, max_iter: int = 200, nu: float = 1e-10, init: str = "mean"
) -> Vectors:
    """Geometric median ``argmin_z sum_i ||z - x_i||`` by the smoothed Weiszfeld iteration.

    Each step (Pillutla, Kakade, Harchaoui, "Robust aggregation for federated learning", IEEE TSP
    2022, Algorithm 2) is ``z <- sum_i x_i / beta_i / sum_i 1 / beta_i`` with
    ``beta_i = max(nu, ||z - x_i||)``: ``nu > 0`` guards the division when z reaches an input. The
    distances come from ``|x_i|^2 + |z|^2 - 2 x_i . z`` (one matrix-vector product per step).

    Parameters
    ----------
    tol : stop once a step moves z by at most ``tol * max(1, ||z||)``; 0 runs all ``max_iter`` steps.
    max_iter : largest number of steps; a RuntimeWarning says when ``tol > 0`` was not reached.
    nu : smoothing (same units as the vectors).
    init : ``"mean"`` (default) or ``"zeros"`` (ByzFL's start). ``init="zeros", nu=0.1, max_iter=3,
        tol=0`` is ByzFL's ``GeometricMedian()``.

    NaN/inf: rejected (ByzFL drops rows holding inf instead).
    """
    X, restore = as_matrix(vectors)
    tol = check_real("tol", tol, low=0.0)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    nu = check_real("nu", nu, low=0.0, low_open=True)
    if init not in _GM_INITS:
        raise ValueError(f"init must be one of {list(_GM_INITS)}, got {init!r}")
    sq = row_norms_squared(X, "geometric_median")
    z = X.mean(dim=0) if init == "mean" else torch.zeros_like(X[0])
    for _ in range(max_iter):
        inv_beta = 1.0 / _distances_to(X, sq, z).clamp_min_(nu)
        z_new = (inv_beta.to(X.dtype) @ X) / inv_beta.sum().to(X.dtype)
        step = float(torch.linalg.vector_norm(z_new - z))
        z = z_new
        if step <= tol * max(1.0, float(torch.linalg.vector_norm(z))):
            return restore(z)
    if tol > 0:
        warnings.warn(f"geometric_median: tol={tol} not reached in max_iter={max_iter} steps", RuntimeWarning, 2)
    return restore(z)


@register(
    AGGREGATORS,
    "centered_clipping",
    condition=None,
    options=("tau", "n_iter", "center"),
    paper="Karimireddy, He, Jaggi, ICML 2021 (Algorithm 2)",
)
def centered_clipping(
    vectors: Vectors, *, tau: float = 100.0, n_iter: int = 1, center: Vectors | None = None
) -> Vectors:
    """Centered clipping (Karimireddy, He, Jaggi, ICML 2021, Eq. 2 and Algorithm 2).

    Paper: "Learning from history for Byzantine robust optimization".

    ``v_{l+1} = v_l + (1/n) sum_i (x_i - v_l) min(1, tau / ||x_i - v_l||)`` for ``l < n_iter`` (the
    paper's L), from ``v_0 = center`` (default: zeros; in training, the previous aggregate). The rule
    is pure: unlike ByzFL's ``CenteredClipping``, it does not remember its last output, the caller
    passes it as ``center``. NaN/inf: rejected.
    """
    X, restore = as_matrix(vectors)
    tau = check_real("tau", tau, low=0.0, low_open=True)
    n_iter = check_int("n_iter", n_iter, minimum=1)
    v = torch.zeros_like(X[0]) if center is None else check_like("center", center, X)
    sq = row_norms_squared(X, "centered_clipping")
    n = X.shape[0]
    for _ in range(n_iter):
        dist = _distances_to(X, sq, v)
        scale = torch.where(dist > tau, tau / torch.where(dist > tau, dist, 1.0), 1.0).to(X.dtype)
        v = v + (scale @ X - scale.sum() * v) / n
    return restore(v)


@register(
    AGGREGATORS,
    "fltrust",
    condition=None,
    needs_reference=True,
    paper="Cao, Fang, Liu, Gong, NDSS 2021 (Algorithm 1, Eq. 4-6)",
)
def fltrust(vectors: Vectors, *, reference: Vectors) -> Vectors:
    """FLTrust (Cao, Fang, Liu, Gong, NDSS 2021): Byzantine-robust federated learning via trust bootstrapping.

    With ``g_0 = reference`` the server's update on its trusted root data set: trust scores
    ``TS_i = ReLU(cos(x_i, g_0))`` (Eq. 4), each ``x_i`` rescaled to ``||g_0||`` (Eq. 5), and the
    result ``sum_i TS_i ||g_0|| / ||x_i|| x_i / sum_i TS_i`` (Eq. 6). A zero input gets score 0; if
    every score is 0 the result is the zero vector (no trusted direction, no update).
    NaN/inf: rejected; a zero or non-finite reference is an error.
    """
    X, restore = as_matrix(vectors)
    g0 = check_like("reference", reference, X)
    norm_g0 = float(torch.linalg.vector_norm(g0.to(torch.float64)))
    if norm_g0 == 0.0:
        raise ValueError("reference must be a non-zero vector: FLTrust scores directions against it")
    norms = row_norms_squared(X, "fltrust").sqrt()
    safe = torch.where(norms > 0, norms, 1.0)
    cos = (X @ g0).to(torch.float64) / (safe * norm_g0)
    trust = torch.where(norms > 0, cos.clamp_min(0.0), 0.0)
    if float(trust.sum()) == 0.0:
        return restore(torch.zeros_like(X[0]))
    weights = trust * norm_g0 / safe / trust.sum()
    return restore(weights.to(X.dtype) @ X)
