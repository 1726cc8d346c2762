"""What every command shares: a one-line usage error with exit code 2, and opening the run's store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

from multisource.runner.store import Store, StoreError


def usage_error(command: str, message: str) -> NoReturn:
    """Print ``multisource COMMAND: error: MESSAGE`` (one line, no traceback) and exit with code 2."""
    one_line = " ".join(message.splitlines())
    print(f"multisource {command}: error: {one_line}", file=sys.stderr)
    raise SystemExit(2)


def open_run_store(path: Path | None, name: str) -> Store:
    """The store of ``multisource run``: ``path``, or ``results/<name>.sqlite``; a bad one is a usage error."""
    try:
        return Store(path if path is not None else Path("results") / f"{name}.sqlite")
    except StoreError as err:
        usage_error("run", f"--store: {err}")
