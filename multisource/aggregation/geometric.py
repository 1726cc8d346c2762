"""Aggregators built on distances to a moving centre: geometric median, centered clipping, FLTrust."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from multisource.aggregation.arrays import (
    Array,
    Vectors,
    as_matrix,
    check_like,
    checked_rows,
    host,
    overflow_fallback,
    row_norms_squared,
    symmetrised,
    weighted_sum,
    weighted_sum_and_product,
)
from multisource.aggregation.distances import gram_and_moved, lost_to_rounding, rounding_noise
from multisource.aggregation.registry import AGGREGATORS, register
from multisource.utils.validation import check_int, check_real

_GM_INITS = ("mean", "zeros")


def _distances_to(X: torch.Tensor, sq: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``||x_i - z||`` from the precomputed ``|x_i|^2``: one matrix-vector product, float64, clamped at 0;
    the differences themselves when rounding swamps most of them (z far from the origin, near the
    inputs: :func:`~multisource.aggregation.distances.stable_gram`)."""
    scale = sq + float(torch.linalg.vector_norm(z.to(torch.float64)) ** 2)
    dist = scale - 2.0 * (X @ z).to(torch.float64)
    if lost_to_rounding(dist, scale, rounding_noise(X), X.shape[0] // 2 + 1):
        return torch.linalg.vector_norm(X - z, dim=1).to(torch.float64)
    return dist.clamp_min_(0.0).sqrt_()


# Weiszfeld runs on weights through the Gram matrix for n <= min(_GRAM_STEPS * (max_iter - 1), _GRAM_MAX_ROWS):
# against the vector path (one pass over X per step) at d = 1e4 and 1e5, one thread, the Gram path lost
# from n = 30-50 with 3 steps, won up to n = 80-100 with 5 and to n = 100 by 1.8x or more with 10.
_GRAM_STEPS = 16
_GRAM_MAX_ROWS = 256


def _squared_norm(v: Array) -> float:
    """``|v|^2`` accumulated in float64."""
    if isinstance(v, np.ndarray):
        v = v.astype(np.float64, copy=False)
        return float(v @ v)
    return float(torch.linalg.vector_norm(v.to(torch.float64)) ** 2)


class _VectorCentre:
    """The iterate z itself: a step reads X once for ``z = w X`` and ``X z`` (the next step's distances,
    :func:`weighted_sum_and_product`), except a first step from ``z = 0``, whose distances are the
    norms. On the CPU it works in numpy: its calls on n-vectors cost a third of torch's.

    Once rounding swamps most distances (z far from the origin, near the inputs:
    :func:`~multisource.aggregation.distances.stable_gram`), X is moved to z, which becomes the
    origin, and ``offset`` keeps the move."""

    def __init__(self, X: torch.Tensor, rule: str, init: str) -> None:
        X, sq = checked_rows(X, rule)  # X in float64 if its float32 squares over- or underflowed
        self.origin, self.rule, self.noise = X, rule, rounding_noise(X)
        self.X: Array = host(X)
        self.sq: Array = sq.numpy() if isinstance(self.X, np.ndarray) else sq
        self.z: Array | None = None
        self.previous: Array | None = None
        self.Xz: Array | None = None
        self.sq_z = 0.0  # |z|^2
        self.offset: Array | None = None
        if init == "mean":
            self.z, self.Xz = weighted_sum_and_product(1.0 / X.shape[0], self.X)
            self.sq_z = _squared_norm(self.z)

    def _norms(self, X: Array) -> Array:
        """``|x_i|^2`` in float64, of the kind of X."""
        if isinstance(X, np.ndarray):
            return row_norms_squared(torch.from_numpy(X), self.rule).numpy()
        return row_norms_squared(X, self.rule)

    def distances(self) -> Array:
        if self.z is None:
            return self.sq**0.5
        assert self.Xz is not None, "no step follows the last one"
        scale = self.sq + self.sq_z
        dist = scale - 2.0 * self.Xz
        if self.offset is None and lost_to_rounding(dist, scale, self.noise, len(dist) // 2 + 1):
            self._move_to_z()
            dist = self.sq
        return dist.clip(min=0.0) ** 0.5

    def _move_to_z(self) -> None:
        """Move X (and the last iterate) to z, which becomes the origin."""
        assert self.z is not None
        offset = self.z
        self.X = self.X - offset
        self.sq = self._norms(self.X)
        self.previous = -offset if self.previous is None else self.previous - offset
        self.z, self.sq_z, self.offset = offset * 0.0, 0.0, offset

    def move(self, weights: Array, last: bool) -> None:
        """z <- sum_i w_i x_i (w sums to 1), with ``X z`` unless ``last``."""
        z, self.Xz = weighted_sum_and_product(weights, self.X, product=not last)
        self.previous, self.z, self.sq_z = self.z, z, _squared_norm(z)

    def step_and_norm(self) -> tuple[float, float]:
        """The last step's length and ``||z||``."""
        assert self.z is not None, "no step taken yet"
        step_sq = self.sq_z if self.previous is None else _squared_norm(self.z - self.previous)
        norm_sq = self.sq_z if self.offset is None else _squared_norm(self.z + self.offset)
        return math.sqrt(step_sq), math.sqrt(norm_sq)

    def vector(self) -> Array:
        if self.z is None:
            return torch.zeros_like(self.origin[0])
        return self.z if self.offset is None else self.z + self.offset


class _GramCentre:
    """The iterate as weights a (z = a X): one Gram matrix ``G = X X^T``, then every step is O(n^2)
    (``||x_i - z||^2 = G_ii - 2 (G a)_i + a^T G a``), and X is read once more for the result. On
    the CPU the steps run in numpy, as :class:`_VectorCentre`'s.

    The distances and steps between weighted means (weights summing to 1) do not depend on the
    origin: they read the Gram matrix of X moved to its medoid when rounding swamps those of G
    (:func:`~multisource.aggregation.distances.gram_and_moved`); ``|z|`` and the distances from the
    start ``z = 0`` (``init="zeros"``, then ``a`` is None) read G itself."""

    def __init__(self, X: torch.Tensor, rule: str, init: str) -> None:
        self.X = host(X)
        G, moved = gram_and_moved(X, rule)
        self.G_origin = symmetrised(G)
        self.G = self.G_origin if moved is None else symmetrised(moved)
        n = X.shape[0]
        self.a: Array | None = None
        if init == "mean":
            self.a = np.full(n, 1.0 / n) if isinstance(G, np.ndarray) else torch.full_like(G[0], 1.0 / n)
        self.previous = self.a

    def distances(self) -> Array:
        if self.a is None:
            return self.G_origin.diagonal().clip(min=0.0) ** 0.5
        Ga = self.G @ self.a
        return (self.G.diagonal() - 2.0 * Ga + self.a @ Ga).clip(min=0.0) ** 0.5

    def move(self, weights: Array, last: bool) -> None:
        self.previous, self.a = self.a, weights

    def step_and_norm(self) -> tuple[float, float]:
        """The last step's length and ``||z||``, as ``sqrt(v^T G v)`` of the weights."""
        assert self.a is not None, "no step taken yet"
        quadratic = lambda G, v: math.sqrt(max(float(v @ (G @ v)), 0.0))  # noqa: E731
        norm = quadratic(self.G_origin, self.a)
        return (norm if self.previous is None else quadratic(self.G, self.a - self.previous)), norm

    def vector(self) -> Array:
        assert self.a is not None, "no step taken yet"
        return weighted_sum(self.a, self.X)


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
    distances come from ``|x_i|^2 + |z|^2 - 2 x_i . z`` (from the inputs moved near z when rounding
    would swamp them: docs/aggregation.md, "Inputs with a large common offset"). Since z stays a
    weighted mean of the inputs, for n <= min(16 (max_iter - 1), 256) the iteration runs on the
    weights through the Gram matrix ``X X^T`` (one GEMM, then O(n^2) per step, and X read once more
    at the end); above, on z, with one pass over X per step (the update and the next step's
    products, column block by block).
    NaN/inf: rejected (ByzFL drops rows holding inf instead).

    Parameters
    ----------
    tol : stop once a step moves z by at most ``tol * max(1, ||z||)``; 0 runs all ``max_iter`` steps.
    max_iter : largest number of steps; a RuntimeWarning says when ``tol > 0`` was not reached.
    nu : smoothing (same units as the vectors).
    init : ``"mean"`` (default) or ``"zeros"`` (ByzFL's start). ``init="zeros", nu=0.1, max_iter=3,
        tol=0`` is ByzFL's ``GeometricMedian()``.
    """
    X, restore = as_matrix(vectors)
    tol = check_real("tol", tol, low=0.0)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    nu = check_real("nu", nu, low=0.0, low_open=True)
    if init not in _GM_INITS:
        raise ValueError(f"init must be one of {list(_GM_INITS)}, got {init!r}")
    in_gram = X.shape[0] <= min(_GRAM_STEPS * (max_iter - 1), _GRAM_MAX_ROWS)
    centre = (_GramCentre if in_gram else _VectorCentre)(X, "geometric_median", init)
    for i in range(max_iter):
        inv_beta = 1.0 / centre.distances().clip(min=nu)
        centre.move(inv_beta / inv_beta.sum(), last=i == max_iter - 1)
        if tol > 0:  # with tol = 0 every step runs: the step length is not needed
            step, norm = centre.step_and_norm()
            if step <= tol * max(1.0, norm):
                return restore(centre.vector())
    if tol > 0:
        warnings.warn(f"geometric_median: tol={tol} not reached in max_iter={max_iter} steps", RuntimeWarning, 2)
    return restore(centre.vector())


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
    given = None if center is None else check_like("center", center, X)
    X, sq = checked_rows(X, "centered_clipping")  # in float64 if its float32 squares over- or underflowed
    v = torch.zeros_like(X[0]) if given is None else given.to(X.dtype)
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
    direction = g0 / norm_g0
    projections = X @ direction
    if not bool(torch.isfinite(projections).all()):  # at most |x_i|, which may pass float32's range
        projections = overflow_fallback(X, "fltrust") @ direction.to(torch.float64)
    cos = projections.to(torch.float64) / safe
    trust = torch.where(norms > 0, cos.clamp_min(0.0), 0.0)
    if float(trust.sum()) == 0.0:
        return restore(torch.zeros_like(X[0]))
    weights = trust * norm_g0 / safe / trust.sum()
    return restore(weights.to(X.dtype) @ X)
