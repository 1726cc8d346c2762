"""`multisource run` and `multisource report` end to end on a tiny spec; the quickstart acceptance (slow)."""

import re
import sqlite3
import subprocess
import sys
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


def _one_line_usage_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _sqlite_with(path: Path, *statements: str) -> Path:
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()
    return path


BAD_RUNS = {
    "missing spec": (lambda d: [str(d / "missing.toml")], r"SPEC spec file '.*missing.toml' does not exist"),
    "alpha out of range": (lambda d: [str(d / "bad.toml")], r"bad.toml: alphas\[\] must lie in \[0.0, 0.5\), got 0.6"),
    "store is a folder": (lambda d: [str(d / "cli.toml"), "--store", str(d)], r"--store: store '.*' is a directory"),
    "store is not SQLite": (
        lambda d: [str(d / "cli.toml"), "--store", str(d / "cli.toml")],
        r"--store: store '.*cli.toml' is not a SQLite database",
    ),
    "store of another program": (
        lambda d: [str(d / "cli.toml"), "--store", str(_sqlite_with(d / "other.db", "CREATE TABLE t (x)"))],
        r"--store: .* is a SQLite database but not a multisource store \(its tables are \['t'\]\)",
    ),
    "store of a newer schema": (
        lambda d: [
            str(d / "cli.toml"),
            "--store",
            str(
                _sqlite_with(
                    d / "v9.db", "CREATE TABLE meta (name, value)", "INSERT INTO meta VALUES ('schema_version', '9')"
                )
            ),
        ],
        r"--store: .* has schema version 9; this version of multisource reads schema version 3 \(and migrates",
    ),
    "jobs 0": (lambda d: [str(d / "cli.toml"), "--jobs", "0"], r"--jobs must be >= 1, got 0"),
    "retries -1": (lambda d: [str(d / "cli.toml"), "--retries", "-1"], r"--retries must be >= 0, got -1"),
    "scheduler with the local executor": (
        lambda d: [str(d / "cli.toml"), "--scheduler", "tcp://127.0.0.1:1", "--executor", "local"],
        r"--scheduler needs --executor dask",
    ),
    "unknown plugin": (
        lambda d: [str(d / "cli.toml"), "--plugin", "no_such_module_xyz"],
        r"--plugin 'no_such_module_xyz'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_bad_run_arguments_end_in_one_line_naming_the_argument_with_exit_code_2(tmp_path, capsys, case):
    (tmp_path / "cli.toml").write_text(TINY)
    (tmp_path / "bad.toml").write_text(TINY.replace("alphas = [0.0, 0.2]", "alphas = [0.0, 0.6]"))
    argv, expected = BAD_RUNS[case]
    assert re.search(expected, _one_line_usage_error(capsys, ["run", *argv(tmp_path), "--no-progress"]))
    assert not (tmp_path / "results").exists()  # nothing was computed or created


BAD_REPORTS = {
    "missing": (lambda d: d / "missing.sqlite", r"STORE: store '.*missing.sqlite' does not exist"),
    "empty file": (lambda d: d / "empty.sqlite", r"STORE: store '.*empty.sqlite' is an empty file \(0 bytes\)"),
    "folder": (lambda d: d, r"STORE: store '.*' is a directory"),
    "not SQLite": (lambda d: d / "cli.toml", r"STORE: store '.*cli.toml' is not a SQLite database"),
    "SQLite without tables": (lambda d: _sqlite_with(d / "bare.db", "VACUUM"), r"STORE: .* has no tables"),
    "store without rows": (lambda d: d / "fresh.sqlite", r"STORE '.*fresh.sqlite' has no rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_REPORTS))
def test_bad_report_stores_end_in_one_line_and_are_left_as_they_were(tmp_path, capsys, case):
    (tmp_path / "cli.toml").write_text(TINY)
    (tmp_path / "empty.sqlite").touch()
    Store(tmp_path / "fresh.sqlite").close()
    path, expected = BAD_REPORTS[case]
    path = path(tmp_path)
    before = path.read_bytes() if path.is_file() else None
    assert re.search(expected, _one_line_usage_error(capsys, ["report", str(path)]))
    assert (path.read_bytes() if path.is_file() else None) == before  # a 0-byte file stays 0 bytes


def test_a_bad_argument_exits_2_without_a_traceback_from_the_installed_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "multisource.cli", "report", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"multisource report: error: STORE: store {str(tmp_path)!r} is a directory; "
        f"give a file path such as '{tmp_path}/results.sqlite'"
    ]


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
