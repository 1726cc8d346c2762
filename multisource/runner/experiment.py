"""One grid point of an experiment: build the sources, corrupt them, compute ``disc`` once, evaluate every rule.

Seeds: the split depends only on the seed, so every attack and alpha at one seed corrupts the same
clean sources (paired comparisons); the adversary's stream also depends on the attack and alpha.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.dummy import DummyClassifier

from multisource.corruption import Adversary
from multisource.data import load_dataset, make_multisource
from multisource.data.dataset import MultiSourceDataset
from multisource.discrepancy import pairwise
from multisource.filtering import FILTERING_RULES, PARAMETER_AGGREGATORS, PREDICTION_AGGREGATORS, RULE_KINDS
from multisource.filtering.registry import RuleContext
from multisource.learners import (
    aligned_proba,
    fit_on_selection,
    fit_per_source,
    fit_weighted,
    linear_logits,
    make_learner,
    softmax_proba,
)
from multisource.runner.spec import Component, ExperimentSpec, canonical_json, rule_kind, short_hash
from multisource.utils.threads import single_threaded_blas

NO_ATTACK = Component("none")


@dataclass(frozen=True)
class GridPoint:
    """Attack (``NO_ATTACK`` at alpha = 0), alpha and seed of one cell of the grid."""

    attack: Component
    alpha: float
    seed: int

    def stream(self, purpose: str) -> int:
        """A seed for one random purpose of this point, stable across runs and processes."""
        tag = zlib.crc32(canonical_json([purpose, self.attack.key(), self.alpha]).encode())
        return int(np.random.SeedSequence([self.seed, tag]).generate_state(1)[0])


def grid_points(spec: ExperimentSpec) -> list[GridPoint]:
    """``attacks x alphas x seeds`` with alpha = 0 (no corruption) once per seed, not once per attack."""
    points: list[GridPoint] = []
    for seed in spec.seeds:
        for alpha in spec.alphas:
            attacks = [NO_ATTACK] if alpha == 0 else spec.attacks
            points.extend(GridPoint(attack, alpha, seed) for attack in attacks)
    return points


def row_key(spec: ExperimentSpec, point: GridPoint, rule: Component) -> str:
    """The store's primary key: a hash of (setting, attack, alpha, seed, rule)."""
    return short_hash([spec.setting_hash(), point.attack.key(), point.alpha, point.seed, rule.key()])


def filter_precision_recall(kept: np.ndarray, bad: np.ndarray) -> tuple[float, float]:
    """Precision and recall of the removed sources as a detector of the bad ones.

    precision = |removed & bad| / |removed|, recall = |removed & bad| / |bad|. An empty denominator
    means no mistake of that kind was possible, and counts as 1: removing nothing has precision 1,
    and with no bad sources recall is 1.
    """
    removed = ~kept
    hits = np.sum(removed & bad)
    precision = hits / removed.sum() if removed.any() else 1.0
    recall = hits / bad.sum() if bad.any() else 1.0
    return float(precision), float(recall)


def _scalar_info(info: dict[str, Any]) -> str:
    """The JSON-friendly scalar entries of a selection's diagnostics (arrays are left out of the store)."""
    return json.dumps({k: v for k, v in info.items() if isinstance(v, bool | int | float | str)}, sort_keys=True)


