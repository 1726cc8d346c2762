"""Invalid specs, each a one-line change to the tiny valid one: ``multisource run`` exits non-zero with one line
naming the key, before any row is stored."""

from __future__ import annotations

import re

import pytest

from multisource.cli import main
from multisource.runner import ExperimentSpec, Store

# (old text of the tiny spec, its replacement, a regex the one-line message must match: it names the key)
INVALID = [
    ("m = 20", 'm = 20\nstandardize = "false"', r"standardize must be true or false, got 'false'"),
    ("m = 20", "m = 200", r"\[data\]: .*"),
    ("m = 20", 'm = 20\nsplit = "dirichlet"\nsplit_params = {concentration = -1.0}', r"\[data\]: .*concentration"),
    ("m = 20", "m = 20\nsplit_params = {concentraton = 1.0}", r"\[data\]: .*concentraton"),
    ("m = 20", "m = 20\nn_test = 1.5", r"n_test must"),
    ("m = 20", 'm = 20\npath = "nope.csv"', r"\[data\] with path: unknown keys \["),
    ('"quantile"', '{name = "quantile", params = {n_bda = 1}}', r"rules\[\] 'quantile\(n_bda=1\)': .*n_bda"),
    ('"quantile"', '{name = "quantile", params = {n_bad = 3}}', r"rules\[\] 'quantile\(n_bad=3\)': n_bad must be <"),
    ('"quantile"', '{name = "multi_krum", params = {n_bad = -1}}', r"rules\[\] 'multi_krum\(n_bad=-1\)': n_bad must"),
    (
        '"threshold_majority"',
        '{name = "known_alpha", params = {variant = "median"}}',
        r"rules\[\] 'known_alpha\(variant=median\)': variant must be 'paper' or 'flea'",
    ),
    (
        '"threshold_majority"',
        '{name = "threshold_majority", params = {threshold = -1.0}}',
        r"rules\[\] 'threshold_majority\(threshold=-1.0\)': threshold must",
    ),
    (
        '"threshold_majority"',
        '{name = "threshold_majority", params = {threshold = "theory", delta = 2.0}}',
        r"rules\[\] 'threshold_majority\(delta=2.0,threshold=theory\)': delta must",
    ),
    (
        '"threshold_majority"',
        '{name = "kl2019", params = {reference = 7}}',
        r"rules\[\] 'kl2019\(reference=7\)': refer",
    ),
    ('"clean_only"', '{name = "single_trusted", params = {trusted = 9}}', r"rules\[\] 'single_trusted\(trusted=9\)'"),
    (
        '{aggregator = "mean", label',
        '{aggregator = "trimmed_mean", params = {n_bad = 3}, label',
        r"rules\[\] 'mean_of_models': trimmed_mean needs n > 2 n_bad: n_bad must be in \[0, 2\] for n = 5, got 3",
    ),
    (
        '{aggregator = "mean", label',
        '{aggregator = "mean", params = {beta = 0.1}, label',
        r"rules\[\] 'mean_of_models': mean has no option\(s\) \['beta'\]",
    ),
    (
        '"proba:coordinate_median"]',
        '{aggregator = "coordinate_median", of = "proba", params = {axis = 0}}]',
        r"rules\[\] 'proba:coordinate_median\(axis=0\)': coordinate_median has no option\(s\) \['axis'\]",
    ),
    (
        '"proba:coordinate_median"]',
        '"median_proba"]',
        r"rule 'median_proba' is now an aggregator .*proba:coordinate_median",
    ),
    ('"proba:coordinate_median"]', '"geometric_median"]', r"rule 'geometric_median' is now .*agg:geometric_median"),
    ('"proba:coordinate_median"]', '"agg:nnm+krum_median"]', r"unknown aggregator 'krum_median'"),
    ('"proba:coordinate_median"]', '"agg:nmm+krum"]', r"unknown pre-aggregator 'nmm'"),
    ('"proba:coordinate_median"]', '"aggr:krum"]', r"an aggregator is written 'agg:<name>' or 'proba:<name>'"),
    (
        '"proba:coordinate_median"]',
        '{aggregator = "krum", of = "models"}]',
        r"of must be one of \['parameters', 'proba'\]",
    ),
    ("p = 1.0", "q = 1.0", r"attacks\[\] 'label_flip\(q=1.0\)': .*q"),
    ("p = 1.0", "p = 1.5", r"attacks\[\] 'label_flip\(p=1.5\)': .*p"),
    ("l2 = 1.0", "l3 = 1.0", r"\[discrepancy\] 'linear\(l3=1.0\)': .*l3"),
    ("l2 = 1.0", "l2 = -1.0", r"\[discrepancy\] 'linear\(l2=-1.0\)': .*l2"),
    (
        "l2 = 1.0",
        "l2 = 1.0, pair_sample = 4",
        r"\[discrepancy\] pair_sample .*only the rules \['multi_krum', 'quantile'\] accept; got rules \['all_data'",
    ),
    ('name = "tiny"', 'name = "tiny"\nlearner = {name = "logreg", params = {Cc = 1.0}}', r"learner 'logreg' .*Cc"),
    (
        'name = "tiny"',
        'name = "tiny"\nlearner = "DecisionTreeClassifier"',
        r"rules\[\] 'mean_of_models': learner 'DecisionTreeClassifier' cannot feed a parameter aggregator",
    ),
    ("seeds = [0, 1]", "seeds = [-1, 1]", r"seeds\[\] must be >= 0"),
    ("alphas = [0.0, 0.2]", "alphas = [0.0, 0.5]", r"alphas\[\] must lie in \[0.0, 0.5\)"),
    ("[data]", "[adversary]\nbad = [1, 5]\n\n[data]", r"bad must hold source indices in \[0, 5\)"),
    ("[data]", 'data = "breast_cancer"\n[data]', r"invalid TOML"),
]


