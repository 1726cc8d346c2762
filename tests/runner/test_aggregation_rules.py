"""Aggregators of multisource.aggregation as spec rules: syntax, conditions, update attacks, any model, checked by hand.

The oracles fit the per-source models here with scikit-learn / TorchClassifier and aggregate their
coefficients with numpy, independently of the runner's ``ModelSpace``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from multisource.learners import TorchClassifier
from multisource.runner import Component, ExperimentSpec
from multisource.runner.experiment import build_point_data, grid_points, point_rules, run_point
from multisource.runner.oneshot import ModelSpace


def test_the_rule_syntax_gives_aggregators_with_their_kind_pre_chain_label_and_key():
    short = Component.parse_rule("rules[]", "agg:nnm+krum")
    table = Component.parse_rule("rules[]", {"aggregator": "krum", "pre": ["nnm"], "params": {}, "label": "x"})
    assert (short.name, short.of, [p.name for p in short.pre], short.label) == (
        "krum",
        "parameters",
        ["nnm"],
        "agg:nnm+krum",
    )
    assert (
        short.key()
        == table.key()
        == {"name": "krum", "params": {}, "of": "parameters", "pre": [{"name": "nnm", "params": {}}]}
    )
    proba = Component.parse_rule("rules[]", {"aggregator": "trimmed_mean", "of": "proba", "params": {"n_bad": 1}})
    assert proba.label == "proba:trimmed_mean(n_bad=1)"
    # The filter multi_krum keeps its name, key and label; the aggregator is agg:multi_krum.
    assert Component.parse_rule("rules[]", "multi_krum").key() == {"name": "multi_krum", "params": {}}
    assert Component.parse_rule("rules[]", "agg:multi_krum").label == "agg:multi_krum"


SPEC_HEAD = """
name = "agg"
seeds = [0]
alphas = [0.0, 0.4]
[data]
dataset = "breast_cancer"
n_sources = 5
m = 30
[discrepancy]
name = "linear"
params = {l2 = 1.0}
"""


def spec_from(tmp_path, rules: str, attacks: str, extra: str = "") -> ExperimentSpec:
    path = tmp_path / "spec.toml"
    path.write_text(f"rules = {rules}\n" + SPEC_HEAD + extra + attacks)
    return ExperimentSpec.from_toml(path)


def attack_table(name: str) -> str:
    return f'\n[[attacks]]\nname = "{name}"\n'


def by_hand_linear(dataset, bad, sent_bad: str):
    """Honest sklearn fits; (coefficient rows [w, b] the sources send, honest models)."""
    models = [LogisticRegression(max_iter=1000, random_state=0).fit(*dataset.source_data(i)) for i in range(5)]
    rows = np.array([np.r_[m.coef_[0], m.intercept_[0]] for m in models])
    honest_mean = rows[~bad].mean(axis=0)
    sent = rows.copy()
    sent[bad] = -honest_mean if sent_bad == "sign_flip" else np.inf
    return sent, models


def error_of_rows(theta: np.ndarray, dataset) -> float:
    z = dataset.X_test @ theta[:-1] + theta[-1]
    return float(np.mean((z > 0).astype(int) != dataset.y_test))


def test_sign_flip_update_attack_rows_equal_aggregates_of_models_fitted_by_hand(tmp_path):
    spec = spec_from(
        tmp_path,
        '["all_data", "quantile", "agg:mean", "agg:coordinate_median", "proba:coordinate_median"]',
        attack_table("sign_flip"),
    )
    point = next(p for p in grid_points(spec) if p.alpha > 0)
    assert [r.label for r in point_rules(spec, point)] == [
        "agg:mean",
        "agg:coordinate_median",
        "proba:coordinate_median",
    ]
    rows = {row["rule"]: row for row in run_point(spec, point, spec.rules)}
    assert set(rows) == {"agg:mean", "agg:coordinate_median", "proba:coordinate_median"}  # no filter rows
    dataset, bad = build_point_data(spec, point)
    assert bad.sum() == 2 and np.array_equal(dataset.X, build_point_data(spec, grid_points(spec)[0])[0].X)
    sent, models = by_hand_linear(dataset, bad, "sign_flip")
    # Binary logistic models are (-z/2, z/2) in the runner's space, a linear map of [w, b]: the mean and the
    # coordinate median commute with it.
    assert rows["agg:mean"]["error"] == pytest.approx(error_of_rows(sent.mean(axis=0), dataset))
    assert rows["agg:coordinate_median"]["error"] == pytest.approx(error_of_rows(np.median(sent, axis=0), dataset))
    probas = np.stack([m.predict_proba(dataset.X_test) for m in models])
    z_bad = dataset.X_test @ sent[bad][0][:-1] + sent[bad][0][-1]
    probas[bad] = np.column_stack([1 / (1 + np.exp(z_bad)), 1 / (1 + np.exp(-z_bad))])
    median = np.median(probas, axis=0)
    predicted = (median / median.sum(axis=1, keepdims=True)).argmax(axis=1)
    assert rows["proba:coordinate_median"]["error"] == pytest.approx(np.mean(predicted != dataset.y_test))
    assert all(r["kind"] in ("parameter_aggregator", "prediction_aggregator") for r in rows.values())
    assert all(r["bound_fixed"] is None and r["precision"] is None for r in rows.values())


def test_infinite_vectors_are_dropped_before_aggregation_and_counted(tmp_path):
    spec = spec_from(tmp_path, '["agg:mean", "agg:trimmed_mean"]', attack_table("infinity"))
    point = next(p for p in grid_points(spec) if p.alpha > 0)
    rows = {row["rule"]: row for row in run_point(spec, point, spec.rules)}
    dataset, bad = build_point_data(spec, point)
    sent, _ = by_hand_linear(dataset, bad, "infinity")
    honest = sent[~bad]
    assert rows["agg:mean"]["error"] == pytest.approx(error_of_rows(honest.mean(axis=0), dataset))
    # n_bad drops from 2 to 0 with the 2 dropped vectors: the trimmed mean of the 3 honest ones is their mean.
    assert rows["agg:trimmed_mean"]["error"] == pytest.approx(error_of_rows(honest.mean(axis=0), dataset))
    for row in rows.values():
        assert row["n_kept"] == 3 and json.loads(row["info"]) == {"dropped_nonfinite": 2, "n_bad": 0}


def test_a_torch_learner_is_aggregated_through_its_flattened_parameters(tmp_path):
    learner = '[learner]\nname = "torch_mlp"\nparams = {hidden_sizes = [6], epochs = 3, device = "cpu"}\n'
    spec = spec_from(tmp_path, '["agg:mean", "agg:nnm+geometric_median"]', attack_table("label_flip"), learner)
    point = next(p for p in grid_points(spec) if p.alpha > 0)
    rows = {row["rule"]: row for row in run_point(spec, point, spec.rules)}
    dataset, _ = build_point_data(spec, point)
    nets = [
        TorchClassifier(hidden_sizes=[6], epochs=3, device="cpu", random_state=point.seed).fit(*dataset.source_data(i))
        for i in range(5)
    ]
    average = nets[0].module_
    with torch.no_grad():
        for name, param in average.named_parameters():
            param.copy_(torch.stack([dict(n.module_.named_parameters())[name] for n in nets]).mean(dim=0))
    assert rows["agg:mean"]["error"] == pytest.approx(np.mean(nets[0].predict(dataset.X_test) != dataset.y_test))
    assert 0.0 <= rows["agg:nnm+geometric_median"]["error"] <= 1.0


def test_a_source_that_misses_a_class_is_padded_with_an_absent_class_logit():
    X, y = load_iris(return_X_y=True)
    full = TorchClassifier(hidden_sizes=[5], epochs=5, device="cpu", random_state=0).fit(X, y)
    two = TorchClassifier(hidden_sizes=[5], epochs=5, device="cpu", random_state=0).fit(X[y < 2], y[y < 2])
    space = ModelSpace.of([full, two], 3, 4)
    vectors = space.vectors([full, two])
    assert vectors.shape == (2, 4 * 5 + 5 + 5 * 3 + 3)
    np.testing.assert_allclose(space.predict_proba(vectors[0], X), full.predict_proba(X), atol=1e-6)
    padded = space.predict_proba(vectors[1], X)
    np.testing.assert_allclose(padded[:, :2], two.predict_proba(X), atol=1e-5)
    assert padded[:, 2].max() < 1e-5


def test_a_rule_whose_condition_fails_at_some_n_bad_warns_at_load_and_has_no_rows_there(tmp_path):
    with pytest.warns(RuntimeWarning, match=r"'agg:bulyan': bulyan needs n >= 4 n_bad \+ 3.*no rows at n_bad in \[2\]"):
        spec = spec_from(tmp_path, '["agg:bulyan", "agg:krum"]', attack_table("sign_flip"))
    clean, attacked = grid_points(spec)
    assert [r.label for r in point_rules(spec, clean)] == ["agg:bulyan", "agg:krum"]
    assert [r.label for r in point_rules(spec, attacked)] == []  # krum needs n > 2 n_bad + 2 = 6 too
    with pytest.raises(ValueError, match=r"rules\[\] 'agg:bulyan': bulyan needs n >= 4 n_bad \+ 3"):
        ExperimentSpec.from_toml(_write(tmp_path, '["agg:bulyan"]', attack_table("sign_flip"), alphas="[0.4]"))


def _write(tmp_path, rules: str, attacks: str, alphas: str) -> object:
    path = tmp_path / "only.toml"
    path.write_text(f"rules = {rules}\n" + SPEC_HEAD.replace("alphas = [0.0, 0.4]", f"alphas = {alphas}") + attacks)
    return path


def test_filter_rows_store_the_bounds_computed_by_hand(tmp_path):
    spec = spec_from(
        tmp_path,
        '["all_data", "quantile", "agg:mean"]',
        attack_table("label_flip"),
        "[bounds]\ndelta = 0.1\nvc_dimension = 2\n",
    )
    point = next(p for p in grid_points(spec) if p.alpha > 0)
    rows = {row["rule"]: row for row in run_point(spec, point, spec.rules)}
    # N = 5, m = 30, alpha = 0.4, delta = 0.1, VC d = 2 (Sauer branch: n > d, d (1 + ln(n/d)) < n ln 2):
    # Rad_n = sqrt(d (1 + ln(n/d)) / (2n)); |G| = 3; Delta_m = 2 Rad_30 + sqrt(ln(4 N / delta) / (2 m)).
    rad = {n: np.sqrt(2 * (1 + np.log(n / 2)) / (2 * n)) for n in (30, 90, 150)}
    delta_m = 2 * rad[30] + np.sqrt(np.log(200.0) / 60)
    fixed = 4 * rad[90] + 2 * np.sqrt(np.log(40.0) / 180) + 6 * 0.4 * delta_m
    adaptive = (2 / 0.6) * (2 * rad[150] + np.sqrt(np.log(40.0) / 300)) + 2 * 0.4 * (3 + 1 / 0.6) * delta_m
    assert (fixed, adaptive) == pytest.approx((3.61144, 5.35930), abs=1e-5)
    assert rows["quantile"]["bound_fixed"] == pytest.approx(fixed, rel=1e-12)
    assert rows["quantile"]["bound_adaptive"] == pytest.approx(adaptive, rel=1e-12)
    assert json.loads(rows["quantile"]["bound_inputs"]) == {
        "N": 5,
        "m": 30,
        "alpha": 0.4,
        "delta": 0.1,
        "complexity": "VC dimension d=2 (Massart + Sauer)",
    }
    assert rows["all_data"]["bound_fixed"] is None and rows["agg:mean"]["bound_adaptive"] is None


def test_a_linear_learner_gets_the_vc_dimension_of_linear_classifiers_and_an_mlp_gets_no_bound(tmp_path):
    spec = spec_from(tmp_path, '["quantile"]', attack_table("label_flip"))
    row = run_point(spec, grid_points(spec)[1], spec.rules)[0]
    assert json.loads(row["bound_inputs"])["complexity"] == "VC dimension d=31 (Massart + Sauer)"
    learner = '[learner]\nname = "torch_mlp"\nparams = {hidden_sizes = [4], epochs = 1, device = "cpu"}\n'
    mlp = spec_from(tmp_path, '["quantile"]', attack_table("label_flip"), learner)
    row = run_point(mlp, grid_points(mlp)[1], mlp.rules)[0]
    assert (
        row["bound_fixed"] is None
        and "set [bounds] vc_dimension or rademacher" in json.loads(row["bound_inputs"])["reason"]
    )
