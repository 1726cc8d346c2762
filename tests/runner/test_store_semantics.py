"""Store semantics that cannot surprise: names and labels, leases between runs, provenance, WAL, schema versions."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest
import sklearn
import torch
from store_probe import row_count

from multisource.runner import ExperimentSpec, Store, run_experiment
from multisource.runner.store import BOUNDS, COLUMNS, PROVENANCE, LeaseOwner, StoreError

ROOT = Path(__file__).resolve().parents[2]
V1_ROWS = (
    "CREATE TABLE rows (key TEXT PRIMARY KEY, experiment TEXT NOT NULL, setting TEXT NOT NULL, attack TEXT NOT NULL, "
    "alpha REAL NOT NULL, n_bad INTEGER NOT NULL, seed INTEGER NOT NULL, rule TEXT NOT NULL, kind TEXT NOT NULL, "
    "error REAL NOT NULL, precision REAL, recall REAL, n_kept INTEGER NOT NULL, fell_back INTEGER NOT NULL, "
    "info TEXT NOT NULL, seconds REAL NOT NULL, disc_seconds REAL NOT NULL)"
)
SEEDS = 60  # 120 grid points: the first run is still computing when the second starts
V1_SPECS = "CREATE TABLE specs (experiment TEXT, setting TEXT, spec TEXT, PRIMARY KEY (experiment, setting, spec))"


def _without(rows: list[dict], *columns: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


@pytest.fixture
def cheap_spec(write_spec):
    """``cheap_spec(replacements...)``: the tiny spec with the fast ``stumps`` discrepancy (what is tested here
    does not depend on the estimator), with more ``(old, new)`` text replacements."""

    def write(*replacements: tuple[str, str]) -> Path:
        return write_spec(('name = "linear"\nparams = {l2 = 1.0}', 'name = "stumps"'), *replacements)

    return write


@pytest.fixture
def finished(cheap_spec, tmp_path):
    """A store holding the tiny spec's finished grid, and the spec."""
    spec = ExperimentSpec.from_toml(cheap_spec())
    with Store(tmp_path / "s.sqlite") as store:
        run_experiment(spec, store, progress=False)
    return tmp_path / "s.sqlite", spec


def test_a_finished_grid_rerun_under_a_new_name_is_reported_under_that_name_without_recomputing(finished, cheap_spec):
    path, spec = finished
    renamed = ExperimentSpec.from_toml(cheap_spec(('name = "tiny"', 'name = "renamed"')))
    with Store(path) as store:
        summary = run_experiment(renamed, store, progress=False)
        assert (summary.points_run, summary.points_skipped) == (0, 4)
        old, new = store.rows("tiny"), store.rows("renamed")
    assert len(new) == 4 * len(spec.rules)
    assert _without(new, "experiment") == _without(old, "experiment")


def test_a_relabelled_rule_is_reported_under_its_new_label_only(finished, cheap_spec):
    path, _ = finished
    relabelled = ExperimentSpec.from_toml(cheap_spec(('label = "mean_of_models"', 'label = "model_average"')))
    with Store(path) as store:
        before = {row["key"]: row for row in store.rows("tiny")}
        assert run_experiment(relabelled, store, progress=False).points_run == 0
        after = {row["key"]: row for row in store.rows("tiny")}
    assert after.keys() == before.keys()
    changed = {key for key in after if after[key]["rule"] != before[key]["rule"]}
    assert {before[key]["rule"] for key in changed} == {"mean_of_models"}
    assert {after[key]["rule"] for key in changed} == {"model_average"} and len(changed) == 4


def test_rows_record_versions_device_host_wall_time_and_the_spec_they_were_computed_under(finished, cheap_spec):
    path, _ = finished
    fewer_rules = ExperimentSpec.from_toml(
        cheap_spec(('"proba:coordinate_median"]', "]"), ('name = "tiny"', 'name = "other"'))
    )
    with Store(path) as store:
        rows = store.rows("tiny")
        specs = {s["spec_hash"]: json.loads(s["spec"]) for s in store.specs()}
        run_experiment(fewer_rules, store, progress=False)
        assert len(store.specs()) == 2  # the second spec is recorded though it computed nothing
    assert set(rows[0]) == set(COLUMNS)
    for row in rows:
        versions = json.loads(row["versions"])
        assert (versions["numpy"], versions["scikit-learn"], versions["torch"]) == (
            numpy.__version__,
            sklearn.__version__,
            torch.__version__,
        )
        assert (row["device"], row["host"]) == ("cpu", socket.gethostname())
        assert specs[row["spec_hash"]]["name"] == "tiny" and row["rule"] in [
            r["label"] for r in specs[row["spec_hash"]]["rules"]
        ]
    for key in {(r["attack"], r["alpha"], r["seed"]) for r in rows}:
        point = [r for r in rows if (r["attack"], r["alpha"], r["seed"]) == key]
        assert len({r["wall_seconds"] for r in point}) == 1
        assert point[0]["wall_seconds"] >= point[0]["disc_seconds"] + sum(r["seconds"] for r in point)


