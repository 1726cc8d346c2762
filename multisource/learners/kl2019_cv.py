"""KL2019's choice of ``lambda`` by cross-validation on the reference source (Konstantinov & Lampert, ICML 2019,
Algorithm 1): for each ``lambda`` of a grid, the eq. (6) weights (:func:`multisource.bounds.kl2019.kl2019_weights`)
and a weighted ERM fitted on them, scored on held-out folds of the reference data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import KFold
from tqdm.auto import tqdm

from multisource.bounds.kl2019 import check_disc_row, kl2019_weights
from multisource.data.dataset import MultiSourceDataset
from multisource.learners.weighting import fit_weighted, sample_weights
from multisource.utils.threads import single_threaded_blas
from multisource.utils.validation import SeedLike, check_bool, check_int, check_random_state, check_sklearn_estimator

#: The lambda grid of the KL2019 code (code_animals/functions.py): 0, 2^-10 .. 2^9, 10^4.
LAMBDA_GRID: tuple[float, ...] = (0.0, *(2.0**e for e in range(-10, 10)), 1e4)


@dataclass(frozen=True)
class LambdaSearch:
    """The outcome of :func:`select_lambda`: the chosen ``best`` and the mean CV error of every ``lambda``."""

    best: float
    lambdas: tuple[float, ...]
    errors: np.ndarray


def _weighted_fit_error(
    estimator: BaseEstimator, data: MultiSourceDataset, weights: np.ndarray, train: np.ndarray, val: np.ndarray
) -> float:
    """0-1 error on the rows ``val`` of the ``weights``-weighted ERM on the rows ``train``.

    Source ``i`` contributes ``w_i R_{S_i}(h)`` with ``S_i`` its rows in ``train`` (the reference source
    only its training folds): :func:`~multisource.learners.weighting.sample_weights` with the counts
    of ``train`` as the source sizes.
    """
    source = data.source[train]
    counts = np.maximum(np.bincount(source, minlength=data.n_sources), 1)
    rows = train[weights[source] > 0]
    model = fit_weighted(clone(estimator), data.X[rows], data.y[rows], sample_weights(weights, source, counts))
    return float(np.mean(model.predict(data.X[val]) != data.y[val]))


@single_threaded_blas
def select_lambda(
    data: MultiSourceDataset,
    disc_to_reference: object,
    reference: int,
    estimator: BaseEstimator,
    *,
    lambdas: tuple[float, ...] = LAMBDA_GRID,
    n_splits: int = 5,
    seed: SeedLike = None,
    progress: bool = False,
) -> LambdaSearch:
    """Choose ``lambda`` by k-fold cross-validation on the reference source (KL2019 Algorithm 1).

    For each ``lambda`` the weights come from eq. (6); each fold trains a weighted ERM (``estimator``,
    any scikit-learn classifier accepting ``sample_weight``) on every source with positive weight,
    where the reference source contributes only its training folds, and measures the 0-1 error on
    the held-out fold of the reference. The ``lambda`` with the smallest mean error wins (ties: the
    first in ``lambdas``). Identical weight vectors are fitted once. ``seed`` shuffles the folds.
    """
    check_sklearn_estimator("estimator", estimator)
    progress = check_bool("progress", progress)
    d, sizes = check_disc_row(disc_to_reference, data.sizes)
    reference = check_int("reference", reference, minimum=0, maximum=data.n_sources - 1)
    n_splits = check_int("n_splits", n_splits, minimum=2)
    if len(lambdas) < 1:
        raise ValueError(f"lambdas must hold at least one value, got {lambdas!r}")
    ref_rows = np.flatnonzero(data.source == reference)
    if ref_rows.size < n_splits:
        raise ValueError(f"n_splits must be <= the {ref_rows.size} samples of the reference source, got {n_splits}")
    others = np.flatnonzero(data.source != reference)
    rng = check_random_state(seed)
    folds = list(KFold(n_splits, shuffle=True, random_state=int(rng.integers(2**31))).split(ref_rows))
    cache: dict[tuple[float, ...], float] = {}
    errors = np.empty(len(lambdas))
    for index, lam in enumerate(tqdm(lambdas, desc="KL2019 lambda CV", disable=not progress)):
        weights = kl2019_weights(d, sizes, lam)
        key = tuple(np.round(weights, 9))
        if key not in cache:
            fold_errors = [
                _weighted_fit_error(estimator, data, weights, np.concatenate([others, ref_rows[tr]]), ref_rows[va])
                for tr, va in folds
            ]
            cache[key] = float(np.mean(fold_errors))
        errors[index] = cache[key]
    return LambdaSearch(best=float(lambdas[int(np.argmin(errors))]), lambdas=tuple(lambdas), errors=errors)
