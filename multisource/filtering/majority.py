"""Threshold-and-count filters of Konstantinov, Frantar, Alistarh & Lampert (ICML 2020): the alpha-free majority
vote and its known-alpha variant.

Both keep source ``i`` when enough sources lie within ``s`` of it in discrepancy::

    count_i = |{j in [N] : disc[i, j] <= s}|        (self included, since disc[i, i] = 0)

* ``threshold_majority`` (the 2020 paper's filter, ``docs/bounds.md``, "The bounds": filter threshold):
  keep ``i`` if ``count_i > N/2``.
* ``known_alpha``: keep ``i`` if ``count_i >= ceil((1 - alpha) N)`` ("paper"), or, as in FLEA's
  ``konstantinov_filter``, ``count_i > floor(alpha N)`` ("flea").

``threshold="theory"`` asks for the theory's ``s = 2 Delta_m``
(:func:`multisource.bounds.theory_threshold`), resolved by the rules' records from a
:class:`~multisource.filtering.registry.RuleContext` (see :func:`resolve_theory_threshold`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from multisource.bounds.complexity import VCComplexity
from multisource.bounds.theorems import theory_threshold
from multisource.data.selection import Selection
from multisource.filtering.checks import check_disc, check_disc_matrix, kth_smallest_per_row, rule_n_bad
from multisource.filtering.registry import FILTERING_RULES, RuleContext
from multisource.utils.validation import check_int, check_real

Threshold = float | Callable[[int, np.ndarray], float] | None


def derived_threshold(disc: np.ndarray, k: int) -> float:
    """A data-driven threshold ``s = 2 rho`` for a rule that needs ``k > N/2`` sources within ``s``.

    ``r_i`` is the k-th smallest entry of row ``i`` (self included): the smallest radius at which
    ``i`` has ``k`` sources around it. ``rho`` is the k-th smallest ``r_i``, so at least ``k``
    sources have ``r_i <= rho``. Any two of them have balls of ``k > N/2`` sources that intersect,
    hence (triangle inequality of disc) lie within ``2 rho`` of each other: every one of them is
    kept with ``s = 2 rho``, so the rule never comes back empty. Doubling mirrors the theory's
    ``s = 2 Delta_m``. When the clean pairwise discrepancies lie in ``[eps/2, eps]`` every clean
    source is kept; sources farther than ``2 eps`` from every clean source are dropped.
    """
    disc = check_disc(disc)
    return _derived_threshold(disc, check_int("k", k, minimum=1, maximum=disc.shape[0]))


def _derived_threshold(disc: np.ndarray, k: int) -> float:
    """:func:`derived_threshold` of a matrix already checked, with 1 <= k <= N."""
    r = kth_smallest_per_row(disc, k)
    return float(2.0 * np.partition(r, k - 1)[k - 1])


def resolve_threshold(threshold: Threshold, disc: np.ndarray, sizes: np.ndarray, k: int) -> tuple[float, str]:
    """The threshold ``s`` and how it was obtained: a number, ``threshold(N, sizes)``, or ``derived_threshold``."""
    if threshold is None:
        return _derived_threshold(disc, k), "derived"
    if callable(threshold):
        value = threshold(disc.shape[0], sizes)
        return check_real("threshold(N, sizes)", value, low=0.0), "callable"
    return check_real("threshold", threshold, low=0.0), "given"


def resolve_theory_threshold(context: RuleContext | None, params: dict[str, Any]) -> dict[str, Any]:
    """``threshold = "theory"``: the theory's ``s = 2 Delta_m`` with ``delta`` (default 0.05) and a VC dimension.

    ``Delta_m = 2 Rad_m + sqrt(ln(4N/delta) / (2m))`` (``docs/bounds.md``, "The bounds": filter
    threshold) with the VC plug-in for ``Rad_m``. The VC dimension is ``vc_dimension`` or, from the
    context's dataset, ``d + 1`` (linear classifiers with an intercept in d dimensions).
    """
    if params.get("threshold") != "theory":
        return params
    params = dict(params)
    vc_dimension = params.pop("vc_dimension", None)
    if vc_dimension is None:
        if context is None:
            raise ValueError(
                "threshold='theory' needs vc_dimension=<VC dimension of H> or context=RuleContext(...), got neither"
            )
        vc_dimension = context.dataset.n_features + 1
    params["threshold"] = theory_threshold(params.pop("delta", 0.05), VCComplexity(vc_dimension))
    return params


def _count_filter(disc: np.ndarray, sizes: np.ndarray, s: float, min_count: int, **info: object) -> Selection:
    """Keep sources with at least ``min_count`` sources within ``s``; fall back to all sources if none is kept."""
    counts = (disc <= s).sum(axis=1)
    kept = counts >= min_count
    fell_back = not kept.any()
    if fell_back:
        kept = np.ones_like(kept)
    return Selection.from_mask(
        kept, sizes, threshold=s, min_count=min_count, counts=counts, fell_back=fell_back, **info
    )


@FILTERING_RULES.register("threshold_majority", resolve=resolve_theory_threshold)
def threshold_majority(
    disc: np.ndarray, sizes: np.ndarray, alpha: float | None = None, *, threshold: Threshold = None
) -> Selection:
    """Alpha-free majority filter (Konstantinov et al., ICML 2020): keep ``i`` if ``|{j : d_ij <= s}| > N/2``.

    Parameters
    ----------
    disc : (N, N) symmetric discrepancy matrix with zero diagonal.
    sizes : (N,) number of samples per source (weights of the kept sources).
    alpha : ignored: the rule never reads it, so any value (even one outside [0, 1/2)) is accepted
        unchecked; it is a parameter only so every rule has one signature. Use :func:`known_alpha`
        for a filter that uses (and checks) alpha.
    threshold : ``s`` as a float, a callable ``(N, sizes) -> s`` (e.g. the theory's ``2 Delta_m``),
        or None for :func:`derived_threshold` with ``k = floor(N/2) + 1``. Called through its record
        (``FILTERING_RULES.get("threshold_majority")``) it also takes ``"theory"``, with optional
        ``delta`` and ``vc_dimension`` (:func:`resolve_theory_threshold`).
    """
    disc, sizes = check_disc_matrix(disc, sizes)
    n = disc.shape[0]
    majority = n // 2 + 1
    s, source = resolve_threshold(threshold, disc, sizes, majority)
    return _count_filter(disc, sizes, s, majority, threshold_source=source)


@FILTERING_RULES.register("known_alpha", resolve=resolve_theory_threshold)
def known_alpha(
    disc: np.ndarray,
    sizes: np.ndarray,
    alpha: float | None = None,
    *,
    n_bad: int | None = None,
    threshold: Threshold = None,
    variant: str = "paper",
) -> Selection:
    """Known-alpha count filter: keep ``i`` if ``count_i >= ceil((1-alpha)N)`` (paper) or ``> floor(alpha N)`` (flea).

    With ``n_bad`` given instead of ``alpha`` the counts are ``N - n_bad`` and ``n_bad + 1``.
    ``threshold`` as in :func:`threshold_majority`, and the derived one is the same (``k = floor(N/2) + 1``):
    with ``k = N - n_bad`` the radius ``r_i`` of a clean source reaches its farthest clean neighbour,
    and doubling it lets in sources the majority threshold rejects.
    """
    disc, sizes = check_disc_matrix(disc, sizes)
    n = disc.shape[0]
    if variant not in ("paper", "flea"):
        raise ValueError(f"variant must be 'paper' or 'flea', got {variant!r}")
    n_bad = rule_n_bad(n, alpha, n_bad, rule="known_alpha")
    # ceil((1 - alpha) N) == N - floor(alpha N) exactly, without the rounding of (1 - alpha) * N.
    n_good = n - n_bad
    s, source = resolve_threshold(threshold, disc, sizes, n // 2 + 1)
    min_count = n_good if variant == "paper" else n_bad + 1
    return _count_filter(disc, sizes, s, min_count, threshold_source=source, n_bad=n_bad, variant=variant)
