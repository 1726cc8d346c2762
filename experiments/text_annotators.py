"""Text sources with an LM encoder: KJV passages labelled by division, 10 annotators, 0-4 corrupted.

    python experiments/text_annotators.py [--small] [--cache results/lm_cache] [--out docs/results/text]
        [--calibration reference,all,kept]

The passages are dealt once to 11 annotators and a clean test set; annotator 10 is the learner's
trusted reference source and the other 10 are the task's sources. Every seed re-deals the same
training passages among the 10 (iid), so each encoder encodes each passage once (features are
cached on disk by encoder and text). For every encoder (dense SmolLM2-135M, or compressed one-shot
by SparseGPT / Wanda / magnitude), attack (label flip to a random other class, label bias to class
0, trigger-word backdoor to class 0), number of corrupted annotators and seed: the LM features,
their discrepancy matrix, every rule, a logistic-regression head on what the rule kept, its clean
test accuracy, the filter's precision / recall and, for the backdoor, the attack success rate (the
share of triggered non-target test passages classified as the target).

The compressed encoders are calibrated on one of ``CALIBRATIONS``:

- ``reference``: the trusted annotator's passages (every encoder, every cell);
- ``all``: the passages of all 10 sources, the adversary's included (no trusted data needed);
- ``kept``: re-compressed on the passages of the sources that ``FIRST_PASS_RULE`` kept on the
  ``all``-calibrated features (a first filtering pass), then every rule rerun.

``all`` and ``kept`` run for ``CALIBRATION_STUDY``'s encoders, attack and number of corrupted sources.
``--small`` is the setting the test suite runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.base import clone

from multisource.corruption.text import add_trigger_word, corrupt_text_sources
from multisource.data.text_sources import TextSources, deal_text_sources
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
BASELINES = ("all_data", "clean_only")
FILTERS = ("quantile", "multi_krum", "known_alpha", "threshold_majority")
RULES = (*BASELINES, *FILTERS)
TARGET = 0
ATTACKS: dict[str, dict[str, object]] = {
    "label_flip": {"p": 1.0},
    "label_bias": {"p": 1.0, "target": TARGET},
    "trigger_backdoor": {"p": 1.0, "target": TARGET},
}
TRIGGER = "zyx"  # trigger_backdoor's default trigger word
CALIBRATIONS = ("reference", "all", "kept")
FIRST_PASS_RULE = "quantile"
N_SOURCES = 10


@dataclass(frozen=True)
class Setting:
    """Sizes of one run: passages per class, texts per annotator, test texts, seeds, encoders, corrupted counts."""

    n_per_class: int
    m: int
    n_test: int
    seeds: tuple[int, ...]
    encoders: tuple[str, ...]
    n_bads: tuple[int, ...]
    attacks: tuple[str, ...]
    n_components: int
    n_calibration: int
    calibration_length: int = 64
    # (encoders, attack, n_bad) of the calibration study.
    study: tuple[tuple[str, ...], str, int] = (("sparsegpt 50%",), "trigger_backdoor", 3)


SETTINGS = {
    # 11 x 40 training passages + 120 test = 560 = 70 per class.
    "full": Setting(70, 40, 120, (0, 1, 2), tuple(ENCODERS), (0, 1, 2, 3, 4), tuple(ATTACKS), 32, 32),
    # 11 x 12 + 48 = 180 <= 23 per class; sized so the label-biased annotators stand out.
    "small": Setting(23, 12, 48, (0,), ("dense", "magnitude 50%"), (0, 3), ("label_bias", "trigger_backdoor"), 8, 4),
}


def split_reference(sources: TextSources, reference: int) -> tuple[list[str], TextSources]:
    """The passages of annotator ``reference`` (the last one), and the sources without it."""
    if reference != sources.n_sources - 1:
        raise ValueError(f"reference must be the last annotator, {sources.n_sources - 1}, got {reference}")
    keep = sources.source != reference
    texts = [t for t, k in zip(sources.texts, keep, strict=True) if not k]
    rest = replace(
        sources,
        texts=tuple(t for t, k in zip(sources.texts, keep, strict=True) if k),
        y=sources.y[keep],
        source=sources.source[keep],
        n_sources=reference,
    )
    return texts, rest


def redeal(sources: TextSources, seed: int) -> TextSources:
    """The same training passages dealt anew among the same annotators (iid, same sizes, same test set)."""
    perm = np.random.default_rng(seed).permutation(len(sources.texts))
    return sources.with_training_texts(tuple(sources.texts[i] for i in perm), sources.y[perm])


def with_triggered_test(sources: TextSources) -> tuple[TextSources, int]:
    """``sources`` whose test set is followed by its non-target passages with the trigger, and the clean count.

    Appending test rows changes no training feature (PCA and scaling are fit on training rows).
    """
    rows = np.flatnonzero(sources.y_test != TARGET)
    triggered = add_trigger_word([sources.test_texts[i] for i in rows], TRIGGER)
    extended = replace(
        sources,
        test_texts=(*sources.test_texts, *triggered),
        y_test=np.concatenate([sources.y_test, sources.y_test[rows]]),
    )
    return extended, len(sources.test_texts)


def run_cell(
    sources: TextSources, fmap: LMFeatureMap, attack: str, bad: list[int], seed: int, n_components: int
) -> tuple[list[dict[str, object]], dict[str, np.ndarray]]:
    """Rows of every rule for one (encoder, attack, bad set, seed), and each rule's kept mask."""
    corrupted = corrupt_text_sources(sources, attack, bad, params=ATTACKS[attack], seed=seed) if bad else sources
    backdoor = attack == "trigger_backdoor" and bool(bad)
    if backdoor:
        corrupted, n_clean = with_triggered_test(corrupted)
    data = text_multisource(corrupted, fmap, n_components=n_components)
    n_clean = n_clean if backdoor else len(data.y_test)
    disc = pairwise(data, estimator="linear", l2=1.0, device="cpu")
    bad_mask = np.isin(np.arange(data.n_sources), bad)
    learner = make_learner("logreg", random_state=seed, C=0.1, max_iter=2000)
    context = RuleContext(dataset=data, disc=disc, learner=learner, seed=seed, bad=bad_mask)
    rows, kept = [], {}
    for rule in RULES:
        selection = FILTERING_RULES.get(rule)(disc, data.sizes, len(bad) / data.n_sources, context=context)
        model = fit_on_selection(clone(learner), data, selection)
        predicted = model.predict(data.X_test)
        precision, recall = filter_precision_recall(selection.kept, bad_mask)
        kept[rule] = selection.kept
        rows.append(
            {
                "rule": rule,
                "accuracy": float(np.mean(predicted[:n_clean] == data.y_test[:n_clean])),
                "backdoor_success": float(np.mean(predicted[n_clean:] == TARGET)) if backdoor else float("nan"),
                "precision": precision,
                "recall": recall,
            }
        )
    return rows, kept


