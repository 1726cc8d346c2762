"""Executors that run grid points and yield their rows as they finish: local (sequential or a process pool) and Dask."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from multisource.utils.validation import check_int

EXECUTORS = ("local", "dask")
Task = tuple[Any, ...]


def _local(fn: Callable, tasks: Sequence[Task], jobs: int) -> Iterator[Any]:
    if jobs == 1:
        for task in tasks:
            yield fn(*task)
        return
    # "spawn": a forked child inherits torch's/OpenMP's thread pools in a locked state and can hang.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(fn, *task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def _dask(fn: Callable, tasks: Sequence[Task], jobs: int) -> Iterator[Any]:
    from dask.distributed import Client, LocalCluster
    from dask.distributed import as_completed as dask_as_completed

    # Loopback only, no dashboard: the cluster lives and dies with this run.
    with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        futures = [client.submit(fn, *task, pure=False) for task in tasks]
        for future in dask_as_completed(futures):
            yield future.result()


def map_unordered(fn: Callable, tasks: Sequence[Task], *, jobs: int = 1, executor: str = "local") -> Iterator[Any]:
    """``fn(*task)`` for every task, yielded in completion order.

    Parameters
    ----------
    fn : a picklable top-level function.
    tasks : argument tuples.
    jobs : worker processes (1: run in this process, in order).
    executor : "local" (``concurrent.futures`` process pool) or "dask" (a ``LocalCluster`` on 127.0.0.1).
    """
    jobs = check_int("jobs", jobs, minimum=1)
    if executor == "local":
        return _local(fn, tasks, jobs)
    if executor == "dask":
        return _dask(fn, tasks, jobs)
    raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
