"""What no learner can beat: single-source noise floors and the multi-source ``Omega(alpha / sqrt(m))`` rate.

* Malicious noise (Kearns & Li 1993): a rate ``beta`` of adversarial samples makes accuracy
  ``eps < beta / (1 - beta)`` impossible.
* Nasty noise (Bshouty, Eiron & Kushilevitz 2002): a rate ``eta`` gives the floor ``2 eta``.
  Neither floor falls as the sample grows: one source cannot be cleaned by more data.
* Multi-source lower bound: Konstantinov et al. (ICML 2020) state the rate ``Omega(alpha / sqrt(m))``;
  the constant of :func:`multisource_lower_bound` comes from our own two-point argument
  (``docs/bounds.md``, "The bounds": lower bound with an explicit constant).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from scipy.stats import binom

from multisource.utils.validation import check_alpha, check_delta, check_int, check_real, n_bad_sources


def malicious_noise_floor(beta: float) -> float:
    """Kearns-Li floor ``beta / (1 - beta)`` on the error under malicious noise of rate ``beta`` in [0, 1)."""
    beta = check_real("beta (malicious noise rate)", beta, low=0.0, high=1.0, high_open=True)
    return beta / (1.0 - beta)


def nasty_noise_floor(eta: float) -> float:
    """Bshouty-Eiron-Kushilevitz floor ``2 eta`` on the error under nasty noise of rate ``eta`` in [0, 1/2]."""
    eta = check_real("eta (nasty noise rate)", eta, low=0.0, high=0.5)
    return 2.0 * eta


@dataclass(frozen=True)
class LowerBound:
    """A minimax lower bound: every learner has excess risk ``>= excess`` with probability ``> delta``
    for some distribution and adaptive-set adversary.

    ``excess = 2 gamma``; ``tv`` is the Pinsker bound on the total variation between one source's
    sample under the two hypotheses; ``rate_constant = excess * sqrt(m) / alpha`` (tends to 1 as
    ``N -> inf`` for small ``alpha / sqrt(m)``).
    """

    excess: float
    gamma: float
    tv: float
    rate_constant: float
    inputs: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))

    def __str__(self) -> str:
        inputs = ", ".join(f"{k}={v}" for k, v in self.inputs.items())
        return (
            f"multi-source lower bound (derived two-point argument): {inputs}\n"
            f"  excess risk >= {self.excess:.4f}  (gamma={self.gamma:.4g}, TV <= {self.tv:.4g}, "
            f"excess*sqrt(m)/alpha = {self.rate_constant:.3f})"
        )


def _tv_bound(gamma: float, m: int) -> float:
    """Pinsker: ``TV(Ber(1/2+g)^m, Ber(1/2-g)^m) <= sqrt(m KL / 2) = sqrt(m g ln((1+2g)/(1-2g)))``."""
    return min(1.0, math.sqrt(m * gamma * math.log((1.0 + 2.0 * gamma) / (1.0 - 2.0 * gamma))))


def multisource_lower_bound(n_sources: int, m: int, alpha: float, delta: float, *, tol: float = 1e-12) -> LowerBound:
    """The ``Omega(alpha / sqrt(m))`` lower bound with an explicit constant (our derivation).

    Construction: one input point, labels in {0, 1}, ``H`` = the two constant classifiers, and
    ``D_+-`` with ``P(y = 1) = 1/2 +- gamma``; picking the wrong constant costs ``2 gamma``.
    Couple every clean source drawn from ``D_+^m`` with one from ``D_-^m`` so that they differ with
    probability ``tau = TV(D_+^m, D_-^m)``. An adaptive-set adversary with ``n_bad = floor(alpha N)``
    sources replaces every source that differs from its partner whenever at most ``n_bad`` differ
    (probability ``1 - eta``, ``eta = P[Bin(N, tau) > n_bad]``): the learner then sees exactly a clean
    sample of ``D_-``. So if a learner is right with probability ``a`` on clean ``D_-`` data, it
    is wrong with probability ``>= a - eta`` under ``D_+`` with this adversary, and
    ``max(1 - a, a - eta) >= (1 - eta) / 2``. Whenever ``eta < 1 - 2 delta``, no learner reaches
    excess risk ``< 2 gamma`` with probability ``>= 1 - delta``.

    This returns the largest such ``gamma <= 1/4`` (bisection; ``tau`` bounded by Pinsker, see
    :func:`_tv_bound`). For large ``N`` the condition is ``tau < alpha``, i.e. ``2 gamma sqrt(m) ~ alpha``:
    ``excess ~ alpha / sqrt(m)``.

    Parameters
    ----------
    n_sources, m, alpha : the setting (``alpha < 1/2``).
    delta : the failure probability a learner would be allowed, in (0, 1/2).
    tol : absolute tolerance of the bisection on ``gamma``.
    """
    n_sources = check_int("n_sources (N)", n_sources, minimum=1)
    m = check_int("m (samples per source)", m, minimum=1)
    alpha = check_alpha(alpha)
    delta = check_delta(delta)
    tol = check_real("tol", tol, low=0.0, low_open=True)  # 0 or NaN would never end the bisection
    if delta >= 0.5:
        raise ValueError(
            f"delta must lie in (0, 0.5) for a lower bound (failing with probability 1/2 is trivial), got {delta}"
        )
    n_bad = n_bad_sources(alpha, n_sources)

    def indistinguishable(gamma: float) -> bool:
        return binom.sf(n_bad, n_sources, _tv_bound(gamma, m)) < 1.0 - 2.0 * delta

    lo, hi = 0.0, 0.25
    if indistinguishable(hi):
        lo = hi
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if indistinguishable(mid) else (lo, mid)
    return LowerBound(
        excess=2.0 * lo,
        gamma=lo,
        tv=_tv_bound(lo, m),
        rate_constant=2.0 * lo * math.sqrt(m) / alpha if alpha > 0 else math.nan,
        inputs={"N": n_sources, "m": m, "alpha": alpha, "delta": delta},
    )
