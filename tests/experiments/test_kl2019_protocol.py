"""experiments/kl2019_protocol.py: the adversary of KL2019's protocol (n of N untrusted sources, the reference
never), checked against closed forms and a brute-force adaptive ranking, and the small setting end to end."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from multisource.data import make_multisource
from multisource.runner import Store

PATH = Path(__file__).resolve().parents[2] / "experiments" / "kl2019_protocol.py"


@pytest.fixture(scope="module")
def protocol():
    spec = importlib.util.spec_from_file_location("kl2019_protocol", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["kl2019_protocol"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules["kl2019_protocol"]


@pytest.fixture(scope="module")
def clean():
    return make_multisource("breast_cancer", n_sources=6, m=30, seed=0)


def test_label_flip_versions_are_one_minus_y_on_each_untrusted_source_and_nothing_else(protocol, clean) -> None:
    flip = protocol.Component("label_flip", {"p": 1.0})
    versions = protocol.corrupted_versions(clean, flip, seed=3)
    assert sorted(versions) == [1, 2, 3, 4, 5]  # the reference, source 0, is never corrupted
    for i, (X_i, y_i) in versions.items():
        X_clean, y_clean = clean.source_data(i)
        np.testing.assert_array_equal(X_i, X_clean)
        np.testing.assert_array_equal(y_i, 1 - y_clean)
    dataset, bad = protocol.corrupt(clean, versions, np.array([2, 5]))
    assert bad.tolist() == [False, False, True, False, False, True]
    flipped = np.isin(clean.source, [2, 5])
    np.testing.assert_array_equal(dataset.y[flipped], 1 - clean.y[flipped])
    np.testing.assert_array_equal(dataset.y[~flipped], clean.y[~flipped])


def test_fixed_order_is_a_random_permutation_of_the_untrusted_sources(protocol, clean) -> None:
    flip = protocol.Component("label_flip", {"p": 1.0})
    orders = [protocol.corruption_order(clean, flip, "fixed", seed) for seed in range(5)]
    for order in orders:
        assert sorted(order.tolist()) == [1, 2, 3, 4, 5]
    assert len({tuple(o) for o in orders}) > 1


def test_adaptive_order_ranks_sources_by_the_clean_loss_of_the_refit_learner(protocol, clean) -> None:
    """Oracle: corrupt each untrusted source alone, refit scikit-learn's logistic regression on the pooled data
    and rank by its log loss on the clean pooled data, highest first."""
    bias = protocol.Component("label_shuffle", {"p": 1.0})
    versions = protocol.corrupted_versions(clean, bias, seed=7)
    losses = {}
    for i, (X_i, y_i) in versions.items():
        X, y = clean.X.copy(), clean.y.copy()
        X[clean.source == i], y[clean.source == i] = X_i, y_i
        model = LogisticRegression(max_iter=1000).fit(X, y)
        losses[i] = log_loss(clean.y, model.predict_proba(clean.X))
    expected = sorted(losses, key=lambda i: -losses[i])
    assert protocol.corruption_order(clean, bias, "adaptive", seed=7).tolist() == expected


def test_count_rules_guard_against_the_true_number_capped_at_a_minority(protocol) -> None:
    bad = np.zeros(11, dtype=bool)
    bad[1:4] = True
    assert protocol.guarded_count(bad) == 3
    bad[1:9] = True
    assert protocol.guarded_count(bad) == 5  # the most a rule accepts of 11 sources: 2 * 5 < 11


@pytest.fixture(scope="module")
def small_store(protocol, tmp_path_factory):
    path = tmp_path_factory.mktemp("kl2019") / "small.sqlite"
    with Store(path) as store:
        assert protocol.run(protocol.SMALL, store, progress=False) == (12, 0)
        assert protocol.run(protocol.SMALL, store, progress=False) == (0, 0)  # resumed: nothing left
    return path


def test_small_setting_stores_every_rule_at_every_n_with_the_true_bad_sources(protocol, small_store) -> None:
    small = protocol.SMALL
    with Store(small_store) as store:
        rows = protocol.protocol_rows(small, store, small.seeds)
    n_rules, n_seeds = len(small.rules), len(small.seeds)
    # per data set: the clean unit shown under both adversaries, then 1 attack x 2 adversaries x n = 1 .. 3
    assert len(rows) == 2 * n_seeds * n_rules * (2 + 2 * 3)
    for row in (r for r in rows if r["rule"] == "clean_only"):
        assert row["n_kept"] == small.n_untrusted + 1 - row["n_bad"]
        assert (row["precision"], row["recall"]) == (1.0, 1.0)
    assert {r["n_kept"] for r in rows if r["rule"] == "reference_only"} == {1}
    flip = [r for r in rows if r["attack"] == "label flip" and r["n_bad"] == 3]
    errors = {(r["experiment"], r["seed"], r["rule"]): r["error"] for r in flip}
    for (experiment, seed, rule), error in errors.items():
        if rule == "kl2019":  # 3 of 4 untrusted sources flipped: the reference-weighted rule beats pooling
            assert error < errors[(experiment, seed, "all_data")]


def test_small_setting_report_writes_the_summary_tables_and_figures(protocol, small_store, tmp_path) -> None:
    with Store(small_store) as store:
        written = protocol.write_report(protocol.SMALL, store, tmp_path)
    assert {p.name for p in written} >= {"summary.md", "tables.md", "digits_adaptive_pr.png", "digits_fixed_error.png"}
    summary = (tmp_path / "summary.md").read_text()
    assert "## Acceptance" in summary and "## Fixed vs adaptive adversary" in summary
    assert "## Against geometric_median: adaptive adversary (bars)" in summary
