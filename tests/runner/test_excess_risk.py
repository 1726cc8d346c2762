import dataclasses
import json

import numpy as np
import pytest

from multisource.report import excess_risk_vs_m, plot_excess_risk_vs_m
from multisource.runner import ExperimentSpec, Store, run_experiment


@pytest.fixture
def store_at_two_m(tiny_spec_path, tmp_path):
    base = ExperimentSpec.from_toml(tiny_spec_path)
    store = Store(tmp_path / "store.sqlite")
    for m in (10, 20):
        run_experiment(dataclasses.replace(base, m=m), store, progress=False)
    yield base, store
    store.close()


def test_excess_risk_is_each_rules_mean_error_minus_the_best_oracle_mean(store_at_two_m):
    base, store = store_at_two_m
    attack = base.attacks[0].label
    curves, reference, n_sources = excess_risk_vs_m(store, experiment="tiny", attack=attack, n_bad=1)
    # Independent recomputation from the raw rows and the recorded specs.
    m_of = {row["setting"]: int(json.loads(row["spec"])["m"]) for row in store.specs()}
    rows = [r for r in store.rows("tiny") if r["attack"] == attack and r["n_bad"] == 1]

    def mean(rule: str, m: int) -> float:
        return float(np.mean([r["error"] for r in rows if r["rule"] == rule and m_of[r["setting"]] == m]))

    expected_reference = min(mean("clean_only", 10), mean("clean_only", 20))
    assert n_sources == 5 and reference == pytest.approx(expected_reference)
    assert curves["all_data"][0] == [10, 20]
    np.testing.assert_allclose(curves["all_data"][1], [mean("all_data", m) - expected_reference for m in (10, 20)])
    assert min(curves["clean_only"][1]) == pytest.approx(0.0)


def test_excess_risk_needs_two_values_of_m_and_the_oracle(tiny_spec_path, tmp_path, store_at_two_m):
    base, store = store_at_two_m
    with pytest.raises(ValueError, match="not in the store"):
        excess_risk_vs_m(store, experiment="nope", attack=base.attacks[0].label, n_bad=1)
    with pytest.raises(ValueError, match="no 'clean_only' rows"):
        excess_risk_vs_m(store, experiment="tiny", attack="label_bias", n_bad=1)
    with Store(tmp_path / "one.sqlite") as single:
        run_experiment(base, single, progress=False)
        with pytest.raises(ValueError, match="one value of m"):
            excess_risk_vs_m(single, experiment="tiny", attack=base.attacks[0].label, n_bad=1)


def test_figure_draws_the_bounds_and_one_marker_line_per_rule(store_at_two_m, tmp_path):
    base, store = store_at_two_m
    path = tmp_path / "fig.png"
    fig = plot_excess_risk_vs_m(
        store,
        experiment="tiny",
        attack=base.attacks[0].label,
        n_bad=1,
        vc_dimension=31,
        rules=("all_data", "quantile"),
        path=path,
    )
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert "all_data (empirical)" in labels and "quantile (empirical)" in labels
    assert "clean_only (empirical)" not in labels and path.stat().st_size > 10_000
