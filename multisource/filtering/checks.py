"""Input checks specific to the filtering rules (the discrepancy matrix, the number of bad sources), built on
:mod:`multisource.utils.validation`."""

from __future__ import annotations

import numpy as np

from multisource.utils.validation import check_finite_array, check_int, n_bad_sources


def check_disc_matrix(disc: object, sizes: object) -> tuple[np.ndarray, np.ndarray]:
    """``disc`` as a symmetric (N, N) float64 matrix with zero diagonal and ``sizes`` as (N,) positive ints.

    Raises
    ------
    ValueError
        When ``disc`` is not square, has NaN/inf or negative entries, is not symmetric or has a non-zero
        diagonal (a discrepancy is a pseudo-metric, ``disc(S_i, S_i) = 0``), or ``sizes`` does not
        hold one positive count per source.
    """
    disc = check_finite_array("disc", disc, ndim=2)
    if disc.shape[0] != disc.shape[1] or disc.shape[0] < 1:
        raise ValueError(f"disc must be a square (N, N) matrix with N >= 1, got shape {disc.shape}")
    if np.any(disc < 0):
        raise ValueError(f"disc must be non-negative (a discrepancy is a pseudo-metric), got min {disc.min()}")
    if not np.allclose(disc, disc.T, rtol=0.0, atol=1e-9):
        raise ValueError(
            f"disc must be symmetric: disc[i, j] == disc[j, i], got max |disc - disc.T| = {np.abs(disc - disc.T).max()}"
        )
    if np.any(np.abs(np.diag(disc)) > 1e-9):
        raise ValueError(f"disc must have a zero diagonal: disc(S_i, S_i) = 0, got diagonal {np.diag(disc).tolist()}")
    sizes_arr = np.asarray(sizes)
    if sizes_arr.shape != (disc.shape[0],):
        raise ValueError(f"sizes must have shape ({disc.shape[0]},) (one count per source), got {sizes_arr.shape}")
    if not np.issubdtype(sizes_arr.dtype, np.integer) and not np.all(sizes_arr == np.round(sizes_arr)):
        raise ValueError(f"sizes must hold integer sample counts, got {sizes_arr.tolist()}")
    if np.any(sizes_arr < 1):
        raise ValueError(f"sizes must be >= 1: every source needs at least one sample, got {sizes_arr.tolist()}")
    return disc, sizes_arr.astype(np.int64)


def rule_n_bad(n_sources: int, alpha: float | None, n_bad: int | None, *, rule: str) -> int:
    """The number of bad sources a known-alpha rule guards against: ``n_bad``, or ``floor(alpha N)``.

    Exactly one of ``alpha`` and ``n_bad`` must be given; ``n_bad`` must be < N/2 (the adversary
    controls a minority of the sources, ``docs/bounds.md``, "Setting and notation").
    """
    if (alpha is None) == (n_bad is None):
        raise ValueError(
            f"rule {rule!r} needs exactly one of alpha (fraction of bad sources) or n_bad (their number), "
            f"got alpha={alpha}, n_bad={n_bad}"
        )
    if n_bad is None:
        return n_bad_sources(alpha, n_sources)
    n_bad = check_int("n_bad", n_bad, minimum=0)
    if 2 * n_bad >= n_sources:
        raise ValueError(f"n_bad must be < N/2 = {n_sources / 2} (a minority of the {n_sources} sources), got {n_bad}")
    return n_bad


def kth_smallest_per_row(disc: np.ndarray, k: int) -> np.ndarray:
    """(N,) the k-th smallest entry (1-based) of every row of ``disc``, the zero self-distance included."""
    return np.partition(disc, k - 1, axis=1)[:, k - 1]


def keep_smallest(scores: np.ndarray, n_keep: int) -> np.ndarray:
    """Mask of the ``n_keep`` smallest scores; ties at the cut are all kept, so the mask is permutation-equivariant."""
    cut = np.partition(scores, n_keep - 1)[n_keep - 1]
    return scores <= cut
