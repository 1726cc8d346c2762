"""A sweep on a real Dask cluster: a `dask scheduler` and two `dask worker` processes on 127.0.0.1, one of
them killed by PID mid-run; every row arrives exactly once and equals an in-process run's."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_probe import row_count

from multisource.runner import ExperimentSpec, Store, run_experiment
from multisource.runner.executors import _check_resources
from multisource.runner.run import needs_gpu

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).with_name("dask")
SEEDS = 50
SPEC = f"""
name = "cluster"
seeds = {list(range(SEEDS))}
alphas = [0.0, 0.2]
rules = ["all_data", "quantile"]

[data]
dataset = "iris"
n_sources = 5
m = 10

[discrepancy]
name = "stumps"

[[attacks]]
name = "label_flip"
params = {{p = 1.0}}
"""
N_ROWS = SEEDS * 2 * 2  # seeds x (clean, label_flip) x rules
DETERMINISTIC = (
    "key",
    "experiment",
    "setting",
    "attack",
    "alpha",
    "n_bad",
    "seed",
    "rule",
    "kind",
    "error",
    "precision",
    "recall",
    "n_kept",
    "fell_back",
    "info",
    "spec_hash",
    "versions",
    "device",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(*args: str) -> subprocess.Popen:
    # Own session: the process and anything it starts can be killed as a group at the end.
    return subprocess.Popen(
        [str(DASK), *args], cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_for_workers(address: str, n: int, timeout: float = 120) -> None:
    from dask.distributed import Client

    with Client(address, timeout=f"{timeout}s") as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.fixture
def cluster() -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A scheduler and two single-threaded workers without nannies (a killed worker stays dead)."""
    if not DASK.is_file():
        pytest.skip("the dask command is not installed")
    address = f"tcp://127.0.0.1:{_free_port()}"
    processes = [_start("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard")]
    try:
        for _ in range(2):
            processes.append(
                _start(
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                    "--death-timeout",
                    "60",
                )
            )
        _wait_for_workers(address, 2)
        yield address, processes[1:]
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.slow
def test_a_sweep_on_a_dask_cluster_survives_a_killed_worker_with_every_row_exactly_once(cluster, tmp_path):
    address, workers = cluster
    spec_path = tmp_path / "cluster.toml"
    spec_path.write_text(SPEC)
    path = tmp_path / "cluster.sqlite"
    command = [
        sys.executable,
        "-m",
        "multisource.cli",
        "run",
        str(spec_path),
        "--store",
        str(path),
        "--scheduler",
        address,
        "--no-progress",
    ]
    sweep = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and row_count(path) < N_ROWS // 5 and sweep.poll() is None:
            time.sleep(0.05)
        assert sweep.poll() is None, "the sweep ended before a worker could be killed"
        os.kill(workers[0].pid, signal.SIGKILL)
        killed_at = row_count(path)
        out, err = sweep.communicate(timeout=600)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, err
    assert killed_at < N_ROWS and f"{N_ROWS // 2} grid points run, 0 already finished, {N_ROWS} rows written" in out
    with sqlite3.connect(path) as db:
        keys = [key for (key,) in db.execute("SELECT key FROM results")]
    db.close()
    assert len(keys) == len(set(keys)) == N_ROWS
    spec = ExperimentSpec.from_toml(spec_path)
    with Store(path) as store:
        on_cluster = [tuple(row[c] for c in DETERMINISTIC) for row in store.rows()]
    with Store(tmp_path / "in_process.sqlite") as store:
        run_experiment(spec, store, progress=False)
        in_process = [tuple(row[c] for c in DETERMINISTIC) for row in store.rows()]
    assert on_cluster == in_process


@pytest.mark.parametrize(("device", "gpu"), [("cuda", True), ("cuda:1", True), ("auto", False), ("cpu", False)])
def test_cells_ask_for_a_gpu_worker_exactly_when_their_learner_runs_on_cuda(device, gpu):
    table = tomllib.loads(SPEC)
    spec = ExperimentSpec.from_dict({**table, "learner": {"name": "torch_mlp", "params": {"device": device}}})
    assert needs_gpu(spec) is gpu
    assert not needs_gpu(ExperimentSpec.from_dict(table))


class _SchedulerInfo:
    def __init__(self, *resources: dict[str, float]) -> None:
        self.workers = {f"tcp://w{i}": {"resources": r} for i, r in enumerate(resources)}

    def scheduler_info(self) -> dict:
        return {"workers": self.workers}


def test_gpu_cells_on_a_cluster_without_gpu_workers_fail_at_once_saying_how_to_start_one():
    _check_resources(_SchedulerInfo({}, {"GPU": 1}), {"GPU": 1}, "tcp://s:8786")  # one GPU worker is enough
    with pytest.raises(
        ValueError, match=r"no worker of tcp://s:8786 offers; .*dask worker tcp://s:8786 --resources GPU=1"
    ):
        _check_resources(_SchedulerInfo({}, {"CPU": 4}), {"GPU": 1}, "tcp://s:8786")
