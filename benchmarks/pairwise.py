"""Pairwise discrepancy benchmark: batched torch Newton vs a scikit-learn loop over pairs.

Run: ``.venv/bin/python benchmarks/pairwise.py`` (about two minutes on 2 CPU cores; ``--quick`` for
a smoke run). For N in {10, 20, 50} sources of m = 100 Gaussian-class samples it times
``pairwise(estimator="linear")`` (all N(N-1)/2 pairs in batched Newton steps, float64, on
``--device``) against ``pairwise(estimator="sklearn")`` (one ``LogisticRegression`` per pair and
binary problem, the same objective), each the fastest of ``--repeats`` runs, and prints the speed-up
and the largest disagreement of the two matrices. This table is the CPU baseline for a later GPU
run (``--device cuda``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from multisource.data import load_dataset, make_multisource
from multisource.discrepancy import pairwise
from multisource.discrepancy.reduction import n_problems
from multisource.utils.device import resolve_device


def timed(fn, repeats: int) -> tuple[float, np.ndarray]:
    """Fastest wall time of ``fn`` over ``repeats`` runs (the least disturbed by other jobs) and its result."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, nargs="+", default=[10, 20, 50], help="values of N")
    parser.add_argument("--m", type=int, default=100, help="samples per source")
    parser.add_argument("--features", type=int, default=20, help="feature dimension d")
    parser.add_argument("--classes", type=int, default=2, help="number of classes K")
    parser.add_argument("--device", default="auto", help="torch device of the batched estimator")
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing; the fastest is reported")
    parser.add_argument("--quick", action="store_true", help="N in {5, 10} only, one run each")
    args = parser.parse_args()
    sources, repeats = ([5, 10], 1) if args.quick else (args.sources, args.repeats)
    device = resolve_device(args.device)
    n_train = max(sources) * args.m
    data = load_dataset(
        "synthetic", n_samples=2 * n_train, n_features=args.features, n_classes=args.classes, margin=2.0, seed=0
    )
    print(
        f"## pairwise disc, synthetic Gaussian classes: m={args.m}, d={args.features}, K={args.classes} "
        f"({n_problems(args.classes)} logistic problems per pair), float64"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores shared with other "
        f"jobs (timings noisy), torch {torch.__version__} on {device}"
    )
    header = ("N", 4), ("pairs", 6), ("batched s", 10), ("sklearn s", 10), ("speed-up", 9), ("max |diff|", 11)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'mean disc':>10}")
    # One untimed run first, so that torch's and scikit-learn's one-off start-up costs are not in the table.
    warm_up = make_multisource(data, n_sources=3, m=args.m, n_test=0.5, seed=0)
    pairwise(warm_up, estimator="linear", device=device)
    pairwise(warm_up, estimator="sklearn")
    for n_sources in sources:
        ds = make_multisource(data, n_sources=n_sources, m=args.m, n_test=0.5, seed=n_sources)
        t_batched, batched = timed(lambda: pairwise(ds, estimator="linear", device=device), repeats)
        t_sklearn, reference = timed(lambda: pairwise(ds, estimator="sklearn"), repeats)
        pairs = n_sources * (n_sources - 1) // 2
        print(
            f"{n_sources:>4} {pairs:>6} {t_batched:>10.2f} {t_sklearn:>10.2f} {t_sklearn / t_batched:>8.1f}x "
            f"{np.abs(batched - reference).max():>11.4f} {batched[np.triu_indices(n_sources, 1)].mean():>10.3f}"
        )


if __name__ == "__main__":
    main()
