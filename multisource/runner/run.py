"""Run an experiment grid into a store, skipping finished rows: ``run_experiment(spec, store)``."""

from __future__ import annotations

from dataclasses import dataclass

from tqdm.auto import tqdm

from multisource.runner.executors import map_unordered
from multisource.runner.experiment import grid_points, row_key, run_point
from multisource.runner.spec import ExperimentSpec
from multisource.runner.store import Store


@dataclass(frozen=True)
class RunSummary:
    """How much of the grid this call computed: grid points run and skipped, rows written."""

    points_run: int
    points_skipped: int
    rows_written: int


def run_experiment(
    spec: ExperimentSpec, store: Store, *, jobs: int = 1, executor: str = "local", progress: bool = True
) -> RunSummary:
    """Compute every grid point of ``spec`` that is not complete in ``store``, committing each point as it ends.

    A grid point is complete when the store has a row for each of its rules; an incomplete one is
    recomputed for its missing rules only. Rows do not depend on the executor or on ``jobs``.
    """
    store.record_spec(spec)
    finished = store.finished_keys()
    tasks = []
    for point in grid_points(spec):
        missing = tuple(rule for rule in spec.rules if row_key(spec, point, rule) not in finished)
        if missing:
            tasks.append((spec, point, missing))
    n_points = len(grid_points(spec))
    written = 0
    results = map_unordered(run_point, tasks, jobs=jobs, executor=executor)
    with tqdm(total=len(tasks), desc=spec.name, unit="point", disable=not progress) as bar:
        for rows in results:
            written += store.add_rows(rows)
            bar.update(1)
    return RunSummary(points_run=len(tasks), points_skipped=n_points - len(tasks), rows_written=written)
