"""A single labelled data set (before it is split into sources)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabeledData:
    """Features and integer labels of one data set, e.g. a scikit-learn bundled set.

    Attributes
    ----------
    X : (n, d) float64 features.
    y : (n,) int64 labels in ``0 .. n_classes-1``.
    n_classes : number of classes K.
    image_shape : (h, w) when the rows of ``X`` are flattened images, else None.
    name : a short name for reports.
    """

    X: np.ndarray
    y: np.ndarray
    n_classes: int
    image_shape: tuple[int, int] | None = None
    name: str = "data"

    def __post_init__(self) -> None:
        X = np.asarray(self.X, dtype=np.float64)
        y_raw = np.asarray(self.y)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got shape {X.shape}")
        if y_raw.ndim != 1 or len(y_raw) != len(X):
            raise ValueError(f"y must be 1-dimensional with {len(X)} entries, got shape {y_raw.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinite values")
        if y_raw.size and not np.array_equal(y_raw, np.round(y_raw)):
            raise ValueError("y must hold integer class labels")
        y = y_raw.astype(np.int64)
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {self.n_classes}")
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"y must hold labels in [0, {self.n_classes - 1}]")
        if self.image_shape is not None and int(np.prod(self.image_shape)) != X.shape[1]:
            raise ValueError(f"image_shape {self.image_shape} does not match {X.shape[1]} features")
        for name, arr in (("X", X), ("y", y)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])
