"""Run an experiment grid into a store, skipping finished rows: ``run_experiment(spec, store)``.

The grid points run on any executor (this process, a process pool, a Dask cluster) and stream back
to this process, the store's single writer: rows, failures and leases are written here only.
See ``docs/cluster.md``.
"""

from __future__ import annotations

import importlib
import json
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

from tqdm.auto import tqdm

from multisource.data.dataset import MultiSourceDataset
from multisource.runner.executors import TaskFailure, check_executor, map_unordered
from multisource.runner.experiment import GridPoint, grid_points, point_rules, row_key, run_point
from multisource.runner.spec import Component, ExperimentSpec, canonical_json, short_hash
from multisource.runner.store import LeaseOwner, Store, utc_now
from multisource.utils.validation import check_bool, check_int

VERSIONED = ("multisource", "numpy", "scipy", "scikit-learn", "torch")


@dataclass(frozen=True)
class RunSummary:
    """How much of the grid this call computed: grid points run, skipped (finished), failed for good and left
    to another run holding their lease; rows written."""

    points_run: int
    points_skipped: int
    rows_written: int
    points_failed: int = 0
    points_leased_elsewhere: int = 0


def point_key(spec: ExperimentSpec, point: GridPoint) -> str:
    """The key of a grid point's lease and failure: a hash of (setting, attack, alpha, seed)."""
    return short_hash([spec.setting_hash(), point.attack.key(), point.alpha, point.seed])


def needs_gpu(spec: ExperimentSpec) -> bool:
    """Whether the cells run torch on CUDA: the learner's or the discrepancy's ``device`` names CUDA.

    ``device = "auto"`` asks for nothing: such a cell runs on whatever worker takes it.
    """
    devices = (spec.learner.params.get("device"), spec.discrepancy.params.get("device"))
    return any(isinstance(d, str) and d.startswith("cuda") for d in devices)


@lru_cache(maxsize=1)
def library_versions() -> str:
    """The versions of Python, multisource and its main dependencies in this process, as JSON."""
    import platform

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return canonical_json(versions)


def _device(spec: ExperimentSpec) -> str:
    devices = [c.params["device"] for c in (spec.learner, spec.discrepancy) if "device" in c.params]
    if not devices:
        return "cpu"
    from multisource.utils.device import resolve_device

    return ",".join(sorted({str(resolve_device(d)) for d in devices}))


