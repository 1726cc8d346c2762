"""The KL2019 bound (Konstantinov & Lampert, ICML 2019, Theorem 1, eq. (4); reference note 2.3).

For weights ``a`` on the simplex and ``h_a = argmin_h sum_i a_i R_{S_i}(h)``, with probability
``>= 1 - delta`` over the sources,

.. math::

    \\varepsilon_T(h_a) - \\varepsilon_T(h_T^*) \\le 4 \\sum_i a_i \\mathfrak{R}_i(H)
    + 2 \\sum_i a_i \\mathrm{disc}_H(D_i, D_T)
    + 6 M \\sqrt{\\ln(4/\\delta) / 2}\\, \\sqrt{\\textstyle\\sum_i a_i^2 / m_i},

``M`` the loss bound and ``R_i`` the Rademacher complexity of the loss class on source ``i``. The
note marks this theorem [VERIFIED], so its constants are the paper's. The weight program that
minimises it is :func:`multisource.filtering.kl2019.kl2019_weights` (eq. (6)), and
:func:`bound_lambda` is the ``lambda`` at which eq. (6) is this bound with the complexity term held fixed.
"""

from __future__ import annotations

import math

import numpy as np

from multisource.bounds.complexity import ComplexityLike, as_complexity, check_rademacher_value
from multisource.bounds.result import Bound
from multisource.filtering.kl2019 import check_disc_row
from multisource.utils.validation import check_delta, check_finite_array, check_real


def bound_lambda(delta: float, loss_bound: float = 1.0) -> float:
    """``lambda = 3 M sqrt(ln(4/delta) / 2)``: eq. (6) with this value is half the bound minus its complexity term."""
    delta = check_delta(delta)
    loss_bound = check_real("loss_bound (M)", loss_bound, low=0.0, low_open=True)
    return 3.0 * loss_bound * math.sqrt(math.log(4.0 / delta) / 2.0)


def _per_source_rademacher(complexity: ComplexityLike | np.ndarray | list, sizes: np.ndarray, loss_bound: float) -> np.ndarray:
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
        raise ValueError(f"weights must be (N,) = {d.shape}, non-negative and sum to 1")
    delta = check_delta(delta)
    loss_bound = check_real("loss_bound (M)", loss_bound, low=0.0, low_open=True)
    r = _per_source_rademacher(complexity, sizes, loss_bound)
    return Bound(
        name="KL2019", equation="KL2019 Thm. 1, eq. (4)",
        complexity=4.0 * float(a @ r),
        confidence=6.0 * loss_bound * math.sqrt(math.log(4.0 / delta) / 2.0) * math.sqrt(float(np.sum(a**2 / sizes))),
        corruption=2.0 * float(a @ d),
        inputs={"N": d.size, "delta": delta, "M": loss_bound, "weights": np.round(a, 4).tolist()},
    )
