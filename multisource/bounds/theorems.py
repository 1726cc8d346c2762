"""Excess-risk bounds of multi-source learning with a corrupted minority (Konstantinov, Frantar, Alistarh &
Lampert, ICML 2020), with explicit constants.

The paper states its bounds as rates; the constants here are derived in ``docs/bounds.md``, "The
bounds" (*Derivation*), following the paper's proof strategy. Loss in [0, 1],
``alpha < 1/2``, probability ``>= 1 - delta``; ``Rad_n`` is the loss-class Rademacher complexity
given by any :mod:`~multisource.bounds.complexity` measure::

    U_n(delta')  = 2 Rad_n + sqrt(ln(2/delta') / (2n))          two-sided uniform deviation
    Delta_m      = 2 Rad_m + sqrt(ln(4N/delta) / (2m))           per-source deviation, s = 2 Delta_m
    fixed-set    : 2 U_{|G| m}(delta/2) + 6 alpha Delta_m,  |G| = ceil((1 - alpha) N)
    adaptive-set : (2 / (1 - alpha)) U_{N m}(delta/2) + 2 alpha (3 + 1/(1 - alpha)) Delta_m
    single clean source : 2 U_m(delta)
    clean-only oracle   : 2 U_{|G| m}(delta/2)   (the fixed-set bound without its corruption term)
    pooled ERM, no filter: 2 U_{N m}(delta) + 2 alpha

The pooled-ERM bound is ours (same proof as the adaptive case): with ``B`` the corrupted sources,
``R_pool(h) - R(h) = [R_clean-all(h) - R(h)] + (1/N) sum_{i in B} (R_{S'_i}(h) - R_{S_i}(h))`` and each
difference in the sum is at most 1 in absolute value, so ``sup_h |R_pool - R| <= U_{Nm}(delta) + alpha``
and ERM pays twice that. Its corruption term ``2 alpha`` does not shrink with ``m``: the floor that
filtering removes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from multisource.bounds.complexity import Complexity, ComplexityLike, as_complexity
from multisource.bounds.result import Bound, ThresholdResult
from multisource.utils.validation import ADVERSARY_SELECTIONS, check_alpha, check_delta, check_int, n_bad_sources


def n_clean_sources(n_sources: int, alpha: float) -> int:
    """``|G| = ceil((1 - alpha) N) = N - floor(alpha N)``, the sources the adversary leaves unchanged."""
    return n_sources - n_bad_sources(alpha, n_sources)


def _check_common(
    n_sources: object, m: object, delta: object, complexity: ComplexityLike
) -> tuple[int, int, float, Complexity]:
    return (
        check_int("n_sources (N)", n_sources, minimum=1),
        check_int("m (samples per source)", m, minimum=1),
        check_delta(delta),
        as_complexity(complexity),
    )


def _sqrt_log_term(numerator: float, n: int) -> float:
    """``sqrt(ln(numerator) / (2 n))``, the Hoeffding part of a uniform deviation."""
    return math.sqrt(math.log(numerator) / (2.0 * n))


def filter_threshold(n_sources: int, m: int, delta: float, complexity: ComplexityLike) -> ThresholdResult:
    """The threshold ``s = 2 Delta_m`` of the threshold-majority filter (``docs/bounds.md``, "The bounds").

    ``Delta_m = 2 Rad_m + sqrt(ln(4N/delta) / (2m))`` (union bound over the N sources, total
    probability ``delta/2``).
    """
    n_sources, m, delta, measure = _check_common(n_sources, m, delta, complexity)
    comp = 2.0 * measure.rademacher(m)
    conf = _sqrt_log_term(4.0 * n_sources / delta, m)
    delta_m = comp + conf
    return ThresholdResult(
        s=2.0 * delta_m,
        delta_m=delta_m,
        complexity=comp,
        confidence=conf,
        n_sources=n_sources,
        m=m,
        delta=delta,
        complexity_measure=str(measure),
    )


def theory_threshold(delta: float, complexity: ComplexityLike) -> Callable[[int, np.ndarray], float]:
    """``(N, sizes) -> s``: the theory's threshold in the form the filtering rules accept as ``threshold=``.

    Sources of unequal size use the smallest one, ``m = min(sizes)``: ``Delta_m`` falls with ``m``,
    so the threshold stays large enough for every clean pair.
    """
    delta = check_delta(delta)
    measure = as_complexity(complexity)

    def threshold(n_sources: int, sizes: np.ndarray) -> float:
        return filter_threshold(n_sources, int(np.min(sizes)), delta, measure).s

    return threshold


def _inputs(n_sources: int | None, m: int, alpha: float | None, delta: float, measure: Complexity) -> dict[str, object]:
    named = {"N": n_sources, "m": m, "alpha": alpha, "delta": delta, "complexity": str(measure)}
    return {k: v for k, v in named.items() if v is not None}


def fixed_set_bound(n_sources: int, m: int, alpha: float, delta: float, complexity: ComplexityLike) -> Bound:
    """Excess risk of the filter + pooled ERM against a fixed-set adversary (``docs/bounds.md``, "The bounds").

    .. math::

        4\\,\\mathrm{Rad}_{|G| m} + 2\\sqrt{\\ln(4/\\delta) / (2|G| m)} + 6\\alpha\\Delta_m,
        \\qquad |G| = \\lceil (1-\\alpha) N \\rceil
    """
    n_sources, m, delta, measure = _check_common(n_sources, m, delta, complexity)
    alpha = check_alpha(alpha)
    n_clean = n_clean_sources(n_sources, alpha)
    threshold = filter_threshold(n_sources, m, delta, measure)
    return Bound(
        name="fixed-set",
        equation="docs/bounds.md, fixed-set",
        complexity=4.0 * measure.rademacher(n_clean * m),
        confidence=2.0 * _sqrt_log_term(4.0 / delta, n_clean * m),
        corruption=6.0 * alpha * threshold.delta_m,
        inputs=_inputs(n_sources, m, alpha, delta, measure),
        details={"Delta_m": threshold.delta_m, "s": threshold.s, "|G|": n_clean},
    )


def adaptive_set_bound(n_sources: int, m: int, alpha: float, delta: float, complexity: ComplexityLike) -> Bound:
    """Excess risk of the filter + pooled ERM against an adaptive-set adversary (``docs/bounds.md``, "The bounds").

    .. math::

        \\frac{2}{1-\\alpha}\\Big(2\\,\\mathrm{Rad}_{N m} + \\sqrt{\\ln(4/\\delta) / (2 N m)}\\Big)
        + 2\\alpha\\Big(3 + \\frac{1}{1-\\alpha}\\Big)\\Delta_m
    """
    n_sources, m, delta, measure = _check_common(n_sources, m, delta, complexity)
    alpha = check_alpha(alpha)
    threshold = filter_threshold(n_sources, m, delta, measure)
    scale = 2.0 / (1.0 - alpha)
    return Bound(
        name="adaptive-set",
        equation="docs/bounds.md, adaptive-set",
        complexity=scale * 2.0 * measure.rademacher(n_sources * m),
        confidence=scale * _sqrt_log_term(4.0 / delta, n_sources * m),
        corruption=2.0 * alpha * (3.0 + 1.0 / (1.0 - alpha)) * threshold.delta_m,
        inputs=_inputs(n_sources, m, alpha, delta, measure),
        details={"Delta_m": threshold.delta_m, "s": threshold.s},
    )


def multisource_bound(
    n_sources: int, m: int, alpha: float, delta: float, complexity: ComplexityLike, adversary: str = "fixed"
) -> Bound:
    """:func:`fixed_set_bound` or :func:`adaptive_set_bound` by name (``adversary`` in ``ADVERSARY_SELECTIONS``)."""
    if adversary == "fixed":
        return fixed_set_bound(n_sources, m, alpha, delta, complexity)
    if adversary == "adaptive":
        return adaptive_set_bound(n_sources, m, alpha, delta, complexity)
    raise ValueError(f"adversary must be one of {ADVERSARY_SELECTIONS}, got {adversary!r}")


def single_source_bound(m: int, delta: float, complexity: ComplexityLike) -> Bound:
    """ERM on one clean source alone: ``2 U_m(delta) = 4 Rad_m + 2 sqrt(ln(2/delta) / (2m))`` (``docs/bounds.md``)."""
    _, m, delta, measure = _check_common(1, m, delta, complexity)
    return Bound(
        name="single clean source",
        equation="docs/bounds.md, baselines",
        complexity=4.0 * measure.rademacher(m),
        confidence=2.0 * _sqrt_log_term(2.0 / delta, m),
        corruption=0.0,
        inputs=_inputs(None, m, None, delta, measure),
    )


def oracle_bound(n_sources: int, m: int, alpha: float, delta: float, complexity: ComplexityLike) -> Bound:
    """ERM on the clean sources only (an oracle knows G): ``2 U_{|G| m}(delta/2)`` (``docs/bounds.md``, baselines).

    It keeps the fixed-set bound's ``delta/2`` so that it equals that bound minus its corruption term.
    """
    n_sources, m, delta, measure = _check_common(n_sources, m, delta, complexity)
    alpha = check_alpha(alpha)
    n_clean = n_clean_sources(n_sources, alpha)
    return Bound(
        name="clean-only oracle",
        equation="docs/bounds.md, baselines",
        complexity=4.0 * measure.rademacher(n_clean * m),
        confidence=2.0 * _sqrt_log_term(4.0 / delta, n_clean * m),
        corruption=0.0,
        inputs=_inputs(n_sources, m, alpha, delta, measure),
        details={"|G|": n_clean},
    )


def pooled_erm_bound(n_sources: int, m: int, alpha: float, delta: float, complexity: ComplexityLike) -> Bound:
    """ERM on all N sources, no filtering: ``2 U_{N m}(delta) + 2 alpha`` (derived in the module docstring).

    Holds for both adversaries. The corruption term ``2 alpha`` is the bound's floor as ``m -> inf``
    (reported as ``details["floor (m -> inf)"]``): pooling never gets rid of the bad sources.
    """
    n_sources, m, delta, measure = _check_common(n_sources, m, delta, complexity)
    alpha = check_alpha(alpha)
    return Bound(
        name="pooled ERM (no filter)",
        equation="docs/bounds.md, baselines",
        complexity=4.0 * measure.rademacher(n_sources * m),
        confidence=2.0 * _sqrt_log_term(2.0 / delta, n_sources * m),
        corruption=2.0 * alpha,
        inputs=_inputs(n_sources, m, alpha, delta, measure),
        details={"floor (m -> inf)": 2.0 * alpha},
    )
