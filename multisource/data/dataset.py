"""The core data object: pooled features and labels with a source id per sample, plus clean test data."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class MultiSourceDataset:
    """N data sources stored as one array with a source id per sample, and held-out clean test data.

    Attributes
    ----------
    X : (n, d) float64 features of all training samples, sources concatenated.
    y : (n,) int64 labels in ``0 .. n_classes-1``.
    source : (n,) int64 source id in ``0 .. n_sources-1`` of each sample.
    X_test, y_test : clean held-out data drawn from the target distribution D.
    n_classes : number of classes K (labels are ``0..K-1`` in every source and in the test set).
    n_sources : N; a source may be empty only if it was built that way explicitly.
    image_shape : (h, w) when the features are flattened images (digits: (8, 8)), else None.
    name : a short name of the underlying data set, for reports.
    feature_names : the name of each feature column (e.g. ``"livch_3+"`` for a one-hot column), or None.
    classes : the original label of each class ``0..K-1`` (e.g. ``("N", "Y")``), or None.
    source_names : the original id of each source ``0..N-1`` (e.g. a district number), or None.

    Build one from your own table with :meth:`from_frame` or :meth:`from_arrays` (``docs/your_data.md``).
    """

    X: np.ndarray
    y: np.ndarray
    source: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    n_sources: int
    image_shape: tuple[int, int] | None = None
    name: str = "data"
    feature_names: tuple[str, ...] | None = field(default=None, compare=False)
    classes: tuple[Hashable, ...] | None = field(default=None, compare=False)
    source_names: tuple[Hashable, ...] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        X = np.asarray(self.X, dtype=np.float64)
        X_test = np.asarray(self.X_test, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.int64)
        y_test = np.asarray(self.y_test, dtype=np.int64)
        source = np.asarray(self.source, dtype=np.int64)
        if X.ndim != 2 or X_test.ndim != 2:
            raise ValueError(f"X and X_test must be 2-dimensional, got shapes {X.shape} and {X_test.shape}")
        if X.shape[1] != X_test.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features but X_test has {X_test.shape[1]}")
        if not (len(y) == len(source) == len(X)):
            raise ValueError(f"X, y and source must have the same length, got {len(X)}, {len(y)}, {len(source)}")
        if len(y_test) != len(X_test):
            raise ValueError(f"X_test and y_test must have the same length, got {len(X_test)} and {len(y_test)}")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(X_test))):
            raise ValueError("features contain NaN or infinite values")
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {self.n_classes}")
        for arr, arg in ((y, "y"), (y_test, "y_test")):
            if arr.size and (arr.min() < 0 or arr.max() >= self.n_classes):
                raise ValueError(f"{arg} must hold labels in [0, {self.n_classes - 1}]")
        if self.n_sources < 1:
            raise ValueError(f"n_sources must be >= 1, got {self.n_sources}")
        if source.size and (source.min() < 0 or source.max() >= self.n_sources):
            raise ValueError(f"source ids must lie in [0, {self.n_sources - 1}]")
        if self.image_shape is not None and int(np.prod(self.image_shape)) != X.shape[1]:
            raise ValueError(f"image_shape {self.image_shape} does not match {X.shape[1]} features")
        for arg, names, expected in (
            ("feature_names", self.feature_names, X.shape[1]),
            ("classes", self.classes, self.n_classes),
            ("source_names", self.source_names, self.n_sources),
        ):
            if names is not None and len(names) != expected:
                raise ValueError(f"{arg} must have {expected} entries, got {len(names)}")
        arrays: dict[str, np.ndarray] = {"X": X, "X_test": X_test, "y": y, "y_test": y_test, "source": source}
        for name, arr in arrays.items():
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, **options: Any) -> MultiSourceDataset:
        """Sources from a pandas table with a target and a source column: encoded, split, checked.

        The options are those of :func:`multisource.data.tables.dataset_from_frame` (``target``,
        ``source``, ``test``, ``features``, ``standardize``, ``missing``, ``min_size``, ``small``,
        ``seed``, ``name``); a misspelt option is a TypeError. Needs ``multisource[tables]``.
        """
        from multisource.data.tables import dataset_from_frame

        return dataset_from_frame(frame, **options)

    @classmethod
    def from_arrays(cls, X: Any, y: Any, source: Any, X_test: Any, y_test: Any, **options: Any) -> MultiSourceDataset:
        """Sources from numpy arrays with labels and source ids of any sortable kind.

        The options are those of :func:`multisource.data.tables.dataset_from_arrays` (``standardize``,
        ``min_size``, ``small``, ``feature_names``, ``name``). Needs ``multisource[tables]``.
        """
        from multisource.data.tables import dataset_from_arrays

        return dataset_from_arrays(X, y, source, X_test, y_test, **options)

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def sizes(self) -> np.ndarray:
        """(N,) number of samples m_i of each source."""
        return np.bincount(self.source, minlength=self.n_sources)

    def source_data(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels (X_i, y_i) of source ``i``."""
        if not 0 <= i < self.n_sources:
            raise ValueError(f"source index must lie in [0, {self.n_sources - 1}], got {i}")
        mask = self.source == i
        return self.X[mask], self.y[mask]

    def pooled(self, sources: np.ndarray | list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels of the union of ``sources`` (all sources when None)."""
        if sources is None:
            return self.X, self.y
        keep = np.isin(self.source, np.asarray(sources, dtype=np.int64))
        return self.X[keep], self.y[keep]

    def with_training_data(self, X: np.ndarray, y: np.ndarray, source: np.ndarray | None = None) -> MultiSourceDataset:
        """A copy with new training arrays (same test data), e.g. after an adversary corrupts sources."""
        return replace(self, X=X, y=y, source=self.source if source is None else source)
