"""Linear vs MLP discrepancy classes on digits: which attacks each separates, and when the MLP over-fits.

For each attack (blur, backdoor, dead_pixels, label_flip), per-source size m and seed: N = 10 digits
sources of m samples, 3 of them corrupted (``Adversary(0.3, attack)``, default attack parameters),
the matrix by ``pairwise(estimator=...)`` for each class, and

- separation: mean disc of (bad, clean) pairs minus mean disc of (clean, clean) pairs;
- AUC: how well a pair's disc ranks (bad, clean) pairs above (clean, clean) ones (1 = perfectly);
- clean-clean: mean disc of clean pairs (close to 1 = the class separates any two samples: over-fit);
- precision / recall of FLEA's quantile rule (n_bad = 3): share of kept sources that are clean, and
  share of clean sources kept.

Run: ``.venv/bin/python experiments/discrepancy_classes.py`` (writes ``docs/results/discrepancy/``;
``--quick`` for one seed, two attacks and two m).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from multisource.corruption import Adversary
from multisource.data import make_multisource
from multisource.discrepancy import pairwise
from multisource.filtering import quantile

ATTACKS = ("blur", "backdoor", "dead_pixels", "label_flip")
CLASSES = {
    "linear": {"estimator": "linear", "l2": 1.0, "scaling": "pair"},
    "mlp (16 hidden)": {"estimator": "mlp", "hidden": 16, "max_epochs": 200},
    "mlp (4 hidden)": {"estimator": "mlp", "hidden": 4, "max_epochs": 200},
}
N_SOURCES, N_BAD = 10, 3


def class_scores(attack: str, m: int, seed: int) -> list[dict[str, object]]:
    """One row per hypothesis class: separation, AUC, clean-clean disc, quantile precision / recall, seconds."""
    data = make_multisource("digits", n_sources=N_SOURCES, m=m, seed=seed)
    result = Adversary(N_BAD / N_SOURCES, attack, seed=seed).corrupt(data)
    bad = result.bad
    a, b = np.triu_indices(N_SOURCES, k=1)
    mixed, clean_pair = bad[a] != bad[b], ~bad[a] & ~bad[b]
    rows = []
    for name, options in CLASSES.items():
        start = time.perf_counter()
        disc = pairwise(result.dataset, seed=seed, **options)
        seconds = time.perf_counter() - start
        values = disc[a, b]
        kept = quantile(disc, result.dataset.sizes, n_bad=N_BAD).kept
        keep = values[mixed | clean_pair]
        rows.append(
            {
                "attack": attack,
                "m": m,
                "seed": seed,
                "class": name,
                "separation": values[mixed].mean() - values[clean_pair].mean(),
                "auc": roc_auc_score(mixed[mixed | clean_pair], keep),
                "clean_clean": values[clean_pair].mean(),
                "precision": np.mean(~bad[kept]),
                "recall": np.mean(kept[~bad]),
                "seconds": seconds,
            }
        )
    return rows


def summary_table(rows: list[dict[str, object]]) -> str:
    """Markdown table of the means over seeds, one line per (attack, m, class)."""
    lines = [
        "| attack | m | class | separation | AUC | clean-clean disc | quantile precision | recall | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["attack"], r["m"], r["class"]) for r in rows}, key=lambda k: (ATTACKS.index(k[0]), k[1], k[2]))
    for attack, m, name in keys:
        group = [r for r in rows if (r["attack"], r["m"], r["class"]) == (attack, m, name)]
        mean = {
            k: np.mean([r[k] for r in group])
            for k in ("separation", "auc", "clean_clean", "precision", "recall", "seconds")
        }
        lines.append(
            f"| {attack} | {m} | {name} | {mean['separation']:.3f} | {mean['auc']:.3f} | {mean['clean_clean']:.3f} "
            f"| {mean['precision']:.3f} | {mean['recall']:.3f} | {mean['seconds']:.1f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, object]], path: Path) -> None:
    """Faceted figure: AUC and clean-clean disc (rows) per attack (columns) against m, one line per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = [a for a in ATTACKS if any(r["attack"] == a for r in rows)]
    fig, axes = plt.subplots(
        2, len(attacks), figsize=(3.2 * len(attacks), 5.5), sharex=True, sharey="row", squeeze=False
    )
    for col, attack in enumerate(attacks):
        for name in CLASSES:
            group = [r for r in rows if r["attack"] == attack and r["class"] == name]
            ms = sorted({r["m"] for r in group})
            for row, key in enumerate(("auc", "clean_clean")):
                axes[row, col].plot(ms, [np.mean([r[key] for r in group if r["m"] == m]) for m in ms], "o-", label=name)
        axes[0, col].set_title(attack)
        axes[1, col].set_xlabel("m (samples per source)")
        axes[1, col].set_xscale("log")
        axes[1, col].set_xticks(ms, [str(m) for m in ms], minor=False)
        axes[1, col].xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes[0, 0].set_ylabel("AUC: disc ranks bad pairs\nabove clean pairs")
    axes[1, 0].set_ylabel("mean disc of clean pairs\n(1 = over-fit)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"digits, N = {N_SOURCES}, {N_BAD} bad; means over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/results/discrepancy"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--m", type=int, nargs="+", default=[25, 50, 100, 130])
    parser.add_argument("--quick", action="store_true", help="1 seed, blur and label_flip, m in {25, 100}")
    args = parser.parse_args()
    attacks = ("blur", "label_flip") if args.quick else ATTACKS
    seeds, ms = (1, [25, 100]) if args.quick else (args.seeds, args.m)
    rows: list[dict[str, object]] = []
    for attack in attacks:
        for m in ms:
            for seed in range(seeds):
                rows += class_scores(attack, m, seed)
        write_results(rows, args.out, seeds)  # after each attack, so a stopped run keeps what it has
        print(f"{attack} done", flush=True)
    print(summary_table(rows))


def write_results(rows: list[dict[str, object]], out: Path, seeds: int) -> None:
    """``classes.md`` (the table) and ``classes.png`` (the faceted figure) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    table = summary_table(rows)
    (out / "classes.md").write_text(
        "# Linear vs MLP discrepancy classes on digits\n\n"
        f"Generated by `experiments/discrepancy_classes.py` (N = {N_SOURCES}, {N_BAD} bad, {seeds} seeds, "
        "default attack parameters; linear: l2 = 1, per-pair scaling; MLP: Adam, 200 epochs, early stopping). "
        "Timings measured under load on 2 shared cores.\n\n" + table + "\n\n![classes](classes.png)\n"
    )
    plot(rows, out / "classes.png")


if __name__ == "__main__":
    main()
