"""KL2019 source weights (Konstantinov & Lampert, ICML 2019, Algorithm 1, eq. (6)) as a filtering rule.

Given the discrepancies ``d_i = disc_H(S_i, S_T)`` of every source to a reference set ``S_T`` and the
source sizes ``m_i``, the weights solve the convex program

.. math::

    \\min_{a \\in \\Delta_N} \\; \\sum_i a_i d_i + \\lambda \\sqrt{\\textstyle\\sum_i a_i^2 / m_i},

a second-order cone program solved exactly with cvxpy (Clarabel). ``lambda -> inf`` gives weights
proportional to the sizes ("all data"); ``lambda = 0`` puts all weight on the sources closest to the
reference ("reference only" when the reference is one of the sources). ``lambda`` is given, or
chosen by 5-fold cross-validation on the reference data (:func:`select_lambda`, the paper's grid
``{0, 2^-10, ..., 2^9, 10^4}``). The bound this program minimises is
:func:`multisource.bounds.kl2019.kl2019_bound`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold
from tqdm.auto import tqdm

from multisource.data.dataset import MultiSourceDataset
from multisource.filtering.checks import check_disc_matrix
from multisource.filtering.registry import FILTERING_RULES, Selection
from multisource.utils.validation import SeedLike, check_finite_array, check_int, check_random_state, check_real
from multisource.utils.threads import single_threaded_blas

#: The lambda grid of the KL2019 code (code_animals/functions.py): 0, 2^-10 .. 2^9, 10^4.
LAMBDA_GRID: tuple[float, ...] = (0.0, *(2.0**k for k in range(-10, 10)), 1e4)
#: Weights below this are solver noise: they are set to 0 (and the rest renormalised).
WEIGHT_TOL = 1e-7


def check_disc_row(disc_to_reference: object, sizes: object) -> tuple[np.ndarray, np.ndarray]:
    """``disc_to_reference`` as (N,) non-negative floats and ``sizes`` as (N,) counts >= 1."""
    d = check_finite_array("disc_to_reference", disc_to_reference, ndim=1)
    if d.size < 1 or np.any(d < 0):
        raise ValueError("disc_to_reference must be a non-empty (N,) array of non-negative discrepancies")
    sizes = check_finite_array("sizes", sizes, ndim=1)
    if sizes.shape != d.shape or np.any(sizes < 1):
        raise ValueError(f"sizes must be (N,) = {d.shape} positive sample counts, got shape {sizes.shape}")
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
    lam = check_real("lam (lambda)", lam, low=0.0)
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


def central_source(disc: np.ndarray) -> int:
    """The source with the smallest median discrepancy to all sources (self included): the default reference.

    With a clean majority, every clean source has more than ``N/2`` entries of its row within the
    filter threshold ``s``, so its median is ``<= s``; the most central source is clean or within
    ``s`` of clean data. Ties go to the lowest index.
    """
    return int(np.argmin(np.median(disc, axis=1)))


@FILTERING_RULES.register("kl2019")
def kl2019_weighting(
    disc: np.ndarray, sizes: np.ndarray, alpha: float | None = None, *, reference: int | None = None, lam: float = 1.0
) -> Selection:
    """KL2019 weighting rule: eq. (6) weights against the row ``disc[reference]`` of the (N, N) matrix.

    Parameters
    ----------
    disc : (N, N) symmetric discrepancy matrix with zero diagonal.
    sizes : (N,) samples per source.
    alpha : ignored (the rule does not need it); accepted so every rule has one signature.
    reference : index of the trusted reference source ``S_T``; None picks :func:`central_source`.
    lam : ``lambda`` of eq. (6) (see :func:`select_lambda` to choose it by cross-validation,
        and :func:`multisource.bounds.kl2019.bound_lambda` for the value that minimises the bound).

    Returns
    -------
    Selection
        ``weights`` from :func:`kl2019_weights`, ``kept`` = sources with positive weight;
        ``info`` holds ``reference``, ``lam`` and the ``objective`` value.
    """
    disc, sizes = check_disc_matrix(disc, sizes)
    if reference is None:
        reference = central_source(disc)
    reference = check_int("reference", reference, minimum=0, maximum=disc.shape[0] - 1)
    d = disc[reference]
    weights = kl2019_weights(d, sizes, lam)
    return Selection(
        kept=weights > 0, weights=weights,
        info={"reference": reference, "lam": lam, "objective": kl2019_objective(weights, d, sizes, lam)},
    )


@dataclass(frozen=True)
class LambdaSearch:
    """The outcome of :func:`select_lambda`: the chosen ``best`` and the mean CV error of every ``lambda``."""

    best: float
    lambdas: tuple[float, ...]
    errors: np.ndarray


def _weighted_fit_error(estimator, data: MultiSourceDataset, weights: np.ndarray, train: np.ndarray, val: np.ndarray) -> float:
    """Fit on the rows ``train`` with per-sample weight ``a_s / (rows of s in train)``; 0-1 error on ``val``."""
    rows = train[weights[data.source[train]] > 0]
    counts = np.bincount(data.source[rows], minlength=data.n_sources)
    w = weights[data.source[rows]] / counts[data.source[rows]]
    # Mean sample weight 1, so a regularised estimator sees the penalty it would see unweighted.
    model = clone(estimator).fit(data.X[rows], data.y[rows], sample_weight=w * rows.size / w.sum())
    return float(np.mean(model.predict(data.X[val]) != data.y[val]))


@single_threaded_blas
def select_lambda(
    data: MultiSourceDataset,
    disc_to_reference: object,
    reference: int,
    estimator,
    *,
    lambdas: tuple[float, ...] = LAMBDA_GRID,
    n_splits: int = 5,
    seed: SeedLike = None,
    progress: bool = False,
) -> LambdaSearch:
    """Choose ``lambda`` by k-fold cross-validation on the reference source (KL2019 Algorithm 1).

    For each ``lambda`` the weights come from :func:`kl2019_weights`; each fold trains a weighted
    ERM (``estimator``, any scikit-learn classifier accepting ``sample_weight``) on every source with
    positive weight, where the reference source contributes only its training folds, and measures
    the 0-1 error on the held-out fold of the reference. The ``lambda`` with the smallest mean error
    wins (ties: the first in ``lambdas``). Identical weight vectors are fitted once.
    """
    d, sizes = check_disc_row(disc_to_reference, data.sizes)
    reference = check_int("reference", reference, minimum=0, maximum=data.n_sources - 1)
    n_splits = check_int("n_splits", n_splits, minimum=2)
    if len(lambdas) < 1:
        raise ValueError("lambdas must hold at least one value")
    ref_rows = np.flatnonzero(data.source == reference)
    if ref_rows.size < n_splits:
        raise ValueError(f"the reference source has {ref_rows.size} samples, fewer than n_splits={n_splits}")
    others = np.flatnonzero(data.source != reference)
    rng = check_random_state(seed)
    folds = list(KFold(n_splits, shuffle=True, random_state=int(rng.integers(2**31))).split(ref_rows))
    cache: dict[tuple[float, ...], float] = {}
    errors = np.empty(len(lambdas))
    for k, lam in enumerate(tqdm(lambdas, desc="KL2019 lambda CV", disable=not progress)):
        weights = kl2019_weights(d, sizes, lam)
        key = tuple(np.round(weights, 9))
        if key not in cache:
            cache[key] = float(np.mean([
                _weighted_fit_error(estimator, data, weights, np.concatenate([others, ref_rows[tr]]), ref_rows[va])
                for tr, va in folds
            ]))
        errors[k] = cache[key]
    return LambdaSearch(best=float(lambdas[int(np.argmin(errors))]), lambdas=tuple(lambdas), errors=errors)
