"""The store: a run interrupted at any grid point and resumed gives exactly the rows of an uninterrupted run."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import multisource.runner.run as run_module
from multisource.runner import ExperimentSpec, Store, run_experiment

# What differs between two runs of the same cells: times, and where they ran.
TIMINGS = ("seconds", "disc_seconds", "wall_seconds", "finished_at", "host")


def _comparable(store):
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in store.rows()]


def _run_fresh(spec, path):
    with Store(path) as store:
        summary = run_experiment(spec, store, progress=False)
        return summary, _comparable(store)


def test_interrupted_run_resumes_without_losing_or_duplicating_rows(tiny_spec_path, tmp_path, monkeypatch):
    spec = ExperimentSpec.from_toml(tiny_spec_path)
    full_summary, expected = _run_fresh(spec, tmp_path / "full.sqlite")
    assert full_summary.points_run == 4 and len(expected) == 4 * len(spec.rules)

    calls = []
    real_run_point = run_module.run_point

    def dies_after_two_points(*task):
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated kill")
        calls.append(task)
        return real_run_point(*task)

    monkeypatch.setattr(run_module, "run_point", dies_after_two_points)
    path = tmp_path / "resumed.sqlite"
    with Store(path) as store, pytest.raises(KeyboardInterrupt):
        run_experiment(spec, store, progress=False)
    with Store(path) as store:
        assert len(store.rows()) == 2 * len(spec.rules)  # two whole grid points, nothing partial
    monkeypatch.setattr(run_module, "run_point", real_run_point)
    with Store(path) as store:
        resumed = run_experiment(spec, store, progress=False)
        assert (resumed.points_run, resumed.points_skipped) == (2, 2)
        assert _comparable(store) == expected
        again = run_experiment(spec, store, progress=False)
        assert (again.points_run, again.rows_written) == (0, 0)


def test_adding_a_rule_computes_only_the_missing_rows(write_spec, tmp_path):
    path = tmp_path / "grow.sqlite"
    small = ExperimentSpec.from_toml(write_spec(('"proba:coordinate_median"]', "]")))
    with Store(path) as store:
        run_experiment(small, store, progress=False)
        before = {row["key"]: row for row in store.rows()}
    full = ExperimentSpec.from_toml(write_spec())
    with Store(path) as store:
        summary = run_experiment(full, store, progress=False)
        after = store.rows()
    assert summary.rows_written == 4  # one new rule at 4 grid points
    assert {r["key"] for r in after} - set(before) == {
        r["key"] for r in after if r["rule"] == "proba:coordinate_median"
    }
    assert all(before[r["key"]] == r for r in after if r["key"] in before)  # old rows untouched


def test_store_rejects_rows_with_missing_columns(tmp_path):
    with Store(tmp_path / "s.sqlite") as store, pytest.raises(ValueError, match="exactly the columns"):
        store.add_rows([{"key": "x"}])


@pytest.mark.slow
def test_killed_cli_process_resumes_to_the_uninterrupted_rows(write_spec, tmp_path):
    # 8 seeds (16 grid points) so the kill lands well before the end.
    spec_path = write_spec(("seeds = [0, 1]", "seeds = [0, 1, 2, 3, 4, 5, 6, 7]"))
    spec = ExperimentSpec.from_toml(spec_path)
    _, expected = _run_fresh(spec, tmp_path / "full.sqlite")
    path = tmp_path / "killed.sqlite"
    command = [sys.executable, "-m", "multisource.cli", "run", str(spec_path), "--store", str(path), "--no-progress"]
    proc = subprocess.Popen(command, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if path.exists():
            try:
                with sqlite3.connect(path) as db:
                    if db.execute("SELECT COUNT(*) FROM results").fetchone()[0] > 0:
                        break
            except sqlite3.OperationalError:
                pass  # the table is being created
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(path) as store:
        assert 0 < len(store.rows()) < len(expected) and len(store.rows()) % len(spec.rules) == 0
        run_experiment(spec, store, progress=False)
        assert _comparable(store) == expected


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_parallel_executors_write_the_same_rows_as_a_sequential_run(tiny_spec_path, tmp_path, executor):
    spec = ExperimentSpec.from_toml(tiny_spec_path)
    _, expected = _run_fresh(spec, tmp_path / "seq.sqlite")
    with Store(tmp_path / "par.sqlite") as store:
        run_experiment(spec, store, jobs=2, executor=executor, progress=False)
        assert _comparable(store) == expected


def test_executor_arguments_are_checked():
    from multisource.runner import map_unordered

    with pytest.raises(ValueError, match="executor must be one of \\('local', 'dask'\\)"):
        map_unordered(print, [], executor="ray")
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        map_unordered(print, [], jobs=0)
