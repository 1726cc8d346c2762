"""The attack registry and the argument checks every attack shares.

An attack is a pure function ``attack(X, y, *, rng, n_classes, image_shape=None, **params) -> (X', y')``
applied to the data of one source; it never modifies its inputs. An attack that needs the clean
linear model (an omniscient one, like "shift") sets the attribute ``omniscient = True`` and takes
``coef`` and ``intercept`` keywords, which :class:`~multisource.corruption.Adversary` fills in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from multisource.utils.registry import Registry
from multisource.utils.validation import check_probability

Attack = Callable[..., tuple[np.ndarray, np.ndarray]]
"""``attack(X, y, *, rng, n_classes, image_shape=None, **params) -> (X', y')``."""

ATTACKS: Registry[Attack] = Registry("attack")


def chosen_rows(n: int, p: float, rng: np.random.Generator, name: str = "p") -> np.ndarray:
    """Exactly ``round(p * n)`` distinct row indices drawn uniformly, the rows an attack changes."""
    p = check_probability(name, p)
    return rng.choice(n, size=round(p * n), replace=False)


def check_image_shape(image_shape: tuple[int, int] | None, n_features: int, attack: str) -> tuple[int, int]:
    """The (h, w) image shape; image attacks on non-image data get a clear error."""
    if image_shape is None:
        raise ValueError(f"attack {attack!r} needs image data (image_shape), but the data set has none")
    h, w = (int(s) for s in image_shape)
    if h * w != n_features:
        raise ValueError(f"image_shape {image_shape} does not match {n_features} features")
    return h, w


def check_class(name: str, value: object, n_classes: int) -> int:
    """A class label in ``0 .. n_classes-1``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer class label, got {value!r}")
    if not 0 <= int(value) < n_classes:
        raise ValueError(f"{name} must lie in [0, {n_classes - 1}], got {value}")
    return int(value)
