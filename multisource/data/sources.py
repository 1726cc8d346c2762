"""Build a :class:`MultiSourceDataset` from a labelled data set: hold out test data, split, standardise."""

from __future__ import annotations

import numbers

import numpy as np

from multisource.data.dataset import MultiSourceDataset
from multisource.data.labeled import LabeledData
from multisource.data.loaders import load_dataset
from multisource.data.splits import SPLITS
from multisource.utils.validation import SeedLike, check_int, check_random_state, check_real


def _test_count(n_test: int | float, n: int) -> int:
    if isinstance(n_test, numbers.Integral) and not isinstance(n_test, bool):
        return check_int("n_test", n_test, minimum=1, maximum=n - 1)
    fraction = check_real("n_test", n_test, low=0.0, high=1.0, low_open=True, high_open=True)
    return max(1, int(round(fraction * n)))


def make_multisource(
    data: LabeledData | str,
    *,
    n_sources: int,
    m: int,
    split: str = "iid",
    n_test: int | float = 0.25,
    standardize: bool = True,
    seed: SeedLike = None,
    **split_params,
) -> MultiSourceDataset:
    """Deal a labelled data set into ``n_sources`` sources of ``m`` samples plus a clean test set.

    The test set is held out first (uniformly at random), then ``SPLITS[split]`` deals N*m of the
    remaining samples into sources; the rest is unused. With ``standardize`` every feature is centred
    and scaled by the mean and standard deviation of the N*m training samples (constant features keep
    scale 1), and the test set is transformed with the same statistics.

    Parameters
    ----------
    data : a :class:`LabeledData` or a name in ``DATASETS`` (loaded with ``seed``).
    n_sources : N >= 1.
    m : samples per source, >= 1.
    split : a name in ``SPLITS``: "iid", "dirichlet" (``concentration``), "covariate_shift" (``strength``).
    n_test : test-set size as a count (int) or a fraction in (0, 1) of the data set.
    standardize : whether to standardise features with training statistics.
    seed : seed or numpy Generator; the same seed gives the same dataset.
    **split_params : parameters of the split.

    Raises
    ------
    ValueError : when ``n_sources * m`` exceeds the samples left after holding out the test set.
    """
    rng = check_random_state(seed)
    if isinstance(data, str):
        data = load_dataset(data, seed=rng)
    if not isinstance(data, LabeledData):
        raise TypeError(f"data must be a LabeledData or a data set name, got {type(data).__name__}")
    n_sources = check_int("n_sources", n_sources, minimum=1)
    m = check_int("m", m, minimum=1)
    split_fn = SPLITS.get(split)
    n = len(data)
    if n < 2:
        raise ValueError(f"data set {data.name!r} has {n} samples; at least 2 are needed")
    n_hold = _test_count(n_test, n)
    order = rng.permutation(n)
    test_rows, pool_rows = order[:n_hold], order[n_hold:]
    if n_sources * m > len(pool_rows):
        raise ValueError(
            f"n_sources * m = {n_sources} * {m} = {n_sources * m} exceeds the {len(pool_rows)} samples of "
            f"{data.name!r} left after holding out {n_hold} test samples; lower n_sources, m or n_test"
        )
    X_pool, y_pool = data.X[pool_rows], data.y[pool_rows]
    rows = split_fn(X_pool, y_pool, n_sources=n_sources, m=m, n_classes=data.n_classes, rng=rng, **split_params)
    X, y = X_pool[rows.ravel()], y_pool[rows.ravel()]
    X_test = data.X[test_rows]
    if standardize:
        mean, scale = X.mean(axis=0), X.std(axis=0)
        scale[scale == 0] = 1.0
        X, X_test = (X - mean) / scale, (X_test - mean) / scale
    return MultiSourceDataset(
        X=X,
        y=y,
        source=np.repeat(np.arange(n_sources), m),
        X_test=X_test,
        y_test=data.y[test_rows],
        n_classes=data.n_classes,
        n_sources=n_sources,
        image_shape=data.image_shape,
        name=data.name,
    )
