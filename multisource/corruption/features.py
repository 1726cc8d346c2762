"""Feature attacks: a fixed permutation of the feature indices and additive Gaussian noise."""

from __future__ import annotations

import numpy as np

from multisource.corruption.registry import ATTACKS, chosen_rows
from multisource.utils.validation import check_int, check_real


@ATTACKS.register("feature_permutation")
def feature_permutation(
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    image_shape: tuple[int, int] | None = None,
    permutation_seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Permute the feature columns with one permutation fixed by ``permutation_seed`` (KL2019 "inputs_same").

    The permutation does not depend on ``rng``, so every corrupted source gets the same one and the
    bad sources agree with each other while disagreeing with the clean ones.
    """
    permutation_seed = check_int("permutation_seed", permutation_seed, minimum=0)
    return X[:, np.random.default_rng(permutation_seed).permutation(X.shape[1])], y.copy()


@ATTACKS.register("feature_noise")
def feature_noise(
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    image_shape: tuple[int, int] | None = None,
    sigma: float = 1.0,
    p: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Add ``N(0, sigma^2 I)`` noise to the features of ``round(p * m)`` samples."""
    sigma = check_real("sigma", sigma, low=0.0)
    rows = chosen_rows(len(y), p, rng)
    X_new = X.copy()
    X_new[rows] += sigma * rng.standard_normal((len(rows), X.shape[1]))
    return X_new, y.copy()
