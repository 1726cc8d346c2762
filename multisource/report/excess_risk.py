"""The filters' empirical excess risk against m, read from a store, beside the theory's bounds.

Stores keep one spec per setting (``Store.specs``); runs of the same experiment that differ in
``m`` only give one point per ``m``. ``min_h R(h)`` is unknown, so the excess risk is measured
against an estimate of it: the lowest mean test error of the ``clean_only`` oracle over every ``m``
in the store (the learner on the most clean data seen). The estimate is at least ``min_h R(h)``,
so the excess risks it gives can only be too small by the oracle's own excess at its best m.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from multisource.bounds import VCComplexity
from multisource.report.figures import plot_bound_vs_m
from multisource.runner.store import Store

ORACLE_RULE = "clean_only"


def _m_per_setting(store: Store, experiment: str) -> dict[str, tuple[int, int]]:
    """``setting hash -> (m, N)`` for the specs of ``experiment``."""
    out = {}
    for row in store.specs():
        if row["experiment"] == experiment:
            spec = json.loads(row["spec"])
            out[row["setting"]] = (int(spec["m"]), int(spec["n_sources"]))
    return out


def excess_risk_vs_m(
    store: Store, *, experiment: str, attack: str, n_bad: int
) -> tuple[dict[str, tuple[list[int], list[float]]], float, int]:
    """``rule -> (m values, mean test error - reference)`` at one attack and number of bad sources.

    Returns the mapping, the reference error (estimate of ``min_h R(h)``, see the module docstring)
    and the number of sources N. Raises ValueError when the store lacks the experiment, the attack,
    the oracle rule, or a second value of ``m``.
    """
    settings = _m_per_setting(store, experiment)
    if not settings:
        raise ValueError(f"experiment {experiment!r} is not in the store")
    n_sources = {n for _, n in settings.values()}
    if len(n_sources) != 1:
        raise ValueError(f"experiment {experiment!r} mixes numbers of sources {sorted(n_sources)}; keep N fixed")
    errors: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in store.rows(experiment):
        if row["attack"] == attack and row["n_bad"] == n_bad and row["setting"] in settings:
            errors[row["rule"]][settings[row["setting"]][0]].append(row["error"])
    if ORACLE_RULE not in errors:
        raise ValueError(f"no {ORACLE_RULE!r} rows for attack {attack!r} with {n_bad} bad sources in {experiment!r}")
    if len(errors[ORACLE_RULE]) < 2:
        raise ValueError(f"experiment {experiment!r} holds one value of m; run it at several m to see a trend")
    reference = min(float(np.mean(v)) for v in errors[ORACLE_RULE].values())
    curves = {}
    for rule, by_m in errors.items():
        ms = sorted(by_m)
        curves[rule] = (ms, [float(np.mean(by_m[m])) - reference for m in ms])
    return curves, reference, n_sources.pop()


def plot_excess_risk_vs_m(
    store: Store,
    *,
    experiment: str,
    attack: str,
    n_bad: int,
    vc_dimension: int,
    delta: float = 0.05,
    rules: tuple[str, ...] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """The bounds of :func:`multisource.report.plot_bound_vs_m` with the store's excess risks as markers.

    ``vc_dimension`` is the learner's (d + 1 for linear classifiers in d features); ``alpha`` is
    ``n_bad / N``. ``rules`` picks which rules to draw (default: all in the store).
    """
    curves, _, n_sources = excess_risk_vs_m(store, experiment=experiment, attack=attack, n_bad=n_bad)
    if rules is not None:
        curves = {rule: curves[rule] for rule in rules if rule in curves}
    ms = sorted({m for m_values, _ in curves.values() for m in m_values})
    grid = np.unique(np.geomspace(ms[0], ms[-1] * 100, 40).astype(int)).tolist()
    return plot_bound_vs_m(
        grid,
        N=n_sources,
        alpha=n_bad / n_sources,
        delta=delta,
        complexity=VCComplexity(vc_dimension),
        empirical=curves,
        path=path,
    )