def test_the_store_is_in_wal_mode(finished):
    path, _ = finished
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_a_version_1_store_is_migrated_in_place_with_its_rows_labels_and_specs(finished, tmp_path):
    path, spec = finished
    with Store(path) as store:
        rows, specs = store.rows(), store.specs()
    old = tmp_path / "v1.sqlite"
    with sqlite3.connect(old) as db:
        db.execute(V1_ROWS)
        db.execute(V1_SPECS)
        v1_columns = [c for c in COLUMNS if c not in PROVENANCE and c not in BOUNDS]
        db.executemany(
            f"INSERT INTO rows ({', '.join(v1_columns)}) VALUES ({', '.join('?' * len(v1_columns))})",
            [[row[c] for c in v1_columns] for row in rows],
        )
        db.executemany(
            "INSERT INTO specs VALUES (?, ?, ?)", [(s["experiment"], s["setting"], s["spec"]) for s in specs]
        )
    db.close()
    with Store(old) as store:
        migrated = store.rows()
        assert _without(migrated, *PROVENANCE, *BOUNDS) == _without(rows, *PROVENANCE, *BOUNDS)
        assert all(row[c] is None for row in migrated for c in (*PROVENANCE, *BOUNDS))
        assert store.specs() == specs
        assert run_experiment(spec, store, progress=False).points_run == 0
    with sqlite3.connect(old) as db:
        assert db.execute("SELECT value FROM meta").fetchall() == [("3",)]
    db.close()


def test_a_version_2_store_gets_the_bound_columns_null_and_keeps_its_rows(finished, tmp_path):
    path, spec = finished
    with Store(path) as store:
        rows = store.rows()
    assert any(row["bound_fixed"] is not None for row in rows)  # the tiny spec's quantile rows
    old = tmp_path / "v2.sqlite"
    old.write_bytes(path.read_bytes())
    with sqlite3.connect(old) as db:  # what a version-2 store looked like: no bound columns
        for column in BOUNDS:
            db.execute(f"ALTER TABLE results DROP COLUMN {column}")
        db.execute("UPDATE meta SET value = '2' WHERE name = 'schema_version'")
    db.close()
    with Store(old) as store:
        migrated = store.rows()
        assert _without(migrated, *BOUNDS) == _without(rows, *BOUNDS)
        assert all(row[c] is None for row in migrated for c in BOUNDS)
        assert run_experiment(spec, store, progress=False).points_run == 0
    with sqlite3.connect(old) as db:
        assert db.execute("SELECT value FROM meta").fetchall() == [("3",)]
    db.close()


def test_a_store_of_another_schema_version_is_refused_naming_both_versions(tmp_path):
    path = tmp_path / "v4.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    db.close()
    with pytest.raises(StoreError, match="has schema version 4; this version of multisource reads schema version 3"):
        Store(path)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_leases_held_by_live_owners_are_respected_and_those_of_dead_or_expired_owners_reclaimed(tmp_path):
    me = LeaseOwner()
    live_here = LeaseOwner(pid=os.getppid())
    dead_here = LeaseOwner(pid=_dead_pid())
    elsewhere = LeaseOwner(pid=1, host="another-host")
    with Store(tmp_path / "s.sqlite") as store:
        assert store.take_leases(["a"], live_here)[0] == ["a"]
        assert store.take_leases(["b"], dead_here)[0] == ["b"]
        assert store.take_leases(["c", "d"], elsewhere)[0] == ["c", "d"]
        store._db.execute("UPDATE leases SET expires = 0 WHERE key = 'd'")  # its owner stopped renewing it
        taken, busy = store.take_leases(["a", "b", "c", "d", "e"], me)
        assert taken == ["b", "d", "e"]
        assert [(lease["key"], lease["owner"]) for lease in busy] == [("a", live_here.run_id), ("c", elsewhere.run_id)]
        store.release_leases(me)
        assert store.take_leases(["b", "d", "e"], elsewhere)[0] == ["b", "d", "e"]


@pytest.mark.slow
def test_a_second_run_on_a_store_in_use_leaves_the_leased_grid_points_to_the_first(cheap_spec, tmp_path):
    spec_path = cheap_spec(("seeds = [0, 1]", f"seeds = {list(range(SEEDS))}"))
    spec = ExperimentSpec.from_toml(spec_path)
    path = tmp_path / "shared.sqlite"
    first = subprocess.Popen(
        [sys.executable, "-m", "multisource.cli", "run", str(spec_path), "--store", str(path), "--no-progress"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not (path.exists() and row_count(path) > 0):
            time.sleep(0.05)
        with Store(path) as store:
            second = run_experiment(spec, store, progress=False)
        out, _ = first.communicate(timeout=300)
    finally:
        first.kill()
    assert second.points_run == 0 and second.points_leased_elsewhere > 0
    assert second.points_skipped + second.points_leased_elsewhere == 2 * SEEDS
    assert first.returncode == 0 and f"{2 * SEEDS} grid points run, 0 already finished" in out
    with Store(path) as store:
        keys = [row["key"] for row in store.rows()]
    assert len(keys) == len(set(keys)) == 2 * SEEDS * len(spec.rules)
