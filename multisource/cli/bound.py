"""``multisource bound``: the term table of the bounds for one setting, or the ``m`` / ``N`` a target needs.

Examples::

    multisource bound --N 20 --m 1000 --alpha 0.2 --delta 0.05 --vc 10
    multisource bound --N 20 --m 1000 --alpha 0.2 --vc 10 --adversary adaptive --solve-m --epsilon 0.1
"""

from __future__ import annotations

import argparse
import sys

from multisource.bounds.floors import multisource_lower_bound
from multisource.bounds.result import term_table
from multisource.bounds.sample_complexity import required_m, required_n_sources
from multisource.bounds.theorems import (
    filter_threshold,
    multisource_bound,
    oracle_bound,
    pooled_erm_bound,
    single_source_bound,
)
from multisource.utils.validation import ADVERSARY_SELECTIONS


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the setting (N, m, alpha, delta, complexity), the adversary and the solve options."""
    parser.add_argument("--N", type=int, required=True, help="number of sources")
    parser.add_argument("--m", type=int, required=True, help="samples per source")
    parser.add_argument("--alpha", type=float, required=True, help="fraction of corrupted sources, in [0, 1/2)")
    parser.add_argument("--delta", type=float, default=0.05, help="failure probability, in (0, 1) (default 0.05)")
    complexity = parser.add_mutually_exclusive_group(required=True)
    complexity.add_argument("--vc", type=int, help="VC dimension d (0-1 loss, Massart + Sauer plug-in)")
    complexity.add_argument("--rademacher", type=float, help="Rademacher complexity of the loss class, in [0, 1]")
    parser.add_argument(
        "--adversary", choices=ADVERSARY_SELECTIONS, default="fixed", help="fixed-set or adaptive-set (default fixed)"
    )
    solve = parser.add_mutually_exclusive_group()
    solve.add_argument("--solve-m", action="store_true", help="print the smallest m with bound <= epsilon (at this N)")
    solve.add_argument("--solve-n", action="store_true", help="print the smallest N with bound <= epsilon (at this m)")
    parser.add_argument("--epsilon", type=float, help="target excess risk for --solve-m / --solve-n")


def _report(args: argparse.Namespace) -> str:
    if args.epsilon is not None and not (args.solve_m or args.solve_n):
        raise ValueError("--epsilon needs --solve-m or --solve-n (it is the target they solve for)")
    complexity = args.vc if args.vc is not None else args.rademacher
    setting = dict(n_sources=args.N, m=args.m, alpha=args.alpha, delta=args.delta, complexity=complexity)
    bounds = [
        multisource_bound(**setting, adversary=args.adversary),
        oracle_bound(**setting),
        single_source_bound(args.m, args.delta, complexity),
        pooled_erm_bound(**setting),
    ]
    threshold = filter_threshold(args.N, args.m, args.delta, complexity)
    lines = [
        f"Excess-risk bounds, probability >= {1 - args.delta:g}: N={args.N}, m={args.m}, alpha={args.alpha:g}, "
        f"{threshold.complexity_measure}, {args.adversary}-set adversary",
        term_table(bounds),
        f"filter threshold: Delta_m = {threshold.delta_m:.4f}, s = 2 Delta_m = {threshold.s:.4f}",
        f"pooled-ERM floor as m -> inf: 2 alpha = {2 * args.alpha:.4f}",
    ]
    if args.delta < 0.5:
        lower = multisource_lower_bound(args.N, args.m, args.alpha, args.delta)
        lines.append(f"lower bound (any learner, adaptive-set adversary): excess risk >= {lower.excess:.4f}")
    if args.solve_m or args.solve_n:
        if args.epsilon is None:
            raise ValueError("--solve-m / --solve-n need --epsilon (the target excess risk)")
        name = f"{args.adversary}-set bound"
        setting["adversary"] = args.adversary
        if args.solve_m:
            del setting["m"]
            m = required_m(multisource_bound, args.epsilon, **setting)
            lines.append(f"required m for the {name} <= {args.epsilon:g} at N={args.N}: m = {m} samples per source")
        else:
            del setting["n_sources"]
            n = required_n_sources(multisource_bound, args.epsilon, **setting)
            lines.append(f"required N for the {name} <= {args.epsilon:g} at m={args.m}: N = {n} sources")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Print the report; bad or unreachable inputs print the error and return 2."""
    try:
        print(_report(args))
    except (ValueError, TypeError) as err:
        print(f"multisource bound: error: {err}", file=sys.stderr)
        return 2
    return 0
