"""Tables from a store's rows: mean test error +- standard error per rule x attack x number of bad sources.

The alpha = 0 grid points (attack "none") are the n_bad = 0 column of every attack's table and figure.
Filter rows carry the theory's certificate (:mod:`multisource.runner.certificates`): the report shows
their measured error beside the fixed- and adaptive-set bounds (:func:`bounds_table`).
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multisource.runner.spec import RULE_KINDS

ORACLE, NAIVE = "clean_only", "all_data"


@dataclass(frozen=True)
class Cell:
    """Mean over seeds of one (experiment, attack, n_bad, rule) group."""

    experiment: str
    attack: str
    n_bad: int
    rule: str
    kind: str
    n_seeds: int
    error_mean: float
    error_se: float
    precision_mean: float | None
    recall_mean: float | None
    bound_fixed: float | None = None
    bound_adaptive: float | None = None
    bound_inputs: str | None = None


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def summarize(rows: list[dict[str, Any]]) -> list[Cell]:
    """Group rows by (experiment, attack, n_bad, rule); s.e. = sample std / sqrt(#seeds) (NaN for one seed).

    An experiment name stored with several settings (its spec changed between runs) is reported as
    ``name@<setting hash>`` per setting, so numbers of different settings are never averaged together.
    """
    settings = defaultdict(set)
    for row in rows:
        settings[row["experiment"]].add(row["setting"])
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        name = row["experiment"]
        if len(settings[name]) > 1:
            name = f"{name}@{row['setting'][:8]}"
        groups[(name, row["attack"], row["n_bad"], row["rule"], row["kind"])].append(row)
    cells = []
    for (experiment, attack, n_bad, rule, kind), group in groups.items():
        errors = np.array([r["error"] for r in group])
        se = float(errors.std(ddof=1) / math.sqrt(len(errors))) if len(errors) > 1 else math.nan
        cells.append(
            Cell(
                experiment,
                attack,
                n_bad,
                rule,
                kind,
                len(group),
                float(errors.mean()),
                se,
                _mean([r["precision"] for r in group]),
                _mean([r["recall"] for r in group]),
                _mean([r.get("bound_fixed") for r in group]),
                _mean([r.get("bound_adaptive") for r in group]),
                group[0].get("bound_inputs"),
            )
        )
    return sorted(cells, key=lambda c: (c.experiment, c.attack, c.n_bad, RULE_KINDS.index(c.kind), c.rule))


def attack_views(cells: list[Cell]) -> dict[tuple[str, str], list[Cell]]:
    """Per (experiment, attack): its cells plus the experiment's no-attack cells (n_bad = 0)."""
    views: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    clean: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        (clean[cell.experiment] if cell.attack == "none" else views[(cell.experiment, cell.attack)]).append(cell)
    for (experiment, _), view in views.items():
        view.extend(clean[experiment])
    if not views:  # only alpha = 0 was run
        views = {(exp, "none"): view for exp, view in clean.items()}
    return dict(sorted(views.items()))


def rules_in_order(view: list[Cell]) -> list[tuple[str, str]]:
    return sorted({(c.kind, c.rule) for c in view}, key=lambda kr: (RULE_KINDS.index(kr[0]), kr[1]))


def _fmt_error(cell: Cell | None) -> str:
    if cell is None:
        return ""
    se = "n/a" if math.isnan(cell.error_se) else f"{100 * cell.error_se:.1f}"
    return f"{100 * cell.error_mean:.1f} ± {se}"


def _wide_table(view: list[Cell], fmt: Callable[[Cell | None], str], kinds: tuple[str, ...]) -> list[str]:
    n_bads = sorted({c.n_bad for c in view})
    index = {(c.rule, c.n_bad): c for c in view}
    lines = ["| rule | " + " | ".join(str(n) for n in n_bads) + " |", "|---" * (len(n_bads) + 1) + "|"]
    for kind, rule in rules_in_order(view):
        if kind in kinds:
            lines.append(f"| {rule} | " + " | ".join(fmt(index.get((rule, n))) for n in n_bads) + " |")
    return lines


def best_rule_table(cells: list[Cell]) -> list[str]:
    """Per attack and n_bad > 0: the discrepancy filter with the lowest mean error against all data and the oracle."""
    lines = [
        "| experiment | attack | n_bad | best filter | its error (%) | all_data (%) | clean_only (%) "
        "| below all_data | gap to oracle (points) |",
        "|---" * 9 + "|",
    ]
    by_point: dict[tuple[str, str, int], dict[str, Cell]] = defaultdict(dict)
    for cell in cells:
        if cell.n_bad > 0:
            by_point[(cell.experiment, cell.attack, cell.n_bad)][cell.rule] = cell
    for (experiment, attack, n_bad), group in sorted(by_point.items()):
        filters = [c for c in group.values() if c.kind == "filter"]
        if not filters:
            continue
        best = min(filters, key=lambda c: c.error_mean)
        naive, oracle = group.get(NAIVE), group.get(ORACLE)
        below = "" if naive is None else ("yes" if best.error_mean < naive.error_mean else "no")
        gap = "" if oracle is None else f"{100 * (best.error_mean - oracle.error_mean):+.1f}"
        lines.append(
            f"| {experiment} | {attack} | {n_bad} | {best.rule} | {_fmt_error(best)} | {_fmt_error(naive)} "
            f"| {_fmt_error(oracle)} | {below} | {gap} |"
        )
    return lines


def bounds_table(view: list[Cell]) -> list[str]:
    """Markdown lines: each filter's measured test error beside the theory's bounds at each n_bad.

    No lines when no filter row has bounds.

    The bounds are on the excess risk ``R(h_hat) - min_h R(h)`` with probability ``1 - delta``; the
    complexity and delta used are listed under the table (the row's ``bound_inputs``).
    """
    cells = sorted((c for c in view if c.bound_fixed is not None), key=lambda c: (c.rule, c.n_bad))
    if not cells:
        return []
    lines = [
        "Measured test error beside the theory's excess-risk certificates (docs/bounds.md).",
        "",
        "| rule | n_bad | error (%) | fixed-set bound | adaptive-set bound |",
        "|---" * 5 + "|",
    ]
    for c in cells:
        lines.append(
            f"| {c.rule} | {c.n_bad} | {_fmt_error(c)} | {c.bound_fixed:.3g} | "
            f"{'' if c.bound_adaptive is None else f'{c.bound_adaptive:.3g}'} |"
        )
    used = sorted({_bound_setting(c.bound_inputs) for c in cells})
    return [*lines, "", *(f"Bounds computed with {u}." for u in used), ""]


def _bound_setting(inputs: str | None) -> str:
    named = json.loads(inputs) if inputs else {}
    return f"delta = {named.get('delta')}, complexity {named.get('complexity')}, m = {named.get('m')}"


def markdown_report(cells: list[Cell]) -> str:
    """The report as markdown: an error table and a precision/recall table per attack, then the best-rule table."""
    out = []
    for (experiment, attack), view in attack_views(cells).items():
        seeds = max(c.n_seeds for c in view)
        out += [
            f"## {experiment}: {attack}",
            "",
            "Test error (%) by number of corrupted sources (columns), "
            f"mean ± s.e. over {seeds} seed{'s' if seeds > 1 else ''}.",
            "",
        ]
        out += [*_wide_table(view, _fmt_error, RULE_KINDS), ""]
        out += ["Filter precision / recall (removed sources as a detector of the bad ones).", ""]

        def fmt_pr(cell: Cell | None) -> str:
            return (
                ""
                if cell is None or cell.precision_mean is None
                else f"{cell.precision_mean:.2f} / {cell.recall_mean:.2f}"
            )

        out += [*_wide_table(view, fmt_pr, ("baseline", "filter")), ""]
        out += bounds_table(view)
    out += ["## Best discrepancy filter against all data and the clean-only oracle", "", *best_rule_table(cells)]
    return "\n".join(out) + "\n"


def write_csv(cells: list[Cell], path: str | Path) -> Path:
    """The long-format summary, one line per cell."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(Cell.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(c) for c in cells)
    return path


def _last_line(text: str) -> str:
    """The last non-empty line of a traceback (the exception), safe inside a markdown table cell."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "").replace("|", "\\|")


def failure_table(failures: list[dict[str, Any]]) -> list[str]:
    """Markdown lines listing failed grid points (``Store.failures``): where, which rules, attempts, the exception.

    The full tracebacks stay in the store's ``failures`` table (``docs/cluster.md``).
    """
    if not failures:
        return []
    lines = [
        "## Failed grid points",
        "",
        f"{len(failures)} grid point{'s' if len(failures) > 1 else ''} raised on every attempt "
        "(full tracebacks in the store's failures table).",
        "",
        "| experiment | attack | alpha | seed | rules | attempts | last attempt (UTC) | error |",
        "|---" * 8 + "|",
    ]
    for failure in failures:
        point = json.loads(failure["point"])
        rules = ", ".join(json.loads(failure["rules"]))
        lines.append(
            f"| {failure['experiment']} | {point['attack']} | {point['alpha']} | {point['seed']} | {rules} "
            f"| {failure['attempts']} | {failure['last_time']} | {_last_line(failure['traceback'])} |"
        )
    return [*lines, ""]
