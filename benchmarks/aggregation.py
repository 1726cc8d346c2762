"""Robust aggregation benchmark: our aggregators and pre-aggregators against ByzFL's, one thread.

Run: ``.venv/bin/python benchmarks/aggregation.py`` (about 15 minutes on a loaded 2-core machine;
``--quick`` for a smoke run with small n and d). For n in {20, 50, 100} input vectors of d in
{1e4, 1e6} (outliers mixed in), it times every rule we share with ByzFL 0.0.11 in the same process,
with numpy float64 inputs (ByzFL's numpy path) and torch float32 inputs (ByzFL's torch path),
ours and ByzFL's run in alternating blocks and each the fastest of its runs, on one thread
(``torch.set_num_threads(1)`` and threadpoolctl for BLAS), with glibc's allocator pinned to one
state (:func:`pin_allocator`), and prints the ratio ours / ByzFL (below 1: ours is faster).

Each rule runs with ByzFL's parametrisation so both do the same work: Krum with ``n_bad`` is ByzFL's
with ``f = n_bad + 1``; the geometric median runs ByzFL's three smoothed Weiszfeld steps from zero.
ByzFL has no Bulyan: its baseline is ByzFL's Krum applied ``n - 2 n_bad`` times then its Meamed
(timing only). Exhaustive rules (MDA, SMEA) and CAF run with a small ``n_bad`` (2, or 1 at n = 100); ByzFL is skipped
where its estimated cost exceeds ``--budget`` element operations (printed as ``skip``); a ByzFL
failure (its torch median refuses more than 2^24 entries; its NNM runs out of memory at n = 100,
d = 1e6) prints ``fail``.
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import multisource.aggregation as agg
from multisource.aggregation.byzfl import import_byzfl_aggregators

B, P = import_byzfl_aggregators()


IN_PLACE = ("static_clipping", "arc")
"""Rules timed with ``copy=False``: they clip the rows of their input in place, as ByzFL's always do."""


def pin_allocator() -> str:
    """Serve allocations up to 32 MiB from glibc's heap and never give it back to the system (mallopt).

    Both libraries allocate n x d temporaries; by default glibc maps each from the system afresh
    (and pays its page faults) or reuses heap memory, depending on the allocator's history. ByzFL's
    geometric median at n = 50, d = 1e4 took 4.5 ms in one state and 11 ms in the other. Pinned,
    every rule runs in the faster state, ByzFL's included, and its times no longer depend on what
    ran before. Temporaries above 32 MiB (d = 1e6) are still mapped afresh, on both sides.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return "default (not glibc)"
    m_trim_threshold, m_mmap_threshold = -1, -3
    if libc.mallopt(m_mmap_threshold, 32 << 20) and libc.mallopt(m_trim_threshold, 1 << 30):
        return "glibc heap up to 32 MiB, never trimmed"
    return "default (mallopt refused)"


def run_once(fn: Callable[[object], object], X: object) -> float:
    """Wall time of ``fn(X)``."""
    start = time.perf_counter()
    fn(X)
    return time.perf_counter() - start


def compare(
    ours: Callable, theirs: Callable, X: object, repeats: int, skip: bool, in_place: bool, block: int = 5
) -> tuple[float, float | str]:
    """Fastest single-call times of ours and of ByzFL's on X, in alternating blocks of ``block`` calls.

    Each round (after the first) of calls under 10 ms runs ``block`` calls of ours, then ``block`` of
    ByzFL's, so load drift hits both alike and each side is timed warm, as timeit does. One call
    each, alternately, charged whichever ran second for re-loading its own code and data: after one
    ByzFL numpy call even ``torch.empty(0)`` took about 15 us (0.5 us warm), which swamped the
    calls of 0.03-0.3 ms at d = 1e4. At least ``repeats`` rounds and 0.5 s in all (fast rules get
    many rounds); one call when ByzFL's takes over 5 s.

    With ``in_place`` (ByzFL's Clipping and ARC write into their input, and so does our clipping
    with ``copy=False``) every run of either gets a fresh copy, made outside the timing; otherwise
    both read the same X (a fresh copy for one side only would hand it an input already in cache).
    Returns ``"skip"`` or ``"fail"`` for ByzFL when skipped or when it raises (its torch median
    refuses more than 2^24 entries; its NNM gathers an (n, n - n_bad, d) array, 57 GiB at n = 100,
    d = 1e6).
    """
    copy = (lambda: X.clone()) if isinstance(X, torch.Tensor) else (lambda: X.copy())
    best_ours, spent, rounds = math.inf, 0.0, 0
    byzfl: float | str = "skip" if skip else math.inf
    while rounds < repeats or (spent < 0.5 and rounds < 100):
        calls = block if best_ours < 0.01 else 1  # blocks for calls under 10 ms, where warmth matters
        for _ in range(calls):
            elapsed = run_once(ours, copy() if in_place else X)
            best_ours, spent = min(best_ours, elapsed), spent + elapsed
        for _ in range(calls if isinstance(byzfl, float) else 0):
            try:
                elapsed = run_once(theirs, copy() if in_place else X)
            except (RuntimeError, ValueError, MemoryError):
                byzfl = "fail"
                break
            byzfl, spent = min(byzfl, elapsed), spent + elapsed
        rounds += 1
        if isinstance(byzfl, float) and byzfl > 5.0:
            break
    return best_ours, byzfl


def inputs(n: int, d: int, n_bad: int, seed: int = 0) -> np.ndarray:
    """(n, d) float64: Gaussian honest vectors and n_bad shifted outliers."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[:n_bad] += 5.0 / math.sqrt(d) * rng.standard_normal((n_bad, d)).sum(axis=0) + 1.0
    return X


