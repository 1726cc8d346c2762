"""SQLite store of experiment rows, failures and leases (schema version 3; see ``docs/cluster.md``).

Tables:

- ``results``: one computed row per key, a hash of (setting, attack, alpha, seed, rule) (the display
  labels are not part of it), with its provenance (library versions, device, host, spec hash, times);
- ``experiment_rows``: which experiment shows which key under which attack and rule label, so
  finished computations reused under a new experiment name or rule label are reported under it;
- ``specs``: every spec run into the store;
- ``failures``: grid points whose computation kept raising (traceback, attempts), cleared by a success;
- ``leases``: grid points being computed by a live run, so two runs on one store never compute one twice.

The rows of a grid point are inserted in one transaction together with the release of its lease,
so a run killed at any moment leaves only whole grid points behind, and a rerun skips them.
The store is opened in WAL mode with a busy timeout; only the process that runs the sweep writes.
A version-1 store (one ``rows`` table) or a version-2 store (no bound columns) is migrated in place
when opened; version 3 added the filter rows' certificates ``bound_fixed``, ``bound_adaptive`` and
``bound_inputs`` (:mod:`multisource.runner.certificates`), NULL in migrated rows.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from multisource.runner.spec import ExperimentSpec, canonical_json, short_hash

SCHEMA_VERSION = 3
LABEL_COLUMNS = ("experiment", "attack", "rule")
RESULT_COLUMNS: dict[str, str] = {
    "key": "TEXT PRIMARY KEY",
    "setting": "TEXT NOT NULL",
    "alpha": "REAL NOT NULL",
    "n_bad": "INTEGER NOT NULL",
    "seed": "INTEGER NOT NULL",
    "kind": "TEXT NOT NULL",
    "error": "REAL NOT NULL",
    "precision": "REAL",
    "recall": "REAL",
    "n_kept": "INTEGER NOT NULL",
    "fell_back": "INTEGER NOT NULL",
    "info": "TEXT NOT NULL",
    "seconds": "REAL NOT NULL",
    "disc_seconds": "REAL NOT NULL",
    # The theory's certificate of a filter row (NULL for other rows and in rows migrated from version 2).
    "bound_fixed": "REAL",
    "bound_adaptive": "REAL",
    "bound_inputs": "TEXT",
    # Provenance (NULL in rows migrated from a version-1 store).
    "spec_hash": "TEXT",
    "versions": "TEXT",
    "device": "TEXT",
    "host": "TEXT",
    "wall_seconds": "REAL",
    "finished_at": "TEXT",
}
PROVENANCE = ("spec_hash", "versions", "device", "host", "wall_seconds", "finished_at")
BOUNDS = ("bound_fixed", "bound_adaptive", "bound_inputs")
COLUMNS: tuple[str, ...] = (*LABEL_COLUMNS, *RESULT_COLUMNS)
"""The columns of a row, as given to :meth:`Store.add_rows` and returned by :meth:`Store.rows`."""
LEASE_SECONDS = 3600.0
_V1_COLUMNS = [c for c in COLUMNS if c not in PROVENANCE and c not in BOUNDS]
_SQLITE_HEADER = b"SQLite format 3\x00"

_SCHEMA = [
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE results ({})".format(", ".join(f"{name} {decl}" for name, decl in RESULT_COLUMNS.items())),
    "CREATE TABLE experiment_rows (experiment TEXT NOT NULL, key TEXT NOT NULL, attack TEXT NOT NULL, "
    "rule TEXT NOT NULL, PRIMARY KEY (experiment, key, attack, rule))",
    "CREATE TABLE specs (experiment TEXT NOT NULL, setting TEXT NOT NULL, spec_hash TEXT NOT NULL, "
    "spec TEXT NOT NULL, PRIMARY KEY (experiment, setting, spec_hash))",
    "CREATE TABLE failures (key TEXT PRIMARY KEY, experiment TEXT NOT NULL, setting TEXT NOT NULL, "
    "point TEXT NOT NULL, rules TEXT NOT NULL, traceback TEXT NOT NULL, attempts INTEGER NOT NULL, "
    "last_time TEXT NOT NULL)",
    "CREATE TABLE leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, "
    "expires REAL NOT NULL)",
]


FEDERATED_CELL_COLUMNS = (
    "key", "experiment", "setting", "rule", "attack", "n_bad", "seed", "status", "reason", "final_accuracy",
    "rounds", "seconds", "finished_at",
)  # fmt: skip
#: Tables of federated runs, created by the first write (stores without federated runs stay as they are).
FEDERATED_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS federated_cells (key TEXT PRIMARY KEY, experiment TEXT NOT NULL, "
    "setting TEXT NOT NULL, rule TEXT NOT NULL, attack TEXT NOT NULL, n_bad INTEGER NOT NULL, seed INTEGER NOT NULL, "
    "status TEXT NOT NULL, reason TEXT, final_accuracy REAL, rounds INTEGER NOT NULL, seconds REAL NOT NULL, "
    "finished_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS federated_rounds (key TEXT NOT NULL, round INTEGER NOT NULL, "
    "test_accuracy REAL NOT NULL, test_loss REAL NOT NULL, train_loss REAL, info TEXT NOT NULL, "
    "PRIMARY KEY (key, round))",
)


class StoreError(ValueError):
    """A path that is not a store this version can open (a folder, another file type, another schema)."""


@dataclass(frozen=True)
class LeaseOwner:
    """Who computes a grid point: one run of one process on one host."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _check_path(path: Path, create: bool) -> None:
    """Refuse what cannot be a store before SQLite sees it (it would turn an empty file into a database)."""
    if path.is_dir():
        raise StoreError(f"store {str(path)!r} is a directory; give a file path such as '{path}/results.sqlite'")
    if not path.exists():
        if not create:
            raise StoreError(f"store {str(path)!r} does not exist")
        return
    size = path.stat().st_size
    if size == 0 and not create:
        raise StoreError(f"store {str(path)!r} is an empty file (0 bytes), not a store written by `multisource run`")
    if size > 0:
        with path.open("rb") as fh:
            if fh.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                raise StoreError(
                    f"store {str(path)!r} is not a SQLite database (expected a file written by `multisource run`)"
                )


