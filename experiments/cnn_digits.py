"""CNN vs MLP on the 8x8 digits and MNIST-1D, then the CNN pruned one-shot: SparseGPT vs Wanda vs magnitude.

    python experiments/cnn_digits.py [--seeds 3] [--datasets digits mnist1d] [--out docs/results/cnn] [--small]

For every data set and seed: a stratified train/test split (seeded), the MLPs and the CNN
(``TorchClassifier(architecture="cnn")``: 2-D on the digits reshaped to 1 x 8 x 8, 1-D on the
MNIST-1D signals of length 40) trained with Adam; then copies of the trained CNN pruned by
``prune_model`` with all training inputs as calibration data, at 50 % per layer on every conv and
linear layer, at 50 % with the first convolution left dense, and at 2:4 (both ways). Test accuracy mean and
standard error over the seeds; the change of a pruned CNN is the paired difference to its own dense
accuracy. ``--out`` writes ``cnn_digits.md`` (tables, command, machine) and ``cnn_pruning.png``.
``--small`` is the setting the test suite runs (digits, one seed, few epochs).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from multisource.compress import prune_model
from multisource.data.loaders import load_dataset
from multisource.learners import TorchClassifier

MODELS: dict[str, dict[str, dict[str, Any]]] = {
    "digits": {
        "MLP (64)": {"hidden_sizes": (64,)},
        "MLP (256)": {"hidden_sizes": (256,)},
        "CNN": {"architecture": "cnn"},  # conv 16, 32 (3x3) -> max-pool 2 each -> dense 64
    },
    "mnist1d": {
        "MLP (100, 100)": {"hidden_sizes": (100, 100)},
        "CNN": {"architecture": "cnn", "channels": (32, 32, 32), "kernel_size": 5},
    },
}
LOADERS: dict[str, dict[str, Any]] = {"digits": {}, "mnist1d": {"n_samples": 4000}}
PRUNINGS: dict[str, dict[str, Any]] = {  # label -> (method, target, first conv dense?)
    f"{method} {label}": {"method": method, "target": target, "first_dense": first_dense}
    for label, target, first_dense in [
        ("50%", {"sparsity": 0.5}, False),
        ("50%, first conv dense", {"sparsity": 0.5}, True),
        ("2:4", {"pattern": "2:4"}, False),
        ("2:4, first conv dense", {"pattern": "2:4"}, True),
    ]
    for method in ("sparsegpt", "wanda", "magnitude")
}


def load(name: str, seed: int, test_size: float) -> tuple[np.ndarray, ...]:
    """A stratified, seeded train/test split; digits scaled to [0, 1]."""
    data = load_dataset(name, seed=0, **LOADERS[name])  # one fixed MNIST-1D sample, split per seed
    X = data.X / 16.0 if name == "digits" else data.X
    return tuple(train_test_split(X, data.y, test_size=test_size, stratify=data.y, random_state=seed))


def prune_copy(clf: TorchClassifier, X_train: np.ndarray, spec: dict[str, Any]) -> tuple[TorchClassifier, float]:
    """A copy of the trained CNN pruned with the training inputs as calibration; and the pruning time.

    With ``first_dense`` the layers after the first convolution are pruned as one net whose
    calibration inputs are the first convolution's outputs: the same sequential pruning with
    that layer left out (a per-layer choice an N:M pattern does not offer).
    """
    pruned = copy.deepcopy(clf)
    net, calibration = pruned.module_, torch.tensor(X_train, dtype=torch.float32)
    if spec["first_dense"]:
        first = next(i for i, layer in enumerate(net) if isinstance(layer, torch.nn.Conv1d | torch.nn.Conv2d))
        with torch.no_grad():
            calibration = net[: first + 1](calibration)
        net = net[first + 1 :]  # shares its layers with pruned.module_
    settings = {"family": "generic", "device": "cpu", "progress": False, **spec["target"]}
    report = prune_model(net, calibration, method=spec["method"], **settings)
    if report.skipped:
        raise RuntimeError(f"layers left dense: {report.skipped}")
    return pruned, report.total_seconds


def run(dataset: str, seed: int, epochs: int, prunings: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (dataset, seed, model, accuracy, seconds) of every model, and of every pruned copy of the CNN."""
    X_train, X_test, y_train, y_test = load(dataset, seed, test_size=0.3 if dataset == "digits" else 0.25)
    rows = []
    for model, params in MODELS[dataset].items():
        start = time.perf_counter()
        clf = TorchClassifier(epochs=epochs, lr=3e-3, random_state=seed, device="cpu", **params).fit(X_train, y_train)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "dataset": dataset,
                "seed": seed,
                "model": model,
                "accuracy": clf.score(X_test, y_test),
                "seconds": seconds,
            }
        )
        if params.get("architecture") == "cnn":
            for label, spec in prunings.items():
                pruned, seconds = prune_copy(clf, X_train, spec)
                accuracy = pruned.score(X_test, y_test)
                rows.append(
                    {
                        "dataset": dataset,
                        "seed": seed,
                        "model": f"CNN, {label}",
                        "accuracy": accuracy,
                        "seconds": seconds,
                    }
                )
    return rows


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample standard deviation / sqrt(n); 0 for one value)."""
    array = np.asarray(values, dtype=np.float64)
    se = float(array.std(ddof=1) / np.sqrt(len(array))) if len(array) > 1 else 0.0
    return float(array.mean()), se


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """(dataset, model) -> accuracy mean / s.e. and, for pruned CNNs, the paired change vs the dense CNN (points)."""
    dense = {(r["dataset"], r["seed"]): r["accuracy"] for r in rows if r["model"] == "CNN"}
    summary: dict[tuple[str, str], dict[str, float]] = {}
    for key in dict.fromkeys((r["dataset"], r["model"]) for r in rows):
        cell = [r for r in rows if (r["dataset"], r["model"]) == key]
        acc, acc_se = mean_se([100 * r["accuracy"] for r in cell])
        change, change_se = mean_se([100 * (r["accuracy"] - dense[r["dataset"], r["seed"]]) for r in cell])
        summary[key] = {
            "accuracy": acc,
            "accuracy_se": acc_se,
            "change": change,
            "change_se": change_se,
            "seconds": float(np.mean([r["seconds"] for r in cell])),
            "n": len(cell),
        }
    return summary


def table(summary: dict[tuple[str, str], dict[str, float]], dataset: str) -> str:
    lines = [
        "| model | test accuracy (%) | change vs dense CNN (points) | seconds (train or prune) |",
        "|---|---|---|---|",
    ]
    for (name, model), s in summary.items():
        if name == dataset:
            change = f"{s['change']:+.2f} ± {s['change_se']:.2f}" if model.startswith("CNN") else ""
            lines.append(f"| {model} | {s['accuracy']:.2f} ± {s['accuracy_se']:.2f} | {change} | {s['seconds']:.2f} |")
    return "\n".join(lines)


def verdicts(summary: dict[tuple[str, str], dict[str, float]], dataset: str) -> list[str]:
    """The acceptance statements of issue 14, measured: CNN vs best MLP; pruned CNN vs dense CNN."""
    lines = []
    mlps = {m: s for (d, m), s in summary.items() if d == dataset and m.startswith("MLP")}
    cnn = summary.get((dataset, "CNN"))
    if cnn and mlps:
        best, s = max(mlps.items(), key=lambda item: item[1]["accuracy"])
        gap = cnn["accuracy"] - s["accuracy"]
        ok = "met" if gap >= -1 else "NOT met"
        lines.append(f"- CNN vs the best MLP ({best}): {gap:+.2f} points ({ok}: within 1 point or better).")
    for scope in ("50%", "50%, first conv dense"):
        cells = [summary.get((dataset, f"CNN, {m} {scope}")) for m in ("sparsegpt", "wanda", "magnitude")]
        if all(cells):
            sgpt, wanda, magnitude = (cell["change"] for cell in cells if cell)
            ok = "met" if sgpt >= -1 else "NOT met"
            lines.append(
                f"- {scope}: SparseGPT {sgpt:+.2f} points vs dense ({ok}: within 1 point); Wanda {wanda:+.2f}, "
                f"magnitude {magnitude:+.2f}: magnitude {'loses more' if magnitude < sgpt else 'does NOT lose more'}."
            )
    return lines


def figure(summary: dict[tuple[str, str], dict[str, float]], path: Path) -> None:
    """One panel per data set: the change of each pruned CNN vs its dense accuracy, methods side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(d for d, _ in summary))
    scopes = ["50%", "50%, first conv dense", "2:4", "2:4, first conv dense"]
    methods = {"sparsegpt": "tab:blue", "wanda": "tab:orange", "magnitude": "tab:gray"}
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.4), squeeze=False, sharey=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for offset, (method, color) in enumerate(methods.items()):
            cells = [summary.get((dataset, f"CNN, {method} {scope}")) for scope in scopes]
            xs = [i + 0.27 * (offset - 1) for i, c in enumerate(cells) if c]
            ys = [c["change"] for c in cells if c]
            errs = [c["change_se"] for c in cells if c]
            ax.bar(xs, ys, width=0.25, yerr=errs, color=color, label=method, capsize=2)
        ax.axhline(-1, color="black", lw=0.8, ls="--", label="-1 point")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xticks(range(len(scopes)), [scope.replace(", ", ",\n") for scope in scopes])
        ax.set_title(f"{dataset}: pruned CNN")
        ax.set_ylabel("test accuracy change (points)")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), torch {torch.__version__}, "
        f"1 torch thread, load average {load:.1f} at the start"
    )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist1d"], choices=sorted(MODELS))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--small", action="store_true", help="digits, one seed, 5 epochs, 50 %% only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    prunings = PRUNINGS
    if args.small:
        args.seeds, args.datasets, args.epochs = 1, ["digits"], 5
        prunings = {label: spec for label, spec in PRUNINGS.items() if "50%" in label}
    about = machine()
    TorchClassifier(epochs=1, device="cpu").fit(np.eye(10), np.arange(10))  # warm-up: the first fit pays torch's start
    start = time.perf_counter()
    tasks = [(dataset, seed) for dataset in args.datasets for seed in range(args.seeds)]
    rows = [
        row for dataset, seed in tqdm(tasks, desc="cnn_digits") for row in run(dataset, seed, args.epochs, prunings)
    ]
    wall = time.perf_counter() - start
    summary = summarise(rows)
    command = "python experiments/cnn_digits.py " + " ".join(sys.argv[1:] if argv is None else argv)
    parts = [
        "# CNN vs MLP, and the CNN pruned one-shot (issue 14)",
        "",
        f"Command: `{command.strip()}`; {args.seeds} seed(s), {args.epochs} epochs of Adam (lr 3e-3, batch 64).",
        f"Machine: {about}; wall time {wall:.0f} s.",
        "Accuracy: mean ± standard error over the seeds; change: paired difference to the same seed's dense CNN.",
        "Pruning: `prune_model` with all training inputs as calibration (SparseGPT blocksize 128, percdamp 0.01).",
    ]
    for dataset in args.datasets:
        parts += ["", f"## {dataset}", "", table(summary, dataset), "", *verdicts(summary, dataset)]
    text = "\n".join(parts) + "\n"
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cnn_digits.md").write_text(text)
        figure(summary, args.out / "cnn_pruning.png")
    return rows


if __name__ == "__main__":
    main()
