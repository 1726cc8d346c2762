"""A spec's parameters checked on its data before any work: one dry call per component.

Each registered component validates its own parameters where it is called (``check_int``,
``check_real``, a misspelt keyword is a ``TypeError``), so the honest and cheap check is to call it
once, on the clean sources of the first seed (:func:`~multisource.runner.experiment.clean_sources`),
the way a grid point will, with inputs that cost nothing:

* a filtering rule runs through its record on a zero ``(N, N)`` discrepancy matrix with the real
  sizes, the grid's largest alpha (none when its parameters give ``n_bad``), and the oracle's bad
  mask, so ``resolve`` hooks (``threshold = "theory"``, ``lam = "cv"``) run too;
* an aggregator (with its pre-aggregators) runs through ``robust_aggregate`` on N random vectors
  with the largest ``n_bad = floor(alpha N)`` of the grid (or its own ``n_bad``) at which its
  condition (``n > 2 n_bad + 2`` for Krum ...) holds, so its options are checked; a rule whose
  condition holds at no alpha is an error, one that fails at some alphas a RuntimeWarning naming
  the n_bad values without rows (:func:`~multisource.runner.experiment.point_rules`); a parameter
  aggregator also needs a learner whose models are vectors
  (:class:`~multisource.runner.oneshot.ModelSpace`), shown by a dry fit on the first source;
* a data attack corrupts the clean sources at the largest alpha; an update attack runs on random
  honest vectors; the discrepancy estimator runs on the first two sources; the split and the sizes
  were checked when the clean sources were built.

A failure becomes a ``ValueError``/``TypeError`` whose message starts with the spec key
(``rules[] 'trimmed_mean(beta=0.7)': ...``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from multisource.corruption import Adversary, attack_updates
from multisource.data.dataset import MultiSourceDataset
from multisource.discrepancy import pairwise
from multisource.filtering import FILTERING_RULES, RULE_KINDS
from multisource.filtering.registry import RuleContext
from multisource.learners import fit_per_source, make_learner
from multisource.runner.experiment import (
    ConstantIfOneClass,
    aggregator_n_bad,
    clean_sources,
    condition_failure,
    dry_aggregate,
    is_update_attack,
    rule_alpha,
)
from multisource.runner.oneshot import ModelSpace
from multisource.runner.spec import Component, ExperimentSpec, rule_kind
from multisource.utils.validation import n_bad_sources

__all__ = ["check_on_data", "checked_clean_sources"]


def _as_key(where: str, call: Callable[..., object], *args: object) -> None:
    """Run ``call(*args)``; its ValueError/TypeError is raised again with ``where`` (the spec key) in front."""
    try:
        call(*args)
    except (ValueError, TypeError) as err:
        raise type(err)(f"{where}: {err}") from None


def _bad_mask(spec: ExperimentSpec, n_sources: int, n_bad: int) -> np.ndarray:
    bad = np.zeros(n_sources, dtype=bool)
    bad[list(spec.bad) if spec.bad is not None else np.arange(n_bad)] = True
    return bad


def _first_sources(data: MultiSourceDataset, count: int) -> MultiSourceDataset:
    """The first ``count`` sources of ``data`` with its test set (a cheap input for a dry discrepancy)."""
    rows = data.source < count
    return MultiSourceDataset(
        data.X[rows], data.y[rows], data.source[rows], data.X_test, data.y_test, data.n_classes, count
    )


def _check_model_space(spec: ExperimentSpec, data: MultiSourceDataset) -> None:
    """The learner's per-source models are vectors (linear or torch), shown by a dry fit on the first source."""
    learner = make_learner(spec.learner.name, random_state=spec.seeds[0], **spec.learner.params)
    models = fit_per_source(learner, _first_sources(data, 1))
    try:
        ModelSpace.of(models, data.n_classes, data.n_features)
    except TypeError as err:
        raise TypeError(f"learner {spec.learner.name!r} cannot feed a parameter aggregator: {err}") from None


def _check_rule(spec: ExperimentSpec, rule: Component, data: MultiSourceDataset, alpha: float) -> None:
    kind = rule_kind(rule)
    n = data.n_sources
    if kind in RULE_KINDS:
        disc = np.zeros((n, n))
        learner = ConstantIfOneClass(make_learner(spec.learner.name, **spec.learner.params))
        bad = _bad_mask(spec, n, n_bad_sources(alpha, n))
        context = RuleContext(data, disc, learner, seed=spec.seeds[0], bad=bad)
        FILTERING_RULES.get(rule.name)(disc, data.sizes, rule_alpha(rule, alpha), context=context, **rule.params)
        return
    if kind == "parameter_aggregator":
        _check_model_space(spec, data)
    n_bads = sorted({aggregator_n_bad(rule, a, n) for a in spec.alphas})
    runs = [n_bad for n_bad in n_bads if condition_failure(rule, n, n_bad) is None]
    dry_aggregate(rule, n, max(runs) if runs else n_bads[0])  # every other error, or the condition's
    skipped = sorted(set(n_bads) - set(runs))
    if skipped:
        warnings.warn(
            f"{rule.label!r}: {condition_failure(rule, n, skipped[0])}; no rows at n_bad in {skipped}",
            RuntimeWarning,
            stacklevel=2,
        )


def check_on_data(spec: ExperimentSpec, data: MultiSourceDataset | None = None) -> None:
    """Check every rule, attack and the discrepancy of ``spec`` by one dry call each on its clean sources.

    ``data`` are the clean sources of the first seed (built with :func:`clean_sources` when not given).
    """
    data = clean_sources(spec, spec.seeds[0]) if data is None else data
    alpha = max(spec.alphas)
    for rule in spec.rules:
        _as_key(f"rules[] {rule.label!r}", _check_rule, spec, rule, data, alpha)
    if alpha > 0:
        for attack in spec.attacks:
            _as_key(f"attacks[] {attack.label!r}", _check_attack, spec, attack, data, alpha)
    _as_key(f"[discrepancy] {spec.discrepancy.label!r}", _check_discrepancy, spec, data)


def _check_attack(spec: ExperimentSpec, attack: Component, data: MultiSourceDataset, alpha: float) -> None:
    if is_update_attack(attack):
        n_bad = n_bad_sources(alpha, data.n_sources)
        honest = np.random.default_rng(0).normal(size=(data.n_sources - n_bad, 3))
        attack_updates(attack.name, honest, n_bad, seed=0, **attack.params)
        return
    learner = make_learner(spec.learner.name, random_state=spec.seeds[0], **spec.learner.params)
    adversary = Adversary(alpha, attack.name, selection=spec.selection, bad=spec.bad, params=attack.params, seed=0)
    adversary.corrupt(data, learner=learner)


def _check_discrepancy(spec: ExperimentSpec, data: MultiSourceDataset) -> None:
    params: dict[str, Any] = spec.discrepancy.params
    pairwise(_first_sources(data, 2), estimator=spec.discrepancy.name, seed=0, **params)


def checked_clean_sources(spec: ExperimentSpec) -> MultiSourceDataset:
    """:func:`clean_sources` of the first seed; a bad split parameter or size is reported under ``[data]``."""
    try:
        return clean_sources(spec, spec.seeds[0])
    except (ValueError, TypeError) as err:
        raise type(err)(f"[data]: {err}") from None
