"""KL2019-style comparisons from a store's rows: paired win/tie/loss counts, filter-quality heatmaps, error
figures that highlight a few rules, and the acceptance check of the best discrepancy-based rule.

Konstantinov & Lampert (ICML 2019, Section 4, Tables 2-3) count, per corruption and number ``n`` of
corrupted sources, whether their rule's mean error is significantly lower than a baseline's (a win),
not significantly different (a tie) or significantly higher (a loss). Their criterion is that the
``+-1`` standard-error bars do not overlap. Here the rules are compared on the same seeds (one seed
fixes the clean sources and the adversary for every rule), so the test is paired: with ``d_s`` the
error of the rule minus the baseline's at seed ``s``,

    win  if  mean(d) < -z se(d),   loss  if  mean(d) > z se(d),   tie otherwise,

``se(d) = std(d, ddof=1) / sqrt(S)`` over the ``S`` seeds and ``z = 2`` (about a 95% two-sided
test; :func:`paired_outcome`). ``test="bars"`` gives KL2019's criterion instead.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from multisource.report.tables import Cell
from multisource.utils.validation import check_real

OUTCOMES = ("win", "tie", "loss")
TESTS = ("paired", "bars")


@dataclass(frozen=True)
class Comparison:
    """A rule against a baseline in one (experiment, attack, n_bad) cell, paired over ``n_pairs`` seeds.

    ``diff_mean`` and ``diff_se`` are the mean and standard error of (rule error - baseline error);
    ``outcome`` is ``"win"`` (rule significantly lower), ``"tie"`` or ``"loss"``.
    """

    experiment: str
    attack: str
    n_bad: int
    rule: str
    baseline: str
    n_pairs: int
    diff_mean: float
    diff_se: float
    outcome: str


def paired_outcome(
    rule_errors: Sequence[float], baseline_errors: Sequence[float], *, z: float = 2.0
) -> tuple[float, float, str]:
    """``(mean, se, outcome)`` of the paired differences ``rule - baseline`` over seeds (module docstring).

    Equal differences at every seed have ``se = 0``: a non-zero mean is then a win or a loss.
    """
    z = check_real("z", z, low=0.0)
    rule, base = np.asarray(rule_errors, dtype=np.float64), np.asarray(baseline_errors, dtype=np.float64)
    if rule.shape != base.shape or rule.ndim != 1 or rule.size < 2:
        raise ValueError(
            "rule_errors and baseline_errors must be paired 1-D sequences of >= 2 seeds, "
            f"got shapes {rule.shape} and {base.shape}"
        )
    diffs = rule - base
    mean, se = float(diffs.mean()), float(diffs.std(ddof=1) / math.sqrt(diffs.size))
    outcome = "win" if mean < -z * se else "loss" if mean > z * se else "tie"
    return mean, se, ("tie" if mean == 0.0 else outcome)


def bars_outcome(rule_errors: Sequence[float], baseline_errors: Sequence[float]) -> tuple[float, float, str]:
    """KL2019's criterion: ``(mean diff, se of the diff, outcome)``, a tie when the +-1 s.e. bars overlap."""
    rule, base = np.asarray(rule_errors, dtype=np.float64), np.asarray(baseline_errors, dtype=np.float64)
    if rule.size < 2 or base.size < 2:
        raise ValueError(f"each rule needs >= 2 seeds for its error bar, got {rule.size} and {base.size}")
    se_rule, se_base = (float(e.std(ddof=1) / math.sqrt(e.size)) for e in (rule, base))
    mean = float(rule.mean() - base.mean())
    outcome = "tie" if abs(mean) <= se_rule + se_base else ("win" if mean < 0 else "loss")
    return mean, math.hypot(se_rule, se_base), outcome