def compute_point(
    spec: ExperimentSpec, point: GridPoint, rules: tuple[Component, ...], plugins: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The store rows of ``rules`` at one grid point with their provenance (runs on the worker).

    ``plugins`` are modules imported first, so a worker knows the attacks, rules or learners they register.
    """
    for module in plugins:
        importlib.import_module(module)
    start = time.perf_counter()
    rows = run_point(spec, point, rules)
    provenance = {
        "spec_hash": short_hash(spec.to_dict()),
        "versions": library_versions(),
        "device": _device(spec),
        "host": socket.gethostname(),
        "wall_seconds": time.perf_counter() - start,
        "finished_at": utc_now(),
    }
    return [{**row, **provenance} for row in rows]


def _pending_points(spec: ExperimentSpec, store: Store) -> list[tuple[GridPoint, tuple[Component, ...]]]:
    """The grid points with rules not yet in the store, after showing all of the spec's keys under its name."""
    points = grid_points(spec)
    labels = [(row_key(spec, p, r), p.attack.label, r.label) for p in points for r in point_rules(spec, p)]
    store.assign(spec.name, labels)
    finished = store.finished_keys()
    pending = []
    for point in points:
        missing = tuple(rule for rule in point_rules(spec, point) if row_key(spec, point, rule) not in finished)
        if missing:
            pending.append((point, missing))
    return pending


def _failure_record(spec: ExperimentSpec, point: GridPoint, rules: tuple[Component, ...], failure: TaskFailure) -> dict:
    return {
        "experiment": spec.name,
        "setting": spec.setting_hash(),
        "point": canonical_json({"attack": point.attack.label, "alpha": point.alpha, "seed": point.seed}),
        "rules": json.dumps([rule.label for rule in rules]),
        "traceback": failure.traceback,
        "attempts": failure.attempts,
    }


def run_experiment(
    spec: ExperimentSpec,
    store: Store,
    *,
    jobs: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    retries: int = 2,
    plugins: Sequence[str] = (),
    progress: bool = True,
    data: MultiSourceDataset | None = None,
) -> RunSummary:
    """Compute every grid point of ``spec`` that is not complete in ``store``, committing each point as it ends.

    A grid point is complete when the store has a row for each of its rules; an incomplete one is
    recomputed for its missing rules only. Rows do not depend on the executor or on ``jobs``.
    Each grid point is leased in the store before it is computed, so a second run on the same store
    leaves it alone; a point that raises is tried ``retries`` more times, then stored as a failure
    (:meth:`Store.failures`) and the sweep goes on. ``scheduler`` (``tcp://host:port``) runs the
    points on an existing Dask cluster (``executor="dask"`` is implied); cells whose learner or
    discrepancy runs on CUDA then ask for the worker resource ``GPU=1`` (:func:`needs_gpu`).
    ``plugins``: modules to import on every worker first (where your own registered components live).
    ``data``: clean sources from Python (e.g. ``MultiSourceDataset.from_frame``) for a spec without
    ``[data]``; they are used as they are at every seed, checked like a spec's data before any work
    (:meth:`ExperimentSpec.with_data`), and their content's hash enters the setting.
    """
    retries = check_int("retries", retries, minimum=0)
    progress = check_bool("progress", progress)
    if data is not None:
        spec = spec.with_data(data)
    if not spec.has_data:
        raise ValueError(f"spec {spec.name!r} has no [data] (dataset or path): pass data=<MultiSourceDataset>")
    executor = check_executor(jobs, "dask" if scheduler is not None else executor, scheduler)
    plugins = tuple(plugins)
    for module in plugins:
        importlib.import_module(module)
    store.record_spec(spec)
    pending = _pending_points(spec, store)
    owner = LeaseOwner()
    keys = [point_key(spec, point) for point, _ in pending]
    try:
        taken = set(store.take_leases(keys, owner)[0])
        # Another run may have committed a point (and freed its lease) after `pending` was read: its
        # lease was free to take, but its rows are in. Read again now that the leases are ours.
        tasks = [
            (spec, point, rules, plugins)
            for point, rules in _pending_points(spec, store)
            if point_key(spec, point) in taken
        ]
        outcomes = map_unordered(
            compute_point,
            tasks,
            jobs=jobs,
            executor=executor,
            scheduler=scheduler,
            retries=retries,
            resources={"GPU": 1} if needs_gpu(spec) else None,
        )
        written, failed = _store_outcomes(spec, store, tasks, outcomes, owner, progress)
    finally:
        store.release_leases(owner)
    return RunSummary(
        points_run=len(tasks) - failed,
        # a point leased here but found finished on the second read counts as skipped
        points_skipped=len(grid_points(spec)) - len(pending) + len(taken) - len(tasks),
        rows_written=written,
        points_failed=failed,
        points_leased_elsewhere=len(keys) - len(taken),
    )


def _store_outcomes(
    spec: ExperimentSpec,
    store: Store,
    tasks: list[tuple],
    outcomes: Iterator[tuple[int, Any]],
    owner: LeaseOwner,
    progress: bool,
) -> tuple[int, int]:
    """Write each grid point's rows (or its failure) as it arrives; returns (rows written, points failed)."""
    written = failed = 0
    with tqdm(total=len(tasks), desc=spec.name, unit="point", disable=not progress) as bar:
        for index, outcome in outcomes:
            _, point, rules, _ = tasks[index]
            if isinstance(outcome, TaskFailure):
                store.record_failure(point_key(spec, point), _failure_record(spec, point, rules, outcome), owner)
                failed += 1
            else:
                written += store.commit_point(point_key(spec, point), outcome, owner)
            bar.update(1)
    return written, failed
