"""Your own tables in: pandas frames, numpy arrays, CSV and Parquet files -> :class:`MultiSourceDataset`.

A table has one row per sample, a *target* column (labels of any sortable kind), a *source*
column (any hashable ids: the district, hospital, school of each row) and feature columns. Numeric
features are standardised and categorical ones (object, string, category or bool dtype) one-hot
encoded by scikit-learn's ``StandardScaler`` / ``OneHotEncoder``, fitted on the training rows only.
``docs/your_data.md`` walks through every option. Needs pandas (``pip install multisource[tables]``;
Parquet also needs pyarrow).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    import pandas as pd
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("tables need pandas: pip install 'multisource[tables]'") from None
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from multisource.data.dataset import MultiSourceDataset
from multisource.data.labeled import LabeledData
from multisource.data.splits import check_small_sources, natural_sources, source_order, stratified_holdout
from multisource.utils.validation import SeedLike, check_finite_array, check_random_state, check_real

MISSING_POLICIES = ("error", "drop", "impute")
TEST_LABELS = ("train", "test")
READERS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}


# ---- checks -----------------------------------------------------------------------------------------
def _check_frame(arg: str, frame: object) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{arg} must be a pandas DataFrame, got {type(frame).__name__}")
    return frame


def _check_column(arg: str, column: object, frame: pd.DataFrame) -> str:
    if not isinstance(column, str):
        raise TypeError(f"{arg} must be a column name (a string), got {column!r}")
    if column not in frame.columns:
        raise ValueError(f"{arg} = {column!r} is not a column of the table; columns: {list(frame.columns)}")
    return column


def _feature_columns(frame: pd.DataFrame, features: Sequence[str] | None, reserved: Sequence[str]) -> list[str]:
    """The feature columns: ``features`` as given (checked), or every column not in ``reserved``."""
    if features is None:
        columns = [c for c in frame.columns if c not in reserved]
    elif isinstance(features, str) or not isinstance(features, Sequence):
        raise TypeError(f"features must be a list of column names, got {features!r}")
    else:
        columns = list(features)
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise ValueError(f"features names unknown columns {unknown}; columns: {list(frame.columns)}")
        clash = [c for c in columns if c in reserved]
        if clash:
            raise ValueError(f"features must not include the target, source or test column, got {clash}")
    if not columns:
        raise ValueError("the table has no feature column besides the target, source and test columns")
    return columns


def _column_kinds(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature columns; bool, object, string and category columns are categorical."""
    numeric, categorical = [], []
    for column in columns:
        dtype = frame[column].dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
                raise TypeError(f"feature column {column!r} has dtype {dtype}; convert it to numbers or drop it")
            categorical.append(column)
        else:
            numeric.append(column)
    return numeric, categorical


def _missing_counts(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, int]:
    counts = frame[list(columns)].isna().sum()
    return {str(c): int(n) for c, n in counts.items() if n}


def _refuse_missing(arg: str, counts: dict[str, int], advice: str) -> None:
    if counts:
        listed = ", ".join(f"{c!r}: {n}" for c, n in counts.items())
        raise ValueError(f"{arg} has missing values (NaN) in column(s) {listed}; {advice}")


def _check_missing_policy(missing: object, allowed: Sequence[str]) -> str:
    if missing not in allowed:
        raise ValueError(f"missing must be one of {list(allowed)}, got {missing!r}")
    return str(missing)


def _apply_missing(frame: pd.DataFrame, target: str, features: Sequence[str], missing: str, arg: str) -> pd.DataFrame:
    """The rows kept under ``missing``: "drop" drops rows with a NaN; "error" and "impute" keep all
    rows but refuse a NaN in the target, and "error" also one in a feature."""
    if missing == "drop":
        return frame.dropna(subset=[target, *features])
    if missing == "impute":
        _refuse_missing(arg, _missing_counts(frame, [target]), "labels cannot be imputed: pass missing='drop'")
    else:
        _refuse_missing(arg, _missing_counts(frame, [target, *features]), "pass missing='drop' or 'impute'")
    return frame


