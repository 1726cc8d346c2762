"""``multisource report STORE [--out DIR] [--experiment NAME]``: print the tables; with --out also write files.

The results tables come first, then the grid points that failed (if any). The store is opened
without being created or changed (a version-1 store is migrated in place): a missing, empty or
non-SQLite file is a one-line error with exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from multisource.cli.errors import usage_error
from multisource.report import error_figures, markdown_report, summarize, write_csv
from multisource.report.federated import federated_table
from multisource.report.tables import failure_table
from multisource.runner.store import Store, StoreError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="SQLite results file written by `multisource run`")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for report.md, summary.csv and one PNG per attack"
    )
    parser.add_argument("--experiment", default=None, help="only this experiment of the store")


def main(args: argparse.Namespace) -> int:
    try:
        store = Store(args.store, create=False)
    except StoreError as err:
        usage_error("report", f"STORE: {err}")
    with store:
        rows = store.rows(args.experiment)
        failures = store.failures(args.experiment)
        federated = store.federated_cells(args.experiment)
    if federated:  # mode = "federated" cells: their own final-accuracy table
        print("\n".join(federated_table(federated)))
    if not rows and not failures and not federated:
        usage_error(
            "report",
            f"STORE {str(args.store)!r} has no rows"
            + (f" for experiment {args.experiment!r}" if args.experiment else ""),
        )
    if not rows and not failures:
        return 0
    cells = summarize(rows)
    text = markdown_report(cells) if rows else ""
    text += "\n".join(failure_table(failures))
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(text)
        write_csv(cells, args.out / "summary.csv")
        figures = error_figures(cells, args.out)
        print(f"wrote {args.out / 'report.md'}, {args.out / 'summary.csv'} and {len(figures)} figures")
    return 0
