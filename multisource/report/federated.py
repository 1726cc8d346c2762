"""The final-accuracy table of a store's federated cells (``mode = "federated"`` specs)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np


def federated_table(cells: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: per experiment, final test accuracy (%) mean ± s.e. over seeds, rule x (attack, n_bad).

    ``cells`` are :meth:`multisource.runner.Store.federated_cells` rows; a skipped cell (its rule's
    condition fails) shows "n/a". The best mean of each column is in bold.
    """
    lines: list[str] = []
    by_experiment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        by_experiment[cell["experiment"]].append(cell)
    for experiment, group in by_experiment.items():
        rules = list(dict.fromkeys(c["rule"] for c in group))
        columns = sorted({(c["n_bad"], c["attack"]) for c in group})
        values: dict[tuple, list[float]] = defaultdict(list)
        for c in group:
            if c["status"] == "ok":
                values[c["rule"], c["n_bad"], c["attack"]].append(c["final_accuracy"])
        best = {
            col: max(
                (np.mean(values[(r, col[0], col[1])]) for r in rules if values.get((r, col[0], col[1]))), default=None
            )
            for col in columns
        }
        lines += [
            f"## {experiment}: final test accuracy (%)",
            "",
            "| rule | " + " | ".join(f"{a} (n_bad {n})" for n, a in columns) + " |",
            "|---|" + "---|" * len(columns),
        ]
        for rule in rules:
            entries = []
            for col in columns:
                acc = values.get((rule, col[0], col[1]))
                if not acc:
                    entries.append("n/a")
                    continue
                mean = float(np.mean(acc))
                se = float(np.std(acc, ddof=1) / math.sqrt(len(acc))) if len(acc) > 1 else math.nan
                text = f"{100 * mean:.1f}" + ("" if math.isnan(se) else f" ± {100 * se:.1f}")
                entries.append(f"**{text}**" if mean >= (best[col] or 0.0) - 1e-12 else text)
            lines.append(f"| {rule} | " + " | ".join(entries) + " |")
        lines.append("")
    return lines
