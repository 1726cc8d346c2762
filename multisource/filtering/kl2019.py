"""KL2019 source weights (Konstantinov & Lampert, ICML 2019, Algorithm 1, eq. (6)) as a filtering rule.

The weights solve eq. (6) against the row ``disc[reference]`` of the discrepancy matrix
(:func:`multisource.bounds.kl2019.kl2019_weights`, beside the bound they minimise). ``lam`` is given,
or ``"cv"``: chosen by 5-fold cross-validation on the reference source over the paper's grid
``{0, 2^-10, ..., 2^9, 10^4}`` (:func:`multisource.learners.kl2019_cv.select_lambda`), which the rule's
record resolves from a :class:`~multisource.filtering.registry.RuleContext`::

    FILTERING_RULES.get("kl2019")(disc, sizes, lam="cv", context=RuleContext(dataset, disc, learner, seed=0))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from multisource.bounds.kl2019 import kl2019_objective, kl2019_weights
from multisource.data.selection import Selection
from multisource.filtering.checks import check_disc, check_disc_matrix
from multisource.filtering.registry import FILTERING_RULES, RuleContext
from multisource.learners.kl2019_cv import select_lambda
from multisource.utils.validation import check_int


def central_source(disc: np.ndarray) -> int:
    """The source with the smallest median discrepancy to all sources (self included): the default reference.

    With a clean majority, every clean source has more than ``N/2`` entries of its row within the
    filter threshold ``s``, so its median is ``<= s``; the most central source is clean or within
    ``s`` of clean data. Ties go to the lowest index.
    """
    return _central_source(check_disc(disc))


def _central_source(disc: np.ndarray) -> int:
    """:func:`central_source` of a matrix already checked."""
    return int(np.argmin(np.median(disc, axis=1)))


def resolve_cv_lambda(context: RuleContext | None, params: dict[str, Any]) -> dict[str, Any]:
    """``lam = "cv"``: KL2019 Algorithm 1's ``lambda``, by cross-validation of the context's learner.

    The folds are drawn from the context's seed; the reference is ``reference`` or
    :func:`central_source` of the context's discrepancy matrix (and is then passed on to the rule).
    """
    if params.get("lam") != "cv":
        return params
    if context is None:
        raise ValueError("lam='cv' needs context=RuleContext(dataset, disc, learner, seed) to cross-validate, got none")
    params = dict(params)
    if params.get("reference") is None:
        params["reference"] = central_source(context.disc)
    reference = check_int("reference", params["reference"], minimum=0, maximum=context.disc.shape[0] - 1)
    search = select_lambda(context.dataset, context.disc[reference], reference, context.learner, seed=context.seed)
    params["lam"] = search.best
    return params


@FILTERING_RULES.register("kl2019", resolve=resolve_cv_lambda)
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
    lam : ``lambda`` of eq. (6) (:func:`multisource.bounds.kl2019.bound_lambda` gives the value that
        minimises the bound). Called through its record it also takes ``"cv"`` (:func:`resolve_cv_lambda`).

    Returns
    -------
    Selection
        ``weights`` from :func:`~multisource.bounds.kl2019.kl2019_weights`, ``kept`` = sources with
        positive weight; ``info`` holds ``reference``, ``lam`` and the ``objective`` value.
    """
    disc, sizes = check_disc_matrix(disc, sizes)
    if reference is None:
        reference = _central_source(disc)
    reference = check_int("reference", reference, minimum=0, maximum=disc.shape[0] - 1)
    d = disc[reference]
    weights = kl2019_weights(d, sizes, lam)
    return Selection(
        kept=weights > 0,
        weights=weights,
        info={"reference": reference, "lam": lam, "objective": kl2019_objective(weights, d, sizes, lam)},
    )
