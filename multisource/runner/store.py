"""SQLite store of experiment rows: one row per (setting, attack, alpha, seed, rule) key, written once.

Rows of a grid point are inserted in one transaction (``INSERT OR IGNORE`` on the key) and
committed at once, so a run killed at any moment leaves only whole grid points behind, and a rerun
skips them: nothing is lost or duplicated.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from multisource.runner.spec import ExperimentSpec, canonical_json

COLUMNS: dict[str, str] = {
    "key": "TEXT PRIMARY KEY",
    "experiment": "TEXT NOT NULL",
    "setting": "TEXT NOT NULL",
    "attack": "TEXT NOT NULL",
    "alpha": "REAL NOT NULL",
    "n_bad": "INTEGER NOT NULL",
    "seed": "INTEGER NOT NULL",
    "rule": "TEXT NOT NULL",
    "kind": "TEXT NOT NULL",
    "error": "REAL NOT NULL",
    "precision": "REAL",
    "recall": "REAL",
    "n_kept": "INTEGER NOT NULL",
    "fell_back": "INTEGER NOT NULL",
    "info": "TEXT NOT NULL",
    "seconds": "REAL NOT NULL",
    "disc_seconds": "REAL NOT NULL",
}


class Store:
    """Results of experiment grids in one SQLite file (created on first use).

    Parameters
    ----------
    path : the database file; its parent folder is created if needed.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.row_factory = sqlite3.Row
        with self._db:
            columns = ", ".join(f"{name} {decl}" for name, decl in COLUMNS.items())
            self._db.execute(f"CREATE TABLE IF NOT EXISTS rows ({columns})")
            self._db.execute("CREATE TABLE IF NOT EXISTS specs (experiment TEXT, setting TEXT, spec TEXT, "
                             "PRIMARY KEY (experiment, setting, spec))")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record_spec(self, spec: ExperimentSpec) -> None:
        """Keep the spec next to its rows, so a store says how its numbers were made."""
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO specs VALUES (?, ?, ?)",
                             (spec.name, spec.setting_hash(), canonical_json(spec.to_dict())))

    def finished_keys(self) -> set[str]:
        """Keys of every stored row."""
        return {row[0] for row in self._db.execute("SELECT key FROM rows")}

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert the rows of one grid point in one transaction; returns how many were new."""
        rows = list(rows)
        for row in rows:
            if set(row) != set(COLUMNS):
                raise ValueError(f"a row must have exactly the columns {sorted(COLUMNS)}, got {sorted(row)}")
        placeholders = ", ".join(f":{name}" for name in COLUMNS)
        with self._db:
            before = self._db.total_changes
            self._db.executemany(f"INSERT OR IGNORE INTO rows VALUES ({placeholders})", rows)
            return self._db.total_changes - before

    def rows(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """All rows (of one experiment when given), ordered by their identifying columns."""
        query = "SELECT * FROM rows"
        args: tuple = ()
        if experiment is not None:
            query += " WHERE experiment = ?"
            args = (experiment,)
        query += " ORDER BY experiment, setting, attack, alpha, seed, rule"
        return [dict(row) for row in self._db.execute(query, args)]

    def specs(self) -> list[dict[str, Any]]:
        """The recorded specs: experiment, setting hash and spec JSON."""
        return [dict(row) for row in self._db.execute("SELECT * FROM specs ORDER BY experiment, setting")]
