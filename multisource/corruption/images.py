"""Image attacks on flattened images (digits are 8x8): Gaussian blur and dead pixels (KL2019)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from multisource.corruption.registry import ATTACKS, check_image_shape
from multisource.utils.validation import check_probability, check_real


@ATTACKS.register("blur")
def blur(
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    image_shape: tuple[int, int] | None = None,
    sigma: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Blur every image with a Gaussian kernel of width ``sigma`` pixels (edges reflected).

    Blurring is linear, so applied to standardised features it equals blurring the raw pixels
    followed by the blurred standardisation offsets; the attack acts on the features as given.
    """
    h, w = check_image_shape(image_shape, X.shape[1], "blur")
    sigma = check_real("sigma", sigma, low=0.0)
    images = X.reshape(len(X), h, w)
    return gaussian_filter(images, sigma=(0.0, sigma, sigma), mode="reflect").reshape(len(X), -1), y.copy()


@ATTACKS.register("dead_pixels")
def dead_pixels(
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    n_classes: int,
    image_shape: tuple[int, int] | None = None,
    p: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Kill ``round(p * h * w)`` random pixels of every image: each becomes black or white (prob. 1/2).

    Black and white are the smallest and largest value of that pixel in the source, so the attack
    stays within the feature range whatever the scaling.
    """
    check_image_shape(image_shape, X.shape[1], "dead_pixels")
    p = check_probability("p", p)
    n, d = X.shape
    n_dead = round(p * d)
    # argsort of uniform keys gives an independent random subset of n_dead pixels per image.
    dead = np.argsort(rng.random((n, d)), axis=1)[:, :n_dead]
    white = rng.random((n, n_dead)) < 0.5
    values = np.where(white, X.max(axis=0)[dead], X.min(axis=0)[dead])
    X_new = X.copy()
    np.put_along_axis(X_new, dead, values, axis=1)
    return X_new, y.copy()
