"""KL2019-style comparisons: paired and error-bar win/tie/loss against hand-computed values, the tables they
add up to, the acceptance verdict, and the figures' contents."""

from __future__ import annotations

import math

import numpy as np
import pytest

from multisource.report import Cell
from multisource.report.protocol import (
    Comparison,
    acceptance,
    bars_outcome,
    best_rule,
    compare_experiments,
    compare_rules,
    paired_outcome,
    plot_filter_quality,
    plot_highlighted_errors,
    win_tie_loss_table,
)


def test_paired_outcome_is_a_win_when_every_seed_improves_well_beyond_two_standard_errors() -> None:
    # diffs -0.10, -0.09, -0.11: mean -0.10, sample std 0.01, s.e. 0.01 / sqrt(3)
    mean, se, outcome = paired_outcome([0.10, 0.12, 0.14], [0.20, 0.21, 0.25])
    assert mean == pytest.approx(-0.10)
    assert se == pytest.approx(0.01 / math.sqrt(3))
    assert outcome == "win"


def test_paired_outcome_is_a_tie_within_two_standard_errors() -> None:
    # diffs 0.02, -0.01, 0.02: mean 0.01, sample variance 0.0003, s.e. 0.01 -> 0.01 < 2 * 0.01
    mean, se, outcome = paired_outcome([0.22, 0.19, 0.22], [0.20, 0.20, 0.20])
    assert (mean, se) == (pytest.approx(0.01), pytest.approx(0.01))
    assert outcome == "tie"


def test_paired_outcome_with_the_same_nonzero_difference_at_every_seed_is_significant() -> None:
    assert paired_outcome([0.3, 0.4, 0.5], [0.25, 0.35, 0.45])[2] == "loss"
    assert paired_outcome([0.3, 0.4], [0.3, 0.4])[2] == "tie"