def _errors_by_cell(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, dict[int, float]]]:
    """(experiment, attack, n_bad) -> rule -> seed -> error."""
    cells: dict[tuple[str, str, int], dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        cells[(row["experiment"], row["attack"], int(row["n_bad"]))][row["rule"]][int(row["seed"])] = row["error"]
    return cells


def _compare(
    where: tuple[str, str, int], rule: str, baseline: str, a: dict[int, float], b: dict[int, float], z: float, test: str
) -> Comparison:
    seeds = sorted(set(a) & set(b))
    if test == "paired":
        mean, se, outcome = paired_outcome([a[s] for s in seeds], [b[s] for s in seeds], z=z)
    else:
        mean, se, outcome = bars_outcome(list(a.values()), list(b.values()))
    return Comparison(*where, rule, baseline, len(seeds), mean, se, outcome)


def compare_rules(
    rows: Iterable[dict[str, Any]],
    baseline: str,
    *,
    rules: Sequence[str] | None = None,
    z: float = 2.0,
    test: str = "paired",
) -> list[Comparison]:
    """Every rule (or those of ``rules``) against ``baseline`` in every (experiment, attack, n_bad) cell.

    ``rows`` are a store's rows (:meth:`multisource.runner.Store.rows`); ``test`` is ``"paired"`` (over
    the seeds both rules have) or ``"bars"`` (KL2019). A cell without the baseline is skipped.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, got {test!r}")
    out = []
    for where, by_rule in sorted(_errors_by_cell(rows).items()):
        if baseline not in by_rule:
            continue
        for rule in sorted(by_rule if rules is None else set(rules) & set(by_rule)):
            if rule != baseline:
                out.append(_compare(where, rule, baseline, by_rule[rule], by_rule[baseline], z, test))
    return out


def compare_experiments(
    rows: Iterable[dict[str, Any]], experiment: str, against: str, *, z: float = 2.0
) -> list[Comparison]:
    """Each rule in ``experiment`` against the same rule in ``against``, paired by (attack, n_bad, seed).

    E.g. the adaptive adversary's rows against the fixed one's on the same clean sources: a "loss"
    means the rule's error is significantly higher under ``experiment``. The comparisons are labelled
    with ``experiment``; ``baseline`` holds ``against``.
    """
    cells = _errors_by_cell(rows)
    out = []
    for (exp, attack, n_bad), by_rule in sorted(cells.items()):
        other = cells.get((against, attack, n_bad))
        if exp != experiment or other is None:
            continue
        for rule in sorted(set(by_rule) & set(other)):
            out.append(_compare((exp, attack, n_bad), rule, against, by_rule[rule], other[rule], z, "paired"))
    return out


def outcome_counts(comparisons: Iterable[Comparison]) -> dict[str, int]:
    """How many wins, ties and losses."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for comparison in comparisons:
        counts[comparison.outcome] += 1
    return counts


def win_tie_loss_table(comparisons: Sequence[Comparison], *, rules: Sequence[str] | None = None) -> list[str]:
    """Markdown: ``wins/ties/losses`` of each rule (rows) per number of corrupted sources (columns) and in total.

    The counts add up over the experiments and attacks of ``comparisons`` (KL2019 Tables 2-3 add up
    over attributes and corruptions); cells with ``n_bad = 0`` are left out.
    """
    kept = [c for c in comparisons if c.n_bad > 0]
    n_values = sorted({c.n_bad for c in kept})
    order = list(rules) if rules is not None else sorted({c.rule for c in kept})
    lines = ["| rule | " + " | ".join(f"n = {n}" for n in n_values) + " | total |", "|---" * (len(n_values) + 2) + "|"]
    for rule in order:
        mine = [c for c in kept if c.rule == rule]
        if not mine:
            continue
        entries = [outcome_counts(c for c in mine if c.n_bad == n) for n in n_values] + [outcome_counts(mine)]
        lines.append(f"| {rule} | " + " | ".join("{win}/{tie}/{loss}".format(**e) for e in entries) + " |")
    return lines


@dataclass(frozen=True)
class Acceptance:
    """The best discrepancy-based rule against a baseline: significant losses anywhere, wins where ``n >= n_min``.

    ``passed``: no loss in any cell, and wins in more than half of the cells with ``n_bad >= n_min``.
    """

    rule: str
    baseline: str
    n_min: int
    losses: tuple[Comparison, ...]
    n_cells: int
    n_large: int
    wins_large: int

    @property
    def passed(self) -> bool:
        return not self.losses and 2 * self.wins_large > self.n_large

    def lines(self) -> list[str]:
        """The verdict as markdown lines, naming every losing cell."""
        verdict = "**met**" if self.passed else "**not met**"
        lines = [
            f"Acceptance {verdict}: the best discrepancy-based rule, `{self.rule}`, is significantly worse than "
            f"`{self.baseline}` in {len(self.losses)} of {self.n_cells} (data set, adversary, corruption, n) cells, "
            f"and wins {self.wins_large} of the {self.n_large} cells with n >= {self.n_min} "
            f"({'a majority' if 2 * self.wins_large > self.n_large else 'not a majority'}).",
        ]
        if self.losses:
            lines += ["", "Cells where it loses:", ""]
            lines += [
                f"- {c.experiment}, {c.attack}, n = {c.n_bad}: {100 * c.diff_mean:+.1f} ± {100 * c.diff_se:.1f} points"
                for c in self.losses
            ]
        return lines


def best_rule(comparisons: Sequence[Comparison], candidates: Sequence[str]) -> str:
    """The candidate with the most wins minus losses against the baseline (then the lowest mean difference)."""
    scores = []
    for rule in candidates:
        mine = [c for c in comparisons if c.rule == rule and c.n_bad > 0]
        if mine:
            counts = outcome_counts(mine)
            scores.append((-(counts["win"] - counts["loss"]), float(np.mean([c.diff_mean for c in mine])), rule))
    if not scores:
        raise ValueError(f"none of the candidates {list(candidates)} appears in the comparisons")
    return min(scores)[2]


def acceptance(comparisons: Sequence[Comparison], *, candidates: Sequence[str], n_min: int) -> Acceptance:
    """:class:`Acceptance` of :func:`best_rule` among ``candidates`` (comparisons against one baseline)."""
    baselines = {c.baseline for c in comparisons}
    if len(baselines) != 1:
        raise ValueError(f"comparisons must be against one baseline, got {sorted(baselines)}")
    rule = best_rule(comparisons, candidates)
    mine = [c for c in comparisons if c.rule == rule and c.n_bad > 0]
    large = [c for c in mine if c.n_bad >= n_min]
    return Acceptance(
        rule=rule,
        baseline=baselines.pop(),
        n_min=n_min,
        losses=tuple(c for c in mine if c.outcome == "loss"),
        n_cells=len(mine),
        n_large=len(large),
        wins_large=sum(c.outcome == "win" for c in large),
    )


# ---- figures ------------------------------------------------------------------------------------------
def _attacks(cells: Sequence[Cell]) -> list[str]:
    return sorted({c.attack for c in cells if c.attack != "none"}) or ["none"]


def _series(cells: Sequence[Cell], attack: str, rule: str) -> list[Cell]:
    """The cells of one rule under one attack, the clean (attack "none") cell first."""
    return sorted((c for c in cells if c.rule == rule and c.attack in (attack, "none")), key=lambda c: c.n_bad)


def plot_filter_quality(cells: Sequence[Cell], *, rules: Sequence[str] | None = None, title: str = "") -> Figure:
    """Heatmaps of filter precision (top row) and recall (bottom row): rules x n corrupted, one column per attack.

    ``cells`` are one experiment's (:func:`multisource.report.summarize`); rules without a precision
    (aggregators) are left out. Each square holds its value (the colour repeats it for a quick read).
    """
    scored = [c for c in cells if c.precision_mean is not None]
    names = [r for r in (rules or sorted({c.rule for c in scored})) if any(c.rule == r for c in scored)]
    attacks = _attacks(scored)
    n_values = sorted({c.n_bad for c in scored})
    fig = Figure(figsize=(2.6 + 2.3 * len(attacks), 1.2 + 0.55 * len(names) * 2), layout="constrained")
    axes = fig.subplots(2, len(attacks), squeeze=False, sharex=True, sharey=True)
    for col, attack in enumerate(attacks):
        index = {(c.rule, c.n_bad): c for c in scored if c.attack in (attack, "none")}
        for row, (metric, label) in enumerate((("precision_mean", "precision"), ("recall_mean", "recall"))):
            grid = np.full((len(names), len(n_values)), np.nan)
            for i, rule in enumerate(names):
                for j, n in enumerate(n_values):
                    if (rule, n) in index:
                        grid[i, j] = getattr(index[(rule, n)], metric)
            ax = axes[row, col]
            image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
            for (i, j), value in np.ndenumerate(grid):
                if not np.isnan(value):
                    ax.text(
                        j,
                        i,
                        f"{value:.2f}"[1:] if value < 1 else "1",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="black" if value > 0.6 else "white",
                    )
            ax.set_title(f"{attack}: {label}", fontsize=8)
            ax.set_xticks(range(len(n_values)), [str(n) for n in n_values], fontsize=7)
            ax.set_yticks(range(len(names)), names, fontsize=7)
            if row == 1:
                ax.set_xlabel("n corrupted", fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.6, label="precision / recall")
    fig.suptitle(title, fontsize=10)
    return fig


def plot_highlighted_errors(
    cells: Sequence[Cell], *, highlight: Sequence[str], title: str = "", ncols: int = 4
) -> Figure:
    """Test error against n per attack (one panel each): ``highlight`` rules in colour with +-1 s.e., the rest grey.

    ``cells`` are one experiment's; the clean cell (n = 0) starts every curve.
    """
    attacks = _attacks(cells)
    ncols = min(ncols, len(attacks))
    nrows = math.ceil(len(attacks) / ncols)
    fig = Figure(figsize=(3.4 * ncols + 1.8, 2.7 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    rules = sorted({c.rule for c in cells})
    for k, attack in enumerate(attacks):
        ax = axes[k // ncols, k % ncols]
        for rule in (r for r in rules if r not in highlight):
            series = _series(cells, attack, rule)
            ax.plot([c.n_bad for c in series], [100 * c.error_mean for c in series], color="0.8", lw=0.8, zorder=1)
        for index, rule in enumerate(highlight):
            series = _series(cells, attack, rule)
            se = [0.0 if math.isnan(c.error_se) else 100 * c.error_se for c in series]
            ax.errorbar(
                [c.n_bad for c in series],
                [100 * c.error_mean for c in series],
                yerr=se,
                color=f"C{index}",
                lw=1.6,
                marker="o",
                ms=3,
                capsize=2,
                label=rule,
                zorder=2,
            )
        ax.set_title(attack, fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for k in range(len(attacks), nrows * ncols):
        axes[k // ncols, k % ncols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("n corrupted", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("test error (%)", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, title="grey: other rules", title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    """Save a figure as PNG (folder created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
