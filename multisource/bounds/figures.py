"""Bound terms and the filters' empirical excess risk against ``m``, on log axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from multisource.bounds.complexity import ComplexityLike, as_complexity
from multisource.bounds.theorems import (
    adaptive_set_bound,
    fixed_set_bound,
    oracle_bound,
    pooled_erm_bound,
    single_source_bound,
)


def plot_bound_vs_m(
    ms: Sequence[int],
    *,
    N: int,
    alpha: float,
    delta: float,
    complexity: ComplexityLike,
    empirical: Mapping[str, tuple[Sequence[int], Sequence[float]]] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Plot the bounds of :mod:`multisource.bounds.theorems` and the fixed-set bound's terms against ``m``.

    Parameters
    ----------
    ms : samples per source to evaluate (>= 1).
    N, alpha, delta, complexity : the setting, as for the bounds.
    empirical : ``rule name -> (m values, excess risks)`` measured by experiments (drawn as markers).
        Excess risks <= 0 cannot be drawn on log axes and are left out.
    path : if given, the figure is saved there as PNG.

    Returns
    -------
    matplotlib.figure.Figure
        Built without pyplot, so it works headless and leaves no global figure state.
    """
    ms = np.asarray(sorted(int(m) for m in ms))
    measure = as_complexity(complexity)
    setting = dict(n_sources=N, alpha=alpha, delta=delta, complexity=measure)
    curves = {
        "fixed-set (filter)": [fixed_set_bound(m=int(m), **setting) for m in ms],
        "adaptive-set (filter)": [adaptive_set_bound(m=int(m), **setting) for m in ms],
        "clean-only oracle": [oracle_bound(m=int(m), **setting) for m in ms],
        "single clean source": [single_source_bound(int(m), delta, measure) for m in ms],
        "pooled ERM (no filter)": [pooled_erm_bound(m=int(m), **setting) for m in ms],
    }
    fig = Figure(figsize=(10.0, 5.0))
    ax = fig.add_subplot()
    for label, bounds in curves.items():
        ax.plot(ms, [b.total for b in bounds], lw=2, label=f"{label}: total")
    fixed = curves["fixed-set (filter)"]
    for term, style in (("complexity", ":"), ("confidence", "-."), ("corruption", "--")):
        ax.plot(ms, [getattr(b, term) for b in fixed], style, color="0.4", lw=1, label=f"fixed-set: {term} term")
    ax.axhline(2 * alpha, color="C4", ls=":", lw=1, label=f"pooled-ERM floor 2 alpha = {2 * alpha:g}")
    for k, (rule, (m_values, risks)) in enumerate((empirical or {}).items()):
        m_values, risks = np.asarray(m_values, dtype=float), np.asarray(risks, dtype=float)
        positive = risks > 0
        ax.plot(m_values[positive], risks[positive], "o--", ms=5, lw=1, color=f"C{(k + 5) % 10}",
                label=f"{rule} (empirical)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("m (samples per source)")
    ax.set_ylabel("excess risk")
    ax.set_title(f"Bounds vs m: N={N}, alpha={alpha:g}, delta={delta:g}, {measure}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
