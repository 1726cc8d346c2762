"""Run experiments/excess_risk_vs_m.toml at m = 25..800 and draw the excess risks beside the bounds.

    python experiments/excess_risk_vs_m.py [--store results/excess_risk_vs_m.sqlite] [--out docs/figures]

Resumable like any run: the store skips finished rows.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from multisource.report import excess_risk_vs_m, plot_excess_risk_vs_m
from multisource.runner import ExperimentSpec, Store, run_experiment

HERE = Path(__file__).resolve().parent
M_VALUES = (25, 50, 100, 200, 400, 800)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("results/excess_risk_vs_m.sqlite"))
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "figures")
    args = parser.parse_args()
    base = ExperimentSpec.from_toml(HERE / "excess_risk_vs_m.toml")
    with Store(args.store) as store:
        for m in M_VALUES:
            run_experiment(dataclasses.replace(base, m=m), store, progress=False)
        attack = base.attacks[0].label
        curves, reference, _ = excess_risk_vs_m(store, experiment=base.name, attack=attack, n_bad=3)
        print(f"reference error (best clean-only mean over m): {reference:.4f}")
        print("rule".ljust(20) + "".join(f"m={m:<8d}" for m in M_VALUES))
        for rule, (_, excess) in curves.items():
            print(rule.ljust(20) + "".join(f"{e:<10.4f}" for e in excess))
        fig = plot_excess_risk_vs_m(
            store,
            experiment=base.name,
            attack=attack,
            n_bad=3,
            vc_dimension=base_features(base) + 1,
            path=args.out / "bounds_vs_m_empirical.png",
        )
        print(f"wrote {args.out / 'bounds_vs_m_empirical.png'} ({len(fig.axes[0].lines)} curves)")


def base_features(spec: ExperimentSpec) -> int:
    return int(spec.dataset_params["n_features"])


if __name__ == "__main__":
    main()
