"""Your own sources in a spec: tables in memory and on disk, natural sources, chosen bad sources (issue 9)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multisource.cli import main
from multisource.data import MultiSourceDataset, make_multisource
from multisource.learners import make_learner
from multisource.runner import ExperimentSpec, Store, grid_points, run_experiment, run_point
from multisource.runner.experiment import build_point_data

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
WARDS = {"ward_a": 40, "ward_b": 65, "ward_c": 30, "ward_d": 80, "ward_e": 50}  # training rows per source
BUILT_IN_RULES = [
    "all_data",
    "clean_only",
    "single_trusted",
    "threshold_majority",
    "known_alpha",
    "quantile",
    "multi_krum",
    "kl2019",
    "agg:geometric_median",
    "agg:coordinate_median",
    {"aggregator": "trimmed_mean", "params": {"n_bad": 2}},
    "proba:coordinate_median",
]
COMPARED = ("attack", "alpha", "n_bad", "seed", "rule", "kind", "error", "precision", "recall", "n_kept", "info")


def clinic_frame() -> pd.DataFrame:
    """String labels, a categorical column, unequal sources, a train/test column and NaN weights in 5 rows."""
    rng = np.random.default_rng(0)
    ward = np.concatenate([np.repeat(list(WARDS), list(WARDS.values())), rng.choice(list(WARDS), 120)])
    n = len(ward)
    age, weight = rng.normal(50, 12, n), rng.normal(75, 15, n)
    smoker = rng.choice(["never", "former", "current"], n)
    logit = 0.08 * (age - 50) + 0.05 * (weight - 75) + 1.5 * (smoker == "current") - 0.5
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "sick", "well")
    split = np.where(np.arange(n) < sum(WARDS.values()), "train", "test")
    weight[[3, 50, 120, 200, n - 1]] = np.nan
    frame = pd.DataFrame({"ward": ward, "age": age, "smoker": smoker, "weight": weight, "label": label, "split": split})
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True)  # rows of a source need not be adjacent


def hand_encoded(frame: pd.DataFrame) -> MultiSourceDataset:
    """The same sources encoded by hand: NaN rows dropped, scaling and one-hot from the training rows."""
    kept = frame.dropna()
    train = kept[kept["split"] == "train"].sort_values("ward", kind="stable")
    test = kept[kept["split"] == "test"]
    mean, std = train[["age", "weight"]].mean(), train[["age", "weight"]].std(ddof=0)

    def encode(rows: pd.DataFrame) -> np.ndarray:
        onehot = [(rows["smoker"] == c).to_numpy(float) for c in ("current", "former", "never")]
        return np.column_stack([((rows[["age", "weight"]] - mean) / std).to_numpy(), *onehot])

    sources = {name: i for i, name in enumerate(sorted(WARDS))}
    return MultiSourceDataset(
        encode(train),
        (train["label"] == "well").to_numpy(np.int64),
        train["ward"].map(sources).to_numpy(np.int64),
        encode(test),
        (test["label"] == "well").to_numpy(np.int64),
        n_classes=2,
        n_sources=len(WARDS),
    )


def spec_without_data(rules: list, **adversary: object) -> ExperimentSpec:
    return ExperimentSpec.from_dict(
        {
            "name": "clinics",
            "seeds": [0],
            "alphas": [0.0, 0.4],
            "rules": rules,
            "attacks": [{"name": "label_flip", "params": {"p": 1.0}}],
            "adversary": adversary,
        }
    )


def _rounded(value: object) -> object:
    return round(value, 10) if isinstance(value, float) else value


def comparable(store: Store) -> list[tuple]:
    """The result columns of every row (floats to 10 digits, the info's too), sorted by rule and alpha."""
    rows = []
    for row in store.rows():
        info = {k: _rounded(v) for k, v in json.loads(row["info"]).items()}
        rows.append((*(_rounded(row[k]) for k in COMPARED if k != "info"), sorted(info.items())))
    return sorted(rows, key=lambda r: (r[4], r[1]))


def test_a_frame_with_string_labels_and_unequal_sources_gives_the_rows_of_the_hand_built_dataset(tmp_path):
    frame = clinic_frame()
    from_frame = MultiSourceDataset.from_frame(frame, target="label", source="ward", test="split", missing="drop")
    by_hand = hand_encoded(frame)
    np.testing.assert_allclose(from_frame.X, by_hand.X, atol=1e-12)
    np.testing.assert_allclose(from_frame.X_test, by_hand.X_test, atol=1e-12)
    for name in ("y", "source", "y_test"):
        np.testing.assert_array_equal(getattr(from_frame, name), getattr(by_hand, name))
    spec = spec_without_data(BUILT_IN_RULES, bad=[1, 3])
    with Store(tmp_path / "frame.sqlite") as a, Store(tmp_path / "hand.sqlite") as b:
        run_experiment(spec, a, data=from_frame, progress=False)
        run_experiment(spec, b, data=by_hand, progress=False)
        rows = comparable(a)
        assert len(rows) == 2 * len(BUILT_IN_RULES)
        assert rows == comparable(b)
        clean_only = next(r for r in a.rows() if r["rule"] == "clean_only" and r["alpha"] > 0)
    assert (clean_only["n_bad"], clean_only["n_kept"], clean_only["precision"], clean_only["recall"]) == (2, 3, 1, 1)


def test_label_flip_on_the_chosen_sources_matches_a_hand_flipped_pooled_fit(tmp_path):
    data = hand_encoded(clinic_frame())
    spec = spec_without_data(["all_data"], bad=[1, 3]).with_data(data)
    point = next(p for p in grid_points(spec) if p.alpha > 0)
    corrupted, bad = build_point_data(spec, point)
    np.testing.assert_array_equal(np.flatnonzero(bad), [1, 3])
    flipped = np.where(np.isin(data.source, [1, 3]), 1 - data.y, data.y)  # p = 1, two classes: every label
    np.testing.assert_array_equal(corrupted.y, flipped)
    model = make_learner("logreg", random_state=0).fit(data.X, flipped)
    (row,) = run_point(spec, point, spec.rules)
    assert row["error"] == pytest.approx(np.mean(model.predict(data.X_test) != data.y_test))


def test_in_memory_data_enter_the_setting_by_their_content():
    data = hand_encoded(clinic_frame())
    spec = spec_without_data(["all_data"])
    same = spec.with_data(hand_encoded(clinic_frame())).setting_hash()
    assert spec.with_data(data).setting_hash() == same
    changed = MultiSourceDataset(data.X, 1 - data.y, data.source, data.X_test, data.y_test, 2, data.n_sources)
    assert spec.with_data(changed).setting_hash() != same


def test_data_is_refused_for_a_spec_that_names_its_data_and_required_for_one_that_does_not(tiny_spec_path, tmp_path):
    named = ExperimentSpec.from_toml(tiny_spec_path)
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(ValueError, match="data= is for a spec without \\[data\\]"):
            run_experiment(named, store, data=hand_encoded(clinic_frame()))
        with pytest.raises(ValueError, match=r"has no \[data\].*pass data="):
            run_experiment(spec_without_data(["all_data"]), store)
        assert store.rows() == []


def test_a_rule_given_n_bad_guards_against_that_many_instead_of_floor_alpha_n():
    spec = spec_without_data([{"name": "quantile", "params": {"n_bad": 1}}, "quantile"], bad=[1, 3])
    spec = spec.with_data(hand_encoded(clinic_frame()))
    point = next(p for p in grid_points(spec) if p.alpha > 0)
    given, from_alpha = run_point(spec, point, spec.rules)
    assert (json.loads(given["info"])["n_bad"], json.loads(from_alpha["info"])["n_bad"]) == (1, 2)
    assert given["n_kept"] >= 4 and from_alpha["n_kept"] >= 3


def test_a_rule_that_keeps_one_class_falls_back_to_the_constant_classifier_and_says_so():
    data = hand_encoded(clinic_frame())
    y = np.where(data.source == 0, 0, data.y)  # source 0 holds class 0 only
    one_class = MultiSourceDataset(data.X, y, data.source, data.X_test, data.y_test, 2, data.n_sources)
    rules = ["single_trusted", {"name": "kl2019", "params": {"lam": "cv", "reference": 0}}]
    spec = spec_without_data(rules).with_data(one_class)
    trusted, kl2019 = run_point(spec, grid_points(spec)[0], spec.rules)
    assert trusted["error"] == pytest.approx(np.mean(data.y_test != 0))
    assert json.loads(trusted["info"])["single_class"] is True
    assert 0.0 <= kl2019["error"] <= 1.0


def test_a_dirichlet_split_with_one_class_sources_runs_the_oracles_and_kl2019(write_spec):
    spec = ExperimentSpec.from_toml(
        write_spec(
            ("m = 20", 'm = 20\nsplit = "dirichlet"\nsplit_params = {concentration = 0.01}'),
            ('"clean_only"', '"clean_only", "single_trusted", "kl2019"'),
        )
    )
    point = grid_points(spec)[0]
    clean, _ = build_point_data(spec, point)
    assert any(np.unique(clean.source_data(i)[1]).size == 1 for i in range(clean.n_sources))
    rows = run_point(spec, point, spec.rules)
    assert [r["rule"] for r in rows] == [r.label for r in spec.rules]


def test_the_csv_spec_runs_end_to_end_from_the_command_line(tmp_path, capsys):
    store = tmp_path / "hospitals.sqlite"
    assert main(["run", str(EXPERIMENTS / "hospitals_csv.toml"), "--store", str(store), "--no-progress"]) == 0
    assert "2 grid points run, 0 already finished, 12 rows written" in capsys.readouterr().out
    with Store(store) as opened:
        rows = opened.rows()
    oracle = next(r for r in rows if r["rule"] == "clean_only" and r["alpha"] > 0)
    assert (oracle["n_bad"], oracle["n_kept"], oracle["recall"]) == (2, 5, 1.0)
    assert {r["rule"] for r in rows} == {
        "all_data",
        "clean_only",
        "threshold_majority",
        "quantile",
        "kl2019",
        "proba:coordinate_median",
    }


def test_a_csv_path_is_read_relative_to_the_spec_and_its_content_enters_the_setting(tmp_path):
    (tmp_path / "data").mkdir()
    spec_file = shutil.copy(EXPERIMENTS / "hospitals_csv.toml", tmp_path / "h.toml")
    csv = shutil.copy(EXPERIMENTS / "data" / "hospitals.csv", tmp_path / "data" / "hospitals.csv")
    original = ExperimentSpec.from_toml(EXPERIMENTS / "hospitals_csv.toml")
    copy = ExperimentSpec.from_toml(spec_file)
    assert copy.setting_hash() == original.setting_hash()  # same content elsewhere: same rows
    assert copy.table["path"] == str(Path(csv).resolve())
    frame = pd.read_csv(csv)
    frame.loc[0, "mean_radius"] += 1.0
    frame.to_csv(csv, index=False)
    assert ExperimentSpec.from_toml(spec_file).setting_hash() != original.setting_hash()


def test_a_table_spec_names_a_wrong_column_under_data(tmp_path):
    spec_file = tmp_path / "h.toml"
    text = (
        (EXPERIMENTS / "hospitals_csv.toml")
        .read_text()
        .replace('"data/hospitals.csv"', repr(str(EXPERIMENTS / "data" / "hospitals.csv")).replace("'", '"'))
    )
    spec_file.write_text(text.replace('target = "diagnosis"', 'target = "diagnosys"'))
    with pytest.raises(ValueError, match=r"\[data\]: .*target.*diagnosys"):
        ExperimentSpec.from_toml(spec_file)


def test_the_bundled_natural_source_spec_takes_its_sources_from_the_districts():
    spec = ExperimentSpec.from_toml(EXPERIMENTS / "contraception.toml")
    data = make_multisource("contraception", split="by_column", min_size=20, seed=spec.seeds[0])
    assert spec.n_sources == data.n_sources == 29
    point = next(p for p in grid_points(spec) if p.alpha > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = run_point(spec, point, spec.rules[:3])
    assert [r["n_bad"] for r in rows] == [5, 5, 5]  # floor(0.2 * 29)
    assert rows[1]["n_kept"] == 24 and rows[1]["recall"] == 1.0  # clean_only


def test_a_natural_source_spec_checks_a_given_n_sources_against_the_districts_and_survives_replace(tmp_path):
    text = (EXPERIMENTS / "contraception.toml").read_text()
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace('split = "by_column"', 'split = "by_column"\nn_sources = 30'))
    with pytest.raises(ValueError, match=r"\[data\] n_sources must be the 29 sources the data give, got 30"):
        ExperimentSpec.from_toml(wrong)
    spec = ExperimentSpec.from_toml(EXPERIMENTS / "contraception.toml")
    assert dataclasses.replace(spec, seeds=(0,)).setting_hash() == spec.setting_hash()


def test_a_parquet_file_in_a_spec_gives_the_sources_of_the_same_table_as_csv(tmp_path):
    pytest.importorskip("pyarrow")
    (tmp_path / "data").mkdir()
    pd.read_csv(EXPERIMENTS / "data" / "hospitals.csv").to_parquet(tmp_path / "data" / "hospitals.parquet")
    text = (EXPERIMENTS / "hospitals_csv.toml").read_text().replace("hospitals.csv", "hospitals.parquet")
    (tmp_path / "p.toml").write_text(text)
    parquet = ExperimentSpec.from_toml(tmp_path / "p.toml").data
    csv = ExperimentSpec.from_toml(EXPERIMENTS / "hospitals_csv.toml").data
    assert parquet is not None and csv is not None
    for name in ("X", "y", "source", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(parquet, name), getattr(csv, name))
    assert parquet.source_names == csv.source_names == ("H0", "H1", "H2", "H3", "H4", "H5", "H6")
