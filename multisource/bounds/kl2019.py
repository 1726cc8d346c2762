"""KL2019 (Konstantinov & Lampert, ICML 2019): the bound of Theorem 1, eq. (4), and the weights of eq. (6).

For weights ``a`` on the simplex and ``h_a = argmin_h sum_i a_i R_{S_i}(h)``, with probability
``>= 1 - delta`` over the sources,

.. math::

    \\varepsilon_T(h_a) - \\varepsilon_T(h_T^*) \\le 4 \\sum_i a_i \\mathfrak{R}_i(H)
    + 2 \\sum_i a_i \\mathrm{disc}_H(D_i, D_T)
    + 6 M \\sqrt{\\ln(4/\\delta) / 2}\\, \\sqrt{\\textstyle\\sum_i a_i^2 / m_i},

``M`` the loss bound and ``R_i`` the Rademacher complexity of the loss class on source ``i``; the
constants are the paper's (``docs/bounds.md``, "The bounds", KL2019). The weights that minimise it
solve the convex program of eq. (6) (Algorithm 1),

.. math::

    \\min_{a \\in \\Delta_N} \\; \\sum_i a_i d_i + \\lambda \\sqrt{\\textstyle\\sum_i a_i^2 / m_i},

a second-order cone program solved exactly with cvxpy (Clarabel) by :func:`kl2019_weights`.
``lambda -> inf`` gives weights proportional to the sizes ("all data"); ``lambda = 0`` puts all weight
on the sources closest to the reference ("reference only" when the reference is one of the sources).
:func:`bound_lambda` is the ``lambda`` at which eq. (6) is this bound with the complexity term held fixed.
"""

from __future__ import annotations

import math

import numpy as np

from multisource.bounds.complexity import ComplexityLike, as_complexity, check_rademacher_value
from multisource.bounds.result import Bound
from multisource.utils.validation import check_delta, check_finite_array, check_real

#: Weights below this are solver noise: they are set to 0 (and the rest renormalised).
WEIGHT_TOL = 1e-7


def check_disc_row(disc_to_reference: object, sizes: object) -> tuple[np.ndarray, np.ndarray]:
    """``disc_to_reference`` as (N,) non-negative floats and ``sizes`` as (N,) counts >= 1."""
    d = check_finite_array("disc_to_reference", disc_to_reference, ndim=1)
    if d.size < 1 or np.any(d < 0):
        raise ValueError(
            f"disc_to_reference must be a non-empty (N,) array of non-negative discrepancies, got {d.tolist()}"
        )
    sizes = check_finite_array("sizes", sizes, ndim=1)
    if sizes.shape != d.shape or np.any(sizes < 1):
        raise ValueError(f"sizes must be (N,) = {d.shape} positive sample counts, got {sizes.tolist()}")
    return d, sizes


def kl2019_objective(weights: np.ndarray, disc_to_reference: np.ndarray, sizes: np.ndarray, lam: float) -> float:
    """``sum_i a_i d_i + lambda sqrt(sum_i a_i^2 / m_i)``, the objective of eq. (6)."""
    a = np.asarray(weights, dtype=np.float64)
    return float(a @ disc_to_reference + lam * np.sqrt(np.sum(a**2 / sizes)))


def _normalise(a: np.ndarray) -> np.ndarray:
    a = np.where(a < WEIGHT_TOL, 0.0, a)
    return a / a.sum()


def kl2019_weights(disc_to_reference: object, sizes: object, lam: float) -> np.ndarray:
    """The weights of eq. (6) on the simplex.

    Parameters
    ----------
    disc_to_reference : (N,) discrepancies ``d_i`` of each source to the reference set.
    sizes : (N,) sample counts ``m_i``.
    lam : ``lambda >= 0``; ``math.inf`` gives the ``lambda -> inf`` limit.

    Returns
    -------
    (N,) weights, non-negative, summing to 1. For ``lambda = 0`` the program is a linear one whose
    optimum is the whole face of sources with the smallest ``d_i``; the weights returned are the
    ``lambda -> 0+`` limit on that face, proportional to the sizes. For ``lambda = inf`` they are
    ``m_i / sum_j m_j`` (the minimiser of ``sum a_i^2 / m_i``).
    """
    d, sizes = check_disc_row(disc_to_reference, sizes)
    lam = check_real("lam (lambda)", lam, low=0.0, allow_inf=True)
    if math.isinf(lam):
        return sizes / sizes.sum()
    if lam == 0.0:
        closest = d <= d.min() + 1e-12
        return _normalise(np.where(closest, sizes, 0.0))
    import cvxpy as cp  # imported here: it takes about a second, and only this program needs it

    a = cp.Variable(d.size, nonneg=True)
    objective = d @ a + lam * cp.norm(cp.multiply(1.0 / np.sqrt(sizes), a), 2)
    problem = cp.Problem(cp.Minimize(objective), [cp.sum(a) == 1])
    problem.solve(solver=cp.CLARABEL)
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or a.value is None:
        raise RuntimeError(f"the KL2019 weight program did not solve (cvxpy status {problem.status!r})")
    return _normalise(np.clip(a.value, 0.0, None))


