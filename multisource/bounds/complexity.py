"""Complexity measures that stand in for ``Rad_n`` in every bound (``docs/bounds.md``, "Complexity measures").

Every measure here answers ``rademacher(n)``: the Rademacher complexity of the **loss class**
``l o H`` on ``n`` samples, which is what the bounds of :mod:`multisource.bounds.theorems` need.
For the 0-1 loss and labels in {-1, +1}, ``Rad_n(l o H) = Rad_n(H) / 2`` (``docs/bounds.md``, "Setting and
notation"), so a value measured on the hypothesis class ``H`` itself (e.g. by
:func:`multisource.bounds.rademacher.monte_carlo_rademacher`) must be halved before it is used here;
:func:`as_complexity` does that for an :class:`~multisource.bounds.rademacher.Estimate`.

For a loss with values in [0, 1], ``0 <= Rad_n(l o H) <= 1``; every measure checks its values lie
there, so a VC dimension passed as a float (``10.0``) is caught instead of read as a Rademacher value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from multisource.bounds.rademacher import Estimate
from multisource.utils.validation import check_int, check_real


@runtime_checkable
class Complexity(Protocol):
    """Anything that gives ``Rad_n(l o H)``, the loss-class Rademacher complexity on ``n`` samples."""

    def rademacher(self, n: int) -> float:
        """``Rad_n(l o H)`` for ``n >= 1`` samples, a number in [0, 1]."""
        ...


def check_rademacher_value(name: str, value: object) -> float:
    """A loss-class Rademacher complexity: a finite real in [0, 1] (loss values lie in [0, 1])."""
    return check_real(name, value, low=0.0, high=1.0)


@dataclass(frozen=True)
class VCComplexity:
    """VC plug-in for the 0-1 loss: Massart's finite-class lemma with Sauer's lemma.

    .. math::

        \\mathrm{Rad}_n(l \\circ H) = \\tfrac12 \\mathrm{Rad}_n(H)
        \\le \\tfrac12 \\sqrt{2 \\ln \\Pi_H(n) / n} = \\sqrt{\\ln \\Pi_H(n) / (2n)},
        \\qquad \\ln \\Pi_H(n) \\le \\min(n \\ln 2,\\; d \\ln(e n / d)) \\;(n > d),\\; n \\ln 2 \\;(n \\le d)

    (Mohri et al., Foundations of ML, Cor. 3.8 and 3.18). For ``n > d`` with the Sauer term the
    smaller one this is the familiar ``sqrt(d ln(e n / d) / (2 n))``. The value is also capped at the
    trivial ``1/2`` (``|h| <= 1``), so it never exceeds what a +-1 class can have.
    It is non-increasing in ``n``, which the sample-complexity root-finders rely on.
    """

    d: int

    def __post_init__(self) -> None:
        check_int("d (VC dimension)", self.d, minimum=1)

    def rademacher(self, n: int) -> float:
        n = check_int("n", n, minimum=1)
        log_growth = n * math.log(2.0)
        if n > self.d:
            log_growth = min(log_growth, self.d * math.log(math.e * n / self.d))
        return min(0.5, math.sqrt(log_growth / (2.0 * n)))

    def __str__(self) -> str:
        return f"VC dimension d={self.d} (Massart + Sauer)"


@dataclass(frozen=True)
class RademacherValue:
    """A fixed loss-class Rademacher complexity ``r`` used for every ``n``.

    ``Rad_n`` is non-increasing in ``n``, so a value measured on ``n0`` samples upper-bounds the
    complexity at any ``n >= n0`` (it is conservative on pooled data of ``N m`` samples).
    """

    r: float

    def __post_init__(self) -> None:
        check_rademacher_value("r (Rademacher complexity of the loss class)", self.r)

    def rademacher(self, n: int) -> float:
        check_int("n", n, minimum=1)
        return float(self.r)

    def __str__(self) -> str:
        return f"Rademacher value r={self.r:.4g}"


@dataclass(frozen=True)
class RademacherCallable:
    """A user function ``n -> Rad_n(l o H)``; every value it returns is checked to lie in [0, 1].

    The sample-complexity solvers assume it is non-increasing in ``n`` (true of the distributional
    Rademacher complexity); a function that is not gives inversions without that guarantee.
    """

    fn: Callable[[int], float]

    def __post_init__(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"fn must be a callable n -> Rad_n, got {type(self.fn).__name__}")

    def rademacher(self, n: int) -> float:
        n = check_int("n", n, minimum=1)
        return check_rademacher_value(f"complexity callable value at n={n}", self.fn(n))

    def __str__(self) -> str:
        return f"Rademacher callable {getattr(self.fn, '__name__', repr(self.fn))}"


ComplexityLike = int | float | Callable[[int], float] | Complexity | Estimate


def as_complexity(x: ComplexityLike) -> Complexity:
    """Turn what a user passes into a :class:`Complexity`.

    * an int ``d`` -> :class:`VCComplexity` (VC dimension),
    * a float ``r`` -> :class:`RademacherValue` (loss-class Rademacher value),
    * an :class:`~multisource.bounds.rademacher.Estimate` of ``Rad_S(H)`` -> ``RademacherValue(value / 2)``
      (0-1 loss: ``Rad(l o H) = Rad(H) / 2``),
    * a :class:`Complexity` -> itself,
    * any other callable ``n -> Rad_n`` -> :class:`RademacherCallable`.
    """
    if isinstance(x, bool):
        raise TypeError(
            "complexity must be a VC dimension (int), a Rademacher value (float), a callable or a Complexity, "
            f"got {x!r}"
        )
    if isinstance(x, numbers.Integral):
        return VCComplexity(int(x))
    if isinstance(x, numbers.Real):
        return RademacherValue(float(x))
    if isinstance(x, Estimate):
        return RademacherValue(x.value / 2.0)
    if isinstance(x, Complexity):
        return x
    if callable(x):
        return RademacherCallable(x)
    raise TypeError(
        "complexity must be a VC dimension (int), a Rademacher value (float), a callable n -> Rad_n "
        f"or an object with .rademacher(n), got {type(x).__name__}"
    )
