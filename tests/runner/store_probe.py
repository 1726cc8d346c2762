"""Reading a store that another process is writing, for the tests that kill or race runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def row_count(path: Path) -> int:
    """Computed rows in the store at ``path``; 0 while it does not exist or its tables are being created."""
    try:
        with sqlite3.connect(path, timeout=1) as db:
            count = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        db.close()
        return int(count)
    except sqlite3.OperationalError:
        return 0
