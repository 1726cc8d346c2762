"""`multisource run` and `multisource report` end to end on a tiny spec; the quickstart acceptance (slow)."""

from pathlib import Path

import pytest

from multisource.cli import main
from multisource.report import summarize
from multisource.runner import ExperimentSpec, Store, run_experiment

ROOT = Path(__file__).resolve().parents[1]

TINY = """
name = "cli"
seeds = [0]
alphas = [0.0, 0.2]
rules = ["all_data", "clean_only", "quantile"]

[data]
dataset = "breast_cancer"
n_sources = 5
m = 20

[[attacks]]
name = "label_flip"
params = {p = 1.0}
"""


def test_run_then_report_writes_rows_tables_and_figures(tmp_path, capsys):
    spec = tmp_path / "cli.toml"
    spec.write_text(TINY)
    store = tmp_path / "cli.sqlite"
    assert main(["run", str(spec), "--store", str(store), "--no-progress"]) == 0
    assert "2 grid points run, 0 already finished, 6 rows written" in capsys.readouterr().out
    assert main(["run", str(spec), "--store", str(store), "--no-progress"]) == 0
    assert "0 grid points run, 2 already finished, 0 rows written" in capsys.readouterr().out
    out = tmp_path / "report"
    assert main(["report", str(store), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "## cli: label_flip(p=1.0)" in printed and "| quantile |" in printed
    assert (out / "report.md").read_text() in printed
    assert (out / "summary.csv").is_file() and (out / "cli_label_flip_p_1.0.png").is_file()


def test_cli_errors_name_the_problem(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        main(["report", str(tmp_path / "missing.sqlite")])
    with pytest.raises(SystemExit, match="multisource run: .*missing.toml.*does not exist"):
        main(["run", str(tmp_path / "missing.toml")])
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace("alphas = [0.0, 0.2]", "alphas = [0.0, 0.6]"))
    with pytest.raises(SystemExit, match="alphas\\[\\] must lie in \\[0.0, 0.5\\)"):
        main(["run", str(bad)])
    Store(tmp_path / "empty.sqlite").close()
    with pytest.raises(SystemExit, match="no rows"):
        main(["report", str(tmp_path / "empty.sqlite")])


@pytest.mark.slow
def test_quickstart_label_flip_at_alpha_0_3_best_filter_beats_all_data_and_nears_the_oracle(tmp_path):
    spec = ExperimentSpec.from_toml(ROOT / "experiments" / "quickstart.toml")
    with Store(tmp_path / "quickstart.sqlite") as store:
        run_experiment(spec, store, jobs=2, progress=False)
        cells = [c for c in summarize(store.rows()) if c.attack == "label_flip(p=1.0)" and c.n_bad == 3]
    by_rule = {c.rule: c.error_mean for c in cells}
    best = min(c.error_mean for c in cells if c.kind == "filter")
    assert best < by_rule["all_data"]
    assert best - by_rule["clean_only"] <= 0.02