# ---- pieces -----------------------------------------------------------------------------------------
def _codes(values: Any) -> tuple[np.ndarray, tuple[Hashable, ...]]:
    """Integer codes 0..G-1 of ``values`` in sorted order of the distinct values, and those values."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError as err:
        raise TypeError(f"labels and source ids must be sortable values of one kind: {err}") from None
    return codes.astype(np.int64), tuple(np.asarray(uniques).tolist())


def _label_codes(y: Any, y_test: Any, arg: str) -> tuple[np.ndarray, np.ndarray, tuple[Hashable, ...]]:
    """Training and test labels as classes 0..K-1 (training labels sorted); the original labels."""
    y_codes, classes = _codes(y)
    if len(classes) < 2:
        raise ValueError(f"{arg} has a single class {classes} in the training rows; at least 2 are needed")
    y_test_codes = pd.Index(classes).get_indexer(np.asarray(y_test))
    if np.any(y_test_codes < 0):
        unseen = sorted(set(np.asarray(y_test)[y_test_codes < 0].tolist()), key=str)
        raise ValueError(f"{arg}: test labels {unseen[:10]} do not occur in the training rows")
    return y_codes, y_test_codes.astype(np.int64), classes


def _test_mask(frame: pd.DataFrame, test: str) -> np.ndarray:
    """(n,) bool: the rows a test column marks as test (booleans, or 'train'/'test' strings)."""
    values = frame[test]
    if values.isna().any():
        raise ValueError(f"test column {test!r} has {int(values.isna().sum())} missing values")
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=bool)
    labels = values.astype(str).str.strip().str.lower()
    odd = sorted(set(labels.unique()) - set(TEST_LABELS))
    if odd:
        raise ValueError(f"test column {test!r} must hold booleans or 'train'/'test', got values {odd[:5]}")
    return (labels == "test").to_numpy()


def _check_test(test: object, target: str, columns: Sequence[str]) -> None:
    """A test frame has the target and feature columns; a fraction lies in (0, 1); a column was checked."""
    if isinstance(test, pd.DataFrame):
        absent = [c for c in (target, *columns) if c not in test.columns]
        if absent:
            raise ValueError(f"test frame lacks the column(s) {absent}")
    elif isinstance(test, float):
        check_real("test", test, low=0.0, high=1.0, low_open=True, high_open=True)
    elif not isinstance(test, str):
        raise TypeError(f"test must be a DataFrame, a fraction in (0, 1) or a column name, got {test!r}")


def _split_test(
    frame: pd.DataFrame, test: pd.DataFrame | float | str, target: str, rng: np.random.Generator
) -> tuple[np.ndarray, pd.DataFrame]:
    """Positions of the training rows in ``frame``, and the test frame: a test frame as given, the rows
    a test column marks, or a fraction of the rows stratified by label."""
    if isinstance(test, pd.DataFrame):
        return np.arange(len(frame)), test
    if isinstance(test, float):
        mask = stratified_holdout(_codes(frame[target])[0], test, rng)
    else:
        mask = _test_mask(frame, test)
    if mask.all() or not mask.any():
        raise ValueError(f"test = {test!r} leaves {'no training' if mask.all() else 'no test'} rows")
    return np.flatnonzero(~mask), frame[mask]


def _impute(
    train: pd.DataFrame, test: pd.DataFrame, numeric: list[str], categorical: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill NaN with the training median (numeric) or most frequent value (categorical)."""
    modes = {c: train[c].mode() for c in categorical}  # empty when a column has no value at all
    fill = {**train[numeric].median().to_dict(), **{c: m.iloc[0] if len(m) else np.nan for c, m in modes.items()}}
    empty = [c for c, v in fill.items() if pd.isna(v)]
    if empty:
        raise ValueError(f"missing='impute' cannot fill column(s) {empty}: no training row has a value")
    return train.fillna(fill), test.fillna(fill)