class Store:
    """Results of experiment grids in one SQLite file.

    Parameters
    ----------
    path : the database file; created (with its parent folder) if missing, unless ``create=False``.
    create : False to open only an existing store (what ``multisource report`` does): a missing or
        empty file, or a SQLite file without the store's tables, is a :class:`StoreError`.

    Raises
    ------
    StoreError
        For a folder, a file that is not SQLite, or a store of another schema version.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        _check_path(self.path, create)
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: every transaction is explicit (BEGIN IMMEDIATE), DDL included.
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA busy_timeout = 60000")
            self._open_schema(create)
            self._db.execute("PRAGMA journal_mode = WAL")  # after the checks: it writes the file header
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise StoreError(f"store {str(self.path)!r} cannot be read as a SQLite database: {err}") from None
        except StoreError:
            self._db.close()
            raise

    def _open_schema(self, create: bool) -> None:
        with self._transaction():
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "meta" in tables:
                version = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
                if version is not None and version[0] == "2":
                    self._migrate_v2(tables)
                elif version is None or version[0] != str(SCHEMA_VERSION):
                    found = "none" if version is None else version[0]
                    raise StoreError(
                        f"store {str(self.path)!r} has schema version {found}; this version of "
                        f"multisource reads schema version {SCHEMA_VERSION} (and migrates versions 1 and 2)"
                    )
            elif tables == {"rows", "specs"} and self._v1_columns_match():
                self._migrate_v1()
            elif tables:
                raise StoreError(
                    f"store {str(self.path)!r} is a SQLite database but not a multisource store "
                    f"(its tables are {sorted(tables)})"
                )
            elif create:
                self._create_tables()
            else:
                raise StoreError(f"store {str(self.path)!r} has no tables: not a store written by `multisource run`")

    def _create_tables(self) -> None:
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _v1_columns_match(self) -> bool:
        return [row[1] for row in self._db.execute("PRAGMA table_info(rows)")] == [
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
            "seconds",
            "disc_seconds",
        ]

    def _migrate_v1(self) -> None:
        """Version 1 kept one ``rows`` table with the labels in it; split it into results and labels."""
        specs = [tuple(row) for row in self._db.execute("SELECT experiment, setting, spec FROM specs")]
        self._db.execute("ALTER TABLE specs RENAME TO specs_v1")
        self._create_tables()
        result_columns = ", ".join(c for c in _V1_COLUMNS if c not in LABEL_COLUMNS)
        self._db.execute(f"INSERT INTO results ({result_columns}) SELECT {result_columns} FROM rows")
        self._db.execute("INSERT OR IGNORE INTO experiment_rows SELECT experiment, key, attack, rule FROM rows")
        self._db.executemany(
            "INSERT OR IGNORE INTO specs VALUES (?, ?, ?, ?)",
            [(exp, setting, short_hash(json.loads(spec)), spec) for exp, setting, spec in specs],
        )
        self._db.execute("DROP TABLE rows")
        self._db.execute("DROP TABLE specs_v1")

    def _migrate_v2(self, tables: set[str]) -> None:
        """Version 2 had no bound columns: add them (NULL in the old rows) and any table it lacked."""
        for name in BOUNDS:
            self._db.execute(f"ALTER TABLE results ADD COLUMN {name} {RESULT_COLUMNS[name]}")
        for statement in _SCHEMA:
            if statement.split()[2] not in tables:
                self._db.execute(statement)
        self._db.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION),))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- specs and labels -------------------------------------------------------------------------
    def record_spec(self, spec: ExperimentSpec) -> None:
        """Keep the spec next to its rows, so a store says how its numbers were made."""
        spec_json = canonical_json(spec.to_dict())
        with self._transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO specs VALUES (?, ?, ?, ?)",
                (spec.name, spec.setting_hash(), short_hash(spec.to_dict()), spec_json),
            )

    def assign(self, experiment: str, entries: Iterable[tuple[str, str, str]]) -> None:
        """Show the rows of ``(key, attack label, rule label)`` entries under ``experiment``.

        The labels given here replace those the experiment had for the same keys, so a relabelled
        rule is reported under its new label; keys without a computed row yet show once computed.
        """
        labelled = [(experiment, key, attack, rule) for key, attack, rule in entries]
        with self._transaction():
            self._db.executemany(
                "DELETE FROM experiment_rows WHERE experiment = ? AND key = ?", [entry[:2] for entry in labelled]
            )
            self._db.executemany("INSERT OR IGNORE INTO experiment_rows VALUES (?, ?, ?, ?)", labelled)

    def specs(self) -> list[dict[str, Any]]:
        """The recorded specs: experiment, setting hash, spec hash and spec JSON."""
        return [dict(row) for row in self._db.execute("SELECT * FROM specs ORDER BY experiment, setting")]

    # ---- rows --------------------------------------------------------------------------------------
    def finished_keys(self) -> set[str]:
        """Keys of every computed row."""
        return {row[0] for row in self._db.execute("SELECT key FROM results")}

    def _insert_rows(self, rows: Sequence[dict[str, Any]]) -> int:
        for row in rows:
            if set(row) != set(COLUMNS):
                raise ValueError(f"a row must have exactly the columns {sorted(COLUMNS)}, got {sorted(row)}")
        before = self._db.total_changes
        placeholders = ", ".join(f":{name}" for name in RESULT_COLUMNS)
        # Columns named: a migrated table holds the version-3 columns last.
        self._db.executemany(
            f"INSERT OR IGNORE INTO results ({', '.join(RESULT_COLUMNS)}) VALUES ({placeholders})", rows
        )
        written = self._db.total_changes - before
        self._db.executemany("INSERT OR IGNORE INTO experiment_rows VALUES (:experiment, :key, :attack, :rule)", rows)
        return written

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert the rows of one grid point in one transaction; returns how many were new."""
        rows = list(rows)
        with self._transaction():
            return self._insert_rows(rows)

    def rows(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """All rows (of one experiment when given) with their labels, ordered by their identifying columns."""
        columns = ", ".join(f"e.{c}" if c in LABEL_COLUMNS else f"r.{c}" for c in COLUMNS)
        query = f"SELECT {columns} FROM experiment_rows e JOIN results r ON r.key = e.key"
        args: tuple[str, ...] = ()
        if experiment is not None:
            query += " WHERE e.experiment = ?"
            args = (experiment,)
        query += " ORDER BY e.experiment, r.setting, e.attack, r.alpha, r.seed, e.rule"
        return [dict(row) for row in self._db.execute(query, args)]

    # ---- grid points: commit, failures, leases -----------------------------------------------------
    def commit_point(self, point_key: str, rows: Sequence[dict[str, Any]], owner: LeaseOwner) -> int:
        """The rows of one grid point, its failure cleared and its lease released, in one transaction."""
        with self._transaction():
            written = self._insert_rows(rows)
            self._db.execute("DELETE FROM failures WHERE key = ?", (point_key,))
            self._db.execute("DELETE FROM leases WHERE key = ? AND owner = ?", (point_key, owner.run_id))
            self._db.execute(
                "UPDATE leases SET expires = ? WHERE owner = ?", (time.time() + LEASE_SECONDS, owner.run_id)
            )
        return written

    def record_failure(self, point_key: str, failure: dict[str, Any], owner: LeaseOwner) -> None:
        """Record (or update) a failed grid point and release its lease.

        ``failure`` has ``experiment, setting, point, rules, traceback, attempts``; the attempts add up
        over runs, the traceback and time are the last ones.
        """
        with self._transaction():
            self._db.execute(
                "INSERT INTO failures VALUES (:key, :experiment, :setting, :point, :rules, :traceback, :attempts, "
                ":last_time) ON CONFLICT (key) DO UPDATE SET experiment = excluded.experiment, "
                "setting = excluded.setting, point = excluded.point, rules = excluded.rules, "
                "traceback = excluded.traceback, attempts = attempts + excluded.attempts, "
                "last_time = excluded.last_time",
                {**failure, "key": point_key, "last_time": utc_now()},
            )
            self._db.execute("DELETE FROM leases WHERE key = ? AND owner = ?", (point_key, owner.run_id))

    def failures(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """The failed grid points (of one experiment when given), ordered by experiment, setting and point."""
        query = "SELECT * FROM failures" + (" WHERE experiment = ?" if experiment is not None else "")
        args = (experiment,) if experiment is not None else ()
        return [dict(row) for row in self._db.execute(query + " ORDER BY experiment, setting, point", args)]

    def take_leases(self, point_keys: Sequence[str], owner: LeaseOwner) -> tuple[list[str], list[dict[str, Any]]]:
        """Lease the free grid points among ``point_keys`` to ``owner`` in one transaction.

        A lease is free when nobody holds it, when it expired, or when its owner was a process of
        this host that is no longer alive. Returns the keys taken and the leases held by others.
        """
        now = time.time()
        with self._transaction():
            held = {row["key"]: dict(row) for row in self._db.execute("SELECT * FROM leases")}
            stale = [
                key
                for key, lease in held.items()
                if lease["expires"] < now or (lease["host"] == owner.host and not _process_alive(lease["pid"]))
            ]
            self._db.executemany("DELETE FROM leases WHERE key = ?", [(key,) for key in stale])
            for key in stale:
                del held[key]
            taken = [key for key in dict.fromkeys(point_keys) if key not in held]
            self._db.executemany(
                "INSERT INTO leases VALUES (?, ?, ?, ?, ?)",
                [(key, owner.run_id, owner.pid, owner.host, now + LEASE_SECONDS) for key in taken],
            )
        busy = [held[key] for key in dict.fromkeys(point_keys) if key in held]
        return taken, busy

    def release_leases(self, owner: LeaseOwner) -> None:
        """Drop every lease ``owner`` still holds (at the end of its run, however it ends)."""
        with self._transaction():
            self._db.execute("DELETE FROM leases WHERE owner = ?", (owner.run_id,))

    # ---- federated cells and their rounds (``mode = "federated"``, runner.federated_run) ----------
    def _has_table(self, name: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._db.execute(query, (name,)).fetchone() is not None

    def add_federated_round(self, key: str, row: dict[str, Any]) -> None:
        """Record one round of a federated cell (``round, test_accuracy, test_loss, train_loss, info``)."""
        with self._transaction():
            for statement in FEDERATED_SCHEMA:
                self._db.execute(statement)
            self._db.execute(
                "INSERT OR REPLACE INTO federated_rounds VALUES (:key, :round, :test_accuracy, :test_loss, "
                ":train_loss, :info)",
                {**row, "key": key},
            )

    def finish_federated_cell(self, cell: dict[str, Any]) -> None:
        """Record a federated cell as done (``status`` "ok") or skipped (its rule cannot hold, with ``reason``)."""
        with self._transaction():
            for statement in FEDERATED_SCHEMA:
                self._db.execute(statement)
            columns = ", ".join(f":{c}" for c in FEDERATED_CELL_COLUMNS)
            self._db.execute(f"INSERT OR REPLACE INTO federated_cells VALUES ({columns})", cell)

    def federated_cells(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """The finished federated cells (of one experiment when given); none in a store without them."""
        if not self._has_table("federated_cells"):
            return []
        query = "SELECT * FROM federated_cells" + (" WHERE experiment = ?" if experiment is not None else "")
        args = (experiment,) if experiment is not None else ()
        return [dict(r) for r in self._db.execute(query + " ORDER BY experiment, rule, attack, n_bad, seed", args)]

    def federated_rounds(self, key: str) -> list[dict[str, Any]]:
        """The recorded rounds of one federated cell, in order."""
        if not self._has_table("federated_rounds"):
            return []
        query = "SELECT * FROM federated_rounds WHERE key = ? ORDER BY round"
        return [dict(r) for r in self._db.execute(query, (key,))]
