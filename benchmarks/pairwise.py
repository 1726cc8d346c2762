"""Pairwise discrepancy benchmark: the bound-Hessian MM solver against a loop of scikit-learn fits.

Run: ``.venv/bin/python benchmarks/pairwise.py`` (``--quick`` for a short version). Sources are m rows of
breast_cancer (d = 30, unscaled features) drawn without replacement, so the N * m rows of a table
re-use the 569 samples. Both sides use per-pair standardisation (``scaling="pair"``, FLEA's
``StandardScaler`` per pair) and the same regularisation (``l2 = 1/C``; ``l2 = 0`` is ``C = inf``).

Table 1, for each N and l2: ``pairwise(estimator="linear")`` on one torch thread, then on two,
against ``sklearn_discrepancy`` (one ``LogisticRegression`` per pair, single-threaded BLAS) on a
random sample of at most ``--sklearn-pairs`` pairs whose time is scaled to all pairs. The speed-ups
of one run are ratios of timings taken in the same process; ``max |diff|`` compares the two
estimates on the sampled pairs. Wall and CPU seconds are both printed: on a shared machine the CPU
time of a one-thread run is what an idle core would take.

Table 3 (``--mlp``): the label-flip nets of all pairs at N = 50 (one hidden layer of 16, Adam, a fixed
number of epochs so that both sides do the same work) trained as one stacked problem, against a
loop of per-pair ``torch.nn.Sequential`` trainings from the same initial weights, timed on
``--mlp-loop-pairs`` pairs and scaled to all; the accuracy of the pair classifiers is compared.

Table 4 (``--only sampling``): the row statistics of the filters estimated from ``pair_sample`` = s
against the full matrix at N = 200 (40 label-flipped sources): mean absolute error of FLEA's row
quantile and of the Multi-Krum scores, and precision / recall of each rule's kept set against the
set it keeps on the full matrix; then one sampled matrix at N = 10,000 (m = 40, s = 10) with its time
and the process's peak memory.

Table 2: the full matrix at N = 1000, m = 40, with the FLOP rate the solver achieved (matrix
products counted by ``torch.profiler``) next to the rate of one large float32 GEMM measured in the
same run, so the distance to the machine's limit is visible.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from threadpoolctl import threadpool_limits

from multisource.data import MultiSourceDataset
from multisource.discrepancy import pairwise, sklearn_discrepancy
from multisource.discrepancy.mlp import SlotProblems, init_mlp_stack, label_flip_slots, mlp_logits, train_mlp_stack
from multisource.filtering import krum_scores, multi_krum, quantile
from multisource.filtering.flea_quantile import row_quantile

TABLES = ("speed", "scale", "mlp", "sampling")


def breast_cancer_sources(n_sources: int, m: int, seed: int, n_flipped: int = 0) -> MultiSourceDataset:
    """N sources of m unscaled breast_cancer rows, each drawn without replacement; the first
    ``n_flipped`` sources have every label flipped."""
    data = load_breast_cancer()
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(len(data.target), m, replace=False) for _ in range(n_sources)])
    y = data.target[rows]
    y = np.where(np.arange(len(y)) < n_flipped * m, 1 - y, y)
    return MultiSourceDataset(
        X=data.data[rows],
        y=y,
        source=np.repeat(np.arange(n_sources), m),
        X_test=data.data[:2],
        y_test=data.target[:2],
        n_classes=2,
        n_sources=n_sources,
        name="breast_cancer",
    )


def timed(fn: Callable[[], np.ndarray], threads: int) -> tuple[float, float, np.ndarray]:
    """Wall and process-CPU seconds of ``fn`` on ``threads`` torch threads, and its result."""
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def sklearn_sample(ds: MultiSourceDataset, l2: float, n_pairs: int, seed: int) -> tuple[float, np.ndarray, tuple]:
    """Seconds per pair of the scikit-learn loop on a random sample of pairs, its values, the pairs."""
    a, b = np.triu_indices(ds.n_sources, k=1)
    pick = np.sort(np.random.default_rng(seed).permutation(len(a))[:n_pairs])
    a, b = a[pick], b[pick]
    values = np.empty(len(a))
    start = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        for k, (i, j) in enumerate(zip(a, b, strict=True)):
            values[k] = sklearn_discrepancy(
                *ds.source_data(i), *ds.source_data(j), n_classes=2, l2=l2, scaling="pair", max_iter=1000
            )
    return (time.perf_counter() - start) / len(a), values, (a, b)


def gemm_rate(threads: int, size: int = 2048) -> float:
    """GFLOP/s of a float32 (size x size) matrix product on ``threads`` threads (best of 3)."""
    torch.set_num_threads(threads)
    A, B = torch.randn(size, size), torch.randn(size, size)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        A @ B
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def profiled_gflop(fn: Callable[[], np.ndarray]) -> float:
    """GFLOP of the matrix products ``fn`` runs, counted by ``torch.profiler``."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_flops=True) as prof:
        fn()
    return sum(event.flops for event in prof.key_averages() if event.flops) / 1e9


