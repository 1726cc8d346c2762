"""``multisource run SPEC`` for a spec with ``mode = "federated"`` (:mod:`multisource.runner.federated_run`)."""

from __future__ import annotations

import argparse

from multisource.cli.errors import open_run_store, usage_error
from multisource.runner.federated_run import FederatedSpec, run_federated_spec


def run_main(args: argparse.Namespace) -> int:
    """Run a federated spec into its store; a bad spec or store is a one-line error with exit code 2."""
    if args.jobs != 1 or args.executor is not None or args.scheduler is not None:
        usage_error("run", "a federated spec runs in this process: leave --jobs, --executor and --scheduler unset")
    try:
        spec = FederatedSpec.from_toml(args.spec)
    except (ValueError, TypeError) as err:
        usage_error("run", f"{args.spec}: {err}")
    with open_run_store(args.store, spec.name) as store:
        summary = run_federated_spec(spec, store, progress=not args.no_progress)
    print(
        f"{spec.name}: {summary.cells_run} federated cells run ({summary.rounds_written} rounds), "
        f"{summary.cells_finished_before} already finished, {summary.cells_not_applicable} skipped "
        f"(the rule's condition fails) in {store.path}"
    )
    return 0
