"""One grid point: rows checked against learners fitted by hand on the same corrupted data."""

import json
import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from multisource.data.selection import Selection
from multisource.discrepancy import pairwise
from multisource.filtering import FILTERING_RULES, kl2019_weighting
from multisource.learners import linear_logits, softmax_proba
from multisource.runner import ExperimentSpec, Store, filter_precision_recall, grid_points, run_experiment, run_point
from multisource.runner.experiment import NO_ATTACK, build_point_data


@pytest.fixture
def spec(tiny_spec_path):
    return ExperimentSpec.from_toml(tiny_spec_path)


def test_grid_runs_alpha_zero_once_per_seed_not_once_per_attack(write_spec):
    two_attacks = ExperimentSpec.from_toml(write_spec(extra='\n[[attacks]]\nname = "label_shuffle"\n'))
    points = grid_points(two_attacks)
    assert len(points) == 2 * (1 + 2 * 1)  # seeds x (alpha = 0 once + attacks x non-zero alphas)
    assert sum(p.attack == NO_ATTACK for p in points) == 2
    assert all((p.alpha == 0) == (p.attack == NO_ATTACK) for p in points)


@pytest.mark.parametrize(
    ("kept", "bad", "expected"),
    [
        ([1, 1, 0, 0], [0, 0, 1, 1], (1.0, 1.0)),
        ([1, 0, 0, 1], [0, 0, 1, 1], (0.5, 0.5)),
        ([1, 1, 1, 1], [0, 0, 1, 1], (1.0, 0.0)),  # removes nothing: no false alarm, finds nothing
        ([1, 1, 1, 1], [0, 0, 0, 0], (1.0, 1.0)),  # no bad sources and none removed: no mistake at all
        ([1, 0, 1, 1], [0, 0, 0, 0], (0.0, 1.0)),  # no bad sources, one clean removed
    ],
)
def test_filter_precision_recall_by_hand(kept, bad, expected):
    assert filter_precision_recall(np.array(kept, bool), np.array(bad, bool)) == expected


def test_point_rows_match_learners_fitted_by_hand(spec):
    point = next(p for p in grid_points(spec) if p.alpha > 0)
    dataset, bad = build_point_data(spec, point)
    assert bad.sum() == 1  # floor(0.2 * 5)
    rows = {row["rule"]: row for row in run_point(spec, point, spec.rules)}
    assert set(rows) == {r.label for r in spec.rules}

    def error_of(model):
        return np.mean(model.predict(dataset.X_test) != dataset.y_test)

    clean = ~bad[dataset.source]
    by_hand = LogisticRegression(max_iter=1000, random_state=point.seed)
    assert rows["clean_only"]["error"] == pytest.approx(error_of(by_hand.fit(dataset.X[clean], dataset.y[clean])))
    assert rows["all_data"]["error"] == pytest.approx(error_of(by_hand.fit(dataset.X, dataset.y)))
    assert (rows["clean_only"]["precision"], rows["clean_only"]["recall"]) == (1.0, 1.0)
    assert rows["all_data"]["recall"] == 0.0 and rows["all_data"]["n_kept"] == 5
    # mean_of_models is the plain mean of the per-source softmax logits.
    thetas = [
        linear_logits(LogisticRegression(max_iter=1000).fit(*dataset.source_data(i)), 2, dataset.n_features)
        for i in range(5)
    ]
    mean_pred = softmax_proba(np.mean(thetas, axis=0), dataset.X_test).argmax(axis=1)
    assert rows["mean_of_models"]["error"] == pytest.approx(np.mean(mean_pred != dataset.y_test))
    assert rows["mean_of_models"]["precision"] is None
    assert all(row["n_bad"] == 1 and row["attack"] == "label_flip(p=1.0)" for row in rows.values())


def test_point_rows_are_reproducible(spec):
    point = grid_points(spec)[1]
    strip = ("seconds", "disc_seconds")
    first = [{k: v for k, v in r.items() if k not in strip} for r in run_point(spec, point, spec.rules)]
    second = [{k: v for k, v in r.items() if k not in strip} for r in run_point(spec, point, spec.rules)]
    assert first == second