def byzfl_bulyan(vectors: np.ndarray | torch.Tensor, n_bad: int) -> object:
    """Bulyan from ByzFL's parts: its Krum ``n - 2 n_bad`` times on what is left, then the mean of the
    ``n - 4 n_bad`` values closest to the median per coordinate, written as ByzFL's Meamed body (its
    Meamed refuses ``2 * (2 n_bad) >= n - 2 n_bad``). Timing baseline only."""
    left, selected = vectors, []
    for _ in range(len(vectors) - 2 * n_bad):
        r = len(left)
        chosen = B.Krum(min(n_bad + 1, (r - 1) // 2))(left)
        hit = (left == chosen).all(axis=1) if isinstance(left, np.ndarray) else (left == chosen).all(dim=1)
        i = int(hit.nonzero()[0][0])
        selected.append(left[i])
        left = left[[j for j in range(r) if j != i]]
    if isinstance(vectors, np.ndarray):
        S = np.stack(selected)
        beta = len(S) - 2 * n_bad
        closest = np.argpartition(np.abs(S - np.median(S, axis=0)), beta - 1, axis=0)[:beta]
        return np.take_along_axis(S, closest, axis=0).mean(axis=0)
    S = torch.stack(selected)
    beta = len(S) - 2 * n_bad
    closest = torch.topk((S - S.quantile(0.5, dim=0)).abs(), beta, dim=0, largest=False).indices
    return torch.gather(S, 0, closest).mean(dim=0)


def rules(n: int, d: int, n_bad: int) -> list[tuple[str, int, Callable, Callable, float]]:
    """(name, n_bad, ours, ByzFL's, ByzFL's estimated element operations) for every shared rule."""
    small = 1 if n >= 100 else 2  # exhaustive searches over C(n, small) subsets
    k = n - small
    # Rough ByzFL costs: one pass is n d, a distance matrix n^2 d, a Python step about 1e3.
    per_pass, pairwise = n * d, n * n * d
    return [
        ("mean", 0, agg.mean, B.Average(), per_pass),
        ("coordinate_median", 0, agg.coordinate_median, B.Median(), per_pass),
        ("trimmed_mean", n_bad, lambda X: agg.trimmed_mean(X, n_bad=n_bad), B.TrMean(n_bad), per_pass),
        ("meamed", n_bad, lambda X: agg.meamed(X, n_bad=n_bad), B.Meamed(n_bad), per_pass),
        (
            "geometric_median",
            0,
            lambda X: agg.geometric_median(X, init="zeros", nu=0.1, max_iter=3, tol=0.0),
            B.GeometricMedian(),
            per_pass,
        ),
        ("krum", n_bad, lambda X: agg.krum(X, n_bad=n_bad), B.Krum(n_bad + 1), pairwise),
        (
            "multi_krum",
            n_bad,
            lambda X: agg.multi_krum(X, n_bad=n_bad, m=n - n_bad - 1),
            B.MultiKrum(n_bad + 1),
            pairwise,
        ),
        (
            "bulyan",
            n_bad,
            lambda X: agg.bulyan(X, n_bad=n_bad),
            lambda X: byzfl_bulyan(X, n_bad),
            (n - 2 * n_bad) * pairwise,
        ),
        # A fresh CenteredClipping each call: ByzFL's instance keeps its last output as the next centre.
        ("centered_clipping", 0, agg.centered_clipping, lambda X: B.CenteredClipping()(X), per_pass),
        (
            "mda",
            small,
            lambda X: agg.mda(X, n_bad=small),
            B.MDA(small),
            pairwise + 1e3 * math.comb(n, small) * k * k / 2,
        ),
        ("monna", n_bad, lambda X: agg.monna(X, n_bad=n_bad), B.MoNNA(n_bad), per_pass),
        ("caf", small, lambda X: agg.caf(X, n_bad=small), B.CAF(small), 100 * per_pass),
        ("smea", small, lambda X: agg.smea(X, n_bad=small), B.SMEA(small), 5 * math.comb(n, small) * k * d),
        ("nnm", n_bad, lambda X: agg.nnm(X, n_bad=n_bad), P.NNM(n_bad), pairwise),
        # In place, as ByzFL's (which has no copying mode): see IN_PLACE.
        ("static_clipping", 0, lambda X: agg.static_clipping(X, copy=False), P.Clipping(2.0), per_pass),
        ("arc", n_bad, lambda X: agg.arc(X, n_bad=n_bad, copy=False), P.ARC(n_bad), per_pass),
    ]


def row(name: str, n: int, d: int, n_bad: int, ours: dict, theirs: dict) -> str:
    cells = [f"{name:<18}", f"{n:>4}", f"{d:>8.0e}", f"{n_bad:>5}"]
    for backend in ("numpy", "torch"):
        t_ours, t_byzfl = ours[backend], theirs[backend]
        ratio = f"{t_ours / t_byzfl:>7.3f}" if isinstance(t_byzfl, float) else f"{'-':>7}"
        byzfl = f"{t_byzfl:>9.4f}" if isinstance(t_byzfl, float) else f"{t_byzfl:>9}"
        cells += [f"{t_ours:>9.4f}", byzfl, ratio]
    return " ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[20, 50, 100], help="numbers of input vectors")
    parser.add_argument("--d", type=float, nargs="+", default=[1e4, 1e6], help="vector dimensions")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per timing at d <= 1e5 (two above)")
    parser.add_argument("--budget", type=float, default=2e10, help="largest estimated ByzFL cost to run")
    parser.add_argument("--only", nargs="+", default=None, help="time only these rules")
    parser.add_argument("--quick", action="store_true", help="n in {10, 20}, d in {1e3, 1e4}")
    args = parser.parse_args()
    sizes = ([10, 20], [1e3, 1e4]) if args.quick else (args.n, args.d)
    torch.set_num_threads(1)
    allocator = pin_allocator()
    print("## robust aggregation, ours / ByzFL 0.0.11, one thread, numpy float64 and torch float32 inputs")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores shared with other "
        f"jobs (timings noisy), torch {torch.__version__}, numpy {np.__version__}, allocator: {allocator}"
    )
    print(
        f"{'rule':<18} {'n':>4} {'d':>8} {'n_bad':>5} {'numpy s':>9} {'ByzFL s':>9} {'ratio':>7} "
        f"{'torch s':>9} {'ByzFL s':>9} {'ratio':>7}"
    )
    with threadpool_limits(limits=1):
        for d in (int(v) for v in sizes[1]):
            for n in sizes[0]:
                run_size(n, d, args)


def run_size(n: int, d: int, args: argparse.Namespace) -> None:
    n_bad = (n - 3) // 4
    X = inputs(n, d, n_bad)
    T = torch.tensor(X, dtype=torch.float32)
    repeats = args.repeats if d <= 100_000 else 2
    for name, rule_n_bad, ours, theirs, cost in rules(n, d, n_bad):
        if args.only and name not in args.only:
            continue
        t_ours, t_byzfl = {}, {}
        for backend, V in (("numpy", X), ("torch", T)):
            t_ours[backend], t_byzfl[backend] = compare(
                ours, theirs, V, repeats, skip=cost > args.budget, in_place=name in IN_PLACE
            )
        print(row(name, n, d, rule_n_bad, t_ours, t_byzfl), flush=True)


if __name__ == "__main__":
    main()
