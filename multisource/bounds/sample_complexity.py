"""Sample complexity: invert a bound for the samples per source ``m`` or the number of sources ``N``.

Both solvers return the smallest integer that meets the target: the bound there is ``<= epsilon``
and one below it is ``> epsilon``.

* In ``m`` every bound of :mod:`multisource.bounds.theorems` is non-increasing (each term is, for
  a complexity measure non-increasing in ``n``; the property tests check it), so
  :func:`required_m` is a doubling search followed by an integer bisection.
* In ``N`` the bounds are **not** monotone: the statistical part (``complexity + confidence``)
  falls with ``N`` but the corruption term grows like ``sqrt(ln N)`` through the union bound in
  ``Delta_m``. :func:`required_n_sources` therefore uses only that split: if every ``N' < N0`` fails,
  every ``N' >= N0`` with ``stat(N') + corruption(N0) > epsilon`` fails too, because the corruption
  term cannot fall. A bisection on that monotone predicate moves ``N0`` up until ``N0`` itself meets
  the target (then it is the smallest), or until the corruption term alone exceeds ``epsilon``
  (then no ``N`` does: the target lies below the floor for that ``m``).
"""

from __future__ import annotations

from collections.abc import Callable

from multisource.bounds.result import Bound
from multisource.utils.validation import check_int, check_real

BoundFunction = Callable[..., Bound]


def _smallest_true(predicate: Callable[[int], bool], lo: int, hi: int) -> int:
    """Smallest integer in [lo, hi] where a monotone (False...False True...True) predicate holds; ``hi`` must hold."""
    while lo < hi:
        mid = (lo + hi) // 2
        if predicate(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _first_true_by_doubling(predicate: Callable[[int], bool], start: int, limit: int) -> int | None:
    """Smallest n in [start, limit] where a monotone predicate holds, or None if it fails at ``limit``."""
    hi = start
    while not predicate(hi):
        if hi >= limit:
            return None
        hi = min(2 * hi, limit)
    return _smallest_true(predicate, max(start, hi // 2), hi)


def _check_target(bound: object, epsilon: object) -> float:
    """``epsilon`` > 0 as a float; ``bound`` must be a bound function."""
    epsilon = check_real("epsilon", epsilon, low=0.0, low_open=True)
    if not callable(bound):
        raise TypeError(f"bound must be a bound function such as multisource_bound, got {bound!r}")
    return epsilon


def required_m(bound: BoundFunction, epsilon: float, *, m_max: int = 10**15, **inputs: object) -> int:
    """The smallest samples-per-source ``m`` with ``bound(m=m, **inputs).total <= epsilon``.

    Parameters
    ----------
    bound : a bound function taking ``m=`` (e.g. :func:`~multisource.bounds.theorems.fixed_set_bound`).
    epsilon : the target excess risk, > 0.
    m_max : the largest ``m`` tried.
    **inputs : the bound's other arguments (``n_sources``, ``alpha``, ``delta``, ``complexity``).

    Raises
    ------
    ValueError
        When even ``m = m_max`` misses the target, e.g. ``epsilon`` below the pooled-ERM floor
        ``2 alpha`` or below ``4 r`` for a fixed Rademacher value ``r``; the message gives the
        bound and its corruption term there.
    """
    epsilon = _check_target(bound, epsilon)
    m_max = check_int("m_max", m_max, minimum=1)
    m = _first_true_by_doubling(lambda k: bound(m=k, **inputs).total <= epsilon, 1, m_max)
    if m is None:
        at_max = bound(m=m_max, **inputs)
        raise ValueError(
            f"target epsilon={epsilon} is unreachable for {at_max.name}: at m={m_max} the bound is still "
            f"{at_max.total:.6g} (corruption term {at_max.corruption:.6g}, which does not vanish as m grows "
            "for this bound or complexity measure)"
        )
    return m


def required_n_sources(bound: BoundFunction, epsilon: float, *, n_max: int = 10**12, **inputs: object) -> int:
    """The smallest number of sources ``N`` with ``bound(n_sources=N, **inputs).total <= epsilon``.

    See the module docstring for why the search is exact although the bound is not monotone in ``N``.
    It assumes ``complexity + confidence`` is non-increasing and ``corruption`` non-decreasing in
    ``N``, true of the fixed-set, adaptive-set, oracle and pooled-ERM bounds.

    Raises
    ------
    ValueError
        When no ``N <= n_max`` meets the target: the corruption term alone reaches ``epsilon`` (the
        floor for this ``m``), or the statistical part does not fall below what is left.
    """
    epsilon = _check_target(bound, epsilon)
    n_max = check_int("n_max", n_max, minimum=1)

    def at(n: int) -> Bound:
        return bound(n_sources=n, **inputs)

    n0 = 1
    while True:
        floor = at(n0).corruption
        if floor >= epsilon:
            raise ValueError(
                f"target epsilon={epsilon} is unreachable for {at(n0).name}: its corruption term is "
                f"{floor:.6g} >= epsilon already at N={n0} and only grows with N (the floor for these inputs); "
                "increase m or epsilon"
            )

        def meets(n: int, floor: float = floor) -> bool:
            b = at(n)
            return b.complexity + b.confidence + floor <= epsilon

        n1 = _first_true_by_doubling(meets, n0, n_max)
        if n1 is None:
            raise ValueError(
                f"target epsilon={epsilon} is unreachable with N <= {n_max} sources for {at(n0).name} "
                "(the statistical terms do not fall below epsilon minus the corruption term)"
            )
        if n1 == n0:
            return n0
        n0 = n1
