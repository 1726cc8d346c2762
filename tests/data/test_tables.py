"""Tables in: ``from_frame`` / ``from_arrays`` / ``read_table`` against datasets encoded by hand with numpy."""

import numpy as np
import pandas as pd
import pytest

from multisource.data import MultiSourceDataset
from multisource.data.tables import labeled_from_frame, read_table

NAN = np.nan


def _clinics() -> pd.DataFrame:
    """15 rows: string labels, a colour category, a weight, clinics of unequal sizes, a train/test column.

    Rows 2 (weight) and 9 (colour) miss a value; rows 12-14 are the test rows.
    """
    return pd.DataFrame(
        {
            "label": [
                "spam",
                "ham",
                "spam",
                "eggs",
                "ham",
                "spam",
                "eggs",
                "ham",
                "spam",
                "ham",
                "eggs",
                "spam",
                "ham",
                "spam",
                "eggs",
            ],
            "colour": [
                "red",
                "blue",
                "red",
                "green",
                "blue",
                "red",
                "green",
                "red",
                "blue",
                None,
                "green",
                "red",
                "blue",
                "purple",
                "green",
            ],
            "weight": [1.0, 2.5, NAN, 4.0, 3.0, 0.5, 6.0, 2.0, 1.5, 5.0, 7.5, 1.0, 2.0, 100.0, 3.5],
            "clinic": [
                "north",
                "east",
                "north",
                "west",
                "west",
                "north",
                "west",
                "east",
                "west",
                "east",
                "west",
                "north",
                "east",
                "west",
                "north",
            ],
            "split": ["train"] * 12 + ["test"] * 3,
        }
    )


def _assert_same(actual: MultiSourceDataset, expected: MultiSourceDataset) -> None:
    np.testing.assert_allclose(actual.X, expected.X, rtol=0, atol=1e-12)
    np.testing.assert_allclose(actual.X_test, expected.X_test, rtol=0, atol=1e-12)
    for field in ("y", "source", "y_test"):
        np.testing.assert_array_equal(getattr(actual, field), getattr(expected, field), err_msg=field)
    for field in ("n_classes", "n_sources", "feature_names", "classes", "source_names", "name"):
        assert getattr(actual, field) == getattr(expected, field), field


def _by_hand(frame: pd.DataFrame) -> MultiSourceDataset:
    """The dataset ``from_frame(frame, target='label', source='clinic', test='split', missing='drop')`` must give."""
    frame = frame.drop(index=[2, 9])  # the two rows with a NaN
    train, test = frame[frame.split == "train"], frame[frame.split == "test"]
    clinics = np.array(["east", "north", "west"])
    order = np.argsort(np.searchsorted(clinics, train.clinic.to_numpy()), kind="stable")
    train = train.iloc[order]
    colours = np.array(["blue", "green", "red"])  # purple is a test-only colour
    weight = train.weight.to_numpy()
    mean, std = weight.mean(), weight.std()

    def encode(part: pd.DataFrame) -> np.ndarray:
        onehot = (part.colour.to_numpy()[:, None] == colours[None, :]).astype(float)
        return np.column_stack([(part.weight.to_numpy() - mean) / std, onehot])

    classes = np.array(["eggs", "ham", "spam"])
    return MultiSourceDataset(
        X=encode(train),
        y=np.searchsorted(classes, train.label.to_numpy()),
        source=np.searchsorted(clinics, train.clinic.to_numpy()),
        X_test=encode(test),
        y_test=np.searchsorted(classes, test.label.to_numpy()),
        n_classes=3,
        n_sources=3,
        name="clinics",
        feature_names=("weight", "colour_blue", "colour_green", "colour_red"),
        classes=("eggs", "ham", "spam"),
        source_names=("east", "north", "west"),
    )


def test_from_frame_equals_the_dataset_encoded_by_hand():
    frame = _clinics()
    ds = MultiSourceDataset.from_frame(
        frame, target="label", source="clinic", test="split", missing="drop", name="clinics"
    )
    _assert_same(ds, _by_hand(frame))
    assert ds.sizes.tolist() == [2, 3, 5]  # east, north, west: unequal sizes kept


