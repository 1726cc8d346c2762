"""The `multisource bound` command and the bounds-vs-m figure."""

import re

import numpy as np
import pytest
from bound_oracles import hand_values
from matplotlib.figure import Figure

from multisource.cli import main
from multisource.report import plot_bound_vs_m

WORKED = ["--N", "20", "--m", "1000", "--alpha", "0.2", "--delta", "0.05", "--vc", "10"]


def test_bound_command_prints_the_term_table_of_the_worked_example(capsys):
    assert main(["bound", *WORKED]) == 0
    out = capsys.readouterr().out
    for text in (
        "fixed-set",
        "0.7027",
        "clean-only oracle",
        "single clean source",
        "0.7555",
        "pooled ERM",
        "s = 2 Delta_m = 0.7911",
    ):
        assert text in out
    assert main(["bound", *WORKED, "--adversary", "adaptive"]) == 0
    assert "0.9305" in capsys.readouterr().out


def test_bound_command_solves_for_the_smallest_m_that_meets_the_target(capsys):
    assert main(["bound", *WORKED, "--adversary", "adaptive", "--solve-m", "--epsilon", "0.1"]) == 0
    out = capsys.readouterr().out
    m = int(re.search(r"m = (\d+) samples per source", out).group(1))
    # The adaptive-set bound by hand: at most 0.1 at m, above it at m - 1.
    assert hand_values(20, m, 0.2, 10, 0.05)["adaptive"] <= 0.1 < hand_values(20, m - 1, 0.2, 10, 0.05)["adaptive"]
    assert m == 144_644  # the value docs/bounds.md quotes


def test_bound_command_reports_bad_and_unreachable_input_with_exit_code_two(capsys):
    assert main(["bound", "--N", "20", "--m", "1000", "--alpha", "0.5", "--vc", "10"]) == 2
    assert "alpha must lie in [0.0, 0.5)" in capsys.readouterr().err
    assert main(["bound", *WORKED, "--solve-n", "--epsilon", "0.3"]) == 2
    assert "unreachable" in capsys.readouterr().err
    assert main(["bound", *WORKED, "--solve-m"]) == 2
    assert "--epsilon" in capsys.readouterr().err


def test_bound_command_requires_a_complexity():
    with pytest.raises(SystemExit):
        main(["bound", "--N", "20", "--m", "1000", "--alpha", "0.2"])


def test_figure_draws_every_bound_the_terms_and_positive_empirical_points(tmp_path):
    path = tmp_path / "bounds.png"
    ms = np.unique(np.logspace(2, 6, 12).astype(int))
    empirical = {"threshold_majority": ([100, 1000, 10000], [0.1, 0.05, 0.0])}
    fig = plot_bound_vs_m(ms, N=20, alpha=0.2, delta=0.05, complexity=10, empirical=empirical, path=path)
    assert isinstance(fig, Figure) and path.stat().st_size > 10_000
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert sum("total" in label for label in labels) == 5
    assert sum("term" in label for label in labels) == 3
    points = next(line for line in ax.get_lines() if "empirical" in line.get_label())
    assert len(points.get_xdata()) == 2  # the zero excess risk cannot sit on a log axis
