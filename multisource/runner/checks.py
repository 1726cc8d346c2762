"""A spec's parameters checked on its data before any work: one dry call per component.

Each registered component validates its own parameters where it is called (``check_int``,
``check_real``, a misspelt keyword is a ``TypeError``), so the honest and cheap check is to call it
once, on the clean sources of the first seed (:func:`~multisource.runner.experiment.clean_sources`),
the way a grid point will, with inputs that cost nothing:

* a filtering rule runs through its record on a zero ``(N, N)`` discrepancy matrix with the real
  sizes, the grid's largest alpha (none when its parameters give ``n_bad``), and the oracle's bad
  mask, so ``resolve`` hooks (``threshold = "theory"``, ``lam = "cv"``) run too;
* a parameter aggregator runs on N random parameter vectors of the learner's linear shape, after a
  dry fit shows that the learner is linear (``coef_``/``intercept_``); a prediction aggregator on
  uniform probabilities;
* an attack corrupts the clean sources at the largest alpha; the discrepancy estimator runs on the
  first two sources; the split and the sizes were checked when the clean sources were built.

A failure becomes a ``ValueError``/``TypeError`` whose message starts with the spec key
(``rules[] 'trimmed_mean(beta=0.7)': ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import clone

from multisource.corruption import Adversary
from multisource.data.dataset import MultiSourceDataset
from multisource.discrepancy import pairwise
from multisource.filtering import FILTERING_RULES, PARAMETER_AGGREGATORS, PREDICTION_AGGREGATORS, RULE_KINDS
from multisource.filtering.registry import RuleContext
from multisource.learners import linear_logits, make_learner
from multisource.runner.experiment import ConstantIfOneClass, clean_sources, rule_alpha
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


def _linear_shape(spec: ExperimentSpec, data: MultiSourceDataset) -> tuple[int, ...]:
    """The (K, d + 1) shape of the learner's parameters, from a dry fit on the clean sources."""
    learner = make_learner(spec.learner.name, random_state=spec.seeds[0], **spec.learner.params)
    model = clone(learner).fit(data.X, data.y)
    try:
        return linear_logits(model, data.n_classes, data.n_features).shape
    except TypeError as err:
        raise TypeError(f"learner {spec.learner.name!r} cannot feed a parameter aggregator: {err}") from None


def _check_rule(spec: ExperimentSpec, rule: Component, data: MultiSourceDataset, alpha: float) -> None:
    kind = rule_kind(rule.name)
    n = data.n_sources
    rng = np.random.default_rng(0)
    if kind in RULE_KINDS:
        disc = np.zeros((n, n))
        learner = ConstantIfOneClass(make_learner(spec.learner.name, **spec.learner.params))
        bad = _bad_mask(spec, n, n_bad_sources(alpha, n))
        context = RuleContext(data, disc, learner, seed=spec.seeds[0], bad=bad)
        FILTERING_RULES.get(rule.name)(disc, data.sizes, rule_alpha(rule, alpha), context=context, **rule.params)
    elif kind == "parameter_aggregator":
        shape = _linear_shape(spec, data)
        PARAMETER_AGGREGATORS.get(rule.name)(rng.normal(size=(n, int(np.prod(shape)))), **rule.params)
    else:
        PREDICTION_AGGREGATORS.get(rule.name)(np.full((n, 2, data.n_classes), 1.0 / data.n_classes), **rule.params)


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