def test_test_set_as_a_frame_or_a_boolean_column_gives_the_same_dataset():
    frame = _clinics()
    expected = _by_hand(frame)
    train, test = frame[frame.split == "train"], frame[frame.split == "test"]
    as_frame = MultiSourceDataset.from_frame(
        train.drop(columns="split"), target="label", source="clinic", test=test, missing="drop", name="clinics"
    )
    flagged = frame.assign(split=frame.split == "test")
    as_bool = MultiSourceDataset.from_frame(
        flagged, target="label", source="clinic", test="split", missing="drop", name="clinics"
    )
    _assert_same(as_frame, expected)
    _assert_same(as_bool, expected)


def test_encoders_see_only_the_training_rows():
    frame = _clinics().drop(index=[2, 9])
    ds = MultiSourceDataset.from_frame(frame, target="label", source="clinic", test="split")
    calm = MultiSourceDataset.from_frame(
        frame.assign(weight=frame.weight.clip(upper=8.0)), target="label", source="clinic", test="split"
    )
    np.testing.assert_array_equal(ds.X, calm.X)  # the test-only extreme 100.0 does not move the scaler
    train_weight = frame.weight[frame.split == "train"]
    purple = 1  # row 13 (weight 100, colour purple) is the second test row
    assert ds.X_test[purple, 0] == pytest.approx((100.0 - train_weight.mean()) / train_weight.std(ddof=0))
    assert ds.X_test[purple, 1:].tolist() == [0.0, 0.0, 0.0]


def test_impute_fills_with_the_training_median_and_most_frequent_value():
    frame = _clinics()
    frame.loc[13, "weight"] = NAN  # a test row missing its weight too
    ds = MultiSourceDataset.from_frame(
        frame, target="label", source="clinic", test="split", missing="impute", standardize=False
    )
    train = frame[frame.split == "train"]
    median = np.median(train.weight.dropna())  # 2.5 from the 11 training weights
    assert median == 2.5
    assert ds.X_test[1, 0] == median
    north = ds.X[ds.source == 1]  # rows 0, 2, 5, 11: row 2 had no weight
    assert north[:, 0].tolist() == [1.0, median, 0.5, 1.0]
    # row 9 (clinic east) had no colour: red is the most frequent training colour (5 of 11)
    east = ds.X[ds.source == 0]
    assert east[:, 1:].tolist().count([0.0, 0.0, 1.0]) == 2


def test_test_fraction_is_stratified_by_label_and_seeded():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": ["a"] * 40 + ["b"] * 20, "x": rng.standard_normal(60), "s": np.arange(60) % 4})
    ds = MultiSourceDataset.from_frame(frame, target="y", source="s", test=0.25, seed=3)
    assert np.bincount(ds.y_test).tolist() == [10, 5] and len(ds.y) == 45
    again = MultiSourceDataset.from_frame(frame, target="y", source="s", test=0.25, seed=3)
    other = MultiSourceDataset.from_frame(frame, target="y", source="s", test=0.25, seed=4)
    np.testing.assert_array_equal(ds.X_test, again.X_test)
    assert not np.array_equal(np.sort(ds.X_test[:, 0]), np.sort(other.X_test[:, 0]))


def test_source_ids_of_any_kind_map_to_sorted_ids_with_their_names_kept():
    frame = pd.DataFrame(
        {"y": [0, 1] * 6, "x": np.arange(12.0), "site": [30, 10, 20, 10, 30, 30] * 2, "t": [False] * 10 + [True] * 2}
    )
    ds = MultiSourceDataset.from_frame(frame, target="y", source="site", test="t", standardize=False)
    assert ds.source_names == (10, 20, 30) and ds.sizes.tolist() == [4, 2, 4]
    assert ds.X[ds.source == 1, 0].tolist() == [2.0, 8.0]  # site 20 holds rows 2 and 8, in table order


@pytest.mark.parametrize(
    "small, expected_names, expected_sizes",
    [("drop", ("a", "c"), [5, 4]), ("merge", ("a", "c", "other"), [5, 4, 3])],
)
def test_sources_below_min_size_are_dropped_or_merged(small, expected_names, expected_sizes):
    sites = ["a"] * 5 + ["b"] * 2 + ["c"] * 4 + ["d"]
    frame = pd.DataFrame({"y": [0, 1] * 6, "x": np.arange(12.0), "site": sites})
    ds = MultiSourceDataset.from_frame(
        frame,
        target="y",
        source="site",
        test=pd.DataFrame({"y": [0, 1], "x": [0.0, 1.0]}),
        min_size=3,
        small=small,
        standardize=False,
    )
    assert ds.source_names == expected_names and ds.sizes.tolist() == expected_sizes
    if small == "merge":
        assert ds.X[ds.source == 2, 0].tolist() == [5.0, 6.0, 11.0]  # the rows of b and d


