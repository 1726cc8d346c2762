"""Federated robust-aggregation grid on digits and MNIST-1D (issue 10): run it, then write its tables and figures.

    OMP_NUM_THREADS=1 nohup .venv/bin/python experiments/federated_grid.py --workers 2 > results/federated.log &
    .venv/bin/python experiments/federated_grid.py --small --results /tmp/fed_small.jsonl --out /tmp/fed_docs

Two grids, one JSON line per cell in ``--results`` (resumable by cell: a rerun skips the cells it
finds there):

- ``aggregators``: 10 clients (one per source) of which n_bad are Byzantine, every update attack and
  the label-flip data attack x every aggregator, with and without NNM, local SGD, three seeds.
- ``optimizers``: local SGD vs Adam vs M-FAC on a few rules and attacks: rounds to a target accuracy.

``--out`` (default ``docs/results/federated/``) receives ``table.md`` (final test accuracy, mean ±
s.e. over the seeds), ``optimizers.md`` (rounds to the target) and one PNG per data set of accuracy
vs rounds under the hardest attack. ``--small`` is the tested setting (``tests/federated/test_grid.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from multisource.aggregation import AGGREGATORS
from multisource.corruption import UPDATE_ATTACKS
from multisource.data import MultiSourceDataset, make_multisource
from multisource.federated import FederatedConfig, run_federated

DATA = {"digits": {"n_sources": 10, "m": 100}, "mnist1d": {"n_sources": 10, "m": 300}}
LOCAL = {"rounds": 20, "local_steps": 5, "batch_size": 32}
OPTIMIZERS = {  # lr chosen on clean digits runs (30 rounds; docs/federated.md)
    "sgd": {"optimizer": "sgd", "lr": 0.2},
    "adam": {"optimizer": "adam", "lr": 0.01},
    "mfac": {"optimizer": "mfac", "lr": 0.1, "optimizer_kwargs": {"ngrads": 16, "damp": 0.1}},
}
DATA_ATTACKS = ("label_flip",)
AGGREGATOR_PARAMS = {  # the median honest |u_i - previous aggregate| is 0.2-0.7 here (docs/aggregation.md)
    "centered_clipping": {"tau": 0.5},
}
TARGETS = {"digits": 0.85, "mnist1d": 0.30}


@dataclass(frozen=True)
class Grid:
    """One grid's axes."""

    datasets: tuple[str, ...]
    aggregators: tuple[str, ...]
    pres: tuple[str, ...]  # "" (none) or "nnm"
    attacks: tuple[str, ...]
    n_bads: tuple[int, ...]
    seeds: tuple[int, ...]
    optimizers: tuple[str, ...]
    rounds: int = LOCAL["rounds"]


FULL = {
    "aggregators": Grid(
        datasets=("digits", "mnist1d"),
        aggregators=tuple(AGGREGATORS.names()),
        pres=("", "nnm"),
        attacks=(*UPDATE_ATTACKS.names(), *DATA_ATTACKS),
        n_bads=(0, 1, 2, 3, 4),
        seeds=(0, 1, 2),
        optimizers=("sgd",),
    ),
    "optimizers": Grid(
        datasets=("digits", "mnist1d"),
        aggregators=("mean", "trimmed_mean", "geometric_median"),
        pres=("nnm",),
        attacks=("alie", "sign_flip", "label_flip"),
        n_bads=(0, 2),
        seeds=(0, 1, 2),
        optimizers=("sgd", "adam", "mfac"),
    ),
}
SMALL = {
    "aggregators": Grid(
        datasets=("digits",),
        aggregators=("mean", "trimmed_mean", "krum"),
        pres=("", "nnm"),
        attacks=("alie", "label_flip"),
        n_bads=(0, 4),
        seeds=(0,),
        optimizers=("sgd",),
        rounds=3,
    ),
    "optimizers": Grid(
        datasets=("digits",),
        aggregators=("mean",),
        pres=("nnm",),
        attacks=("sign_flip",),
        n_bads=(2,),
        seeds=(0,),
        optimizers=("sgd", "mfac"),
        rounds=3,
    ),
}


def cells(grid_name: str, grid: Grid) -> list[dict[str, Any]]:
    """Every cell of a grid; n_bad = 0 is one cell per rule (attack "none")."""
    out = []
    for ds in grid.datasets:
        for opt in grid.optimizers:
            for agg in grid.aggregators:
                for pre in grid.pres:
                    for n_bad in grid.n_bads:
                        for attack in ("none",) if n_bad == 0 else grid.attacks:
                            for seed in grid.seeds:
                                out.append(
                                    {"grid": grid_name, "dataset": ds, "optimizer": opt, "aggregator": agg,
                                     "pre": pre, "attack": attack, "n_bad": n_bad, "seed": seed,
                                     "rounds": grid.rounds}
                                )  # fmt: skip
    return out


