"""``multisource report STORE [--out DIR] [--experiment NAME]``: print the tables; with --out also write files."""

from __future__ import annotations

import argparse
from pathlib import Path

from multisource.report import error_figures, markdown_report, summarize, write_csv
from multisource.runner.store import Store


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="SQLite results file written by `multisource run`")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for report.md, summary.csv and one PNG per attack")
    parser.add_argument("--experiment", default=None, help="only this experiment of the store")


def main(args: argparse.Namespace) -> int:
    if not args.store.is_file():
        raise SystemExit(f"multisource report: store {str(args.store)!r} does not exist")
    with Store(args.store) as store:
        rows = store.rows(args.experiment)
    if not rows:
        raise SystemExit(f"multisource report: no rows in {args.store}"
                         + (f" for experiment {args.experiment!r}" if args.experiment else ""))
    cells = summarize(rows)
    text = markdown_report(cells)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(text)
        write_csv(cells, args.out / "summary.csv")
        figures = error_figures(cells, args.out)
        print(f"wrote {args.out / 'report.md'}, {args.out / 'summary.csv'} and {len(figures)} figures")
    return 0