def _fit_encoders(
    train: pd.DataFrame, numeric: list[str], categorical: list[str], standardize: bool
) -> tuple[StandardScaler | None, OneHotEncoder | None]:
    """A ``StandardScaler`` of the numeric columns (when ``standardize``) and a ``OneHotEncoder`` of the
    categorical ones, both fitted on the training rows only."""
    scaler = StandardScaler().fit(train[numeric]) if standardize and numeric else None
    onehot = OneHotEncoder(handle_unknown="ignore").fit(train[categorical]) if categorical else None
    return scaler, onehot


def _encode(
    frame: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    scaler: StandardScaler | None,
    onehot: OneHotEncoder | None,
) -> np.ndarray:
    """The numeric columns (scaled if a scaler is given), then the one-hot columns, as one float64 array.

    The one-hot columns are those of the fitted ``onehot`` (its sorted ``categories_``); each value's
    category is looked up through pandas' hash table and its 1 written straight into the output, with
    a value of no training category left all zeros, as ``OneHotEncoder(handle_unknown="ignore")`` does
    (missing values were dropped, imputed or refused before).
    This is the encoder's transform without its per-value Python lookups and without stacking copies
    of the parts (a ``ColumnTransformer`` would), the two costs that dominate on a million rows.
    """
    categories = [] if onehot is None else onehot.categories_
    widths = [len(c) for c in categories]
    X = np.zeros((len(frame), len(numeric) + sum(widths)))
    if numeric:
        X[:, : len(numeric)] = (
            frame[numeric].to_numpy(np.float64) if scaler is None else scaler.transform(frame[numeric])
        )
    flat, row_start = X.reshape(-1), np.arange(len(frame)) * X.shape[1]
    offsets = len(numeric) + np.cumsum([0, *widths])[:-1]
    for column, known, offset in zip(categorical, categories, offsets, strict=True):
        values, distinct = pd.factorize(frame[column])  # hash the column once, look up its few distinct values
        codes = pd.Index(known).get_indexer(distinct)[values]
        seen = codes >= 0
        flat[row_start[seen] + offset + codes[seen]] = 1.0  # flat indices: X is C-contiguous
    return X


def _feature_names(numeric: list[str], onehot: OneHotEncoder | None) -> tuple[str, ...]:
    """``numeric`` then ``column_category`` for each one-hot column (categories sorted)."""
    return (*numeric, *([] if onehot is None else map(str, onehot.get_feature_names_out())))


