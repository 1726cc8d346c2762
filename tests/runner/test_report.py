"""Report: means and standard errors against hand computation, tables, best-rule summary, CSV and PNG files."""

import csv
import math

import pytest

from multisource.report import best_rule_table, error_figures, markdown_report, summarize, write_csv


def _row(attack, n_bad, seed, rule, kind, error, precision=1.0, recall=1.0, setting="s1", experiment="exp"):
    return {
        "experiment": experiment,
        "setting": setting,
        "attack": attack,
        "n_bad": n_bad,
        "seed": seed,
        "rule": rule,
        "kind": kind,
        "error": error,
        "precision": precision,
        "recall": recall,
    }


ROWS = [
    _row("none", 0, 0, "all_data", "baseline", 0.10),
    _row("none", 0, 1, "all_data", "baseline", 0.20),
    _row("none", 0, 0, "quantile", "filter", 0.10),
    _row("none", 0, 1, "quantile", "filter", 0.20),
    _row("flip", 2, 0, "all_data", "baseline", 0.30, recall=0.0),
    _row("flip", 2, 1, "all_data", "baseline", 0.50, recall=0.0),
    _row("flip", 2, 0, "clean_only", "baseline", 0.10),
    _row("flip", 2, 1, "clean_only", "baseline", 0.12),
    _row("flip", 2, 0, "quantile", "filter", 0.11),
    _row("flip", 2, 1, "quantile", "filter", 0.13, precision=0.5, recall=0.5),
    _row("flip", 2, 0, "multi_krum", "filter", 0.20),
    _row("flip", 2, 1, "multi_krum", "filter", 0.20),
    _row("flip", 2, 0, "geometric_median", "parameter_aggregator", 0.15, None, None),
    _row("flip", 2, 1, "geometric_median", "parameter_aggregator", 0.17, None, None),
]


def test_summary_means_and_standard_errors_match_hand_values():
    cells = {(c.attack, c.n_bad, c.rule): c for c in summarize(ROWS)}
    flip_all = cells[("flip", 2, "all_data")]
    # errors 0.3 and 0.5: mean 0.4, sample std 0.1414..., s.e. = std / sqrt(2) = 0.1
    assert flip_all.error_mean == pytest.approx(0.4) and flip_all.error_se == pytest.approx(0.1)
    assert flip_all.recall_mean == 0.0 and flip_all.n_seeds == 2
    assert cells[("flip", 2, "quantile")].precision_mean == pytest.approx(0.75)
    assert cells[("flip", 2, "geometric_median")].precision_mean is None
    single = summarize(ROWS[:1])[0]
    assert math.isnan(single.error_se)


def test_markdown_puts_the_no_attack_cells_in_column_zero_of_every_attack():
    text = markdown_report(summarize(ROWS))
    assert "## exp: flip" in text and "## exp: none" not in text
    assert "| rule | 0 | 2 |" in text
    assert "| all_data | 15.0 ± 5.0 | 40.0 ± 10.0 |" in text
    assert "| quantile | 1.00 / 1.00 | 0.75 / 0.75 |" in text


def test_best_rule_table_compares_the_best_filter_with_all_data_and_the_oracle():
    lines = best_rule_table(summarize(ROWS))
    assert len(lines) == 3
    # quantile (12.0) beats multi_krum (20.0); all_data 40.0; oracle 11.0 -> gap +1.0 point.
    assert lines[2] == "| exp | flip | 2 | quantile | 12.0 ± 1.0 | 40.0 ± 10.0 | 11.0 ± 1.0 | yes | +1.0 |"


def test_settings_of_one_experiment_name_are_never_averaged_together():
    rows = [*ROWS[:2], dict(ROWS[0], setting="s2", error=0.9)]
    experiments = {c.experiment for c in summarize(rows)}
    assert experiments == {"exp@s1", "exp@s2"}


def test_csv_and_figures_are_written(tmp_path):
    cells = summarize(ROWS)
    path = write_csv(cells, tmp_path / "summary.csv")
    with path.open() as fh:
        lines = list(csv.DictReader(fh))
    assert len(lines) == len(cells) and {"rule", "error_mean", "error_se"} <= set(lines[0])
    figures = error_figures(cells, tmp_path)
    assert [p.name for p in figures] == ["exp_flip.png"]
    assert figures[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
