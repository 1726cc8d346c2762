"""``multisource run SPEC [--store PATH] [--jobs J] [--executor local|dask] [--scheduler ADDRESS] [--retries R]``.

Runs a grid into a store. Errors in the arguments end with one line naming the argument and its
valid range, and exit code 2; a run whose grid points failed for good exits with 1 (see
``multisource report`` for the failures).
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from multisource.cli import federated
from multisource.cli.errors import open_run_store, usage_error
from multisource.runner.executors import EXECUTORS
from multisource.runner.federated_run import spec_is_federated
from multisource.runner.run import RunSummary, run_experiment
from multisource.runner.spec import ExperimentSpec
from multisource.utils.validation import check_int


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="experiment spec (TOML)")
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="SQLite results file (default: results/<spec name>.sqlite); finished rows are skipped",
    )
    parser.add_argument(
        "--jobs",
        "--workers",
        type=int,
        default=1,
        dest="jobs",
        help="worker processes on this machine: a process pool, or a Dask LocalCluster with "
        "--executor dask (default 1: in this process)",
    )
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None,
        help="local: process pool (default); dask: a Dask LocalCluster, or the --scheduler's cluster",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (implies --executor dask)",
    )
    parser.add_argument(
        "--retries", type=int, default=2, help="attempts after the first for a grid point that raises (default 2)"
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="module that registers your own attacks, rules or learners; imported here and on "
        "every worker (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_arguments(args: argparse.Namespace) -> None:
    try:
        check_int("--jobs", args.jobs, minimum=1)
        check_int("--retries", args.retries, minimum=0)
    except ValueError as err:
        usage_error("run", str(err))
    if args.scheduler is not None and not args.scheduler.strip():
        usage_error("run", "--scheduler must be a Dask scheduler address such as tcp://127.0.0.1:8786, got ''")
    if args.scheduler is not None and args.executor == "local":
        usage_error("run", "--scheduler needs --executor dask (or no --executor), got --executor local")
    for module in args.plugin:
        try:
            importlib.import_module(module)
        except ImportError as err:
            usage_error("run", f"--plugin {module!r} cannot be imported: {err}")


def _summary_line(name: str, summary: RunSummary, store_path: Path, retries: int) -> str:
    line = (
        f"{name}: {summary.points_run} grid points run, {summary.points_skipped} already finished, "
        f"{summary.rows_written} rows written to {store_path}"
    )
    if summary.points_failed:
        line += (
            f"; {summary.points_failed} grid points failed after {retries + 1} attempts "
            f"(`multisource report {store_path}` lists them)"
        )
    if summary.points_leased_elsewhere:
        line += (
            f"; {summary.points_leased_elsewhere} grid points left to another run that holds their lease "
            "(run again once it ends to pick up any it leaves)"
        )
    return line


def main(args: argparse.Namespace) -> int:
    _check_arguments(args)
    if spec_is_federated(args.spec):
        return federated.run_main(args)
    try:
        spec = ExperimentSpec.from_toml(args.spec)
    except (ValueError, TypeError) as err:
        message = str(err)
        if "does not exist" in message:
            usage_error("run", f"SPEC {message}")
        usage_error("run", message if message.startswith(f"{args.spec}: ") else f"{args.spec}: {message}")
    if not spec.has_data:
        usage_error("run", f"{args.spec}: [data] must name a dataset or a path (a table file)")
    with open_run_store(args.store, spec.name) as store:
        try:
            summary = run_experiment(
                spec,
                store,
                jobs=args.jobs,
                executor=args.executor or "local",
                scheduler=args.scheduler,
                retries=args.retries,
                plugins=args.plugin,
                progress=not args.no_progress,
            )
        except (ValueError, TypeError) as err:  # checks done before any grid point runs (e.g. no GPU worker)
            usage_error("run", str(err))
        except OSError as err:
            if args.scheduler is None:
                raise
            usage_error("run", f"--scheduler {args.scheduler}: cannot reach the Dask scheduler: {err}")
    print(_summary_line(spec.name, summary, store.path, args.retries))
    return 1 if summary.points_failed else 0
