"""Build a :class:`MultiSourceDataset` from a labelled data set: hold out test data, split, standardise."""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Sequence

import numpy as np

from multisource.data.dataset import MultiSourceDataset
from multisource.data.labeled import LabeledData
from multisource.data.loaders import load_dataset
from multisource.data.splits import SPLITS, NaturalSources, Split, source_order, stratified_holdout
from multisource.utils.validation import SeedLike, check_bool, check_int, check_random_state, check_real


def _test_count(n_test: int | float, n: int) -> int:
    if isinstance(n_test, numbers.Integral) and not isinstance(n_test, bool):
        return check_int("n_test", n_test, minimum=1, maximum=n - 1)
    fraction = check_real("n_test", n_test, low=0.0, high=1.0, low_open=True, high_open=True)
    return max(1, round(fraction * n))


def _holdout(data: LabeledData, n_test: int | float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Test rows and pool rows: uniform, or stratified by group when the data has natural groups."""
    n = len(data)
    if n < 2:
        raise ValueError(f"data set {data.name!r} has {n} samples; at least 2 are needed")
    n_hold = _test_count(n_test, n)
    order = rng.permutation(n)
    if data.groups is None:
        return order[:n_hold], order[n_hold:]
    held = stratified_holdout(data.groups[order], n_hold / n, rng)
    if not held.any():
        raise ValueError(f"n_test = {n_test} holds out no row of any group of {data.name!r}; raise n_test")
    return order[held], order[~held]


def _source_sizes(n_sources: int | None, m: int | Sequence[int] | None) -> np.ndarray:
    """The (N,) sizes m_i from an int ``m`` (all equal) or one positive int per source."""
    if m is None:
        raise ValueError("m is required: an int, or a list of one positive int per source")
    if isinstance(m, (str, bytes)) or not isinstance(m, Sequence):
        m = check_int("m", m, minimum=1)
        if n_sources is None:
            raise ValueError("n_sources is required when m is an int")
        return np.full(check_int("n_sources", n_sources, minimum=1), m, dtype=np.int64)
    if not len(m):
        raise ValueError("m must hold one positive int per source, got an empty list")
    sizes = np.array([check_int(f"m[{i}]", m_i, minimum=1) for i, m_i in enumerate(m)], dtype=np.int64)
    if n_sources is not None and check_int("n_sources", n_sources, minimum=1) != len(sizes):
        raise ValueError(f"m has {len(sizes)} sizes but n_sources = {n_sources}; give one size per source")
    return sizes


def _check_pool(sizes: np.ndarray, equal: bool, n_pool: int, n_hold: int, name: str) -> None:
    if sizes.sum() <= n_pool:
        return
    total = int(sizes.sum())
    asked = f"n_sources * m = {len(sizes)} * {sizes[0]} = {total}" if equal else f"sum(m) = {total}"
    raise ValueError(
        f"{asked} exceeds the {n_pool} samples of {name!r} left after holding out {n_hold} test samples; "
        "lower n_sources, m or n_test"
    )


def _natural_sources(
    split: Split, data: LabeledData, pool_rows: np.ndarray, split_params: dict
) -> tuple[np.ndarray, np.ndarray, tuple[Hashable, ...]]:
    """Pool rows ordered by source, their source ids and the source names of a ``by_groups`` split."""
    if data.groups is None or data.group_names is None:
        raise ValueError(f"this split takes the sources from the data's groups, and {data.name!r} has none")
    natural: NaturalSources = split.deal(data.groups[pool_rows], data.group_names, **split_params)
    order = source_order(natural.source)
    return pool_rows[order], natural.source[order], natural.names


def _simulated_sources(
    split: Split,
    data: LabeledData,
    pool_rows: np.ndarray,
    sizes: np.ndarray,
    rng: np.random.Generator,
    split_params: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """Pool rows of the sources dealt by a simulated split, and the source id of each."""
    X_pool, y_pool = data.X[pool_rows], data.y[pool_rows]
    rows = split.deal(X_pool, y_pool, sizes=sizes, n_classes=data.n_classes, rng=rng, **split_params)
    return pool_rows[np.concatenate(rows)], np.repeat(np.arange(len(sizes)), sizes)


def standardize_by_training(X: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X`` and ``X_test`` centred and scaled by the mean and standard deviation of ``X`` (constant: scale 1)."""
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    return (X - mean) / scale, (X_test - mean) / scale


def make_multisource(
    data: LabeledData | str,
    *,
    n_sources: int | None = None,
    m: int | Sequence[int] | None = None,
    split: str = "iid",
    n_test: int | float = 0.25,
    standardize: bool = True,
    seed: SeedLike = None,
    **split_params: object,
) -> MultiSourceDataset:
    """Deal a labelled data set into N sources plus a clean test set.

    The test set is held out first (uniformly at random; for data with natural groups, ``n_test``'s
    share of each group, see :func:`~multisource.data.splits.stratified_holdout`), then
    ``SPLITS[split]`` forms the sources from the remaining samples; the rest is unused. A simulated
    split deals ``N`` sources of ``m`` samples each (or of ``m[i]`` samples when ``m`` is a list);
    the natural split ``"by_column"`` makes one source per group of ``data.groups`` with its true
    size, and takes neither ``n_sources`` nor ``m``. With ``standardize`` every feature is centred
    and scaled by the mean and standard deviation of the training samples (constant features keep
    scale 1), and the test set is transformed with the same statistics.

    Parameters
    ----------
    data : a :class:`LabeledData` or a name in ``DATASETS`` (loaded with ``seed``).
    n_sources : N >= 1 (may be left out when ``m`` is a list).
    m : samples per source, an int >= 1 or a list of one int >= 1 per source.
    split : a name in ``SPLITS``: "iid", "dirichlet" (``concentration``), "covariate_shift"
        (``strength``), "by_column" (``min_size``, ``small``; see ``docs/your_data.md``).
    n_test : test-set size as a count (int) or a fraction in (0, 1) of the data set.
    standardize : whether to standardise features with training statistics.
    seed : seed or numpy Generator; the same seed gives the same dataset.
    **split_params : parameters of the split; an unknown one is a TypeError.

    Raises
    ------
    ValueError : when the sizes exceed the samples left after holding out the test set.
    """
    standardize = check_bool("standardize", standardize)
    rng = check_random_state(seed)
    if isinstance(data, str):
        data = load_dataset(data, seed=rng)
    if not isinstance(data, LabeledData):
        raise TypeError(f"data must be a LabeledData or a data set name, got {type(data).__name__}")
    split_record = SPLITS.get(split)
    if split_record.by_groups:
        if n_sources is not None or m is not None:
            raise ValueError(
                f"split {split!r} takes the sources and their sizes from the data; leave n_sources and m unset"
            )
        test_rows, pool_rows = _holdout(data, n_test, rng)
        rows, source, source_names = _natural_sources(split_record, data, pool_rows, split_params)
        n_out = len(source_names)
    else:
        sizes = _source_sizes(n_sources, m)
        test_rows, pool_rows = _holdout(data, n_test, rng)
        _check_pool(sizes, isinstance(m, numbers.Integral), len(pool_rows), len(test_rows), data.name)
        rows, source = _simulated_sources(split_record, data, pool_rows, sizes, rng, split_params)
        source_names, n_out = None, len(sizes)
    X, X_test = data.X[rows], data.X[test_rows]
    if standardize:
        X, X_test = standardize_by_training(X, X_test)
    return MultiSourceDataset(
        X=X,
        y=data.y[rows],
        source=source,
        X_test=X_test,
        y_test=data.y[test_rows],
        n_classes=data.n_classes,
        n_sources=n_out,
        image_shape=data.image_shape,
        name=data.name,
        feature_names=data.feature_names,
        classes=data.classes,
        source_names=source_names,
    )
