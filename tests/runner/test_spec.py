"""ExperimentSpec: TOML parsing, identity hashes and clear errors for every bad input."""

from pathlib import Path

import numpy as np
import pytest

from multisource.runner import Component, ExperimentSpec, grid_points
from multisource.runner.experiment import build_point_data

QUICKSTART = Path(__file__).resolve().parents[2] / "experiments" / "quickstart.toml"


def test_spec_reads_every_field_and_labels_components(tiny_spec_path):
    spec = ExperimentSpec.from_toml(tiny_spec_path)
    assert (spec.name, spec.dataset, spec.n_sources, spec.m) == ("tiny", "breast_cancer", 5, 20)
    assert spec.alphas == (0.0, 0.2) and spec.seeds == (0, 1)
    assert spec.attacks == (Component("label_flip", {"p": 1.0}),) and spec.attacks[0].label == "label_flip(p=1.0)"
    assert [r.label for r in spec.rules] == [
        "all_data",
        "clean_only",
        "quantile",
        "threshold_majority",
        "mean_of_models",
        "proba:coordinate_median",
    ]
    assert spec.learner == Component("logreg") and spec.discrepancy == Component("linear", {"l2": 1.0})


def test_setting_hash_ignores_grid_axes_but_not_the_setting(write_spec):
    base = ExperimentSpec.from_toml(write_spec())
    more_seeds = ExperimentSpec.from_toml(write_spec(("seeds = [0, 1]", "seeds = [0, 1, 2]")))
    other_m = ExperimentSpec.from_toml(write_spec(("m = 20", "m = 21")))
    other_l2 = ExperimentSpec.from_toml(write_spec(("l2 = 1.0", "l2 = 2.0")))
    assert base.setting_hash() == more_seeds.setting_hash()
    assert len({base.setting_hash(), other_m.setting_hash(), other_l2.setting_hash()}) == 3


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("alphas = [0.0, 0.2]", "alphas = [0.0, 0.5]", "alphas\\[\\] must lie in \\[0.0, 0.5\\)"),
        ("alphas = [0.0, 0.2]", "alphas = [0.2, 0.2]", "alphas must be distinct"),
        ("alphas = [0.0, 0.2]", "alphas = [0.0, 0.1]", "floor\\(alpha N\\) = 0 bad sources for N = 5"),
        ("alphas = [0.0, 0.2]", "alphas = [0.2, 0.3]", "the same number of bad sources"),
        ("m = 20", "m = 0", "m must be >= 1"),
        ("n_sources = 5", "n_sources = 1", "n_sources must be >= 2"),
        ("seeds = [0, 1]", "seeds = []", "seeds must not be empty"),
        ('"all_data"', '"all_dat"', "unknown rule 'all_dat'; valid rules: .*multi_krum.*'agg:<name>'"),
        ('"all_data"', '"krum"', "'krum' is an aggregator: write 'agg:krum'"),
        ('"proba:coordinate_median"]', '"proba:coordinate_median", "quantile"]', "rules labels must be unique"),
        ('name = "label_flip"', 'name = "label_flop"', "unknown attack 'label_flop'"),
        ('dataset = "breast_cancer"', 'dataset = "cifar"', "unknown dataset 'cifar'"),
        ('name = "linear"', 'name = "quadratic"', "unknown discrepancy estimator 'quadratic'"),
        ('name = "tiny"', 'name = "tiny"\nlearner = "NoSuchClassifier"', "unknown learner 'NoSuchClassifier'"),
        ('name = "tiny"', 'name = "tiny"\nrepeats = 3', "spec: unknown keys \\['repeats'\\]"),
        ("m = 20", "samples = 20", "\\[data\\]: unknown keys \\['samples'\\]"),
        ("n_sources = 5\n", "", "\\[data\\] n_sources must be given \\(N >= 2\\), or m as a list"),
        ("[data]", "[data", "invalid TOML"),
        ("[data]", '[adversary]\nselection = "random"\n\n[data]', "selection must be one of \\('fixed', 'adaptive'\\)"),
        (
            "[data]",
            "[adversary]\nbad = [1, 2]\n\n[data]",
            "alphas must give floor\\(alpha N\\) = 2 bad sources.*got \\[0.2\\]",
        ),
        ("[data]", "[adversary]\nbad = [1, 5]\n\n[data]", "bad must hold source indices in \\[0, 5\\)"),
        ("[data]", '[adversary]\nbad = [1]\nselection = "adaptive"\n\n[data]', "selection must be 'fixed' when"),
        ("[data]", "[adversary]\nchosen = [1]\n\n[data]", "\\[adversary\\]: unknown keys \\['chosen'\\]"),
    ],
)
def test_bad_specs_raise_clear_errors(write_spec, old, new, message):
    path = write_spec((old, new))
    with pytest.raises(ValueError, match=message):
        ExperimentSpec.from_toml(path)


def test_missing_spec_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ExperimentSpec.from_toml(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "name", ["quickstart", "digits_images", "compressed_learner", "excess_risk_vs_m", "contraception", "hospitals_csv"]
)
def test_bundled_experiment_specs_are_valid(name):
    assert ExperimentSpec.from_toml(QUICKSTART.parent / f"{name}.toml").name == name


def test_a_spec_that_names_the_bad_sources_corrupts_those_and_has_its_own_setting(write_spec):
    chosen = ExperimentSpec.from_toml(write_spec(("[data]", "[adversary]\nbad = [3]\n\n[data]")))
    assert chosen.bad == (3,)
    assert chosen.setting_hash() != ExperimentSpec.from_toml(write_spec()).setting_hash()
    point = next(p for p in grid_points(chosen) if p.alpha > 0)
    _, bad = build_point_data(chosen, point)
    np.testing.assert_array_equal(np.flatnonzero(bad), [3])


def test_the_setting_of_a_spec_without_bad_sources_is_unchanged(tiny_spec_path):
    # The hash this spec had before [adversary] bad existed: stores written then still resume.
    assert ExperimentSpec.from_toml(tiny_spec_path).setting_hash() == "f645203e115d50fe"