def make_map(setting: Setting, cache: Path, name: str, calibration_texts: list[str]) -> tuple[LMFeatureMap, float]:
    """The encoder ``name`` fitted (compressed) on ``calibration_texts``, and the compression seconds."""
    fmap = LMFeatureMap(
        layer=15,
        cache_dir=cache,
        device="cpu",
        compression=ENCODERS[name],
        n_calibration=setting.n_calibration,
        calibration_length=setting.calibration_length,
    ).fit(calibration_texts)
    return fmap, fmap.prune_report_.total_seconds if ENCODERS[name] is not None else 0.0


def corrupted_texts(sources: TextSources, attack: str, bad: list[int], seed: int) -> list[str]:
    """All training passages after the attack (what calibrating on all sources reads)."""
    return list(corrupt_text_sources(sources, attack, bad, params=ATTACKS[attack], seed=seed).texts)


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the test suite's setting (two encoders, one seed)")
    parser.add_argument("--cache", type=Path, default=Path("results/lm_cache"))
    parser.add_argument("--out", type=Path, default=None, help="folder for text_annotators.md and the figure")
    parser.add_argument(
        "--calibration",
        default="reference",
        help=f"comma-separated subset of {list(CALIBRATIONS)}: 'reference' runs the grid, 'all' and 'kept' the "
        "calibration study (two processes can run them side by side on one cache)",
    )
    parser.add_argument("--encoders", default=None, help="comma-separated names of ENCODERS (default: the setting's)")
    parser.add_argument("--render", action="store_true", help="only write the report from the saved runs")
    args = parser.parse_args(argv)
    calibrations = args.calibration.split(",")
    if not calibrations or not set(calibrations) <= set(CALIBRATIONS):
        valid = list(CALIBRATIONS)
        raise ValueError(f"calibration must be a comma-separated subset of {valid}, got {args.calibration}")
    name = "small" if args.small else "full"
    setting = SETTINGS[name]
    if args.encoders is not None:
        encoders = tuple(args.encoders.split(","))
        if not set(encoders) <= set(ENCODERS):
            raise ValueError(f"encoders must be a comma-separated subset of {list(ENCODERS)}, got {args.encoders}")
        setting = replace(setting, encoders=encoders, study=(encoders, *setting.study[1:]))
    results: list[dict[str, object]] = []
    if not args.render:
        run = run_setting(setting, args.cache, calibrations)
        run["argv"] = argv
        results = run["results"]
        label = re.sub(r"[^a-z0-9,]", "", ",".join([*calibrations, *setting.encoders]).lower())
        (args.cache / f"text_annotators_{name}_{label}.json").write_text(json.dumps(run))
    if args.out is not None:
        runs = [json.loads(f.read_text()) for f in sorted(args.cache.glob(f"text_annotators_{name}_*.json"))]
        write_report(args.out, runs)
    return results


