"""Executors that run tasks and yield their outcomes as they finish: in this process, a process pool, or Dask.

Every executor retries a task that raises up to ``retries`` more times and then yields a
:class:`TaskFailure` in its place, so one bad task never ends the sweep. The process pool also
survives a worker that dies (``os._exit``, SIGKILL, a segfault): the tasks it lost go to a fresh
pool, and a task that keeps killing its worker becomes a failure (see ``docs/cluster.md``).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from multisource.utils.validation import check_int

EXECUTORS = ("local", "dask")
Task = tuple[Any, ...]
_WATCHDOG_SECONDS = 0.5
_WORKER_DIED = "the worker process running this task died (killed, os._exit or a crash) before it returned"


@dataclass(frozen=True)
class TaskFailure:
    """What a task left after its last attempt: the traceback (or how its worker died) and the attempt count."""

    traceback: str
    attempts: int


def _attempt(fn: Callable[..., Any], task: Task) -> tuple[bool, Any]:
    """``(True, fn(*task))``, or ``(False, traceback text)`` when it raises (runs on the worker)."""
    try:
        return True, fn(*task)
    except Exception:
        return False, traceback.format_exc()


class _Attempts:
    """Attempt counts per task index; a task gives up after ``retries + 1`` failed attempts."""

    def __init__(self, retries: int) -> None:
        self.retries = retries
        self.counts: dict[int, int] = {}

    def failed(self, index: int, text: str) -> TaskFailure | None:
        """Count a failed attempt: the task's :class:`TaskFailure` when it has no attempt left, else None."""
        self.counts[index] = self.counts.get(index, 0) + 1
        return TaskFailure(text, self.counts[index]) if self.counts[index] > self.retries else None


def _sequential(fn: Callable[..., Any], tasks: Sequence[Task], retries: int) -> Iterator[tuple[int, Any]]:
    attempts = _Attempts(retries)
    for index, task in enumerate(tasks):
        while True:
            ok, value = _attempt(fn, task)
            failure = None if ok else attempts.failed(index, value)
            if ok or failure is not None:
                yield index, value if ok else failure
                break


# ---- process pool ------------------------------------------------------------------------------------
_running: Any = None  # in a pool worker: the shared array of "pid running task i" (0: not running)


def _pool_worker_init(running: Any, parent_pid: int) -> None:
    """Pool worker set-up: the shared running-task array, and a watchdog that ends the worker with its parent."""
    global _running
    _running = running

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_WATCHDOG_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _pool_attempt(fn: Callable[..., Any], index: int, task: Task) -> tuple[bool, Any]:
    _running[index] = os.getpid()
    try:
        return _attempt(fn, task)
    finally:
        _running[index] = 0


def _pool_round(
    fn: Callable[..., Any], tasks: Sequence[Task], indices: list[int], jobs: int, running: Any, attempts: _Attempts
) -> Generator[tuple[int, Any], None, list[int]]:
    """Run ``indices`` in one fresh pool until done or until it breaks.

    The indices it lost are left in ``indices``; returns those of them that were in the pool's hands.
    """
    # "spawn": a forked child inherits torch's/OpenMP's thread pools in a locked state and can hang.
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_pool_worker_init,
        initargs=(running, os.getpid()),
    )
    pending = list(reversed(indices))
    in_flight: dict[Future[tuple[bool, Any]], int] = {}
    indices.clear()
    try:
        while pending or in_flight:
            # A few tasks in flight per worker: waiting stays cheap and an interrupt cancels little.
            while pending and len(in_flight) < 2 * jobs:
                future = pool.submit(_pool_attempt, fn, pending[-1], tasks[pending[-1]])
                in_flight[future] = pending.pop()
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                ok, value = future.result()  # BrokenProcessPool when a worker died
                index = in_flight.pop(future)
                failure = None if ok else attempts.failed(index, value)
                if ok or failure is not None:
                    yield index, value if ok else failure
                else:
                    pending.append(index)
    except BrokenProcessPool:
        indices.extend([*in_flight.values(), *pending])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return list(in_flight.values()) if indices else []


def _process_pool(fn: Callable[..., Any], tasks: Sequence[Task], jobs: int, retries: int) -> Iterator[tuple[int, Any]]:
    """Pool rounds until every task is done or failed for good.

    A broken pool loses every task it held. The ones a worker was running are the suspects: one of
    them killed its worker, the others were taken down with it. A lone suspect is charged an attempt;
    several are retried in a one-worker pool, where a death names its culprit. A death outside any
    task (no suspect) charges the tasks the pool had been given. Every break charges an attempt or
    isolates at least two suspects, so the number of fresh pools is bounded.
    """
    running = multiprocessing.get_context("spawn").RawArray("q", max(len(tasks), 1))
    attempts = _Attempts(retries)
    queue = list(range(len(tasks)))
    alone: list[int] = []
    while queue or alone:
        isolated = bool(alone)
        lost = alone if isolated else queue
        submitted = yield from _pool_round(fn, tasks, lost, 1 if isolated else jobs, running, attempts)
        suspects = [i for i in lost if running[i] != 0]
        for i in lost:
            running[i] = 0
        if len(suspects) > 1:
            alone, queue = suspects, [i for i in lost if i not in suspects]
            continue
        for index in suspects or submitted:
            failure = attempts.failed(index, _WORKER_DIED)
            if failure is not None:
                yield index, failure
        survivors = [i for i in lost if attempts.counts.get(i, 0) <= retries]
        if isolated:
            alone = survivors
        else:
            queue = survivors