def key(cell: dict[str, Any]) -> tuple:
    return tuple(cell[k] for k in ("grid", "dataset", "optimizer", "aggregator", "pre", "attack", "n_bad", "seed"))


_DATA: dict[tuple[str, int], MultiSourceDataset] = {}


def _dataset(name: str, seed: int) -> MultiSourceDataset:
    if (name, seed) not in _DATA:
        _DATA[name, seed] = make_multisource(name, seed=seed, **DATA[name])
    return _DATA[name, seed]


def config_of(cell: dict[str, Any]) -> FederatedConfig:
    """The FederatedConfig of a cell."""
    attack = {}
    if cell["attack"] in DATA_ATTACKS:
        attack = {"data_attack": cell["attack"]}
    elif cell["attack"] != "none":
        attack = {"attack": cell["attack"]}
    return FederatedConfig(
        **{**LOCAL, "rounds": cell["rounds"]}, **OPTIMIZERS[cell["optimizer"]], aggregator=cell["aggregator"],
        aggregator_params=AGGREGATOR_PARAMS.get(cell["aggregator"], {}), pre=(cell["pre"],) if cell["pre"] else (),
        n_bad=cell["n_bad"], device="cpu", **attack,
    )  # fmt: skip


def run_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """One simulation; a rule that cannot hold for the cell (e.g. Krum at n_bad = 4 of 10) is a recorded skip."""
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # geometric median's "tol not reached" at 200 steps, every round
    start = time.perf_counter()
    try:
        result = run_federated(_dataset(cell["dataset"], cell["seed"]), config=config_of(cell), seed=cell["seed"])
    except ValueError as err:
        return {**cell, "status": f"skipped: {err}", "seconds": time.perf_counter() - start}
    return {
        **cell,
        "status": "ok",
        "final_accuracy": result.final_accuracy,
        "curve": result.accuracy_curve.round(4).tolist(),
        "seconds": time.perf_counter() - start,
    }


def run_grid(todo: list[dict[str, Any]], results: Path, workers: int) -> None:
    """Run the cells not yet in ``results`` (one JSON line each), ``workers`` processes at a time."""
    done = {key(r) for r in read_results(results)}
    pending = [c for c in todo if key(c) not in done]
    results.parent.mkdir(parents=True, exist_ok=True)
    with results.open("a") as fh:
        if workers <= 1:
            stream: Iterable[dict[str, Any]] = map(run_cell, pending)
            for row in tqdm(stream, total=len(pending), desc="federated grid"):
                fh.write(json.dumps(row) + "\n")
                fh.flush()
            return
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for row in tqdm(pool.imap_unordered(run_cell, pending), total=len(pending), desc="federated grid"):
                fh.write(json.dumps(row) + "\n")
                fh.flush()


