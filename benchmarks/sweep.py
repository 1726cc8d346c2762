"""Sweep throughput: cells/s of one grid run in this process, on a process pool (2) and on Dask (2 workers).

Run: ``.venv/bin/python benchmarks/sweep.py`` (about two minutes on 2 CPU cores; ``--seeds 10`` for
a smoke run). The grid is iris in 5 sources of 10 samples, clean and label-flipped (alpha = 0.2),
rules ``all_data`` and ``quantile``, the cheap ``stumps`` discrepancy (so the executors' overhead
shows), one grid point per seed; a cell is one stored row (grid point x
rule). Each executor runs the whole grid with ``run_experiment`` into a fresh store, so the time
includes starting the pool or the ``LocalCluster`` (2 single-threaded workers on 127.0.0.1) and the
SQLite writes: what a user waits for. The table gives cells/s and the ratio against in-process, the
time of a grid of one grid point (two cells: mostly the start-up of the executor) and the cells/s
of the rest, (cells - 2) / (seconds - that time), which is what a long sweep tends to.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from multisource.runner import ExperimentSpec, Store, run_experiment


def sweep_spec(n_seeds: int, alphas: tuple[float, ...] = (0.0, 0.2)) -> ExperimentSpec:
    return ExperimentSpec.from_dict(
        {
            "name": "sweep_benchmark",
            "seeds": list(range(n_seeds)),
            "alphas": list(alphas),
            "rules": ["all_data", "quantile"],
            "data": {"dataset": "iris", "n_sources": 5, "m": 10},
            "discrepancy": "stumps",
            "attacks": [{"name": "label_flip", "params": {"p": 1.0}}],
        }
    )


def timed_sweep(spec: ExperimentSpec, folder: Path, label: str, *, jobs: int, executor: str) -> tuple[float, int]:
    """Wall seconds of the whole grid into a fresh store, and the rows it wrote."""
    with Store(folder / f"{label}.sqlite") as store:
        start = time.perf_counter()
        summary = run_experiment(spec, store, jobs=jobs, executor=executor, progress=False)
        return time.perf_counter() - start, summary.rows_written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50, help="grid points per alpha (default 50: 200 cells)")
    args = parser.parse_args()
    spec = sweep_spec(args.seeds)
    runs = [("in-process", 1, "local"), ("process pool (2)", 2, "local"), ("Dask LocalCluster (2 workers)", 2, "dask")]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}, "
        f"load average {load:.1f} at start"
    )
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for label, jobs, executor in runs:
            name = label.split()[0]
            start_up, _ = timed_sweep(
                sweep_spec(1, alphas=(0.0,)), Path(folder), f"{name}-1", jobs=jobs, executor=executor
            )
            seconds, cells = timed_sweep(spec, Path(folder), name, jobs=jobs, executor=executor)
            results.append((label, cells, seconds, start_up))
    baseline = results[0][1] / results[0][2]
    print("| executor | cells | seconds | cells/s | vs in-process | one-point grid (s) | cells/s after start-up |")
    print("|---|---|---|---|---|---|---|")
    for label, cells, seconds, start_up in results:
        steady = (cells - 2) / max(seconds - start_up, 1e-9)
        print(
            f"| {label} | {cells} | {seconds:.1f} | {cells / seconds:.1f} | {cells / seconds / baseline:.2f}x "
            f"| {start_up:.1f} | {steady:.1f} |"
        )


if __name__ == "__main__":
    main()
