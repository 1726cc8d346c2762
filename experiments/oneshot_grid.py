"""One-shot robust aggregation grid on digits and MNIST-1D (issue 10): run it, then write its tables.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/oneshot_grid.py --store results/oneshot.sqlite
    .venv/bin/python experiments/oneshot_grid.py --small --store /tmp/oneshot_small.sqlite   # tested setting

``experiments/oneshot_grid.toml`` is the digits spec; MNIST-1D is the same spec with its ``[data]``
and ``[bounds]`` replaced (:data:`DATASETS`). The tables go to ``--out`` (default
``docs/results/oneshot/``): ``table.md`` (test error, mean ± s.e. over the seeds, rule x attack at
each number of bad sources) and ``summary.csv`` (every cell). ``--small``: one seed, alphas 0 and 0.4,
three attacks, a few rules (what ``tests/runner/test_oneshot_grid.py`` runs).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from multisource.report import Cell, summarize, write_csv
from multisource.runner import ExperimentSpec, Store, run_experiment
from multisource.runner.spec import RULE_KINDS

SPEC = Path(__file__).with_name("oneshot_grid.toml")
#: ``[data]`` and ``[bounds]`` of each data set (digits: the spec file's own).
DATASETS: dict[str, dict[str, Any]] = {
    "digits": {},
    "mnist1d": {
        "data": {"dataset": "mnist1d", "n_sources": 10, "m": 100},
        "bounds": {"vc_dimension": 41},  # linear classifiers on its 40 features
    },
}
SMALL = {
    "seeds": [0],
    "alphas": [0.0, 0.4],
    "attacks": ["label_flip", "sign_flip", "infinity"],
    "rules": ["all_data", "quantile", "agg:mean", "agg:nnm+trimmed_mean", "agg:krum", "proba:coordinate_median"],
}


def spec_table(dataset: str, small: bool) -> dict[str, Any]:
    """The spec of ``dataset`` as a table (the TOML's, with the data set's and ``--small``'s replacements)."""
    with SPEC.open("rb") as fh:
        table = tomllib.load(fh)
    table.update(DATASETS[dataset])
    table["name"] = f"oneshot_{dataset}" + ("_small" if small else "")
    if small:
        table.update({k: v for k, v in SMALL.items() if k != "attacks"})
        table["attacks"] = [a for a in table["attacks"] if a["name"] in SMALL["attacks"]]
        table["learner"]["params"] = {**table["learner"]["params"], "epochs": 5}
    return table


def _fmt(cell: Cell | None) -> str:
    if cell is None:
        return ""
    se = "" if math.isnan(cell.error_se) else f" ± {100 * cell.error_se:.1f}"
    return f"{100 * cell.error_mean:.1f}{se}"


def grid_tables(cells: list[Cell]) -> str:
    """Markdown: per experiment and number of bad sources, test error (%) of every rule (rows) x attack (columns).

    The n_bad = 0 table has one column (no attack); the best mean of each column is in bold. Rules
    come filters and baselines first, then each aggregator alone and after NNM.
    """
    out = []
    by_exp: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        by_exp[cell.experiment].append(cell)
    for experiment, group in sorted(by_exp.items()):
        kinds = {c.rule: c.kind for c in group}
        rules = sorted(kinds, key=lambda r: (RULE_KINDS.index(kinds[r]), r.replace("nnm+", ""), "nnm+" in r))
        for n_bad in sorted({c.n_bad for c in group}):
            view = {(c.rule, c.attack): c for c in group if c.n_bad == n_bad}
            attacks = list(dict.fromkeys(c.attack for c in group if c.n_bad == n_bad))
            best = {
                a: min((c.error_mean for (_, att), c in view.items() if att == a), default=math.nan) for a in attacks
            }
            seeds = max(c.n_seeds for c in view.values())
            out += [
                f"### {experiment}: {n_bad} bad source{'s' if n_bad != 1 else ''} of 10",
                "",
                f"Test error (%), mean ± s.e. over {seeds} seed{'s' if seeds > 1 else ''}; blank: no row "
                "(a filter under an update attack, or the rule's condition fails at this n_bad).",
                "",
                "| rule | " + " | ".join(attacks) + " |",
                "|---" * (len(attacks) + 1) + "|",
            ]
            for rule in rules:
                cells_row = [view.get((rule, a)) for a in attacks]
                if all(c is None for c in cells_row):
                    continue
                texts = [
                    f"**{_fmt(c)}**" if c is not None and c.error_mean == best[a] else _fmt(c)
                    for c, a in zip(cells_row, attacks, strict=True)
                ]
                out.append(f"| {rule} | " + " | ".join(texts) + " |")
            out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="results/oneshot.sqlite", help="SQLite store (resumable)")
    parser.add_argument("--out", default="docs/results/oneshot", help="folder for table.md and summary.csv")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--small", action="store_true", help="the small tested setting")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args(argv)
    names = []
    with Store(args.store) as store:
        for dataset in args.datasets:
            spec = ExperimentSpec.from_dict(spec_table(dataset, args.small), base=SPEC.parent)
            run_experiment(spec, store, jobs=args.jobs, progress=True)
            names.append(spec.name)
        rows = [row for name in names for row in store.rows(name)]
    cells = summarize(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(cells, out / "summary.csv")
    command = " ".join(["python experiments/oneshot_grid.py", *(argv if argv is not None else sys.argv[1:])])
    header = [
        "# One-shot robust aggregation grid: digits and MNIST-1D, MLP, 10 sources",
        "",
        f"Made by `{command}` on {platform.machine()} ({platform.system()}), from "
        f"`experiments/oneshot_grid.toml`; see `docs/aggregation.md` for the reading.",
        "",
        "",
    ]
    (out / "table.md").write_text("\n".join(header) + grid_tables(cells))
    print(f"wrote {out / 'table.md'} and {out / 'summary.csv'} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