def read_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mean_se(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else math.nan


def _rule(row: dict[str, Any]) -> str:
    return f"nnm+{row['aggregator']}" if row["pre"] else row["aggregator"]


def hardest_attack(rows: list[dict[str, Any]], dataset: str, n_bad: int) -> str:
    """The attack with the lowest final accuracy averaged over every rule that ran."""
    by_attack = defaultdict(list)
    for r in rows:
        if r["dataset"] == dataset and r["n_bad"] == n_bad and r["status"] == "ok":
            by_attack[r["attack"]].append(r["final_accuracy"])
    return min(by_attack, key=lambda a: np.mean(by_attack[a]))


def _accuracies(rows: list[dict[str, Any]]) -> dict[tuple, list[float]]:
    """Final accuracies of the aggregator grid's finished runs, by (data set, n_bad, rule, attack)."""
    cell: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        if r["grid"] == "aggregators" and r["status"] == "ok":
            cell[r["dataset"], r["n_bad"], _rule(r), r["attack"]].append(r["final_accuracy"])
    return cell


def worst_case_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per data set, each rule's lowest mean final accuracy (%) over the attacks at each n_bad,
    with the attack that gives it; the best rule of each column in bold."""
    cell = _accuracies(rows)
    out = []
    for ds in dict.fromkeys(k[0] for k in cell):
        n_bads = sorted({k[1] for k in cell if k[0] == ds})
        worst: dict[tuple[str, int], tuple[float, str]] = {}
        for (d, n_bad, rule, attack), values in cell.items():
            if d == ds and ((rule, n_bad) not in worst or np.mean(values) < worst[rule, n_bad][0]):
                worst[rule, n_bad] = (float(np.mean(values)), attack)
        best = {nb: max(m for (_, b), (m, _) in worst.items() if b == nb) for nb in n_bads}
        out += [f"### {ds}: worst case over the attacks", "", "| rule | " + " | ".join(f"n_bad = {nb}" for nb in n_bads)
                + " |", "|---|" + "---|" * len(n_bads)]  # fmt: skip
        for rule in sorted({r for r, _ in worst}):
            entries = []
            for nb in n_bads:
                if (rule, nb) not in worst:
                    entries.append("n/a")
                    continue
                m, attack = worst[rule, nb]
                text = f"{100 * m:.1f}" + ("" if nb == 0 else f" ({attack})")
                entries.append(f"**{text}**" if m >= best[nb] - 1e-12 else text)
            out.append(f"| {rule} | " + " | ".join(entries) + " |")
        out.append("")
    return "\n".join(out)


def accuracy_tables(rows: list[dict[str, Any]]) -> str:
    """Markdown: per data set and n_bad, final accuracy (%) of each rule (rows) x attack (columns)."""
    rows = [r for r in rows if r["grid"] == "aggregators"]
    cell = _accuracies(rows)
    out = []
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        rules = list(dict.fromkeys(_rule(r) for r in rows if r["dataset"] == ds))
        for n_bad in sorted({r["n_bad"] for r in rows if r["dataset"] == ds}):
            attacks = list(dict.fromkeys(r["attack"] for r in rows if r["dataset"] == ds and r["n_bad"] == n_bad))
            means = {(rule, a): _mean_se(cell[ds, n_bad, rule, a]) for rule in rules for a in attacks
                     if cell.get((ds, n_bad, rule, a))}  # fmt: skip
            best = {a: max((m for (_, b), (m, _) in means.items() if b == a), default=None) for a in attacks}
            out += [f"### {ds}, n_bad = {n_bad} of 10", "", "| rule | " + " | ".join(attacks) + " | worst |",
                    "|---|" + "---|" * (len(attacks) + 1)]  # fmt: skip
            for rule in rules:
                entries, worst = [], []
                for a in attacks:
                    if (rule, a) not in means:
                        entries.append("n/a")
                        continue
                    m, se = means[rule, a]
                    worst.append(m)
                    text = f"{100 * m:.1f}" + ("" if math.isnan(se) else f" ± {100 * se:.1f}")
                    entries.append(f"**{text}**" if best[a] is not None and m >= best[a] - 1e-12 else text)
                worst_text = f"{100 * min(worst):.1f}" if worst else "n/a"
                out.append(f"| {rule} | " + " | ".join(entries) + f" | {worst_text} |")
            out.append("")
    return "\n".join(out)


def optimizer_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: rounds to the target accuracy (mean over seeds; '>T' when a seed never reaches it)."""
    rows = [r for r in rows if r["grid"] == "optimizers" and r["status"] == "ok"]
    reached: dict[tuple, list[float]] = defaultdict(list)
    finals: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        target = TARGETS[r["dataset"]]
        hits = np.flatnonzero(np.asarray(r["curve"]) >= target)
        k = (r["dataset"], _rule(r), r["attack"], r["n_bad"], r["optimizer"])
        reached[k].append(float(hits[0]) if hits.size else math.inf)
        finals[k].append(r["final_accuracy"])
    optimizers = list(dict.fromkeys(r["optimizer"] for r in rows))
    out = ["| data (target) | rule | attack | n_bad | " + " | ".join(optimizers) + " |",
           "|---|---|---|---|" + "---|" * len(optimizers)]  # fmt: skip
    for ds, rule, attack, n_bad in dict.fromkeys(k[:4] for k in reached):
        entries = []
        for opt in optimizers:
            rounds = reached.get((ds, rule, attack, n_bad, opt))
            if not rounds:
                entries.append("n/a")
                continue
            final = 100 * np.mean(finals[ds, rule, attack, n_bad, opt])
            shown = f">{rows[0]['rounds']}" if math.isinf(max(rounds)) else f"{np.mean(rounds):.1f}"
            entries.append(f"{shown} ({final:.1f}%)")
        out.append(f"| {ds} ({100 * TARGETS[ds]:.0f}%) | {rule} | {attack} | {n_bad} | " + " | ".join(entries) + " |")
    return "\n".join(out)


def curves_figure(rows: list[dict[str, Any]], dataset: str, path: Path) -> str:
    """Accuracy vs rounds under the hardest attack at the largest n_bad: one panel per aggregator,
    without NNM (solid) and with NNM (dashed), the clean run (n_bad = 0) in grey. Returns the attack."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["grid"] == "aggregators" and r["dataset"] == dataset and r["status"] == "ok"]
    n_bad = max(r["n_bad"] for r in rows)
    attack = hardest_attack(rows, dataset, n_bad)
    aggregators = list(dict.fromkeys(r["aggregator"] for r in rows))
    ncols = min(5, len(aggregators))
    nrows = -(-len(aggregators) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(max(3.0 * ncols, 5.0), 2.3 * nrows + 1.0), sharex=True, sharey=True, squeeze=False
    )
    for ax, agg in zip(axes.flat, aggregators, strict=False):
        for (nb, att), style, colour, label in (
            ((0, "none"), "-", "0.6", "clean"),
            ((n_bad, attack), "-", "C3", "attacked"),
        ):
            for pre, dash in (("", style), ("nnm", "--")):
                curves = [r["curve"] for r in rows if r["aggregator"] == agg and r["pre"] == pre
                          and r["n_bad"] == nb and r["attack"] == att]  # fmt: skip
                if curves:
                    ax.plot(np.mean(curves, axis=0), dash, color=colour, lw=1.6,
                            label=f"{label}{' + NNM' if pre else ''}")  # fmt: skip
        ax.set_title(agg, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(aggregators) :]:
        ax.axis("off")
    fullest = max(axes.flat, key=lambda a: len(a.get_lines()))  # a rule n/a under attack has only clean lines
    handles, labels = fullest.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower right", ncol=2, fontsize=8, frameon=False)
    fig.supxlabel("round")
    fig.supylabel("test accuracy")
    fig.suptitle(f"{dataset}: {attack} with n_bad = {n_bad} of 10 clients (mean of seeds)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return attack


def write_report(rows: list[dict[str, Any]], out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ok = [r for r in rows if r["status"] == "ok"]
    skipped = len(rows) - len(ok)
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), Python {platform.python_version()}"
    header = [
        "# Federated robust aggregation: final test accuracy (%)",
        "",
        f"Command: `{command}`. Machine: {machine}. {len(ok)} runs, {skipped} cells skipped (the rule's "
        f"condition fails, e.g. Krum needs n > 2 n_bad + 2), {sum(r['seconds'] for r in rows) / 60:.0f} "
        "process-minutes in all.",
        "",
        f"Setting: {LOCAL} local SGD (lr {OPTIMIZERS['sgd']['lr']}), 10 clients, data {DATA}; "
        "mean ± s.e. over the seeds; the best mean of each column in bold; 'worst' is the rule's lowest "
        "mean over the attacks.",
        "",
    ]
    attacks = {}
    for ds in dict.fromkeys(r["dataset"] for r in ok if r["grid"] == "aggregators"):
        attacks[ds] = curves_figure(rows, ds, out / f"curves_{ds}.png")
        header.append(f"![{ds}](curves_{ds}.png)")
        header.append("")
    summary = ["## Worst case per rule", "", "Each rule's lowest mean final accuracy over the attacks (which "
               "attack in brackets); n/a: the rule's condition fails at that n_bad.", "", worst_case_table(rows),
               "## Every attack", ""]  # fmt: skip
    (out / "table.md").write_text("\n".join(header + summary) + accuracy_tables(rows) + "\n")
    if any(r["grid"] == "optimizers" for r in ok):
        text = [
            "# Local SGD vs Adam vs M-FAC: rounds to a target test accuracy",
            "",
            f"Command: `{command}`. Machine: {machine}. Optimizers {OPTIMIZERS}; mean over the seeds of "
            "the first round reaching the target ('>T': some seed never does), final accuracy in brackets.",
            "",
            optimizer_table(rows),
        ]
        (out / "optimizers.md").write_text("\n".join(text) + "\n")
    print(f"hardest attacks: {attacks}; wrote {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the tested small setting")
    parser.add_argument("--results", type=Path, default=Path("results/federated/grid.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/federated"))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--grids", nargs="*", default=["aggregators", "optimizers"], choices=sorted(FULL))
    parser.add_argument("--report-only", action="store_true", help="write the tables from --results without running")
    args = parser.parse_args(argv)
    grids = SMALL if args.small else FULL
    todo = [c for name in args.grids for c in cells(name, grids[name])]
    if not args.report_only:
        run_grid(todo, args.results, args.workers)
    wanted = {key(c) for c in todo}
    rows = [r for r in read_results(args.results) if key(r) in wanted]
    command = "python experiments/federated_grid.py" + (" --small" if args.small else "")
    if args.grids != parser.get_default("grids"):
        command += f" --grids {' '.join(args.grids)}"
    write_report(rows, args.out, command)


if __name__ == "__main__":
    main()