def test_from_arrays_maps_labels_and_sources_and_scales_with_training_statistics():
    X = np.array([[1.0], [2.0], [3.0], [4.0], [6.0]])
    ds = MultiSourceDataset.from_arrays(
        X,
        np.array(["no", "yes", "no", "yes", "no"]),
        np.array(["x", "y", "x", "x", "y"]),
        np.array([[10.0]]),
        np.array(["yes"]),
        feature_names=["dose"],
    )
    mean, std = 3.2, np.sqrt(((X - 3.2) ** 2).mean())
    expected = MultiSourceDataset(
        X=(X[[0, 2, 3, 1, 4]] - mean) / std,
        y=[0, 0, 1, 1, 0],
        source=[0, 0, 0, 1, 1],
        X_test=(np.array([[10.0]]) - mean) / std,
        y_test=[1],
        n_classes=2,
        n_sources=2,
        feature_names=("dose",),
        classes=("no", "yes"),
        source_names=("x", "y"),
    )
    _assert_same(ds, expected)


def _round_trip(frame: pd.DataFrame, path) -> tuple[MultiSourceDataset, MultiSourceDataset]:
    options = dict(target="label", source="clinic", test="split", missing="drop")
    return read_table(path, **options), MultiSourceDataset.from_frame(frame, **options, name=path.stem)


def test_csv_round_trip_equals_from_frame(tmp_path):
    frame = _clinics()
    frame.to_csv(tmp_path / "clinics.csv", index=False)
    from_file, direct = _round_trip(frame, tmp_path / "clinics.csv")
    _assert_same(from_file, direct)
    assert from_file.name == "clinics"


def test_parquet_round_trip_equals_from_frame(tmp_path):
    pytest.importorskip("pyarrow")
    frame = _clinics()
    frame.to_parquet(tmp_path / "clinics.parquet", index=False)
    from_file, direct = _round_trip(frame, tmp_path / "clinics.parquet")
    _assert_same(from_file, direct)


def test_labeled_from_frame_keeps_groups_for_the_by_column_split():
    frame = _clinics().drop(index=[2, 9])
    data = labeled_from_frame(frame, target="label", group="clinic", features=["weight", "colour"])
    assert data.group_names == ("east", "north", "west")
    np.testing.assert_array_equal(data.groups, np.searchsorted(["east", "north", "west"], frame.clinic))
    assert data.feature_names == ("weight", "colour_blue", "colour_green", "colour_purple", "colour_red")
    assert data.classes == ("eggs", "ham", "spam")


def _frame_call(**change):
    options = dict(target="label", source="clinic", test="split", missing="drop")
    options.update(change)
    return options


