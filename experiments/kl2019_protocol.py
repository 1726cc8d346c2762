"""KL2019's protocol (Konstantinov & Lampert, ICML 2019, Section 4): a trusted reference source plus N sources,
n of them corrupted, n = 0 .. N-1, with a fixed and an adaptive adversary; every rule; into a resumable store.

    python experiments/kl2019_protocol.py run [--small] [--seeds 5] [--store results/kl2019.sqlite] [--jobs 1]
    python experiments/kl2019_protocol.py report [--small] [--store ...] [--out docs/results/kl2019]

Source 0 is the reference ``S_T``: clean, and known to every rule that takes a reference (``kl2019``,
``reference_only``); sources 1 .. N are untrusted. Unlike the runner's grid (``alpha < 1/2`` of all
sources, :class:`multisource.runner.ExperimentSpec`), the corrupted sources may be a majority of
the untrusted ones, as in KL2019, so the grid points are built here from the library's parts: the
corruption of each source is the one :class:`multisource.corruption.Adversary` applies to it (its
stream does not depend on which sources are bad), the adaptive adversary ranks the untrusted
sources by the Adversary's own score (the clean training loss of the learner refitted with that
source alone corrupted) and takes the top n, and the rules are evaluated by the runner's grid-point
evaluator. Rules that need the number of bad sources (``known_alpha``, ``quantile``,
``multi_krum``) accept a minority only: they are given ``min(n, floor(N / 2))`` of the ``N + 1``
sources (the true count while it is a minority, then the most they can guard against).

One unit of work is (data set, attack, adversary, seed) with every n; its rows are committed in one
transaction of :class:`multisource.runner.Store`, so an interrupted run resumes where it stopped.
Units run seed by seed, so the seeds finished when a run is stopped are complete.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import sys
import time
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from tqdm.auto import tqdm

from multisource.aggregation import robust_aggregate
from multisource.corruption import Adversary
from multisource.data import load_dataset, make_multisource
from multisource.data.dataset import MultiSourceDataset
from multisource.discrepancy import pairwise
from multisource.filtering import FILTERING_RULES, RuleContext
from multisource.learners import (
    aligned_proba,
    fit_on_selection,
    fit_per_source,
    linear_logits,
    make_learner,
    softmax_proba,
)
from multisource.learners.kl2019_cv import LAMBDA_GRID, select_lambda
from multisource.report import markdown_report, summarize
from multisource.report.protocol import (
    acceptance,
    compare_experiments,
    compare_rules,
    outcome_counts,
    plot_filter_quality,
    plot_highlighted_errors,
    save,
    win_tie_loss_table,
)
from multisource.runner import Store, filter_precision_recall, map_unordered
from multisource.runner.executors import TaskFailure
from multisource.runner.experiment import ConstantIfOneClass
from multisource.runner.run import library_versions
from multisource.runner.spec import Component, canonical_json, short_hash
from multisource.runner.store import COLUMNS, utc_now

HERE = Path(__file__).resolve().parent
REFERENCE = 0
NO_ATTACK = Component("none")
SELECTIONS = ("fixed", "adaptive")

LABEL_ATTACKS = (
    Component("label_bias", {"p": 1.0}, "label bias"),
    Component("label_shuffle", {"p": 1.0}, "shuffled labels"),
    Component("feature_permutation", {"permutation_seed": 0}, "shuffled features"),
    Component("label_flip", {"p": 1.0}, "label flip"),
    Component("backdoor", {"p": 0.5, "size": 2, "value": 3.0}, "backdoor"),
)
IMAGE_ATTACKS = (
    Component("blur", {"sigma": 1.5}, "blur"),
    Component("dead_pixels", {"p": 0.3}, "dead pixels"),
)


@dataclass(frozen=True)
class Rule:
    """A rule of the protocol: a ``FILTERING_RULES`` name, or (``of`` set) an aggregator of ``AGGREGATORS``.

    ``of = "parameters"`` aggregates the per-source models' parameter vectors, ``"proba"`` their
    predicted test probabilities (KL2019's "median of probabilities" is the coordinate median of them).
    """

    label: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    of: str = ""

    def key(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params, "of": self.of}


#: KL2019's lambda grid with every other power of two, {0, 2^-10, 2^-8, .., 2^8, 10^4}: the cross-validation
#: of ``kl2019`` is most of a grid point's time, and the paper's full grid (``LAMBDA_GRID``) doubles it.
CV_LAMBDAS = (0.0, *(lam for lam in LAMBDA_GRID[1:-1:2]), 1e4)
RULES = (
    Rule("all_data", "all_data"),
    Rule("clean_only", "clean_only"),
    Rule("reference_only", "single_trusted", {"trusted": REFERENCE}),
    Rule("threshold_majority", "threshold_majority"),
    Rule("known_alpha", "known_alpha"),
    Rule("quantile", "quantile"),
    Rule("multi_krum", "multi_krum"),
    Rule("kl2019", "kl2019", {"reference": REFERENCE, "lam": "cv", "lambdas": CV_LAMBDAS}),
    Rule("geometric_median", "geometric_median", of="parameters"),
    Rule("coordinate_median", "coordinate_median", of="parameters"),
    Rule("trimmed_mean", "trimmed_mean", of="parameters"),
    Rule("median_proba", "coordinate_median", of="proba"),
)
#: Filters that take the number of bad sources: given ``guarded_count`` (a minority of the N + 1 sources).
COUNT_RULES = frozenset({"known_alpha", "quantile", "multi_krum"})
#: The store's rule kinds of aggregators, by what they aggregate.
AGGREGATOR_KINDS = {"parameters": "parameter_aggregator", "proba": "prediction_aggregator"}
LEARNER = Component("logreg")
DISCREPANCY = Component("linear", {"l2": 1.0})


@dataclass(frozen=True)
class ProtocolData:
    """A data set of the protocol: its name, the samples per source and the attacks run on it."""

    name: str
    m: int
    attacks: tuple[Component, ...]


@dataclass(frozen=True)
class Protocol:
    """The whole grid: data sets, N untrusted sources, seeds, rules (the reference is source 0 on top)."""

    data: tuple[ProtocolData, ...]
    n_untrusted: int
    seeds: tuple[int, ...]
    rules: tuple[Rule, ...] = RULES
    n_test: float = 0.25

    @property
    def n_values(self) -> tuple[int, ...]:
        """n = 1 .. N-1 corrupted untrusted sources (n = 0 is the clean unit, once per seed)."""
        return tuple(range(1, self.n_untrusted))

    def setting(self, data: ProtocolData) -> dict[str, Any]:
        """What fixes a row apart from (attack, adversary, n, seed, rule): it enters every row's key."""
        return {
            "protocol": "kl2019",
            "dataset": data.name,
            "n_untrusted": self.n_untrusted,
            "reference": REFERENCE,
            "m": data.m,
            "n_test": self.n_test,
            "learner": LEARNER.key(),
            "discrepancy": DISCREPANCY.key(),
        }


FULL = Protocol(
    data=(
        ProtocolData("breast_cancer", 35, LABEL_ATTACKS),
        ProtocolData("digits", 100, LABEL_ATTACKS + IMAGE_ATTACKS),
        ProtocolData("mnist1d", 100, LABEL_ATTACKS),
    ),
    n_untrusted=10,
    seeds=tuple(range(6)),
)
SMALL = Protocol(
    data=(
        ProtocolData("breast_cancer", 30, (LABEL_ATTACKS[3],)),
        ProtocolData("digits", 30, (IMAGE_ATTACKS[0],)),
    ),
    n_untrusted=4,
    seeds=(0, 1),
)


def experiment_name(data: ProtocolData, selection: str) -> str:
    """How the store and the report name the rows of one data set under one adversary."""
    return f"{data.name}/{selection}"


def stream(seed: int, *purpose: object) -> int:
    """A seed for one random purpose of a unit, stable across runs and processes."""
    tag = zlib.crc32(canonical_json(list(purpose)).encode())
    return int(np.random.SeedSequence([seed, tag]).generate_state(1)[0])


def row_key(setting_hash: str, attack: Component, selection: str, n: int, seed: int, rule: Rule) -> str:
    """The store key of one row (the clean unit has no adversary: ``selection`` is then ``"none"``)."""
    return short_hash([setting_hash, attack.key(), selection, n, seed, rule.key()])


# ---- the adversary ----------------------------------------------------------------------------------
def corrupted_versions(
    clean: MultiSourceDataset, attack: Component, seed: int
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The corrupted (X_i, y_i) of every untrusted source i, each as the Adversary corrupts it alone."""
    alpha_one = 1.0 / clean.n_sources  # floor(alpha (N + 1)) = 1: one named bad source
    versions = {}
    for i in range(1, clean.n_sources):
        result = Adversary(alpha_one, attack.name, bad=[i], params=attack.params, seed=seed).corrupt(clean)
        versions[i] = result.dataset.source_data(i)
    return versions


def corruption_order(clean: MultiSourceDataset, attack: Component, selection: str, seed: int) -> np.ndarray:
    """The untrusted sources in the order the adversary corrupts them: the bad set for n is the first n.

    Fixed: a uniformly random order drawn before looking at the data. Adaptive: decreasing
    :class:`~multisource.corruption.Adversary` score (clean training loss of the learner refitted
    with that source alone corrupted), the reference left out.
    """
    untrusted = np.arange(1, clean.n_sources)
    if selection == "fixed":
        return np.random.default_rng(stream(seed, "fixed order", attack.key())).permutation(untrusted)
    adversary = Adversary(1.0 / clean.n_sources, attack.name, selection="adaptive", params=attack.params, seed=seed)
    scores = adversary.corrupt(clean, learner=make_learner(LEARNER.name, random_state=seed)).scores
    assert scores is not None  # adaptive selection always scores
    return untrusted[np.argsort(-scores[untrusted], kind="stable")]


def corrupt(
    clean: MultiSourceDataset, versions: dict[int, tuple[np.ndarray, np.ndarray]], bad_ids: np.ndarray
) -> tuple[MultiSourceDataset, np.ndarray]:
    """``clean`` with the sources ``bad_ids`` replaced by their corrupted versions, and the (N + 1,) bad mask."""
    X, y = clean.X.copy(), clean.y.copy()
    for i in bad_ids:
        rows = clean.source == i
        X[rows], y[rows] = versions[int(i)]
    bad = np.zeros(clean.n_sources, dtype=bool)
    bad[bad_ids] = True
    return clean.with_training_data(X, y), bad


# ---- one unit of work ---------------------------------------------------------------------------------
def guarded_count(bad: np.ndarray) -> int:
    """What count rules and ``trimmed_mean`` guard against: the true n, capped at a minority of the N + 1 sources."""
    return min(int(bad.sum()), (len(bad) - 1) // 2)


def run_filter(context: RuleContext, rule: Rule) -> dict[str, Any]:
    """A filter or baseline: its selection on the disc matrix, the learner refitted on it, filter precision/recall."""
    ds, record = context.dataset, FILTERING_RULES.get(rule.name)
    params = {**rule.params, **({"n_bad": guarded_count(context.bad)} if rule.name in COUNT_RULES else {})}
    if params.get("lam") == "cv":  # KL2019 Algorithm 1: lambda by 5-fold CV on the reference, over the rule's grid
        ref, grid = params["reference"], params.pop("lambdas")
        search = select_lambda(ds, context.disc[ref], ref, context.learner, lambdas=grid, seed=context.seed)
        params["lam"] = search.best
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="multi_krum with n_bad", category=RuntimeWarning)
        selection = record(context.disc, ds.sizes, context=context, **params)
    model = fit_on_selection(clone(context.learner), ds, selection)
    precision, recall = filter_precision_recall(selection.kept, context.bad)
    return {
        "kind": record.kind,
        "error": float(np.mean(model.predict(ds.X_test) != ds.y_test)),
        "precision": precision,
        "recall": recall,
        "n_kept": int(selection.kept.sum()),
        "fell_back": bool(selection.info.get("fell_back", False)),
        "info": json.dumps({k: v for k, v in selection.info.items() if isinstance(v, bool | int | float | str)}),
    }


def run_aggregator(context: RuleContext, models: list[Any], rule: Rule) -> dict[str, Any]:
    """A robust aggregator of the per-source models' parameters (``of="parameters"``) or test probabilities."""
    ds, n_bad = context.dataset, guarded_count(context.bad)
    if rule.of == "parameters":
        thetas = np.stack([linear_logits(mdl, ds.n_classes, ds.n_features) for mdl in models])
        theta = robust_aggregate(rule.name, thetas.reshape(len(models), -1), n_bad=n_bad, params=rule.params)
        proba = softmax_proba(np.asarray(theta).reshape(thetas.shape[1:]), ds.X_test)
    else:
        probas = np.stack([aligned_proba(mdl, ds.X_test, ds.n_classes) for mdl in models])
        proba = np.asarray(
            robust_aggregate(rule.name, probas.reshape(len(models), -1), n_bad=n_bad, params=rule.params)
        )
        proba = proba.reshape(probas.shape[1:])
    return {
        "kind": AGGREGATOR_KINDS[rule.of],
        "error": float(np.mean(proba.argmax(axis=1) != ds.y_test)),
        "precision": None,
        "recall": None,
        "n_kept": ds.n_sources,
        "fell_back": False,
        "info": json.dumps({"n_bad": n_bad}),
    }


def evaluate(dataset: MultiSourceDataset, bad: np.ndarray, seed: int, rules: tuple[Rule, ...]) -> list[dict[str, Any]]:
    """Every rule on one corrupted dataset of N + 1 sources (the disc matrix and per-source models computed once)."""
    start = time.perf_counter()
    disc = pairwise(dataset, estimator=DISCREPANCY.name, seed=seed, **DISCREPANCY.params)
    disc_seconds = time.perf_counter() - start
    learner = make_learner(LEARNER.name, random_state=seed, **LEARNER.params)
    context = RuleContext(dataset, disc, ConstantIfOneClass(learner), seed=seed, bad=bad)
    models = fit_per_source(learner, dataset) if any(rule.of for rule in rules) else []
    results = []
    for rule in rules:
        start = time.perf_counter()
        result = run_aggregator(context, models, rule) if rule.of else run_filter(context, rule)
        results.append({**result, "seconds": time.perf_counter() - start, "disc_seconds": disc_seconds})
    return results


def run_unit(
    protocol: Protocol, data: ProtocolData, attack: Component, selection: str, seed: int
) -> list[dict[str, Any]]:
    """The store rows of one (data set, attack, adversary, seed): every n of the unit, every rule."""
    start = time.perf_counter()
    clean = make_multisource(
        load_dataset(data.name, seed=seed),
        n_sources=protocol.n_untrusted + 1,
        m=data.m,
        n_test=protocol.n_test,
        seed=seed,
    )
    setting_hash = short_hash(protocol.setting(data))
    if attack == NO_ATTACK:
        cases = [(0, np.zeros(0, dtype=np.int64))]
        versions: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    else:
        adversary_seed = stream(seed, "adversary", data.name, attack.key())
        versions = corrupted_versions(clean, attack, adversary_seed)
        order = corruption_order(clean, attack, selection, adversary_seed)
        cases = [(n, order[:n]) for n in protocol.n_values]
    rows = []
    for n, bad_ids in cases:
        dataset, bad = corrupt(clean, versions, bad_ids)
        for rule, result in zip(protocol.rules, evaluate(dataset, bad, seed, protocol.rules), strict=True):
            base = {
                "key": row_key(setting_hash, attack, selection, n, seed, rule),
                "setting": setting_hash,
                "attack": attack.label,
                "alpha": n / protocol.n_untrusted,
                "n_bad": n,
                "seed": seed,
                "rule": rule.label,
                **result,
            }
            shown_in = SELECTIONS if attack == NO_ATTACK else (selection,)
            rows.extend({**base, "experiment": experiment_name(data, shown)} for shown in shown_in)
    provenance = {
        "spec_hash": short_hash(canonical_json(protocol.setting(data))),
        "versions": library_versions(),
        "device": "cpu",
        "host": socket.gethostname(),
        "wall_seconds": time.perf_counter() - start,
        "finished_at": utc_now(),
    }
    # Columns the store has and the protocol does not fill (e.g. bound certificates) are NULL.
    return [{column: {**row, **provenance}.get(column) for column in COLUMNS} for row in rows]


def units(protocol: Protocol) -> list[tuple[Protocol, ProtocolData, Component, str, int]]:
    """Every unit of the grid, seed by seed (the clean unit of a data set first, then attack x adversary)."""
    tasks = []
    for seed in protocol.seeds:
        for data in protocol.data:
            tasks.append((protocol, data, NO_ATTACK, "none", seed))
            tasks.extend((protocol, data, attack, sel, seed) for attack in data.attacks for sel in SELECTIONS)
    return tasks


def unit_keys(protocol: Protocol, data: ProtocolData, attack: Component, selection: str, seed: int) -> list[str]:
    setting_hash = short_hash(protocol.setting(data))
    ns = (0,) if attack == NO_ATTACK else protocol.n_values
    return [row_key(setting_hash, attack, selection, n, seed, rule) for n in ns for rule in protocol.rules]


def run(protocol: Protocol, store: Store, *, jobs: int = 1, progress: bool = True) -> tuple[int, int]:
    """Compute the units missing from ``store``; returns (units computed, units failed)."""
    finished = store.finished_keys()
    tasks = [task for task in units(protocol) if not set(unit_keys(*task)) <= finished]
    failed = 0
    with tqdm(total=len(tasks), desc="kl2019 protocol", unit="unit", disable=not progress) as bar:
        for index, outcome in map_unordered(run_unit, tasks, jobs=jobs, retries=1):
            if isinstance(outcome, TaskFailure):
                _, data, attack, selection, seed = tasks[index]
                print(f"unit {data.name} {attack.label} {selection} seed {seed} failed:\n{outcome.traceback}")
                failed += 1
            else:
                store.add_rows(outcome)
            bar.update(1)
    return len(tasks) - failed, failed


# ---- the report ---------------------------------------------------------------------------------------
BASELINES = ("all_data", "geometric_median")
HIGHLIGHT = ("all_data", "clean_only", "reference_only", "geometric_median", "kl2019")


def complete_seeds(protocol: Protocol, store: Store) -> tuple[int, ...]:
    """The seeds every unit of which is in the store (a stopped run leaves the later seeds out)."""
    finished = store.finished_keys()
    return tuple(
        seed
        for seed in protocol.seeds
        if all(set(unit_keys(*task)) <= finished for task in units(replace(protocol, seeds=(seed,))))
    )


def protocol_rows(protocol: Protocol, store: Store, seeds: tuple[int, ...]) -> list[dict[str, Any]]:
    """The store's rows of this protocol at ``seeds``: exactly the keys of its units (rows of an older
    version of a rule, e.g. another lambda grid, have other keys and are left out)."""
    keys = {key for task in units(replace(protocol, seeds=seeds)) for key in unit_keys(*task)}
    names = {experiment_name(data, sel) for data in protocol.data for sel in SELECTIONS}
    return [r for r in store.rows() if r["key"] in keys and r["experiment"] in names]


def selection_table(rows: list[dict[str, Any]], protocol: Protocol) -> list[str]:
    """Markdown: per rule and data set, adaptive minus fixed error (points, mean over attacks and n >= 1) and
    the cells where the adaptive adversary raises the rule's error significantly / not / lowers it."""
    names = [data.name for data in protocol.data]
    lines = ["| rule | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    by_data = {name: compare_experiments(rows, f"{name}/adaptive", f"{name}/fixed") for name in names}
    for rule in (r.label for r in protocol.rules):
        entries = []
        for name in names:
            mine = [c for c in by_data[name] if c.rule == rule and c.n_bad > 0]
            counts = outcome_counts(mine)
            entries.append(
                f"{100 * np.mean([c.diff_mean for c in mine]):+.1f} ({counts['loss']}/{counts['tie']}/{counts['win']})"
            )
        lines.append(f"| {rule} | " + " | ".join(entries) + " |")
    return lines


def summary_page(rows: list[dict[str, Any]], protocol: Protocol, seeds: tuple[int, ...]) -> str:
    """The generated results: acceptance, win/tie/loss against each baseline, fixed vs adaptive."""
    filters = [r.label for r in protocol.rules if not r.of and FILTERING_RULES.get(r.name).kind == "filter"]
    n_min = math.ceil(protocol.n_untrusted / 3)
    others = [r.label for r in protocol.rules]
    out = [
        "# KL2019 protocol: generated summary",
        "",
        f"Written by `python experiments/kl2019_protocol.py report` from {len(seeds)} complete seeds "
        f"({', '.join(map(str, seeds))}); N = {protocol.n_untrusted} untrusted sources plus the reference. "
        "Win/tie/loss: paired over seeds, a win when the mean error difference is below -2 s.e. of the "
        "paired differences (`multisource.report.protocol`); `bars` = KL2019's criterion (the ±1 s.e. bars "
        "do not overlap).",
        "",
        "## Acceptance",
        "",
    ]
    for selections in (("fixed",), ("adaptive",), SELECTIONS):
        chosen = [r for r in rows if r["experiment"].split("/")[1] in selections]
        verdict = acceptance(compare_rules(chosen, "all_data"), candidates=filters, n_min=n_min)
        out += [f"**{' + '.join(selections)} adversary.** " + verdict.lines()[0], *verdict.lines()[1:], ""]
    for baseline in BASELINES:
        for test in ("paired", "bars"):
            for selection in SELECTIONS:
                chosen = [r for r in rows if r["experiment"].endswith(f"/{selection}")]
                table = win_tie_loss_table(
                    compare_rules(chosen, baseline, test=test), rules=[r for r in others if r != baseline]
                )
                out += [
                    f"## Against {baseline}: {selection} adversary ({test})",
                    "",
                    "Wins/ties/losses of each rule, summed over the data sets and corruptions.",
                    "",
                    *table,
                    "",
                ]
    out += [
        "## Fixed vs adaptive adversary",
        "",
        "Adaptive minus fixed test error of each rule (points, mean over corruptions and n = 1 .. N-1), and in "
        "brackets the cells where the adaptive adversary makes the rule significantly worse / no different / "
        "better (paired over seeds: one seed holds the same clean sources under both adversaries).",
        "",
        *selection_table(rows, protocol),
        "",
    ]
    return "\n".join(out)


def write_report(protocol: Protocol, store: Store, out: Path) -> list[Path]:
    """The summary and full tables (markdown) and the figures of every (data set, adversary) under ``out``."""
    seeds = complete_seeds(protocol, store)
    if len(seeds) < 2:
        raise ValueError(f"the report needs >= 2 complete seeds in the store, got {list(seeds)}")
    rows = protocol_rows(protocol, store, seeds)
    cells = summarize(rows)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "summary.md", out / "tables.md"]
    written[0].write_text(summary_page(rows, protocol, seeds))
    written[1].write_text("# KL2019 protocol: every table\n\n" + markdown_report(cells))
    for data in protocol.data:
        for selection in SELECTIONS:
            name = experiment_name(data, selection)
            mine = [c for c in cells if c.experiment == name]
            slug = name.replace("/", "_")
            title = f"{data.name}, {selection} adversary: N = {protocol.n_untrusted} + reference, {len(seeds)} seeds"
            written.append(
                save(plot_highlighted_errors(mine, highlight=HIGHLIGHT, title=title), out / f"{slug}_error.png")
            )
            written.append(
                save(
                    plot_filter_quality(mine, rules=[r.label for r in protocol.rules], title=title),
                    out / f"{slug}_pr.png",
                )
            )
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--small", action="store_true", help="the small setting of the tests")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the setting's)")
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "results" / "kl2019")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    protocol = SMALL if args.small else FULL
    if args.seeds is not None:
        protocol = replace(protocol, seeds=tuple(range(args.seeds)))
    store_path = args.store or Path("results") / ("kl2019_small.sqlite" if args.small else "kl2019.sqlite")
    with Store(store_path) as store:
        if args.command == "run":
            done, failed = run(protocol, store, jobs=args.jobs)
            print(f"{done} units computed, {failed} failed; store {store_path}")
        else:
            for path in write_report(protocol, store, args.out):
                print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