def speed_table(sources: list[int], m: int, l2_values: list[float], sklearn_pairs: int) -> None:
    print(f"\n## Table 1: N sources of m = {m} breast_cancer rows, d = 30, scaling='pair'\n")
    print(
        "| N | pairs | l2 (C) | sklearn s (all pairs) | MM 1 thread s (cpu) | x | MM 2 threads s (cpu) | x "
        "| max \\|diff\\| | mean disc |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n_sources in sources:
        ds = breast_cancer_sources(n_sources, m, seed=n_sources)
        n_pairs = n_sources * (n_sources - 1) // 2
        for l2 in l2_values:
            per_pair, reference, (a, b) = sklearn_sample(ds, l2, sklearn_pairs, seed=0)
            t_sklearn = per_pair * n_pairs
            row = [f"{n_sources}", f"{n_pairs}", f"{l2:g} ({'inf' if l2 == 0 else f'{1 / l2:g}'})"]
            row.append(f"{t_sklearn:.1f}" + ("" if len(a) == n_pairs else f" (from {len(a)})"))
            for threads in (1, 2):
                wall, cpu, disc = timed(lambda ds=ds, l2=l2: pairwise(ds, l2=l2, scaling="pair"), threads)
                row += [f"{wall:.2f} ({cpu:.2f})", f"{t_sklearn / wall:.0f}x"]
            row += [f"{np.abs(disc[a, b] - reference).max():.3f}", f"{disc[a, b].mean():.3f}"]
            print("| " + " | ".join(row) + " |", flush=True)


def scale_table(n_sources: int, m: int, l2: float) -> None:
    print(f"\n## Table 2: the full matrix at N = {n_sources} (m = {m}, d = 30, l2 = {l2:g}, scaling='pair')\n")
    ds = breast_cancer_sources(n_sources, m, seed=1)
    run = lambda: pairwise(ds, l2=l2, scaling="pair")  # noqa: E731
    torch.set_num_threads(1)
    n_pairs = n_sources * (n_sources - 1) // 2
    # Matrix products as the profiler counts them, plus each pair's Cholesky (D^3/3) and inverse (2D^3/3).
    gflop = profiled_gflop(run) + n_pairs * (ds.X.shape[1] + 1) ** 3 / 1e9
    print("| threads | pairs | wall s | cpu s | GFLOP | achieved GFLOP/s (wall) | (cpu) | fp32 GEMM GFLOP/s (2048^2) |")
    print("|---|---|---|---|---|---|---|---|")
    for threads in (1, 2):
        wall, cpu, _ = timed(run, threads)
        print(
            f"| {threads} | {n_pairs} | {wall:.1f} | {cpu:.1f} | {gflop:.1f} | {gflop / wall:.2f} | {gflop / cpu:.2f} "
            f"| {gemm_rate(threads):.0f} |",
            flush=True,
        )


def pooled_label_flip(ds: MultiSourceDataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, SlotProblems]:
    """Standardised pooled inputs (n, 2m, d), label-flip targets and weights 1/m of all pairs (equal m),
    and the same problems in the slot layout that the batched trainer takes."""
    X = (ds.X - ds.X.mean(0)) / ds.X.std(0)
    a, b = np.triu_indices(ds.n_sources, k=1)
    rows = np.arange(len(ds.y)).reshape(ds.n_sources, -1)
    per_source = torch.tensor(X[rows], dtype=torch.float32)
    inputs = torch.cat([per_source[a], per_source[b]], dim=1)
    labels = torch.tensor(np.concatenate([ds.y[rows[a]], 1 - ds.y[rows[b]]], axis=1))
    problems, _ = label_flip_slots(per_source, ds.y[rows], np.full(rows.shape, 1.0 / rows.shape[1]), a, b, 2)
    return inputs, labels, torch.full(labels.shape, 1.0 / rows.shape[1]), problems


def loop_training(start: list[torch.Tensor], net: int, inputs, labels, weights, epochs: int) -> torch.Tensor:
    """Logits of pair ``net``'s classifier trained alone as a ``torch.nn.Sequential`` from the same start."""
    d, h = start[0].shape[1:]
    model = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, start[2].shape[2]))
    with torch.no_grad():
        model[0].weight.copy_(start[0][net].T), model[0].bias.copy_(start[1][net, 0])
        model[2].weight.copy_(start[2][net].T), model[2].bias.copy_(start[3][net, 0])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(epochs - 1):
        ce = torch.nn.functional.cross_entropy(model(inputs[net]), labels[net], reduction="none")
        optimizer.zero_grad()
        (weights[net] * ce).sum().backward()
        optimizer.step()
    with torch.no_grad():
        return model(inputs[net])