def bound_lambda(delta: float, loss_bound: float = 1.0) -> float:
    """``lambda = 3 M sqrt(ln(4/delta) / 2)``: eq. (6) with this value is half the bound minus its complexity term."""
    delta = check_delta(delta)
    loss_bound = check_real("loss_bound (M)", loss_bound, low=0.0, low_open=True)
    return 3.0 * loss_bound * math.sqrt(math.log(4.0 / delta) / 2.0)


def _per_source_rademacher(
    complexity: ComplexityLike | np.ndarray | list, sizes: np.ndarray, loss_bound: float
) -> np.ndarray:
    """``R_i`` for every source: an (N,) array given as is, or a complexity measure evaluated at ``m_i``."""
    if isinstance(complexity, (np.ndarray, list, tuple)):
        r = check_finite_array("complexity (per-source Rademacher values)", complexity, ndim=1)
        if r.shape != sizes.shape:
            raise ValueError(f"per-source Rademacher values must have shape {sizes.shape}, got {r.shape}")
    else:
        measure = as_complexity(complexity)
        # A measure gives the complexity of a [0, 1]-valued loss; a loss bounded by M scales it by M.
        r = loss_bound * np.array([measure.rademacher(int(m)) for m in sizes])
    for i, value in enumerate(r):
        check_rademacher_value(f"Rademacher value of source {i} / loss_bound", value / loss_bound)
    return r


def kl2019_bound(
    weights: object,
    disc_to_reference: object,
    sizes: object,
    delta: float,
    complexity: ComplexityLike | np.ndarray | list,
    *,
    loss_bound: float = 1.0,
) -> Bound:
    """KL2019 Theorem 1 for given weights and discrepancies, term by term.

    Parameters
    ----------
    weights : (N,) on the simplex.
    disc_to_reference : (N,) ``disc_H(D_i, D_T)``; empirical discrepancies make it an estimate.
    sizes : (N,) samples per source ``m_i``.
    delta : confidence in (0, 1).
    complexity : an (N,) array of per-source loss-class Rademacher values ``R_i``, or any complexity
        measure (evaluated at each ``m_i``; with a VC dimension, the 0-1 loss is assumed).
    loss_bound : ``M``, the loss takes values in [0, M].

    Returns
    -------
    Bound
        ``complexity = 4 sum a_i R_i``, ``corruption = 2 sum a_i d_i`` (the price of the untrusted
        sources), ``confidence = 6 M sqrt(ln(4/delta)/2) sqrt(sum a_i^2/m_i)``.
    """
    d, sizes = check_disc_row(disc_to_reference, sizes)
    a = check_finite_array("weights", weights, ndim=1)
    if a.shape != d.shape or np.any(a < 0) or not np.isclose(a.sum(), 1.0, atol=1e-8):
        raise ValueError(f"weights must be (N,) = {d.shape}, non-negative and sum to 1, got {a.tolist()}")
    delta = check_delta(delta)
    loss_bound = check_real("loss_bound (M)", loss_bound, low=0.0, low_open=True)
    r = _per_source_rademacher(complexity, sizes, loss_bound)
    return Bound(
        name="KL2019",
        equation="KL2019 Thm. 1, eq. (4)",
        complexity=4.0 * float(a @ r),
        confidence=6.0 * loss_bound * math.sqrt(math.log(4.0 / delta) / 2.0) * math.sqrt(float(np.sum(a**2 / sizes))),
        corruption=2.0 * float(a @ d),
        inputs={"N": d.size, "delta": delta, "M": loss_bound, "weights": np.round(a, 4).tolist()},
    )
