"""Label attacks: flip, bias to one class, shuffle, random labels (KL2019's label corruptions)."""

from __future__ import annotations

import numpy as np

from multisource.corruption.registry import ATTACKS, check_class, chosen_rows


@ATTACKS.register("label_flip")
def label_flip(
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    image_shape: tuple[int, int] | None = None,
    p: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Change the label of exactly ``round(p * m)`` samples: ``1 - y`` for two classes, else a uniformly
    drawn different class ``(y + r) mod K`` with ``r ~ U{1..K-1}``."""
    rows = chosen_rows(len(y), p, rng)
    y_new = y.copy()
    y_new[rows] = (y[rows] + rng.integers(1, n_classes, size=len(rows))) % n_classes
    return X.copy(), y_new


@ATTACKS.register("label_bias")
def label_bias(
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    image_shape: tuple[int, int] | None = None,
    target: int = 0,
    p: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Set the labels of ``round(p * m)`` samples to the class ``target`` (KL2019's "label bias")."""
    target = check_class("target", target, n_classes)
    y_new = y.copy()
    y_new[chosen_rows(len(y), p, rng)] = target
    return X.copy(), y_new


@ATTACKS.register("label_shuffle")
def label_shuffle(
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    image_shape: tuple[int, int] | None = None,
    p: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Permute the labels among ``round(p * m)`` samples: the label histogram stays, the link to X goes."""
    rows = chosen_rows(len(y), p, rng)
    y_new = y.copy()
    y_new[rows] = y[rng.permutation(rows)]
    return X.copy(), y_new


@ATTACKS.register("random_labels")
def random_labels(
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    image_shape: tuple[int, int] | None = None,
    p: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Replace the labels of ``round(p * m)`` samples by labels drawn uniformly from all K classes."""
    rows = chosen_rows(len(y), p, rng)
    y_new = y.copy()
    y_new[rows] = rng.integers(0, n_classes, size=len(rows))
    return X.copy(), y_new