def mlp_table(n_sources: int, m: int, epochs: int, loop_pairs: int) -> None:
    print(f"\n## Table 3: MLP label-flip nets, N = {n_sources}, m = {m}, hidden 16, Adam lr 0.01, {epochs} epochs\n")
    inputs, labels, weights, problems = pooled_label_flip(breast_cancer_sources(n_sources, m, seed=2))
    n_pairs = len(inputs)
    start = init_mlp_stack(n_pairs, inputs.shape[-1], 16, 2, torch.Generator().manual_seed(0), torch.device("cpu"))
    initial = [p.detach().clone() for p in start]
    accuracy = lambda logits, k: float((weights[k] * (logits.argmax(-1) == labels[k])).sum() / 2)  # noqa: E731
    print("| threads | pairs | batched s (cpu) | loop s (all pairs) | x | mean acc batched | loop | max \\|diff\\| |")
    print("|---|---|---|---|---|---|---|---|")
    train = lambda: train_mlp_stack(initial, problems, lr=0.01, max_epochs=epochs, patience=epochs, tol=-np.inf)  # noqa: E731
    for threads in (1, 2):
        wall, cpu, trained = timed(train, threads)
        sample = np.random.default_rng(0).permutation(n_pairs)[:loop_pairs]
        start_loop = time.perf_counter()
        loop_logits = [loop_training(initial, int(k), inputs, labels, weights, epochs) for k in sample]
        t_loop = (time.perf_counter() - start_loop) / len(sample) * n_pairs
        with torch.no_grad():
            batched_logits = mlp_logits([p[sample] for p in trained], inputs[sample])
        acc_b = np.array([accuracy(batched_logits[i], k) for i, k in enumerate(sample)])
        acc_l = np.array([accuracy(logits, k) for logits, k in zip(loop_logits, sample, strict=True)])
        print(
            f"| {threads} | {n_pairs} | {wall:.1f} ({cpu:.1f}) | {t_loop:.1f} (from {len(sample)}) "
            f"| {t_loop / wall:.0f}x | {acc_b.mean():.4f} | {acc_l.mean():.4f} | {np.abs(acc_b - acc_l).max():.4f} |",
            flush=True,
        )


