"""``multisource run SPEC [--store PATH] [--jobs J] [--executor local|dask]``: run a grid into a store."""

from __future__ import annotations

import argparse
from pathlib import Path

from multisource.runner.executors import EXECUTORS
from multisource.runner.run import run_experiment
from multisource.runner.spec import ExperimentSpec
from multisource.runner.store import Store


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="experiment spec (TOML)")
    parser.add_argument("--store", type=Path, default=None,
                        help="SQLite results file (default: results/<spec name>.sqlite); finished rows are skipped")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local", help="process pool or a Dask LocalCluster")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    try:
        spec = ExperimentSpec.from_toml(args.spec)
    except (ValueError, TypeError) as err:
        raise SystemExit(f"multisource run: {args.spec}: {err}") from None
    store_path = args.store if args.store is not None else Path("results") / f"{spec.name}.sqlite"
    with Store(store_path) as store:
        summary = run_experiment(spec, store, jobs=args.jobs, executor=args.executor, progress=not args.no_progress)
    print(f"{spec.name}: {summary.points_run} grid points run, {summary.points_skipped} already finished, "
          f"{summary.rows_written} rows written to {store_path}")
    return 0