def _as_categories(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categorical columns that are not all strings (bools, categories, mixed kinds such as True, 'a', 3)
    as strings, so each encodes as one sorted vocabulary; string columns are left as they are."""
    other = [c for c in categorical if pd.api.types.infer_dtype(frame[c], skipna=False) != "string"]
    return frame.assign(**{c: frame[c].astype(str).astype(object) for c in other}) if other else frame


def _dataset(
    X: np.ndarray,
    y: np.ndarray,
    source: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    classes: tuple[Hashable, ...],
    source_names: tuple[Hashable, ...],
    feature_names: tuple[str, ...] | None,
    name: str,
) -> MultiSourceDataset:
    return MultiSourceDataset(
        X=X,
        y=y,
        source=source,
        X_test=X_test,
        y_test=y_test,
        n_classes=len(classes),
        n_sources=len(source_names),
        name=name,
        feature_names=feature_names,
        classes=classes,
        source_names=source_names,
    )


def _refuse_missing_ids(arg: str, values: Any) -> None:
    n_missing = int(pd.isna(values).sum())
    if n_missing:
        raise ValueError(f"{arg} has {n_missing} missing ids (NaN); every row needs one")


def _sources(values: Any, arg: str, min_size: int, small: str) -> tuple[np.ndarray, tuple[Hashable, ...]]:
    """Source id of each row (-1 for rows of dropped small sources) and the source names."""
    _refuse_missing_ids(arg, values)
    codes, names = _codes(values)
    natural = natural_sources(codes, names, min_size=min_size, small=small)
    return natural.source, natural.names


# ---- entry points -----------------------------------------------------------------------------------
def dataset_from_frame(
    frame: pd.DataFrame,
    *,
    target: str,
    source: str,
    test: pd.DataFrame | float | str = 0.25,
    features: Sequence[str] | None = None,
    standardize: bool = True,
    missing: str = "error",
    min_size: int = 1,
    small: str = "drop",
    seed: SeedLike = None,
    name: str = "data",
) -> MultiSourceDataset:
    """Sources from a table: one source per value of ``source``, with their true (unequal) sizes.

    Parameters
    ----------
    frame : the training table (and the test rows too when ``test`` is a fraction or a column).
    target : the label column; labels of any sortable kind become classes 0..K-1 in sorted order,
        kept in ``classes``.
    source : the column of source ids (any sortable hashable values), mapped to 0..N-1 in sorted
        order and kept in ``source_names``; a NaN id is an error.
    test : the clean test set: a DataFrame with the target and feature columns; a fraction in (0, 1)
        of the rows (stratified by label, seeded); or the name of a column holding booleans or
        'train'/'test' (True/'test' marks a test row).
    features : the feature columns (default: all but target, source and a test column).
    standardize : scale numeric features with ``StandardScaler`` fitted on the training rows.
    missing : NaN in target or features: "error" (names the columns and counts), "drop" the rows,
        or "impute" the training median / most frequent value (a NaN label is still an error).
    min_size, small : sources with fewer than ``min_size`` training rows are dropped (``"drop"``) or
        merged into one source ``"other"`` (``"merge"``); see :func:`~multisource.data.splits.natural_sources`.
    seed : seed of the stratified test fraction.
    name : a short name for reports.

    Returns
    -------
    MultiSourceDataset with ``feature_names`` from the encoder: numeric columns first in table order,
    then ``column_category`` one-hot columns. The encoders see only the training rows: a test category
    unseen in training encodes to all zeros.
    """
    frame = _check_frame("frame", frame)
    target, source = _check_column("target", target, frame), _check_column("source", source, frame)
    if target == source:
        raise ValueError(f"target and source must be different columns, both are {target!r}")
    test_column = _check_column("test", test, frame) if isinstance(test, str) else None
    if test_column in (target, source):
        raise ValueError(f"test must not be the target or source column, got {test!r}")
    columns = _feature_columns(frame, features, [target, source, *([test_column] if test_column else [])])
    missing = _check_missing_policy(missing, MISSING_POLICIES)
    min_size = check_small_sources(min_size, small)
    rng = check_random_state(seed)
    _check_test(test, target, columns)
    _refuse_missing_ids("source", frame[source])
    frame = _apply_missing(frame, target, columns, missing, "frame")
    train_rows, test_frame = _split_test(frame, test, target, rng)
    if isinstance(test, pd.DataFrame):
        test_frame = _apply_missing(test_frame, target, columns, missing, "test")
    source_ids, source_names = _sources(frame[source].iloc[train_rows], "source", min_size, small)
    # One take of the needed columns, already ordered by source, before the (wider) encoding.
    order = source_order(source_ids)
    train, source_ids = frame[[target, *columns]].iloc[train_rows[order]], source_ids[order]
    numeric, categorical = _column_kinds(train, columns)
    if missing == "impute":
        train, test_frame = _impute(train, test_frame, numeric, categorical)
    y, y_test, classes = _label_codes(train[target], test_frame[target], "target")
    train, test_frame = _as_categories(train, categorical), _as_categories(test_frame, categorical)
    scaler, onehot = _fit_encoders(train, numeric, categorical, standardize)
    return _dataset(
        _encode(train, numeric, categorical, scaler, onehot),
        y,
        source_ids,
        _encode(test_frame, numeric, categorical, scaler, onehot),
        y_test,
        classes=classes,
        source_names=source_names,
        feature_names=_feature_names(numeric, onehot),
        name=name,
    )


def dataset_from_arrays(
    X: Any,
    y: Any,
    source: Any,
    X_test: Any,
    y_test: Any,
    *,
    standardize: bool = True,
    min_size: int = 1,
    small: str = "drop",
    feature_names: Sequence[str] | None = None,
    name: str = "data",
) -> MultiSourceDataset:
    """Sources from numeric arrays; labels and source ids of any sortable kind (see :func:`dataset_from_frame`).

    ``X`` (n, d) and ``X_test`` must be finite; ``y`` and ``source`` have n entries. Labels become
    classes 0..K-1 and source ids 0..N-1, both in sorted order; ``standardize`` scales every feature
    with a ``StandardScaler`` fitted on ``X``.
    """
    X, X_test = check_finite_array("X", X, ndim=2), check_finite_array("X_test", X_test, ndim=2)
    y, source, y_test = np.asarray(y), np.asarray(source), np.asarray(y_test)
    if y.shape != (len(X),) or source.shape != (len(X),):
        raise ValueError(f"y and source must have {len(X)} entries like X, got shapes {y.shape} and {source.shape}")
    if y_test.shape != (len(X_test),):
        raise ValueError(f"y_test must have {len(X_test)} entries like X_test, got shape {y_test.shape}")
    if X_test.shape[1] != X.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features but X_test has {X_test.shape[1]}")
    source_ids, source_names = _sources(source, "source", min_size, small)
    order = source_order(source_ids)
    y_codes, y_test_codes, classes = _label_codes(y[order], y_test, "y")
    X = X[order]
    if standardize:
        scaler = StandardScaler().fit(X)
        X, X_test = scaler.transform(X), scaler.transform(X_test)
    return _dataset(
        X,
        y_codes,
        source_ids[order],
        X_test,
        y_test_codes,
        classes=classes,
        source_names=source_names,
        feature_names=None if feature_names is None else tuple(feature_names),
        name=name,
    )


def labeled_from_frame(
    frame: pd.DataFrame,
    *,
    target: str,
    group: str | None = None,
    features: Sequence[str] | None = None,
    missing: str = "error",
    name: str = "data",
) -> LabeledData:
    """One labelled data set from a table, for :func:`~multisource.data.make_multisource` to split.

    Categorical features are one-hot encoded over all rows (categories carry no label information;
    ``make_multisource`` standardises with training statistics later). ``group`` names a column of
    natural sources, kept as ``groups`` for the split ``"by_column"``. ``missing`` is "error" or
    "drop" (imputing before the test set is held out would leak its statistics).
    """
    frame = _check_frame("frame", frame)
    target = _check_column("target", target, frame)
    reserved = [target]
    if group is not None:
        group = _check_column("group", group, frame)
        if group == target:
            raise ValueError(f"target and group must be different columns, both are {target!r}")
        reserved.append(group)
    columns = _feature_columns(frame, features, reserved)
    frame = _apply_missing(frame, target, columns, _check_missing_policy(missing, ("error", "drop")), "frame")
    y, classes = _codes(frame[target])
    numeric, categorical = _column_kinds(frame, columns)
    frame = _as_categories(frame, categorical)
    _, onehot = _fit_encoders(frame, numeric, categorical, standardize=False)
    X = _encode(frame, numeric, categorical, None, onehot)
    groups, group_names = _sources(frame[group], "group", 1, "drop") if group is not None else (None, None)
    return LabeledData(
        X=X,
        y=y,
        n_classes=len(classes),
        name=name,
        groups=groups,
        group_names=group_names,
        feature_names=_feature_names(numeric, onehot),
        classes=classes,
    )


def read_table(path: str | Path, **options: Any) -> MultiSourceDataset:
    """Read a CSV (``.csv``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) file and call :func:`dataset_from_frame`.

    ``options`` are those of :func:`dataset_from_frame` (``target`` and ``source`` are required; a
    misspelt option is a TypeError); ``name`` defaults to the file's stem. Parquet needs pyarrow.
    """
    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"path must end in one of {sorted(READERS)}, got {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a file")
    if kind == "parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
    options.setdefault("name", path.stem)
    return dataset_from_frame(frame, **options)