def precision_recall(kept: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Precision and recall of a kept mask against the mask kept on the full matrix."""
    both = np.sum(kept & reference)
    return both / max(kept.sum(), 1), both / max(reference.sum(), 1)


def sampling_table(n_sources: int, m: int, n_bad: int, samples: list[int], big: int, seeds: int = 3) -> None:
    print(
        f"\n## Table 4: pair_sample estimates against the full matrix, N = {n_sources}, m = {m}, "
        f"{n_bad} label-flipped, l2 = 1, scaling='pair', {seeds} sample seeds\n"
    )
    ds = breast_cancer_sources(n_sources, m, seed=4, n_flipped=n_bad)
    torch.set_num_threads(1)
    wall, _, full = timed(lambda: pairwise(ds, l2=1.0, scaling="pair"), 1)
    q_full, krum_full = row_quantile(full, n_sources - n_bad), krum_scores(full, n_bad)
    kept_full = {
        "quantile": quantile(full, ds.sizes, n_bad=n_bad).kept,
        "multi_krum": multi_krum(full, ds.sizes, n_bad=n_bad).kept,
    }
    print(
        f"full matrix: {wall:.1f} s; quantile keeps {kept_full['quantile'].sum()}, "
        f"multi_krum {kept_full['multi_krum'].sum()}\n"
    )
    print(
        "| s | pairs | s per run | quantile \\|err\\| | krum rel. \\|err\\| | quantile P / R | multi_krum P / R "
        "| bad kept (q / krum) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for s in samples:
        stats = []
        for seed in range(seeds):
            wall, _, disc = timed(
                lambda s=s, seed=seed: pairwise(ds, l2=1.0, scaling="pair", pair_sample=s, seed=seed), 1
            )
            kept_q = quantile(disc, ds.sizes, n_bad=n_bad).kept
            kept_k = multi_krum(disc, ds.sizes, n_bad=n_bad).kept
            stats.append(
                [
                    wall,
                    np.abs(row_quantile(disc, n_sources - n_bad) - q_full).mean(),
                    np.mean(np.abs(krum_scores(disc, n_bad) - krum_full) / krum_full),
                    *precision_recall(kept_q, kept_full["quantile"]),
                    *precision_recall(kept_k, kept_full["multi_krum"]),
                    kept_q[:n_bad].sum(),
                    kept_k[:n_bad].sum(),
                ]
            )
        t, e_q, e_k, p_q, r_q, p_k, r_k, bad_q, bad_k = np.mean(stats, axis=0)
        pairs = int(np.sum(~np.isnan(disc)) - n_sources) // 2
        print(
            f"| {s} | {pairs} | {t:.2f} | {e_q:.4f} | {e_k:.3f} | {p_q:.3f} / {r_q:.3f} | {p_k:.3f} / {r_k:.3f} "
            f"| {bad_q:.1f} / {bad_k:.1f} |",
            flush=True,
        )
    if big:
        ds = breast_cancer_sources(big, 40, seed=5, n_flipped=big // 5)
        wall, cpu, disc = timed(lambda: pairwise(ds, l2=1.0, scaling="pair", pair_sample=10, seed=0), 1)
        kept = multi_krum(disc, ds.sizes, n_bad=big // 5).kept
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
        print(
            f"\nN = {big}, m = 40, pair_sample = 10 ({int(np.sum(~np.isnan(disc)) - big) // 2} pairs, "
            f"{big // 5} flipped): "
            f"{wall:.1f} s wall ({cpu:.1f} s cpu), 1 thread; peak RSS of the process {peak:.2f} GiB "
            f"(the dense N x N float64 matrix alone is {big**2 * 8 / 2**30:.2f} GiB); multi_krum keeps "
            f"{kept.sum()} sources, {kept[: big // 5].sum()} of them flipped",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, nargs="+", default=[10, 20, 50, 200], help="values of N (table 1)")
    parser.add_argument("--m", type=int, default=200, help="samples per source (table 1)")
    parser.add_argument("--sklearn-pairs", type=int, default=1225, help="pairs the sklearn loop is timed on")
    parser.add_argument("--big", type=int, default=1000, help="N of table 2 (m = 40); 0 skips it")
    parser.add_argument("--mlp", action="store_true", help="also table 3 (MLP nets, batched vs a loop)")
    parser.add_argument("--mlp-sources", type=int, default=50, help="N of table 3")
    parser.add_argument("--mlp-loop-pairs", type=int, default=20, help="pairs the per-pair torch loop is timed on")
    parser.add_argument("--epochs", type=int, default=200, help="Adam epochs of table 3")
    parser.add_argument("--only", choices=TABLES, help="run just this table (scale: table 2 at --big, default 1000)")
    parser.add_argument("--huge", type=int, default=10_000, help="N of table 4's sampled matrix (0 skips it)")
    parser.add_argument("--quick", action="store_true", help="N in {10, 20}, 100 sklearn pairs, table 2 at N = 200")
    args = parser.parse_args()
    if args.quick:
        args.sources, args.sklearn_pairs, args.big, args.mlp_sources, args.epochs = [10, 20], 100, 200, 10, 50
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared with other "
        f"jobs: timings are under load), torch {torch.__version__}, float32 GEMMs, float64 d x d systems"
    )
    pairwise(breast_cancer_sources(3, args.m, seed=0), l2=1.0, scaling="pair")  # one-off start-up costs
    run = lambda table: args.only == table or args.only is None  # noqa: E731
    if run("speed"):
        speed_table(args.sources, args.m, [1.0, 0.0], args.sklearn_pairs)
    if run("scale") and args.big:
        scale_table(args.big, 40, 1.0)
    if args.only == "mlp" or (args.only is None and args.mlp):
        mlp_table(args.mlp_sources, args.m, args.epochs, args.mlp_loop_pairs)
    if args.only == "sampling":
        sampling_table(200, 100, 40, [5, 10, 20, 50], args.huge)


if __name__ == "__main__":
    main()
