"""A single labelled data set (before it is split into sources)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

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
    groups : (n,) int64 group code of each row in ``0 .. len(group_names)-1`` when the data has natural
        sources (the district of each woman, the school of each pupil), else None; the split
        ``"by_column"`` makes one source per group.
    group_names : the name of each group (sorted), given together with ``groups``.
    feature_names, classes : names of the columns of ``X`` and the original label of each class, for display.
    """

    X: np.ndarray
    y: np.ndarray
    n_classes: int
    image_shape: tuple[int, int] | None = None
    name: str = "data"
    groups: np.ndarray | None = None
    group_names: tuple[Hashable, ...] | None = None
    feature_names: tuple[str, ...] | None = field(default=None, compare=False)
    classes: tuple[Hashable, ...] | None = field(default=None, compare=False)

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
        if self.feature_names is not None and len(self.feature_names) != X.shape[1]:
            raise ValueError(f"feature_names has {len(self.feature_names)} entries for {X.shape[1]} features")
        if self.classes is not None and len(self.classes) != self.n_classes:
            raise ValueError(f"classes has {len(self.classes)} entries for n_classes = {self.n_classes}")
        arrays = {"X": X, "y": y}
        if (self.groups is None) != (self.group_names is None):
            raise ValueError("groups and group_names must be given together")
        if self.groups is not None and self.group_names is not None:
            arrays["groups"] = self._checked_groups(len(X), len(self.group_names))
        for name, arr in arrays.items():
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def _checked_groups(self, n: int, n_groups: int) -> np.ndarray:
        groups = np.asarray(self.groups)
        if groups.shape != (n,) or not np.issubdtype(groups.dtype, np.integer):
            raise ValueError(f"groups must be {n} integer group codes, got shape {groups.shape} of {groups.dtype}")
        if groups.size and (groups.min() < 0 or groups.max() >= n_groups):
            raise ValueError(f"groups must hold codes in [0, {n_groups - 1}] (one per group name)")
        return groups.astype(np.int64)

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])
