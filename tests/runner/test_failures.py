"""Failures are recorded, not fatal: a grid point that raises (or kills its worker) is retried, then stored
as a failure row, the sweep goes on, and a later success clears it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_probe import row_count

import multisource.runner.run as run_module
from multisource.cli import main
from multisource.runner import ExperimentSpec, Store, run_experiment
from multisource.runner.executors import TaskFailure, map_unordered

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FAULTY = "faulty_learners.SeedFailingClassifier"
DETERMINISTIC = (
    "key",
    "experiment",
    "setting",
    "attack",
    "alpha",
    "n_bad",
    "seed",
    "rule",
    "kind",
    "error",
    "precision",
    "recall",
    "n_kept",
    "fell_back",
    "info",
)


def _spec(write_spec, learner: str, seeds: str = "[0, 1, 2]") -> ExperimentSpec:
    return ExperimentSpec.from_toml(
        write_spec(
            ("seeds = [0, 1]", f"seeds = {seeds}"),
            ("alphas = [0.0, 0.2]", "alphas = [0.0]"),
            extra=f"\n[learner]\n{learner}\n",
        )
    )


def _deterministic(rows: list[dict]) -> list[tuple]:
    return [tuple(row[c] for c in DETERMINISTIC if c not in ("key", "setting")) for row in rows]


def _half_raises(value: int) -> int:
    if value % 2:
        raise ValueError(f"odd value {value}")
    return value


def test_a_task_that_keeps_raising_yields_a_task_failure_with_the_traceback_after_all_attempts():
    outcomes = dict(map_unordered(_half_raises, [(0,), (1,), (2,)], retries=3))
    assert outcomes[0] == 0 and outcomes[2] == 2
    assert isinstance(outcomes[1], TaskFailure) and outcomes[1].attempts == 4
    assert "ValueError: odd value 1" in outcomes[1].traceback and "_half_raises" in outcomes[1].traceback


def test_a_raising_grid_point_is_stored_as_a_failure_and_the_other_rows_equal_a_clean_run(write_spec, tmp_path):
    faulty = _spec(write_spec, f'name = "{FAULTY}"\nparams = {{fail_seed = 1}}')
    clean = _spec(write_spec, 'name = "logreg"')
    with Store(tmp_path / "faulty.sqlite") as store:
        summary = run_experiment(faulty, store, retries=2, progress=False)
        rows, failures = store.rows(), store.failures()
    assert (summary.points_run, summary.points_failed) == (2, 1)
    (failure,) = failures
    assert failure["attempts"] == 3 and json.loads(failure["point"]) == {"attack": "none", "alpha": 0.0, "seed": 1}
    assert "RuntimeError: injected failure at seed 1" in failure["traceback"]
    assert json.loads(failure["rules"]) == [rule.label for rule in faulty.rules]
    # SeedFailingClassifier is LogisticRegression(max_iter=1000) away from its seed: the same numbers as logreg.
    with Store(tmp_path / "clean.sqlite") as store:
        run_experiment(clean, store, progress=False)
        expected = [row for row in store.rows() if row["seed"] != 1]
    assert _deterministic(rows) == _deterministic(expected)


def test_a_later_success_clears_the_failure_and_attempts_add_up_over_runs(tiny_spec_path, tmp_path, monkeypatch):
    spec = ExperimentSpec.from_toml(tiny_spec_path)
    real_run_point = run_module.run_point
    calls = []

    def fails_at_seed_1(spec, point, rules):
        calls.append(point.seed)
        if point.seed == 1 and point.alpha == 0.0:
            raise ZeroDivisionError("flaky")
        return real_run_point(spec, point, rules)

    monkeypatch.setattr(run_module, "run_point", fails_at_seed_1)
    with Store(tmp_path / "s.sqlite") as store:
        for _ in range(2):
            assert run_experiment(spec, store, retries=1, progress=False).points_failed == 1
        assert calls.count(1) == 3 + 2  # seed 1: one good point and 2 attempts of the bad one, then 2 attempts
        assert [f["attempts"] for f in store.failures()] == [4]
        monkeypatch.setattr(run_module, "run_point", real_run_point)
        summary = run_experiment(spec, store, progress=False)
        assert (summary.points_run, summary.points_failed, store.failures()) == (1, 0, [])
        assert len(store.rows()) == 4 * len(spec.rules)


def test_report_lists_the_failures_after_the_results(write_spec, tmp_path, capsys):
    spec_path = write_spec(
        ("seeds = [0, 1]", "seeds = [0, 1, 2]"), extra=f'\n[learner]\nname = "{FAULTY}"\nparams = {{fail_seed = 2}}\n'
    )
    store = tmp_path / "s.sqlite"
    assert main(["run", str(spec_path), "--store", str(store), "--retries", "1", "--no-progress"]) == 1
    assert "2 grid points failed after 2 attempts" in capsys.readouterr().out
    assert main(["report", str(store)]) == 0
    printed = capsys.readouterr().out
    results, _, failures = printed.partition("## Failed grid points")
    assert "| quantile |" in results and "## Best discrepancy filter" in results
    lines = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in failures.splitlines()
        if line.startswith("| tiny |")
    ]
    assert sorted((cells[1], cells[2]) for cells in lines) == [("label_flip(p=1.0)", "0.2"), ("none", "0.0")]
    assert all(cells[3] == "2" and cells[5] == "2" for cells in lines)  # seed 2, 2 attempts
    assert all(cells[7] == "RuntimeError: injected failure at seed 2" for cells in lines)


@pytest.mark.slow
def test_a_pool_worker_that_dies_does_not_end_the_sweep_and_its_point_becomes_a_failure(write_spec, tmp_path):
    faulty = _spec(write_spec, f'name = "{FAULTY}"\nparams = {{fail_seed = 1, mode = "exit"}}')
    clean = _spec(write_spec, 'name = "logreg"')
    with Store(tmp_path / "faulty.sqlite") as store:
        summary = run_experiment(faulty, store, jobs=2, retries=1, progress=False)
        rows, failures = store.rows(), store.failures()
    assert (summary.points_run, summary.points_failed) == (2, 1)
    assert [(json.loads(f["point"])["seed"], f["attempts"]) for f in failures] == [(1, 2)]
    assert "worker process running this task died" in failures[0]["traceback"]
    with Store(tmp_path / "clean.sqlite") as store:
        run_experiment(clean, store, progress=False)
        assert _deterministic(rows) == _deterministic([r for r in store.rows() if r["seed"] != 1])


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_pool_workers_exit_when_the_parent_is_killed(write_spec, tmp_path):
    spec_path = write_spec(("seeds = [0, 1]", f"seeds = {list(range(40))}"))
    store = tmp_path / "s.sqlite"
    command = [
        sys.executable,
        "-m",
        "multisource.cli",
        "run",
        str(spec_path),
        "--store",
        str(store),
        "--jobs",
        "2",
        "--no-progress",
    ]
    parent = subprocess.Popen(command, cwd=ROOT)
    workers: list[int] = []
    try:
        deadline = time.time() + 300
        while time.time() < deadline and row_count(store) == 0:  # the pool's workers are up and computing
            time.sleep(0.1)
        workers = _children(parent.pid)
        assert len(workers) >= 2, "the pool never started"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 15
        while time.time() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.1)
        assert not [pid for pid in workers if _alive(pid)]
    finally:
        parent.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
