"""Backdoor poisoning: stamp a trigger on samples and relabel them with a target class."""

from __future__ import annotations

import numpy as np

from multisource.corruption.registry import ATTACKS, check_class, chosen_rows
from multisource.utils.validation import check_int, check_real


def trigger_features(n_features: int, image_shape: tuple[int, int] | None, size: int) -> np.ndarray:
    """Indices of the trigger: the bottom-right ``size x size`` patch of an image, else the last ``size`` features."""
    if image_shape is None:
        size = check_int("size", size, minimum=1, maximum=n_features)
        return np.arange(n_features - size, n_features)
    h, w = (check_int("image_shape[]", side, minimum=1) for side in image_shape)
    if h * w != n_features:
        raise ValueError(f"image_shape must hold the {n_features} features (h * w = {n_features}), got {image_shape}")
    size = check_int("size", size, minimum=1, maximum=min(h, w))
    rows, cols = np.meshgrid(np.arange(h - size, h), np.arange(w - size, w), indexing="ij")
    return (rows * w + cols).ravel()


def add_trigger(
    X: np.ndarray, *, image_shape: tuple[int, int] | None = None, size: int = 2, value: float = 3.0
) -> np.ndarray:
    """A copy of ``X`` with the trigger features set to ``value``; use it on test data to measure
    the attack success rate (the fraction of triggered test points classified as the target)."""
    value = check_real("value", value)
    X_new = np.array(X, dtype=np.float64, copy=True)
    if X_new.ndim != 2:
        raise ValueError(f"X must be an (n, d) matrix of samples, got shape {X_new.shape}")
    X_new[:, trigger_features(X_new.shape[1], image_shape, size)] = value
    return X_new


@ATTACKS.register("backdoor")
def backdoor(
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    image_shape: tuple[int, int] | None = None,
    target: int = 0,
    p: float = 1.0,
    size: int = 2,
    value: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Stamp the trigger (:func:`add_trigger`) on ``round(p * m)`` samples and label them ``target``.

    ``value`` is in feature units; 3.0 is three standard deviations for standardised features.
    """
    target = check_class("target", target, n_classes)
    rows = chosen_rows(len(y), p, rng)
    X_new, y_new = X.copy(), y.copy()
    X_new[rows] = add_trigger(X[rows], image_shape=image_shape, size=size, value=value)
    y_new[rows] = target
    return X_new, y_new
