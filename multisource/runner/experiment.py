"""One grid point of an experiment: build the sources, corrupt them, compute ``disc`` once, evaluate every rule.

Seeds: the split depends only on the seed, so every attack and alpha at one seed corrupts the same
clean sources (paired comparisons); the adversary's stream also depends on the attack and alpha.

Rules of three families share one table (``docs/aggregation.md``, "In a spec"):

* a filter or baseline keeps sources by the discrepancy matrix and refits the learner on them (a
  discrepancy filter is the aggregator "average of the kept sources' data"); its row stores the
  theory's certificate (:mod:`multisource.runner.certificates`);
* a parameter aggregator (``agg:<name>``) aggregates the per-source models' vectors
  (:class:`~multisource.runner.oneshot.ModelSpace`) with ``robust_aggregate`` and its pre-aggregators;
* a prediction aggregator (``proba:<name>``) aggregates the models' predicted probabilities on the
  test inputs, each sample's K probabilities renormalised to sum to 1.

``n_bad`` of an aggregator is ``floor(alpha N)`` unless its parameters give it. An **update attack**
(``multisource.corruption.UPDATE_ATTACKS``) leaves the data clean: the bad sources train honestly,
then send the attack's vectors instead of their models' (omniscient attacks see the honest
vectors). Filters read data, not the models sent, so a grid point of an update attack has no filter
or baseline rows (:func:`point_rules`). A vector with NaN or infinite entries (the ``infinity``
attack) is discarded by the server before aggregation, and ``n_bad`` drops by as many (such a
vector can only come from a Byzantine source); the row's info counts them.
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

from multisource.aggregation import AGGREGATORS, robust_aggregate
from multisource.corruption import UPDATE_ATTACKS, Adversary, attack_updates
from multisource.data import load_dataset, make_multisource
from multisource.data.dataset import MultiSourceDataset
from multisource.discrepancy import pairwise
from multisource.filtering import FILTERING_RULES, RULE_KINDS
from multisource.filtering.registry import RuleContext
from multisource.learners import aligned_proba, fit_on_selection, fit_per_source, fit_weighted, make_learner
from multisource.runner.certificates import bound_columns, no_bound
from multisource.runner.oneshot import ModelSpace
from multisource.runner.spec import Component, ExperimentSpec, canonical_json, rule_kind, short_hash
from multisource.utils.threads import single_threaded_blas
from multisource.utils.validation import n_bad_sources

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


def is_update_attack(attack: Component) -> bool:
    """Whether ``attack`` replaces the models the bad sources send (an update attack) rather than their data."""
    return attack.name in UPDATE_ATTACKS


def aggregator_n_bad(rule: Component, alpha: float, n_sources: int) -> int:
    """The ``n_bad`` an aggregator rule is called with: its own parameter, else ``floor(alpha N)``."""
    return rule.params.get("n_bad", n_bad_sources(alpha, n_sources))


def dry_aggregate(rule: Component, n_sources: int, n_bad: int) -> None:
    """``robust_aggregate`` of an aggregator rule on N random 3-vectors: its options and its condition on
    (N, n_bad) after its pre-aggregators raise here (ValueError/TypeError) as they would on real vectors."""
    params = {k: v for k, v in rule.params.items() if k != "n_bad"}
    vectors = np.random.default_rng(0).normal(size=(n_sources, 3))
    robust_aggregate(
        rule.name,
        vectors,
        n_bad=n_bad,
        reference=vectors[0] if AGGREGATORS.get(rule.name).needs_reference else None,
        params=params,
        pre=[(p.name, p.params) for p in rule.pre],
    )


_CONDITIONS: dict[tuple[str, int, int], str | None] = {}


def condition_failure(rule: Component, n_sources: int, n_bad: int) -> str | None:
    """Why an aggregator rule cannot run with n_bad of N inputs (its condition's message), or None if it can."""
    key = (canonical_json(rule.key()), n_sources, n_bad)
    if key not in _CONDITIONS:
        try:
            dry_aggregate(rule, n_sources, n_bad)
            _CONDITIONS[key] = None
        except ValueError as err:
            _CONDITIONS[key] = str(err)
    return _CONDITIONS[key]


def point_rules(spec: ExperimentSpec, point: GridPoint) -> tuple[Component, ...]:
    """The rules with a row at ``point``.

    Under an update attack only the aggregators (filters read data, not the models sent); and an
    aggregator only where its condition holds for the point's n_bad (``krum`` needs
    ``N > 2 n_bad + 2``): a grid of 0 to 4 bad sources in 10 runs Bulyan at n_bad <= 1 only.
    """
    n = spec.n_sources
    assert n is not None
    rules = []
    for rule in spec.rules:
        if rule_kind(rule) in RULE_KINDS:
            if not is_update_attack(point.attack):
                rules.append(rule)
        elif condition_failure(rule, n, aggregator_n_bad(rule, point.alpha, n)) is None:
            rules.append(rule)
    return tuple(rules)


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


def trusted_source(bad: np.ndarray) -> int:
    """The source the rules that need a trusted input get (MoNNA's ``idx``, FLTrust's reference): the first clean one.

    It is an oracle, as for the ``single_trusted`` baseline: a server holding that much clean data.
    """
    return int(np.flatnonzero(~bad)[0])


class _PointEvaluator:
    """Evaluates rules on one corrupted dataset; per-source models and their vectors are computed once and shared."""

    def __init__(
        self, context: RuleContext, point: GridPoint, per_source_learner: BaseEstimator, bounds: dict[str, Any]
    ) -> None:
        if context.bad is None:
            raise ValueError("context.bad must be the true (N,) bad mask of the grid point, got None")
        self.context, self.point, self.alpha, self.bad = context, point, point.alpha, context.bad
        self.dataset, self.learner = context.dataset, context.learner
        self.per_source_learner, self.bounds = per_source_learner, bounds
        self._models: list[BaseEstimator] | None = None
        self._sent: tuple[ModelSpace, np.ndarray] | None = None

    def models(self) -> list[BaseEstimator]:
        if self._models is None:
            self._models = fit_per_source(self.per_source_learner, self.dataset)
        return self._models

    def sent_vectors(self) -> tuple[ModelSpace, np.ndarray]:
        """The model space and the (N, p) vectors the sources send: the bad ones' replaced under an update attack."""
        if self._sent is None:
            ds, models = self.dataset, self.models()
            space = ModelSpace.of(models, ds.n_classes, ds.n_features)
            vectors = space.vectors(models)
            attack = self.point.attack
            if is_update_attack(attack) and self.bad.any():
                vectors[self.bad] = attack_updates(
                    attack.name,
                    vectors[~self.bad],
                    int(self.bad.sum()),
                    seed=self.point.stream("update_attack"),
                    **attack.params,
                )
            self._sent = space, vectors
        return self._sent

    def sent_probas(self) -> np.ndarray:
        """(N, n_test, K) predicted probabilities of the models sent (under an update attack, the attacked vectors')."""
        ds = self.dataset
        probas = np.stack([aligned_proba(mdl, ds.X_test, ds.n_classes) for mdl in self.models()])
        if is_update_attack(self.point.attack) and self.bad.any():
            space, vectors = self.sent_vectors()
            for i in np.flatnonzero(self.bad):  # the few bad sources, not samples
                finite = np.isfinite(vectors[i]).all()
                probas[i] = space.predict_proba(vectors[i], ds.X_test) if finite else np.inf
        return probas

    def error(self, predicted: np.ndarray) -> float:
        return float(np.mean(predicted != self.dataset.y_test))

    def run_filter(self, rule: Component) -> dict[str, Any]:
        ds = self.dataset
        selection = FILTERING_RULES.get(rule.name)(
            self.context.disc, ds.sizes, rule_alpha(rule, self.alpha), context=self.context, **rule.params
        )
        model = fit_on_selection(clone(self.learner), ds, selection)
        precision, recall = filter_precision_recall(selection.kept, self.bad)
        kind = FILTERING_RULES.get(rule.name).kind
        bounds = (
            bound_columns(
                self.bounds,
                sizes=ds.sizes,
                alpha=self.alpha,
                n_features=ds.n_features,
                learner=self.per_source_learner,
            )
            if kind == "filter"
            else no_bound()
        )
        return {
            "error": self.error(model.predict(ds.X_test)),
            "precision": precision,
            "recall": recall,
            "n_kept": int(selection.kept.sum()),
            "fell_back": bool(selection.info.get("fell_back", False)),
            "info": _scalar_info({**selection.info, **({"single_class": True} if model.single_class_ else {})}),
            **bounds,
        }

    def run_aggregator(self, rule: Component, kind: str) -> dict[str, Any]:
        ds = self.dataset
        if kind == "parameter_aggregator":
            space, vectors = self.sent_vectors()
        else:
            probas = self.sent_probas()
            vectors = probas.reshape(len(probas), -1)
        params = {k: v for k, v in rule.params.items() if k != "n_bad"}
        n_bad = aggregator_n_bad(rule, self.alpha, ds.n_sources)
        trusted = trusted_source(self.bad)
        finite = np.isfinite(vectors).all(axis=1)
        dropped = int((~finite).sum())
        if dropped:
            vectors, n_bad, trusted = vectors[finite], max(n_bad - dropped, 0), int(finite[:trusted].sum())
        record = AGGREGATORS.get(rule.name)
        if "idx" in record.options:
            params.setdefault("idx", trusted)
        aggregate = np.asarray(
            robust_aggregate(
                rule.name,
                vectors,
                n_bad=n_bad,
                reference=vectors[trusted] if record.needs_reference else None,
                params=params,
                pre=[(p.name, p.params) for p in rule.pre],
            )
        )
        if kind == "parameter_aggregator":
            proba = space.predict_proba(aggregate, ds.X_test)
        else:
            proba = normalised_proba(aggregate.reshape(len(ds.y_test), ds.n_classes))
        return {
            "error": self.error(proba.argmax(axis=1)),
            "precision": None,
            "recall": None,
            "n_kept": ds.n_sources - dropped,
            "fell_back": False,
            "info": _scalar_info({"n_bad": n_bad, **({"dropped_nonfinite": dropped} if dropped else {})}),
            **no_bound(),
        }


def normalised_proba(aggregate: np.ndarray) -> np.ndarray:
    """An aggregate of probability vectors made a distribution per sample: clipped at 0, renormalised.

    A coordinate-wise rule keeps each entry within the inputs' range, so only rules that extrapolate
    (clipping, FLTrust's rescaling, an attacked input that survives) can leave it; a sample whose
    aggregate is all zero gets the uniform distribution.
    """
    clipped = np.clip(aggregate, 0.0, None)
    total = clipped.sum(axis=1, keepdims=True)
    uniform = np.full_like(clipped, 1.0 / clipped.shape[1])
    return np.where(total > 0, clipped / np.where(total > 0, total, 1.0), uniform)


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
    """The corrupted sources of a grid point and the true (N,) mask of bad sources.

    Under an update attack the data stay clean; the ``floor(alpha N)`` bad sources are the spec's
    ``[adversary] bad`` or drawn uniformly from the point's adversary stream (``selection`` has no
    effect: every bad source sends the same kind of vector whatever its data).
    """
    clean = clean_sources(spec, point.seed)
    bad = np.zeros(clean.n_sources, dtype=bool)
    if point.attack == NO_ATTACK:
        return clean, bad
    if is_update_attack(point.attack):
        n_bad = n_bad_sources(point.alpha, clean.n_sources)
        rng = np.random.default_rng(point.stream("adversary"))
        bad[list(spec.bad) if spec.bad is not None else rng.choice(clean.n_sources, size=n_bad, replace=False)] = True
        return clean, bad
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

    Rules without a row at this point (:func:`point_rules`: filters under an update attack) are left out.

    BLAS runs single-threaded (see :func:`~multisource.utils.threads.single_threaded_blas`): the
    problems are small and parallelism comes from the executor.
    """
    allowed = {rule.label for rule in point_rules(spec, point)}
    rules = tuple(rule for rule in rules if rule.label in allowed)
    dataset, bad = build_point_data(spec, point)
    start = time.perf_counter()
    if any(rule_kind(rule) in RULE_KINDS for rule in rules):
        disc = pairwise(dataset, estimator=spec.discrepancy.name, seed=point.seed, **spec.discrepancy.params)
    else:  # only aggregators: they never read the discrepancy matrix
        disc = np.zeros((dataset.n_sources, dataset.n_sources))
    disc_seconds = time.perf_counter() - start
    learner = make_learner(spec.learner.name, random_state=point.seed, **spec.learner.params)
    context = RuleContext(dataset, disc, ConstantIfOneClass(learner), seed=point.seed, bad=bad)
    evaluator = _PointEvaluator(context, point, learner, spec.bounds)
    rows = []
    for rule in rules:
        kind = rule_kind(rule)
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
