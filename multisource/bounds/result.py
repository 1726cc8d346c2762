"""Frozen results of the bound calculators: every term named, the inputs kept, a readable table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _format_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _table(rows: list[tuple[str, float]]) -> list[str]:
    width = max([12] + [len(name) for name, _ in rows])
    return [
        f"  {name:<{width}} {value:10d}" if isinstance(value, int) else f"  {name:<{width}} {value:10.4f}"
        for name, value in rows
    ]


@dataclass(frozen=True)
class Bound:
    """An excess-risk bound ``total = complexity + confidence + corruption`` with its inputs.

    Attributes
    ----------
    name : which bound (e.g. ``"fixed-set"``), with ``equation`` naming the formula it implements.
    complexity : the Rademacher-complexity term.
    confidence : the ``sqrt(ln(1/delta) / n)`` concentration term.
    corruption : the price of the adversary (0 for bounds on clean data).
    total : their sum, the bound on ``R(h_hat) - min_h R(h)`` that holds with probability ``>= 1 - delta``.
    inputs : the arguments (``n_sources``, ``m``, ``alpha``, ``delta``, ``complexity`` ...).
    details : intermediate quantities (``delta_m``, ``n_clean``, the floor as ``m -> inf`` ...).
    """

    name: str
    equation: str
    complexity: float
    confidence: float
    corruption: float
    inputs: Mapping[str, object]
    details: Mapping[str, float] = field(default_factory=dict)
    total: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))
        object.__setattr__(self, "total", float(self.complexity + self.confidence + self.corruption))

    def __str__(self) -> str:
        inputs = ", ".join(f"{k}={_format_value(v)}" for k, v in self.inputs.items())
        lines = [f"{self.name} bound ({self.equation})", f"  inputs: {inputs}"]
        lines += _table(
            [("complexity", self.complexity), ("confidence", self.confidence), ("corruption", self.corruption)]
        )
        lines.append("  " + "-" * 23)
        lines += _table([("total", self.total)])
        lines += _table(list(self.details.items()))
        return "\n".join(lines)


@dataclass(frozen=True)
class ThresholdResult:
    """The filter threshold ``s = 2 Delta_m`` and the per-source deviation ``Delta_m`` (``docs/bounds.md``).

    ``Delta_m = complexity + confidence = 2 Rad_m + sqrt(ln(4N/delta) / (2m))``: with probability
    ``>= 1 - delta/2`` every clean source has ``sup_h |R_{S_i}(h) - R(h)| <= Delta_m``, so every
    clean pair has ``disc <= s``.
    """

    s: float
    delta_m: float
    complexity: float
    confidence: float
    n_sources: int
    m: int
    delta: float
    complexity_measure: str

    def __str__(self) -> str:
        lines = [
            f"filter threshold (docs/bounds.md): N={self.n_sources}, m={self.m}, delta={self.delta:g}, "
            f"{self.complexity_measure}",
        ]
        lines += _table(
            [("2 Rad_m", self.complexity), ("sqrt term", self.confidence), ("Delta_m", self.delta_m), ("s", self.s)]
        )
        return "\n".join(lines)


def term_table(bounds: list[Bound]) -> str:
    """One row per bound: its name and its complexity, confidence, corruption and total terms."""
    if isinstance(bounds, str) or not all(isinstance(b, Bound) for b in bounds):
        raise TypeError(f"bounds must be a list of Bound results, got {bounds!r}")
    if not bounds:
        raise ValueError("bounds must hold at least one Bound, got an empty list")
    width = max(len(b.name) for b in bounds)
    header = f"{'bound':<{width}}  {'complexity':>10}  {'confidence':>10}  {'corruption':>10}  {'total':>8}"
    rows = [
        f"{b.name:<{width}}  {b.complexity:10.4f}  {b.confidence:10.4f}  {b.corruption:10.4f}  {b.total:8.4f}"
        for b in bounds
    ]
    return "\n".join([header, "-" * len(header), *rows])
