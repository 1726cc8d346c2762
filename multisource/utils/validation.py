"""Shared argument validation: every error names the argument and the accepted range."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
from numpy.typing import DTypeLike

SeedLike = int | np.random.Generator | None


def check_random_state(seed: SeedLike, name: str = "seed") -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed >= 0, a Generator (returned as is) or None.

    A negative seed is refused here rather than by numpy's ``SeedSequence``; so is a bool (not a seed).
    ``name`` is the argument's name in the caller (``"random_state"`` in an estimator), used in the errors.
    """
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.default_rng(check_int(name, seed, minimum=0))
    if isinstance(seed, np.random.Generator):
        return seed
    raise TypeError(f"{name} must be an int, a numpy Generator or None, got {type(seed).__name__}")


def check_int(name: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int in [minimum, maximum]; bools and non-integers are rejected."""
    # type() first: the abstract-class isinstance test costs more than the rest of the check
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """``value`` as a float in the interval given by low/high (open ends as flagged).

    NaN is always refused; so are ``inf`` and ``-inf`` unless ``allow_inf`` (a parameter whose
    infinite value is a documented limit, such as KL2019's ``lambda = inf``).
    """
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be a finite number in {_interval(low, high, low_open, high_open)}, got {value}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise ValueError(f"{name} must lie in {_interval(low, high, low_open, high_open)}, got {value}")
    return value


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    return f"{'(' if low_open or low == -math.inf else '['}{low}, {high}{')' if high_open or high == math.inf else ']'}"


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a bool; a string such as ``"false"`` is refused, not read as true by ``bool()``."""
    if value is not True and value is not False and not isinstance(value, np.bool_):
        raise TypeError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def check_sklearn_estimator(name: str, value: object) -> object:
    """``value`` if it is a scikit-learn style estimator: ``fit`` and ``get_params`` (what ``clone`` needs)."""
    if isinstance(value, type) or not (callable(getattr(value, "fit", None)) and hasattr(value, "get_params")):
        raise TypeError(f"{name} must be a scikit-learn estimator instance (with fit and get_params), got {value!r}")
    return value


def check_probability(name: str, value: object) -> float:
    """A fraction in [0, 1]."""
    return check_real(name, value, low=0.0, high=1.0)


def check_alpha(alpha: object, name: str = "alpha") -> float:
    """The adversary's fraction of corrupted sources: alpha in [0, 1/2)."""
    return check_real(name, alpha, low=0.0, high=0.5, high_open=True)


def check_delta(delta: object, name: str = "delta") -> float:
    """A confidence parameter delta in (0, 1)."""
    return check_real(name, delta, low=0.0, high=1.0, low_open=True, high_open=True)


def check_finite_array(
    name: str, array: object, *, ndim: int | None = None, dtype: DTypeLike = np.float64
) -> np.ndarray:
    """``array`` as a numpy array of ``dtype`` with no NaN/inf (and the given ndim)."""
    arr = np.asarray(array, dtype=dtype)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_labeled_sample(
    names: tuple[str, str], X: object, y: object, n_classes: object
) -> tuple[np.ndarray, np.ndarray]:
    """A labelled sample: ``X`` an (n, d) finite float64 array with n, d >= 1, ``y`` n integer labels in
    [0, n_classes), ``n_classes`` >= 2. ``names`` are the arguments' names in the caller, e.g. ("X_a", "y_a")."""
    x_name, y_name = names
    n_classes = check_int("n_classes", n_classes, minimum=2)
    X = check_finite_array(x_name, X, ndim=2)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{x_name} must hold n >= 1 samples of d >= 1 features, got shape {X.shape}")
    labels = np.asarray(y)
    if labels.shape != (X.shape[0],):
        raise ValueError(f"{y_name} must hold one label per row of {x_name} ({X.shape[0]},), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{y_name} must hold integer labels in [0, {n_classes - 1}], got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(
            f"{y_name} must hold labels in [0, {n_classes - 1}], got labels from {labels.min()} to {labels.max()}"
        )
    return X, labels.astype(np.int64)


def check_feature_rows(
    name: str, X: object, *, n_features: int | None = None, owner: str = "the model"
) -> tuple[int, int]:
    """The shape (n, d) of ``X``, an array of finite real numbers with n, d >= 1 (d == ``n_features`` when given).

    The checks an estimator runs at its entry, before scikit-learn's ``validate_data``. The messages keep
    the fragments that ``sklearn.utils.estimator_checks`` looks for ("Reshape your data", "0 feature(s)",
    "X has 3 features, but ... is expecting 4", "NaN", "sparse", "Complex data not supported"), so an
    estimator using them still passes ``check_estimator``. ``owner`` names the estimator in the messages.
    """
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):  # a scipy.sparse matrix or array
        raise TypeError(
            f"{name} must be a dense array: sparse input is not supported by {owner}, got {type(X).__name__}"
        )
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as err:  # ragged rows
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features): {err}") from None
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must hold real numbers: Complex data not supported, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), got shape {arr.shape}. Reshape your data "
            "with array.reshape(-1, 1) if it has a single feature or array.reshape(1, -1) if it is a single sample."
        )
    for axis, what in ((0, "sample"), (1, "feature")):
        if arr.shape[axis] == 0:
            raise ValueError(
                f"{name} must hold at least 1 {what}: found array with 0 {what}(s) (shape={arr.shape}) "
                "while a minimum of 1 is required."
            )
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, but {owner} is expecting {n_features} features as input")
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must hold real numbers: {err}") from None
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; {owner} needs finite features")
    return arr.shape[0], arr.shape[1]


