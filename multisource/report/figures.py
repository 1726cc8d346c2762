"""Figures: test error against the number of bad sources per attack, and bound terms against ``m``."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from multisource.bounds import (
    adaptive_set_bound,
    as_complexity,
    fixed_set_bound,
    oracle_bound,
    pooled_erm_bound,
    single_source_bound,
)
from multisource.bounds.complexity import ComplexityLike
from multisource.report.tables import Cell, attack_views, rules_in_order


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
    grid = sorted(int(m) for m in ms)
    measure = as_complexity(complexity)
    curves = {
        "fixed-set (filter)": [fixed_set_bound(N, m, alpha, delta, measure) for m in grid],
        "adaptive-set (filter)": [adaptive_set_bound(N, m, alpha, delta, measure) for m in grid],
        "clean-only oracle": [oracle_bound(N, m, alpha, delta, measure) for m in grid],
        "single clean source": [single_source_bound(m, delta, measure) for m in grid],
        "pooled ERM (no filter)": [pooled_erm_bound(N, m, alpha, delta, measure) for m in grid],
    }
    fig = Figure(figsize=(10.0, 5.0))
    ax = fig.add_subplot()
    for label, bounds in curves.items():
        ax.plot(grid, [b.total for b in bounds], lw=2, label=f"{label}: total")
    fixed = curves["fixed-set (filter)"]
    for term, style in (("complexity", ":"), ("confidence", "-."), ("corruption", "--")):
        ax.plot(grid, [getattr(b, term) for b in fixed], style, color="0.4", lw=1, label=f"fixed-set: {term} term")
    ax.axhline(2 * alpha, color="C4", ls=":", lw=1, label=f"pooled-ERM floor 2 alpha = {2 * alpha:g}")
    for k, (rule, (m_values, risks)) in enumerate((empirical or {}).items()):
        m_arr, risk_arr = np.asarray(m_values, dtype=float), np.asarray(risks, dtype=float)
        positive = risk_arr > 0
        ax.plot(
            m_arr[positive],
            risk_arr[positive],
            "o--",
            ms=5,
            lw=1,
            color=f"C{(k + 5) % 10}",
            label=f"{rule} (empirical)",
        )
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


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def error_figures(cells: list[Cell], out_dir: str | Path) -> list[Path]:
    """One PNG per (experiment, attack): mean test error +- s.e. against the number of bad sources, a line per rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    styles = {"baseline": "--", "filter": "-", "parameter_aggregator": ":", "prediction_aggregator": "-."}
    for (experiment, attack), view in attack_views(cells).items():
        fig, ax = plt.subplots(figsize=(8.0, 4.2))
        rules = rules_in_order(view)
        colors = plt.get_cmap("tab20")(np.linspace(0, 1, 20))
        for index, (kind, rule) in enumerate(rules):
            series = sorted((c for c in view if c.rule == rule), key=lambda c: c.n_bad)
            # A small horizontal dodge keeps rules with equal errors (e.g. every perfect filter) visible.
            dodge = 0.3 * (index / max(1, len(rules) - 1) - 0.5)
            x = [c.n_bad + dodge for c in series]
            y = [100 * c.error_mean for c in series]
            se = [0.0 if math.isnan(c.error_se) else 100 * c.error_se for c in series]
            ax.errorbar(
                x,
                y,
                yerr=se,
                linestyle=styles[kind],
                marker="o",
                markersize=3,
                capsize=2,
                label=rule,
                color=colors[index % len(colors)],
            )
        ax.set_xlabel("number of corrupted sources")
        ax.set_ylabel("test error (%)")
        ax.set_title(f"{experiment}: {attack}")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        path = out_dir / f"{_slug(experiment)}_{_slug(attack)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