@pytest.mark.parametrize(
    "frame_change, options, match",
    [
        (None, _frame_call(target="nope"), "target = 'nope' is not a column"),
        (None, _frame_call(source="nope"), "source = 'nope' is not a column"),
        (None, _frame_call(source="label"), "target and source must be different"),
        (None, _frame_call(test="nope"), "test = 'nope' is not a column"),
        (None, _frame_call(test="clinic"), "test must not be the target or source"),
        (
            "odd_split",
            _frame_call(),
            r"test column 'split' must hold booleans or 'train'/'test', got values \['maybe'\]",
        ),
        (None, _frame_call(test=1.5), r"test must lie in \(0.0, 1.0\)"),
        (None, _frame_call(features=["weight", "nope"]), r"features names unknown columns \['nope'\]"),
        (None, _frame_call(features=["weight", "label"]), "features must not include the target"),
        (None, _frame_call(missing="maybe"), "missing must be one of"),
        (
            None,
            _frame_call(missing="error"),
            r"frame has missing values \(NaN\) in column\(s\) 'colour': 1, 'weight': 1",
        ),
        (None, _frame_call(min_size=0), "min_size must be >= 1"),
        (None, _frame_call(min_size=99), "min_size = 99 leaves no source"),
        (None, _frame_call(small="keep"), "small must be one of"),
        ("single_class", _frame_call(), "target has a single class"),
        ("nan_source", _frame_call(), "source has 1 missing ids"),
        ("nan_label", _frame_call(missing="impute"), "labels cannot be imputed"),
        ("unseen_label", _frame_call(), r"test labels \['toast'\] do not occur in the training rows"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_argument(frame_change, options, match):
    frame = _clinics()
    if frame_change == "single_class":
        frame["label"] = "spam"
    elif frame_change == "nan_source":
        frame.loc[4, "clinic"] = None
    elif frame_change == "nan_label":
        frame.loc[4, "label"] = None
    elif frame_change == "odd_split":
        frame.loc[0, "split"] = "maybe"
    elif frame_change == "unseen_label":
        frame.loc[13, "label"] = "toast"
    with pytest.raises(ValueError, match=match):
        MultiSourceDataset.from_frame(frame, **options)


def test_a_test_frame_without_a_feature_column_is_refused():
    frame = _clinics()
    with pytest.raises(ValueError, match=r"test frame lacks the column\(s\) \['weight'\]"):
        MultiSourceDataset.from_frame(
            frame.drop(columns="split"),
            target="label",
            source="clinic",
            test=frame[["label", "colour"]],
            missing="drop",
        )


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: MultiSourceDataset.from_frame(np.zeros((3, 2)), target="a", source="b"), TypeError, "DataFrame"),
        (
            lambda: MultiSourceDataset.from_frame(_clinics(), target="label", source="clinic", tset=0.2),
            TypeError,
            "tset",
        ),
        (
            lambda: MultiSourceDataset.from_frame(_clinics(), target="label", source="clinic", test=[1]),
            TypeError,
            "test must be a DataFrame, a fraction",
        ),
        (lambda: read_table("data.xlsx", target="a", source="b"), ValueError, "path must end in one of"),
        (lambda: read_table("missing.csv", target="a", source="b"), ValueError, "is not a file"),
        (
            lambda: MultiSourceDataset.from_arrays(np.zeros((3, 1)), [0, 1], [0, 0, 1], np.zeros((1, 1)), [0]),
            ValueError,
            "y and source must have 3 entries",
        ),
        (
            lambda: MultiSourceDataset.from_arrays(np.full((2, 1), NAN), [0, 1], [0, 1], np.zeros((1, 1)), [0]),
            ValueError,
            "X contains NaN",
        ),
        (
            lambda: MultiSourceDataset.from_arrays(np.zeros((2, 1)), [0, 0], [0, 1], np.zeros((1, 1)), [0]),
            ValueError,
            "y has a single class",
        ),
    ],
)
def test_wrong_kinds_of_input_are_refused_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_dataset_refuses_names_of_the_wrong_length():
    with pytest.raises(ValueError, match="source_names must have 2 entries, got 1"):
        MultiSourceDataset(
            X=np.zeros((2, 1)),
            y=[0, 1],
            source=[0, 1],
            X_test=np.zeros((1, 1)),
            y_test=[0],
            n_classes=2,
            n_sources=2,
            source_names=("a",),
        )


def test_impute_refuses_a_column_without_any_training_value():
    frame = _clinics().assign(colour=None)
    with pytest.raises(ValueError, match=r"cannot fill column\(s\) \['colour'\]"):
        MultiSourceDataset.from_frame(frame, target="label", source="clinic", test="split", missing="impute")


def test_a_date_column_is_refused_by_name():
    frame = _clinics().drop(index=[2, 9]).assign(seen=pd.Timestamp("2020-01-01"))
    with pytest.raises(TypeError, match="feature column 'seen' has dtype datetime64"):
        MultiSourceDataset.from_frame(frame, target="label", source="clinic", test="split")


def test_one_hot_block_equals_scikit_learns_encoder_with_unknown_categories_ignored():
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefg"))
    train = pd.DataFrame(
        {
            "u": letters[rng.integers(5, size=200)],
            "v": rng.integers(3, size=200).astype(str),
            "y": rng.integers(2, size=200),
            "s": rng.integers(4, size=200),
        }
    )
    test = pd.DataFrame(
        {
            "u": letters[rng.integers(7, size=50)],
            "v": rng.integers(5, size=50).astype(str),
            "y": rng.integers(2, size=50),
        }
    )  # f, g and "3", "4" never occur in training
    ds = MultiSourceDataset.from_frame(train, target="y", source="s", test=test)
    peer = OneHotEncoder(handle_unknown="ignore").fit(train[["u", "v"]])
    order = np.argsort(train.s.to_numpy(), kind="stable")
    np.testing.assert_array_equal(ds.X, peer.transform(train[["u", "v"]].iloc[order]).toarray())
    np.testing.assert_array_equal(ds.X_test, peer.transform(test[["u", "v"]]).toarray())
    assert ds.feature_names == tuple(peer.get_feature_names_out())