def run_setting(setting: Setting, cache: Path, calibrations: list[str]) -> dict:
    """Rows, encoder costs, wall time and load of the reference grid and/or the calibration study."""
    start = time.perf_counter()
    texts = load_kjv_divisions(n_per_class=setting.n_per_class, seed=0)
    dealt = deal_text_sources(texts, n_sources=N_SOURCES + 1, m=setting.m, n_test=setting.n_test, seed=0)
    reference, pool = split_reference(dealt, N_SOURCES)
    results: list[dict[str, object]] = []
    costs: list[dict[str, object]] = []
    if "reference" in calibrations:
        results, costs = reference_grid(setting, cache, pool, reference)
    if {"all", "kept"} & set(calibrations):
        study_rows, study_costs = calibration_study(setting, cache, pool, calibrations)
        results += study_rows
        costs += study_costs
    wall = time.perf_counter() - start
    print(f"wall time {wall:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    return {"results": results, "costs": costs, "wall_s": wall, "calibrations": calibrations, "load": os.getloadavg()}


def reference_grid(
    setting: Setting, cache: Path, pool: TextSources, reference: list[str]
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Every encoder calibrated on the trusted reference, every attack, n_bad and seed."""
    results: list[dict[str, object]] = []
    costs: list[dict[str, object]] = []
    for name in setting.encoders:
        fmap, seconds = make_map(setting, cache, name, reference)
        encoder_start = time.perf_counter()
        for seed in setting.seeds:
            sources = redeal(pool, seed)
            for attack in setting.attacks:
                for n_bad in setting.n_bads:
                    if n_bad == 0 and attack != setting.attacks[0]:
                        continue  # no corruption: one cell, not one per attack
                    rows, _ = run_cell(sources, fmap, attack, list(range(n_bad)), seed, setting.n_components)
                    key = {"encoder": name, "calibration": "reference", "attack": attack if n_bad else "none"}
                    results += [{**key, "n_bad": n_bad, "seed": seed, **row} for row in rows]
        costs.append(encoder_cost(name, "reference", fmap, seconds, time.perf_counter() - encoder_start))
        print(f"{name}: compression {seconds:.1f} s, cells {costs[-1]['cells_s']:.1f} s", flush=True)
    return results, costs


def calibration_study(
    setting: Setting, cache: Path, pool: TextSources, calibrations: list[str]
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Rows of the ``all`` and ``kept`` calibrations for the study's encoders, attack and n_bad, every seed."""
    encoders, attack, n_bad = setting.study
    bad = list(range(n_bad))
    rows: list[dict[str, object]] = []
    costs: list[dict[str, object]] = []
    for name in encoders:
        for seed in setting.seeds:
            sources = redeal(pool, seed)
            fmap, seconds = make_map(setting, cache, name, corrupted_texts(sources, attack, bad, seed))
            cell_start = time.perf_counter()
            cell, kept = run_cell(sources, fmap, attack, bad, seed, setting.n_components)
            key = {"encoder": name, "attack": attack, "n_bad": n_bad, "seed": seed}
            if "all" in calibrations:
                rows += [{**key, "calibration": "all", **row} for row in cell]
                costs.append(encoder_cost(name, "all", fmap, seconds, time.perf_counter() - cell_start))
            if "kept" in calibrations:
                texts = corrupted_texts(sources, attack, bad, seed)
                keep = kept[FIRST_PASS_RULE][sources.source]
                fmap, seconds = make_map(setting, cache, name, [t for t, k in zip(texts, keep, strict=True) if k])
                cell_start = time.perf_counter()
                cell, _ = run_cell(sources, fmap, attack, bad, seed, setting.n_components)
                rows += [{**key, "calibration": "kept", **row} for row in cell]
                costs.append(encoder_cost(name, "kept", fmap, seconds, time.perf_counter() - cell_start))
            print(f"calibration study {name} seed {seed} done", flush=True)
    return rows, costs


def encoder_cost(name: str, calibration: str, fmap: LMFeatureMap, compression_s: float, cells_s: float) -> dict:
    """Compression seconds, tokens encoded (cache misses) and their throughput, seconds of the cells."""
    tokens, seconds = fmap.tokens_encoded_, fmap.encoding_seconds_
    return {
        "encoder": name,
        "calibration": calibration,
        "compression_s": compression_s,
        "tokens": tokens,
        "tokens_per_s": tokens / seconds if seconds else float("nan"),
        "cells_s": cells_s,
    }


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (nan for one value) of ``values``."""
    x = np.asarray(values, dtype=float)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def summarize(results: list[dict]) -> dict[tuple, dict[str, float]]:
    """(encoder, calibration, attack, n_bad, rule) -> mean accuracy (%), its s.e., precision, recall, success."""
    groups: dict[tuple, list[dict]] = {}
    for row in results:
        key = (row["encoder"], row["calibration"], row["attack"], row["n_bad"], row["rule"])
        groups.setdefault(key, []).append(row)
    summary = {}
    for key, rows in groups.items():
        acc, se = mean_se([100 * r["accuracy"] for r in rows])
        summary[key] = {
            "accuracy": acc,
            "se": se,
            "precision": float(np.mean([r["precision"] for r in rows])),
            "recall": float(np.mean([r["recall"] for r in rows])),
            "success": 100 * float(np.mean([r["backdoor_success"] for r in rows])),
        }
    return summary


def best_filter(summary: dict, encoder: str, calibration: str, attack: str, n_bad: int) -> str:
    """The filter of ``FILTERS`` with the highest mean accuracy in that cell (chosen after the fact)."""
    return max(FILTERS, key=lambda rule: summary[(encoder, calibration, attack, n_bad, rule)]["accuracy"])


def goal_lines(summary: dict, n_bad: int = 3) -> list[str]:
    """The issue's goal at ``n_bad`` corrupted sources, per attack, in numbers."""
    lines = []
    attacks = sorted({k[2] for k in summary if k[3] == n_bad and k[1] == "reference"})
    for attack in attacks:
        best = {
            e: summary[(e, "reference", attack, n_bad, best_filter(summary, e, "reference", attack, n_bad))]["accuracy"]
            for e in ("dense", "sparsegpt 50%", "magnitude 50%")
            if (e, "reference", attack, n_bad, "all_data") in summary
        }
        if len(best) < 3:
            continue
        all_data = summary[("sparsegpt 50%", "reference", attack, n_bad, "all_data")]["accuracy"]
        gap, lift = best["sparsegpt 50%"] - best["dense"], best["sparsegpt 50%"] - all_data
        loss_mag, loss_sgpt = best["dense"] - best["magnitude 50%"], best["dense"] - best["sparsegpt 50%"]
        verdict = "magnitude loses more" if loss_mag > loss_sgpt else "magnitude does NOT lose more"
        lines.append(
            f"- **{attack}**, {n_bad} of 10 corrupted: best filter on SparseGPT 50 % minus best filter on dense "
            f"= {gap:+.1f} points ({'within' if gap >= -2 else 'NOT within'} 2); minus all-data on SparseGPT 50 % "
            f"= {lift:+.1f} points ({'>=' if lift >= 10 else 'NOT >='} 10); magnitude loses {loss_mag:+.1f} points "
            f"from dense, SparseGPT {loss_sgpt:+.1f} ({verdict})."
        )
    return lines


def goal_table(summary: dict, n_bad: int = 3) -> list[str]:
    """Per attack and encoder at ``n_bad``: all-data, clean oracle, best filter with precision / recall."""
    lines = [
        "| attack | encoder | all-data | clean oracle | best filter | best filter acc. | precision | recall "
        "| backdoor success (all-data / best) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for attack in ATTACKS:
        for encoder in ENCODERS:
            if (encoder, "reference", attack, n_bad, "all_data") not in summary:
                continue
            cell = {r: summary[(encoder, "reference", attack, n_bad, r)] for r in RULES}
            rule = best_filter(summary, encoder, "reference", attack, n_bad)
            success = (
                f"{cell['all_data']['success']:.0f} / {cell[rule]['success']:.0f}"
                if attack == "trigger_backdoor"
                else "-"
            )
            lines.append(
                f"| {attack} | {encoder} | {fmt(cell['all_data'])} | {fmt(cell['clean_only'])} | {rule} "
                f"| {fmt(cell[rule])} | {cell[rule]['precision']:.2f} | {cell[rule]['recall']:.2f} | {success} |"
            )
    return lines


def fmt(cell: dict[str, float]) -> str:
    return f"{cell['accuracy']:.1f} ± {cell['se']:.1f}"


def cost_table(costs: list[dict]) -> list[str]:
    """Compression time and encoding throughput per encoder and calibration (means over fits)."""
    lines = [
        "| encoder | calibration | fits | compression (s) | tokens encoded | encoding tokens/s |",
        "|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for c in costs:
        groups.setdefault((c["encoder"], c["calibration"]), []).append(c)
    for (encoder, calibration), rows in groups.items():
        tokens = sum(r["tokens"] for r in rows)
        seconds = sum(r["tokens"] / r["tokens_per_s"] for r in rows if r["tokens"])
        rate = f"{tokens / seconds:.0f}" if seconds else "-"
        compression = np.mean([r["compression_s"] for r in rows])
        lines.append(f"| {encoder} | {calibration} | {len(rows)} | {compression:.1f} | {tokens} | {rate} |")
    return lines


def study_table(summary: dict) -> list[str]:
    """Every rule under each calibration of the study's cells."""
    keys = sorted({(k[0], k[2], k[3]) for k in summary if k[1] != "reference"})
    lines = [
        "| encoder | attack | n_bad | rule | "
        + " | ".join(f"{c}: acc. / prec. / rec. / success" for c in CALIBRATIONS)
        + " |",
        "|---|---|---|---|" + "---|" * len(CALIBRATIONS),
    ]
    for encoder, attack, n_bad in keys:
        for rule in RULES:
            cells = [summary.get((encoder, c, attack, n_bad, rule)) for c in CALIBRATIONS]
            text = [
                f"{fmt(c)} / {c['precision']:.2f} / {c['recall']:.2f} / {c['success']:.0f}" if c else "-" for c in cells
            ]
            lines.append(f"| {encoder} | {attack} | {n_bad} | {rule} | " + " | ".join(text) + " |")
    return lines


def full_table(summary: dict) -> list[str]:
    """Every (encoder, attack, n_bad, rule) cell of the reference calibration."""
    lines = [
        "| encoder | attack | n_bad | rule | accuracy (%) | precision | recall | backdoor success (%) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (encoder, calibration, attack, n_bad, rule), cell in summary.items():
        if calibration == "reference":
            success = f"{cell['success']:.0f}" if attack == "trigger_backdoor" else "-"
            lines.append(
                f"| {encoder} | {attack} | {n_bad} | {rule} | {fmt(cell)} | {cell['precision']:.2f} "
                f"| {cell['recall']:.2f} | {success} |"
            )
    return lines


def write_report(out: Path, runs: list[dict]) -> None:
    """``text_annotators.md`` (goal, cost, calibration and full tables) and ``text_annotators.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize([row for run in runs for row in run["results"]])
    commands = "; ".join(
        f"`python experiments/text_annotators.py {' '.join(run['argv'] or [])}` ({run['wall_s'] / 60:.1f} min, load "
        f"average at the end {', '.join(f'{x:.1f}' for x in run['load'])})"
        for run in runs
    )
    parts = [
        "# Text sources with compressed LM encoders: results",
        "",
        f"Runs: {commands}, on {os.cpu_count()} CPU cores shared with other jobs, side by side. Mean ± s.e. over "
        "the seeds; accuracy on the clean test passages (%, 8 classes: chance 12.5); precision / recall of the "
        "removed sources as a detector of the corrupted ones; backdoor success = triggered non-target test "
        "passages classified as the target (%).",
        "",
        "## The goal at 3 of 10 corrupted",
        "",
        *goal_lines(summary),
        "",
        *goal_table(summary),
        "",
        "![accuracy per encoder](text_annotators.png)",
        "",
        "## Compute cost of each encoder",
        "",
        *cost_table([cost for run in runs for cost in run["costs"]]),
        "",
        "## Calibration: trusted reference, all sources, re-compressed on the kept sources",
        "",
        *study_table(summary),
        "",
        "## Every cell (reference calibration)",
        "",
        *full_table(summary),
        "",
    ]
    (out / "text_annotators.md").write_text("\n".join(parts))
    plot(summary, out / "text_annotators.png")


def plot(summary: dict, path: Path) -> None:
    """Accuracy vs corrupted annotators, one panel per attack: the quantile filter per encoder, all-data dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = [a for a in ATTACKS if any(k[2] == a for k in summary)]
    fig, axes = plt.subplots(1, len(attacks), figsize=(4.2 * len(attacks), 3.6), sharey=True, squeeze=False)
    highlight = {"dense": "black", "sparsegpt 50%": "tab:blue", "magnitude 50%": "tab:red"}
    for ax, attack in zip(axes[0], attacks, strict=True):
        for encoder in ENCODERS:
            n_bads = sorted(k[3] for k in summary if k[:3] == (encoder, "reference", attack) and k[4] == "quantile")
            if not n_bads:
                continue
            none = (
                [(encoder, "reference", "none", 0)] if (encoder, "reference", "none", 0, "quantile") in summary else []
            )
            keys = none + [(encoder, "reference", attack, n) for n in n_bads]
            x = [k[3] for k in keys]
            color, width = highlight.get(encoder, "0.7"), 2.0 if encoder in highlight else 1.0
            ax.plot(x, [summary[(*k, "quantile")]["accuracy"] for k in keys], color=color, lw=width, label=encoder)
            if encoder in highlight:
                y = [summary[(*k, "all_data")]["accuracy"] for k in keys]
                ax.plot(x, y, color=color, lw=1.0, ls="--")
        ax.set_title(attack)
        ax.set_xlabel("corrupted annotators of 10")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("clean test accuracy (%)")
    axes[0][0].legend(fontsize=7, title="quantile filter (dashed: all-data)", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
