"""Text sources with an LM encoder: KJV passages labelled by division, 10 annotators, 0-4 corrupted.

    python experiments/text_annotators.py [--small] [--cache results/lm_cache] [--out docs/results]

For every encoder (dense SmolLM2-135M, or compressed one-shot by SparseGPT / Wanda / magnitude,
calibrated on the texts of one trusted annotator), every attack (label flip, trigger-word backdoor),
number of corrupted annotators and seed: the LM features of the texts, their discrepancy matrix, every
rule, a logistic-regression head on what the rule kept, and its clean test accuracy and filter
precision / recall. Features are cached on disk by encoder and text, so a rerun (or another seed)
encodes nothing twice. ``--small`` is the setting the test suite runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone

from multisource.corruption.text import corrupt_text_sources
from multisource.data.text_sources import deal_text_sources
from multisource.data.verses import load_kjv_divisions
from multisource.discrepancy import pairwise
from multisource.filtering import FILTERING_RULES, RuleContext
from multisource.learners import LMFeatureMap, fit_on_selection, make_learner
from multisource.learners.lm_features import text_multisource
from multisource.runner.experiment import filter_precision_recall

ENCODERS: dict[str, dict[str, object] | None] = {
    "dense": None,
    "sparsegpt 50%": {"method": "sparsegpt", "sparsity": 0.5},
    "sparsegpt 2:4": {"method": "sparsegpt", "pattern": "2:4"},
    "sparsegpt 50% + 4-bit": {"method": "sparsegpt", "sparsity": 0.5, "bits": 4},
    "wanda 50%": {"method": "wanda", "sparsity": 0.5},
    "magnitude 50%": {"method": "magnitude", "sparsity": 0.5},
}
RULES = ("all_data", "clean_only", "quantile", "multi_krum", "known_alpha", "threshold_majority")
ATTACKS = {"label_flip": {"p": 1.0}, "trigger_backdoor": {"p": 1.0, "target": 0}}


def run_cell(sources, fmap, attack, bad, seed):
    """Rows of every rule for one (encoder, attack, bad set, seed)."""
    corrupted = corrupt_text_sources(sources, attack, bad, params=ATTACKS[attack], seed=seed) if len(bad) else sources
    data = text_multisource(corrupted, fmap)
    disc = pairwise(data, estimator="linear", l2=1.0)
    bad_mask = np.isin(np.arange(data.n_sources), bad)
    learner = make_learner("logreg", random_state=seed, C=0.1, max_iter=2000)
    context = RuleContext(dataset=data, disc=disc, learner=learner, seed=seed, bad=bad_mask)
    alpha = len(bad) / data.n_sources
    rows = []
    for rule in RULES:
        selection = FILTERING_RULES.get(rule)(disc, data.sizes, alpha, context=context)
        model = fit_on_selection(clone(learner), data, selection)
        precision, recall = filter_precision_recall(selection.kept, bad_mask)
        rows.append(
            {
                "rule": rule,
                "accuracy": float(model.score(data.X_test, data.y_test)),
                "precision": precision,
                "recall": recall,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the test suite's setting (two encoders, one seed)")
    parser.add_argument("--cache", type=Path, default=Path("results/lm_cache"))
    parser.add_argument("--out", type=Path, default=None, help="folder for text_annotators.md")
    args = parser.parse_args(argv)
    n_per_class, m, seeds = (12, 6, [0]) if args.small else (60, 30, [0, 1, 2])
    n_calibration = 2 if args.small else 8
    encoders = {k: ENCODERS[k] for k in ("dense", "magnitude 50%")} if args.small else ENCODERS
    n_bads = [0, 3] if args.small else [0, 1, 2, 3, 4]
    texts = load_kjv_divisions(n_per_class=n_per_class, seed=0)
    results = []
    for name, compression in encoders.items():
        start = time.perf_counter()
        for seed in seeds:
            sources = deal_text_sources(texts, n_sources=10, m=m, n_test=0.3, seed=seed)
            # Calibrate on annotator 9, which the adversary never corrupts (a trusted reference source).
            reference = [t for t, s in zip(sources.texts, sources.source, strict=True) if s == 9]
            fmap = LMFeatureMap(
                layer=15,
                cache_dir=args.cache,
                device="cpu",
                compression=compression,
                n_calibration=n_calibration,
                calibration_length=64,
            ).fit(reference)
            for attack in ATTACKS:
                for n_bad in n_bads:
                    if n_bad == 0 and attack != "label_flip":
                        continue
                    bad = list(range(n_bad))
                    for row in run_cell(sources, fmap, attack, bad, seed):
                        results.append(
                            {
                                "encoder": name,
                                "attack": attack if n_bad else "none",
                                "n_bad": n_bad,
                                "seed": seed,
                                **row,
                            }
                        )
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
    table = markdown_table(results)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "text_annotators.md").write_text(table)
    return results


def markdown_table(results: list[dict[str, object]]) -> str:
    """Mean accuracy (%) ± s.e. over seeds, one row per (encoder, attack, n_bad, rule)."""
    groups: dict[tuple[object, ...], list[dict[str, object]]] = {}
    for row in results:
        groups.setdefault((row["encoder"], row["attack"], row["n_bad"], row["rule"]), []).append(row)
    lines = ["| encoder | attack | n_bad | rule | accuracy (%) | precision | recall |", "|---|---|---|---|---|---|---|"]
    for (encoder, attack, n_bad, rule), rows in groups.items():
        acc = 100 * np.array([r["accuracy"] for r in rows], dtype=float)
        se = acc.std(ddof=1) / np.sqrt(len(acc)) if len(acc) > 1 else float("nan")
        prec = np.mean([r["precision"] for r in rows])
        rec = np.mean([r["recall"] for r in rows])
        lines.append(
            f"| {encoder} | {attack} | {n_bad} | {rule} | {acc.mean():.1f} ± {se:.1f} | {prec:.2f} | {rec:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
