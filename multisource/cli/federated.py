"""``multisource run SPEC`` for a spec with ``mode = "federated"`` (:mod:`multisource.runner.federated_run`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from multisource.runner.federated_run import FederatedSpec, run_federated_spec
from multisource.runner.store import Store, StoreError


def run_main(args: argparse.Namespace) -> int:
    """Run a federated spec into its store; a bad spec or store is a one-line error with exit code 2."""
    from multisource.cli.run import usage_error

    if args.jobs != 1 or args.executor is not None or args.scheduler is not None:
        usage_error("run", "a federated spec runs in this process: leave --jobs, --executor and --scheduler unset")
    try:
        spec = FederatedSpec.from_toml(args.spec)
    except (ValueError, TypeError) as err:
        usage_error("run", f"{args.spec}: {err}")
    store_path = args.store if args.store is not None else Path("results") / f"{spec.name}.sqlite"
    try:
        store = Store(store_path)
    except StoreError as err:
        usage_error("run", f"--store: {err}")
    with store:
        summary = run_federated_spec(spec, store, progress=not args.no_progress)
    print(
        f"{spec.name}: {summary.cells_run} federated cells run ({summary.rounds_written} rounds), "
        f"{summary.cells_finished_before} already finished, {summary.cells_not_applicable} skipped "
        f"(the rule's condition fails) in {store_path}"
    )
    return 0