@pytest.mark.parametrize(("old", "new", "message"), INVALID, ids=[new for _, new, _ in INVALID])
def test_an_invalid_spec_exits_with_one_line_naming_the_key_before_any_row(
    write_spec, tmp_path, capsys, old, new, message
):
    store = tmp_path / "s.sqlite"
    with pytest.raises(SystemExit) as exited:
        main(["run", str(write_spec((old, new))), "--store", str(store), "--no-progress"])
    assert exited.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("multisource run: error: ")
    assert re.search(message, lines[0]), lines[0]
    if store.exists():
        with Store(store) as opened:
            assert opened.rows() == []


def test_the_invalid_specs_are_at_least_twenty_distinct_one_line_changes():
    assert len({new for _, new, _ in INVALID}) == len(INVALID) >= 20
    assert all(old.count("\n") == 0 for old, _, _ in INVALID)


def test_a_spec_table_without_a_name_is_a_clear_error_not_a_key_error():
    table = {"seeds": [0], "alphas": [0.0], "rules": ["all_data"], "attacks": ["label_flip"]}
    with pytest.raises(ValueError, match=r"spec: missing required keys \['name'\]"):
        ExperimentSpec.from_dict(table)


def test_a_spec_with_pair_sample_and_only_the_rules_that_take_a_sampled_matrix_loads(write_spec):
    rules = (
        'rules = ["all_data", "clean_only", "quantile", "threshold_majority",\n'
        '         {aggregator = "mean", label = "mean_of_models"}, "proba:coordinate_median"]'
    )
    path = write_spec((rules, 'rules = ["quantile", "multi_krum"]'), ("l2 = 1.0", "l2 = 1.0, pair_sample = 2"))
    spec = ExperimentSpec.from_toml(path)
    assert spec.discrepancy.params["pair_sample"] == 2 and [r.name for r in spec.rules] == ["quantile", "multi_krum"]