def test_theory_threshold_and_weighting_rules_run_as_their_libraries_define_them(write_spec):
    spec = ExperimentSpec.from_toml(
        write_spec(
            (
                '"proba:coordinate_median"]',
                '"proba:coordinate_median", "kl2019", {name = "threshold_majority", label = "theory", '
                'params = {threshold = "theory", delta = 0.1}}]',
            ),
        )
    )
    point = next(p for p in grid_points(spec) if p.alpha > 0)
    rows = {row["rule"]: row for row in run_point(spec, point, spec.rules[-2:])}
    dataset, _ = build_point_data(spec, point)
    # Linear classifiers in d = 30 dimensions: VC dimension 31 > m = 20, so ln Pi_H(20) = 20 ln 2 and
    # Rad_20 = min(1/2, sqrt(20 ln 2 / 40)) = 1/2; Delta_m = 2 * 1/2 + sqrt(ln(4 * 5 / 0.1) / 40), s = 2 Delta_m.
    expected_s = 2 * (1.0 + math.sqrt(math.log(200.0) / 40.0))
    assert json.loads(rows["theory"]["info"])["threshold"] == pytest.approx(expected_s, rel=1e-12)
    assert expected_s == pytest.approx(2.72790, abs=1e-5)
    # kl2019: a weighted ERM with per-sample weight w_i / m_i, fitted here by hand.
    disc = pairwise(dataset, estimator="linear", l2=1.0)
    weights = kl2019_weighting(disc, dataset.sizes, point.alpha).weights
    per_sample = weights[dataset.source] / dataset.sizes[dataset.source]
    keep = per_sample > 0
    model = LogisticRegression(max_iter=1000)
    model.fit(dataset.X[keep], dataset.y[keep], sample_weight=per_sample[keep] / per_sample[keep].mean())
    assert rows["kl2019"]["error"] == pytest.approx(np.mean(model.predict(dataset.X_test) != dataset.y_test))


def _keep_the_bad_sources(disc, sizes, alpha=None, *, bad=None):
    """An oracle that keeps exactly the bad sources (all when none is bad): only the true mask can do it."""
    return Selection.from_mask(bad if bad.any() else ~bad, sizes, fell_back=False)


def _best_single_source_by_holdout(context, params):
    """The source whose model, fitted alone, errs least on a random half of the pooled data (drawn from the seed)."""
    data = context.dataset
    held_out = np.random.default_rng(context.seed).random(len(data.y)) < 0.5
    errors = [
        np.mean(clone(context.learner).fit(*data.source_data(i)).predict(data.X[held_out]) != data.y[held_out])
        for i in range(data.n_sources)
    ]
    return {**params, "source": int(np.argmin(errors)), "seed": context.seed, "saw_bad": context.bad is not None}


def _keep_one_source(disc, sizes, alpha=None, *, source, seed, saw_bad):
    kept = np.arange(len(sizes)) == source
    return Selection.from_mask(kept, sizes, source=source, seed=seed, saw_bad=saw_bad, fell_back=False)


def test_a_new_oracle_and_a_new_cross_validated_rule_run_from_a_spec_with_one_registration_each(write_spec, tmp_path):
    FILTERING_RULES.register("test_keep_the_bad", kind="baseline", needs_bad=True, overwrite=True)(
        _keep_the_bad_sources
    )
    FILTERING_RULES.register("test_holdout_source", resolve=_best_single_source_by_holdout, overwrite=True)(
        _keep_one_source
    )
    spec = ExperimentSpec.from_toml(
        write_spec(('rules = ["all_data",', 'rules = ["test_keep_the_bad", "test_holdout_source",'))
    )
    with Store(tmp_path / "s.sqlite") as store:
        run_experiment(spec, store, progress=False)
        rows = store.rows()
    oracle = [r for r in rows if r["rule"] == "test_keep_the_bad"]
    assert len(oracle) == 4 and all(r["kind"] == "baseline" for r in oracle)
    for row in oracle:  # kept = bad: n_bad sources kept (all 5 when none is bad), none of the bad ones removed
        assert row["n_kept"] == (row["n_bad"] or 5) and row["recall"] == (0.0 if row["n_bad"] else 1.0)
    for point in grid_points(spec):
        (row,) = [
            r
            for r in rows
            if r["rule"] == "test_holdout_source" and r["seed"] == point.seed and r["alpha"] == point.alpha
        ]
        dataset, _ = build_point_data(spec, point)
        held_out = np.random.default_rng(point.seed).random(len(dataset.y)) < 0.5
        by_hand = [
            np.mean(
                LogisticRegression(max_iter=1000, random_state=point.seed)
                .fit(*dataset.source_data(i))
                .predict(dataset.X[held_out])
                != dataset.y[held_out]
            )
            for i in range(5)
        ]
        best = int(np.argmin(by_hand))
        info = json.loads(row["info"])
        assert info == {"fell_back": False, "source": best, "seed": point.seed, "saw_bad": False}
        assert row["n_kept"] == 1 and row["kind"] == "filter"
        kept_model = LogisticRegression(max_iter=1000, random_state=point.seed).fit(*dataset.source_data(best))
        assert row["error"] == pytest.approx(np.mean(kept_model.predict(dataset.X_test) != dataset.y_test))