def test_paired_outcome_refuses_unpaired_or_single_seed_input() -> None:
    with pytest.raises(ValueError, match="paired 1-D sequences of >= 2 seeds"):
        paired_outcome([0.1], [0.2])
    with pytest.raises(ValueError, match="paired 1-D sequences"):
        paired_outcome([0.1, 0.2], [0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="z must"):
        paired_outcome([0.1, 0.2], [0.2, 0.3], z=-1.0)


def test_bars_outcome_is_kl2019s_non_overlapping_error_bars() -> None:
    # s.e. of [0.1, 0.2] is 0.05, of [0.3, 0.5] is 0.1: |0.15 - 0.4| = 0.25 > 0.15
    mean, se, outcome = bars_outcome([0.1, 0.2], [0.3, 0.5])
    assert mean == pytest.approx(-0.25) and se == pytest.approx(math.hypot(0.05, 0.1)) and outcome == "win"
    assert bars_outcome([0.1, 0.2], [0.15, 0.25])[2] == "tie"  # |diff| 0.05 <= 0.05 + 0.05
    assert bars_outcome([0.5, 0.6], [0.1, 0.2])[2] == "loss"


def _row(experiment: str, attack: str, n_bad: int, seed: int, rule: str, error: float) -> dict:
    return {"experiment": experiment, "attack": attack, "n_bad": n_bad, "seed": seed, "rule": rule, "error": error}


ROWS = [
    # cell (e/fixed, flip, 2): "good" wins, "bad" loses, "same" ties with all_data
    *(_row("e/fixed", "flip", 2, s, "all_data", 0.40 + 0.01 * s) for s in range(3)),
    *(_row("e/fixed", "flip", 2, s, "good", 0.10 + 0.01 * s) for s in range(3)),
    *(_row("e/fixed", "flip", 2, s, "bad", 0.60 + 0.02 * s) for s in range(3)),
    *(_row("e/fixed", "flip", 2, s, "same", e) for s, e in enumerate([0.42, 0.39, 0.42])),
    # cell (e/fixed, flip, 1): "good" ties
    *(_row("e/fixed", "flip", 1, s, "all_data", 0.20) for s in range(3)),
    *(_row("e/fixed", "flip", 1, s, "good", e) for s, e in enumerate([0.19, 0.21, 0.20])),
    # a cell without the baseline is skipped
    *(_row("e/fixed", "blur", 1, s, "good", 0.3) for s in range(3)),
    # the adaptive adversary raises every error by 0.05 at seeds 0-2 of cell (flip, 2)
    *(_row("e/adaptive", "flip", 2, s, "all_data", 0.45 + 0.01 * s) for s in range(3)),
    *(_row("e/adaptive", "flip", 2, s, "good", 0.10 + 0.01 * s) for s in range(3)),
]


def test_compare_rules_pairs_seeds_per_cell_and_skips_cells_without_the_baseline() -> None:
    found = {(c.experiment, c.attack, c.n_bad, c.rule): c for c in compare_rules(ROWS, "all_data")}
    assert set(found) == {
        ("e/fixed", "flip", 2, "good"),
        ("e/fixed", "flip", 2, "bad"),
        ("e/fixed", "flip", 2, "same"),
        ("e/fixed", "flip", 1, "good"),
        ("e/adaptive", "flip", 2, "good"),
    }
    assert found[("e/fixed", "flip", 2, "good")].outcome == "win"
    assert found[("e/fixed", "flip", 2, "good")].diff_mean == pytest.approx(-0.30)
    assert found[("e/fixed", "flip", 2, "bad")].outcome == "loss"
    assert found[("e/fixed", "flip", 2, "same")].outcome == "tie"
    assert found[("e/fixed", "flip", 1, "good")].outcome == "tie"
    assert all(c.n_pairs == 3 and c.baseline == "all_data" for c in found.values())
    with pytest.raises(ValueError, match="test must be one of"):
        compare_rules(ROWS, "all_data", test="t")


def test_compare_experiments_pairs_the_same_rule_across_adversaries() -> None:
    found = {(c.n_bad, c.rule): c for c in compare_experiments(ROWS, "e/adaptive", "e/fixed")}
    assert set(found) == {(2, "all_data"), (2, "good")}
    assert found[(2, "all_data")].diff_mean == pytest.approx(0.05) and found[(2, "all_data")].outcome == "loss"
    assert found[(2, "good")].diff_mean == pytest.approx(0.0) and found[(2, "good")].outcome == "tie"


def test_win_tie_loss_table_adds_up_the_outcomes_per_n_and_in_total() -> None:
    lines = win_tie_loss_table(compare_rules(ROWS, "all_data"), rules=["good", "bad", "same", "absent"])
    assert lines == [
        "| rule | n = 1 | n = 2 | total |",
        "|---|---|---|---|",
        "| good | 0/1/0 | 2/0/0 | 2/1/0 |",  # wins in (e/fixed, 2) and (e/adaptive, 2), a tie at n = 1
        "| bad | 0/0/0 | 0/0/1 | 0/0/1 |",
        "| same | 0/0/0 | 0/1/0 | 0/1/0 |",
    ]


def _comparison(rule: str, n_bad: int, outcome: str, diff: float = -0.1) -> Comparison:
    return Comparison("e", f"attack{n_bad}", n_bad, rule, "all_data", 3, diff, 0.01, outcome)


def test_acceptance_picks_the_rule_with_most_net_wins_and_names_its_losses() -> None:
    comparisons = [
        _comparison("a", 1, "tie"),
        _comparison("a", 2, "win"),
        _comparison("a", 3, "win"),
        _comparison("a", 4, "tie"),
        _comparison("b", 1, "loss", 0.2),
        _comparison("b", 2, "win"),
        _comparison("b", 3, "win"),
        _comparison("b", 4, "win"),
    ]
    assert best_rule(comparisons, ["a", "b"]) == "a"  # 2 - 0 beats 3 - 1 on the lower mean difference
    verdict = acceptance(comparisons, candidates=["a"], n_min=2)
    assert (verdict.n_cells, verdict.n_large, verdict.wins_large, verdict.passed) == (4, 3, 2, True)
    assert "**met**" in verdict.lines()[0]
    failing = acceptance(comparisons, candidates=["b"], n_min=2)
    assert not failing.passed and len(failing.losses) == 1
    assert "- e, attack1, n = 1: +20.0 ± 1.0 points" in failing.lines()
    assert not acceptance(comparisons, candidates=["a"], n_min=4).passed  # 0 wins of 1 cell with n >= 4
    with pytest.raises(ValueError, match="none of the candidates"):
        best_rule(comparisons, ["c"])


def _cell(attack: str, n_bad: int, rule: str, error: float, precision: float | None, recall: float | None) -> Cell:
    kind = "filter" if precision is not None else "parameter_aggregator"
    return Cell("e", attack, n_bad, rule, kind, 3, error, 0.01, precision, recall)


CELLS = [
    _cell("none", 0, "f1", 0.1, 1.0, 1.0),
    _cell("none", 0, "f2", 0.1, 0.0, 1.0),
    _cell("none", 0, "agg", 0.1, None, None),
    *(_cell(a, n, "f1", 0.1 * n, 0.5 + 0.1 * n, 0.25 * n) for a in ("flip", "blur") for n in (1, 2)),
    *(_cell(a, n, "f2", 0.2 * n, 1.0, 0.5) for a in ("flip", "blur") for n in (1, 2)),
    *(_cell(a, n, "agg", 0.3 * n, None, None) for a in ("flip", "blur") for n in (1, 2)),
]


def test_filter_quality_heatmaps_hold_each_rules_precision_and_recall_per_attack_and_n() -> None:
    fig = plot_filter_quality(CELLS, rules=["f1", "f2", "agg"], title="t")
    panels = {ax.get_title(): np.asarray(ax.images[0].get_array()) for ax in fig.axes if ax.images}
    assert set(panels) == {"blur: precision", "blur: recall", "flip: precision", "flip: recall"}
    # rows f1, f2 (the aggregator has no precision); columns n = 0, 1, 2 (n = 0 from the clean cells)
    np.testing.assert_allclose(panels["flip: precision"], [[1.0, 0.6, 0.7], [0.0, 1.0, 1.0]])
    np.testing.assert_allclose(panels["blur: recall"], [[1.0, 0.25, 0.5], [1.0, 0.5, 0.5]])


def test_highlighted_error_figure_draws_the_highlighted_rules_in_colour_and_the_rest_in_grey() -> None:
    fig = plot_highlighted_errors(CELLS, highlight=["f1"], title="t")
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert sorted(ax.get_title() for ax in panels) == ["blur", "flip"]
    for ax in panels:
        grey = [line for line in ax.lines if line.get_color() == "0.8"]
        assert len(grey) == 2  # f2 and agg
        coloured = [line for line in ax.lines if line.get_color() != "0.8" and len(line.get_xdata()) == 3]
        np.testing.assert_allclose(np.asarray(coloured[0].get_ydata(), dtype=float), [10.0, 10.0, 20.0])  # f1, in %