class ConstantIfOneClass(ClassifierMixin, BaseEstimator):
    """``estimator``, or the constant classifier when the training labels hold a single class.

    A rule may keep sources that hold one class only (a Dirichlet split's source for
    ``single_trusted``, a reference source with large ``lambda`` in ``kl2019``'s cross-validation),
    where a classifier cannot be fitted: the ERM over any class containing the constants is then the
    constant prediction of that class. ``single_class_`` records that it happened (the row's ``info``).
    """

    def __init__(self, estimator: BaseEstimator) -> None:
        self.estimator = estimator

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> ConstantIfOneClass:
        self.single_class_ = bool(np.unique(y).size < 2)
        self.estimator_ = DummyClassifier(strategy="most_frequent") if self.single_class_ else clone(self.estimator)
        fit_weighted(self.estimator_, X, y, sample_weight)
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.estimator_.predict(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.estimator_.predict_proba(X)


class _PointEvaluator:
    """Evaluates rules on one corrupted dataset; per-source models are fitted once and shared."""

    def __init__(self, context: RuleContext, alpha: float, per_source_learner: BaseEstimator) -> None:
        if context.bad is None:
            raise ValueError("context.bad must be the true (N,) bad mask of the grid point, got None")
        self.context, self.alpha, self.bad = context, alpha, context.bad
        self.dataset, self.learner = context.dataset, context.learner
        self.per_source_learner = per_source_learner
        self._models: list[BaseEstimator] | None = None

    def models(self) -> list[BaseEstimator]:
        if self._models is None:
            self._models = fit_per_source(self.per_source_learner, self.dataset)
        return self._models

    def error(self, predicted: np.ndarray) -> float:
        return float(np.mean(predicted != self.dataset.y_test))

    def run_filter(self, rule: Component) -> dict[str, Any]:
        ds = self.dataset
        selection = FILTERING_RULES.get(rule.name)(
            self.context.disc, ds.sizes, rule_alpha(rule, self.alpha), context=self.context, **rule.params
        )
        model = fit_on_selection(clone(self.learner), ds, selection)
        precision, recall = filter_precision_recall(selection.kept, self.bad)
        return {
            "error": self.error(model.predict(ds.X_test)),
            "precision": precision,
            "recall": recall,
            "n_kept": int(selection.kept.sum()),
            "fell_back": bool(selection.info.get("fell_back", False)),
            "info": _scalar_info({**selection.info, **({"single_class": True} if model.single_class_ else {})}),
        }

    def run_aggregator(self, rule: Component, kind: str) -> dict[str, Any]:
        ds = self.dataset
        if kind == "parameter_aggregator":
            thetas = np.stack([linear_logits(mdl, ds.n_classes, ds.n_features) for mdl in self.models()])
            theta = PARAMETER_AGGREGATORS.get(rule.name)(thetas.reshape(len(thetas), -1), **rule.params)
            proba = softmax_proba(theta.reshape(thetas.shape[1:]), ds.X_test)
        else:
            probas = np.stack([aligned_proba(mdl, ds.X_test, ds.n_classes) for mdl in self.models()])
            proba = PREDICTION_AGGREGATORS.get(rule.name)(probas, **rule.params)
        return {
            "error": self.error(proba.argmax(axis=1)),
            "precision": None,
            "recall": None,
            "n_kept": ds.n_sources,
            "fell_back": False,
            "info": "{}",
        }


def clean_sources(spec: ExperimentSpec, seed: int) -> MultiSourceDataset:
    """The clean sources at ``seed``: the spec's own ``data`` as they are, or its data set dealt by its split."""
    if spec.data is not None:
        return spec.data
    data = load_dataset(spec.dataset, seed=seed, **spec.dataset_params)
    return make_multisource(
        data,
        n_sources=None if spec.m is None else spec.n_sources,
        m=list(spec.m) if isinstance(spec.m, tuple) else spec.m,
        split=spec.split,
        n_test=spec.n_test,
        standardize=spec.standardize,
        seed=seed,
        **spec.split_params,
    )


def rule_alpha(rule: Component, alpha: float) -> float | None:
    """The alpha a filtering rule is called with: none when its parameters give ``n_bad`` (which then wins)."""
    return None if "n_bad" in rule.params else alpha


def build_point_data(spec: ExperimentSpec, point: GridPoint) -> tuple[MultiSourceDataset, np.ndarray]:
    """The corrupted sources of a grid point and the true (N,) mask of bad sources."""
    clean = clean_sources(spec, point.seed)
    if point.attack == NO_ATTACK:
        return clean, np.zeros(clean.n_sources, dtype=bool)
    adversary = Adversary(
        point.alpha,
        point.attack.name,
        selection=spec.selection,
        bad=spec.bad,
        params=point.attack.params,
        seed=point.stream("adversary"),
    )
    result = adversary.corrupt(
        clean, learner=make_learner(spec.learner.name, random_state=point.seed, **spec.learner.params)
    )
    return result.dataset, result.bad


@single_threaded_blas
def run_point(spec: ExperimentSpec, point: GridPoint, rules: tuple[Component, ...]) -> list[dict[str, Any]]:
    """The store rows of ``rules`` at one grid point (pure: no I/O, so any executor can run it).

    BLAS runs single-threaded (see :func:`~multisource.utils.threads.single_threaded_blas`): the
    problems are small and parallelism comes from the executor.
    """
    dataset, bad = build_point_data(spec, point)
    start = time.perf_counter()
    disc = pairwise(dataset, estimator=spec.discrepancy.name, seed=point.seed, **spec.discrepancy.params)
    disc_seconds = time.perf_counter() - start
    learner = make_learner(spec.learner.name, random_state=point.seed, **spec.learner.params)
    context = RuleContext(dataset, disc, ConstantIfOneClass(learner), seed=point.seed, bad=bad)
    evaluator = _PointEvaluator(context, point.alpha, learner)
    rows = []
    for rule in rules:
        kind = rule_kind(rule.name)
        start = time.perf_counter()
        result = evaluator.run_filter(rule) if kind in RULE_KINDS else evaluator.run_aggregator(rule, kind)
        rows.append(
            {
                "key": row_key(spec, point, rule),
                "experiment": spec.name,
                "setting": spec.setting_hash(),
                "attack": point.attack.label,
                "alpha": point.alpha,
                "n_bad": int(bad.sum()),
                "seed": point.seed,
                "rule": rule.label,
                "kind": kind,
                **result,
                "seconds": time.perf_counter() - start,
                "disc_seconds": disc_seconds,
            }
        )
    return rows