# ---- Dask ----------------------------------------------------------------------------------------------
def _dask_client(jobs: int, scheduler: str | None) -> Any:
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        return Client(scheduler, timeout="20s")
    # Loopback only, no dashboard: the cluster lives and dies with this run.
    cluster = LocalCluster(
        n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = Client(cluster)
    client.close = _closing_both(client, cluster)  # type: ignore[method-assign]
    return client


def _closing_both(client: Any, cluster: Any) -> Callable[..., None]:
    close_client = client.close

    def close(*args: Any, **kwargs: Any) -> None:
        close_client(*args, **kwargs)
        cluster.close()

    return close


def _check_resources(client: Any, resources: dict[str, float], scheduler: str) -> None:
    workers = client.scheduler_info().get("workers", {}).values()
    for name, amount in resources.items():
        if not any(w.get("resources", {}).get(name, 0) >= amount for w in workers):
            raise ValueError(
                f"the tasks need the worker resource {name}={amount}, which no worker of {scheduler} "
                f"offers; start workers with `dask worker {scheduler} --resources {name}={amount}`"
            )


def _dask(
    fn: Callable[..., Any],
    tasks: Sequence[Task],
    jobs: int,
    retries: int,
    scheduler: str | None,
    resources: dict[str, float] | None,
) -> Iterator[tuple[int, Any]]:
    from dask.distributed import as_completed as dask_as_completed

    client = _dask_client(jobs, scheduler)
    try:
        if scheduler is not None and resources:
            _check_resources(client, resources, scheduler)
        else:
            resources = None  # a LocalCluster is this machine: no resource to wait for

        def submit(index: int) -> Any:
            return client.submit(_attempt, fn, tasks[index], pure=False, resources=resources)

        futures = {submit(i): i for i in range(len(tasks))}
        attempts = _Attempts(retries)
        stream = dask_as_completed(list(futures))
        for future in stream:
            index = futures.pop(future)
            try:
                ok, value = future.result()
            except Exception:  # KilledWorker (the task killed every worker it ran on), a lost connection
                ok, value = False, traceback.format_exc()
            future.release()
            failure = None if ok else attempts.failed(index, value)
            if ok or failure is not None:
                yield index, value if ok else failure
            else:
                retry = submit(index)
                futures[retry] = index
                stream.add(retry)
    finally:
        client.close()


def check_executor(jobs: object, executor: object, scheduler: object = None) -> str:
    """Check an executor choice before any work is done; returns the executor name.

    Raises
    ------
    ValueError, TypeError
        ``jobs`` not an int >= 1, an executor not in :data:`EXECUTORS`, a scheduler that is not a
        non-empty address, or a scheduler with ``executor="local"``.
    """
    check_int("jobs", jobs, minimum=1)
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise TypeError(f"scheduler must be an address such as 'tcp://127.0.0.1:8786', got {scheduler!r}")
    if scheduler is not None and executor != "dask":
        raise ValueError(f"scheduler={scheduler!r} needs executor='dask', got executor={executor!r}")
    return str(executor)


def map_unordered(
    fn: Callable[..., Any],
    tasks: Sequence[Task],
    *,
    jobs: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
    retries: int = 0,
    resources: dict[str, float] | None = None,
) -> Iterator[tuple[int, Any]]:
    """``(i, fn(*tasks[i]))`` for every task, yielded in completion order; a task that keeps failing
    yields ``(i, TaskFailure)`` instead.

    Parameters
    ----------
    fn : a picklable top-level function.
    tasks : argument tuples.
    jobs : worker processes of this machine (1 with ``executor="local"``: run in this process, in order);
        not used with ``scheduler``.
    executor : "local" (``concurrent.futures`` process pool) or "dask".
    scheduler : address of a running Dask scheduler (``tcp://host:port``); implies ``executor="dask"``.
        Without it, "dask" starts a ``LocalCluster`` of ``jobs`` workers on 127.0.0.1.
    retries : attempts after the first for a task that raises (or whose worker dies).
    resources : Dask worker resources each task needs on a remote cluster, e.g. ``{"GPU": 1}``.
    """
    check_executor(jobs, executor, scheduler)
    retries = check_int("retries", retries, minimum=0)
    if executor == "dask":
        return _dask(fn, tasks, jobs, retries, scheduler, resources)
    if jobs == 1:
        return _sequential(fn, tasks, retries)
    return _process_pool(fn, tasks, jobs, retries)