def check_class_labels(name: str, y: object, n_samples: int, *, owner: str = "the model") -> None:
    """``y`` holds ``n_samples`` class labels (ints, strings, or floats with integer values), one per row of X.

    Continuous targets are refused with scikit-learn's "Unknown label type" fragment, a missing ``y`` with
    "requires y to be passed" and a 2-D ``y`` with "y should be a 1d array" (``check_estimator`` looks for
    them). A column vector (n, 1) passes: scikit-learn ravels it with a DataConversionWarning.
    """
    if y is None:
        raise ValueError(f"{name} is missing: {owner} requires y to be passed, but the target y is None")
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"{name} must hold one label per sample: y should be a 1d array, got shape {labels.shape}")
    if labels.shape[0] != n_samples:
        raise ValueError(f"{name} must hold one label per row of X ({n_samples}), got {labels.shape[0]} labels")
    if np.iscomplexobj(labels):
        raise ValueError(f"{name} must hold class labels: Complex data not supported, got dtype {labels.dtype}")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)):
            raise ValueError(f"{name} contains NaN or infinite values; class labels must be finite")
        if np.any(labels != np.round(labels)):
            example = labels[labels != np.round(labels)][0]
            raise ValueError(
                f"{name} must hold class labels (integers or strings), got continuous values such as {example} "
                "(Unknown label type: continuous); use a regressor for a continuous target"
            )


def check_labeled_pair(
    X_a: object, y_a: object, X_b: object, y_b: object, n_classes: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two labelled samples S_a, S_b of one pairwise discrepancy (:func:`check_labeled_sample` each),
    with the same number of features."""
    X_a, y_a = check_labeled_sample(("X_a", "y_a"), X_a, y_a, n_classes)
    X_b, y_b = check_labeled_sample(("X_b", "y_b"), X_b, y_b, n_classes)
    if X_a.shape[1] != X_b.shape[1]:
        raise ValueError(f"X_a and X_b must have the same features, got {X_a.shape[1]} and {X_b.shape[1]}")
    return X_a, y_a, X_b, y_b


def check_source_ids(source: object, n_sources: object, n_samples: int) -> np.ndarray:
    """``source``: one integer source id in [0, n_sources) per sample (``n_samples`` of them)."""
    n_sources = check_int("n_sources", n_sources, minimum=1)
    ids = np.asarray(source)
    if ids.shape != (n_samples,) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"source must hold {n_samples} integer source ids, got {ids.dtype} of shape {ids.shape}")
    if ids.min() < 0 or ids.max() >= n_sources:
        raise ValueError(f"source must hold ids in [0, {n_sources - 1}], got ids from {ids.min()} to {ids.max()}")
    return ids.astype(np.int64)


ADVERSARY_SELECTIONS: tuple[str, ...] = ("fixed", "adaptive")
"""How the adversary picks its bad sources: before seeing the data (``"fixed"``, Konstantinov et al.
ICML 2020 Theorem 1) or after (``"adaptive"``, Theorem 2)."""


def n_bad_sources(alpha: object, n_sources: object) -> int:
    """The number of bad sources ``n_bad = floor(alpha N)`` for a fraction ``alpha`` in [0, 1/2).

    The 1e-9 slack keeps fractions written in decimal exact: ``floor(0.29 * 100) = 29``, although
    ``0.29 * 100 == 28.999999999999996`` in floating point.

    >>> n_bad_sources(0.29, 100)
    29
    """
    alpha = check_alpha(alpha)
    n_sources = check_int("n_sources", n_sources, minimum=1)
    return math.floor(alpha * n_sources + 1e-9)


def check_bad_sources(bad: object, n_sources: int | None = None) -> tuple[int, ...]:
    """A user-chosen set of bad sources: distinct source indices, and with ``n_sources`` = N given, in
    [0, N) and fewer than N/2 of them (the adversary controls a minority, ``docs/bounds.md``)."""
    if isinstance(bad, str | bytes) or not isinstance(bad, Iterable):
        raise TypeError(f"bad must be a list of source indices, got {bad!r}")
    indices = tuple(check_int("bad[]", i, minimum=0) for i in bad)
    if len(set(indices)) != len(indices):
        raise ValueError(f"bad must hold distinct source indices, got {list(indices)}")
    if n_sources is not None:
        n_sources = check_int("n_sources", n_sources, minimum=1)
        if any(i >= n_sources for i in indices):
            raise ValueError(f"bad must hold source indices in [0, {n_sources}), got {list(indices)}")
        if 2 * len(indices) >= n_sources:
            raise ValueError(f"bad must name fewer than N/2 = {n_sources / 2} sources, got {len(indices)}")
    return indices
